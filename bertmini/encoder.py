"""The encoder layer and the stack of them: BERT's whole body.

Each layer is *post*-LayerNorm by default, as in the original Transformer and BERT:

    h = LayerNorm(x + Attention(x))
    y = LayerNorm(h + W₂ · GELU(W₁ h + b₁) + b₂)

The GELU sits *inside* the feed-forward block, between its two linear maps; nothing else
in the layer has an activation. There is no decoder and no causal mask: every token sees
every non-padding token in both directions. `BertConfig(pre_layer_norm=True)` selects
`PreLNEncoderLayer` instead (LayerNorm before each block; Xiong et al., 2020), a
variant that Hugging Face's BERT cannot load.
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import MultiHeadSelfAttention
from .config import ACTIVATIONS, BertConfig


class FeedForward(nn.Module):
    """W₂ · GELU(W₁ x + b₁) + b₂, applied to every token on its own: H -> 4H -> H."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.up = nn.Linear(config.hidden_size, config.intermediate_size)  # W₁, b₁
        self.down = nn.Linear(config.intermediate_size, config.hidden_size)  # W₂, b₂
        self.act = ACTIVATIONS[config.hidden_act]
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down(self.act(self.up(x))))  # (B, T, H)


class EncoderLayer(nn.Module):
    """Attention, add & norm, feed-forward, add & norm."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.attention = MultiHeadSelfAttention(config)
        self.attention_dropout = nn.Dropout(config.hidden_dropout_prob)
        self.attention_norm = nn.LayerNorm(
            config.hidden_size, eps=config.layer_norm_eps
        )
        self.ffn = FeedForward(config)
        self.ffn_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(
        self,
        x: torch.Tensor,
        bias: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        # (B, T, H), (B, heads, T, T)
        a, probs = self.attention(x, bias, output_attentions)
        # residual, then LayerNorm
        h = self.attention_norm(x + self.attention_dropout(a))
        y = self.ffn_norm(h + self.ffn(h))  # residual, then LayerNorm
        return y, probs


class PreLNEncoderLayer(EncoderLayer):
    """The same weights, normalized *before* each block instead of after the addition:

        h = x + Attention(LayerNorm(x))    y = h + FFN(LayerNorm(h))

    The residual stream x is then never normalized inside the stack, so a gradient
    reaches every layer undamped: Xiong et al. (2020) show this layout trains stably
    at higher learning rates and without warmup. It needs one final LayerNorm after
    the last layer (in `BertEncoder`). Not BERT's layout: Hugging Face's BERT
    checkpoints are post-LN and cannot be loaded into it.
    """

    def forward(
        self,
        x: torch.Tensor,
        bias: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        a, probs = self.attention(self.attention_norm(x), bias, output_attentions)
        h = x + self.attention_dropout(a)  # (B, T, H): add, no norm after
        y = h + self.ffn(self.ffn_norm(h))
        return y, probs


class BertEncoder(nn.Module):
    """`num_hidden_layers` identical layers, each refining every token's vector in
    context (and, with `config.pre_layer_norm`, a final LayerNorm).
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        Layer = PreLNEncoderLayer if config.pre_layer_norm else EncoderLayer
        self.layer = nn.ModuleList(
            Layer(config) for _ in range(config.num_hidden_layers)
        )
        self.final_norm = (
            nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
            if config.pre_layer_norm
            else None
        )

    def forward(
        self,
        x: torch.Tensor,
        bias: torch.Tensor | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ):
        """x: (B, T, H). Returns the last layer's output and, if asked, every layer's
        states and maps.
        """
        hidden_states = [x] if output_hidden_states else None
        attentions = [] if output_attentions else None
        for layer in self.layer:
            x, probs = layer(x, bias, output_attentions)
            if output_hidden_states:
                hidden_states.append(x)
            if output_attentions:
                attentions.append(probs)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return x, hidden_states, attentions
