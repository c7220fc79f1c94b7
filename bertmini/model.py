"""BertModel: embeddings, the encoder stack and the pooler, with the input checks a beginner needs.

    ids ─▶ BertEmbeddings ─▶ EncoderLayer × N ─▶ last_hidden_state (B, T, H)
                                                   └─▶ [CLS] vector ─▶ tanh(W·) ─▶ pooler_output (B, H)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

import torch.nn.functional as F

from .attention import TokenIndex, padding_mask_to_bias
from .config import BertConfig
from .embeddings import BertEmbeddings
from .encoder import BertEncoder


@dataclass
class BertOutput:
    """What BertModel returns. `attentions` is a tuple of (B, heads, T, T), the format bertviz takes."""

    last_hidden_state: torch.Tensor                       # (B, T, H)
    pooler_output: torch.Tensor | None = None             # (B, H)
    hidden_states: tuple[torch.Tensor, ...] | None = None  # embeddings + one per layer, each (B, T, H)
    attentions: tuple[torch.Tensor, ...] | None = None     # one per layer, each (B, heads, T, T)


class BertPooler(nn.Module):
    """tanh(W · h_[CLS] + b): the sentence vector that next-sentence prediction was trained on."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden[:, 0]))  # (B, H): only the first ([CLS]) token


class BertPreTrainedModel(nn.Module):
    """Shared by BertModel and the task heads: weight initialisation and Hugging Face checkpoint I/O."""

    config: BertConfig

    def init_weights(self) -> None:
        """BERT's initialisation: N(0, 0.02) weights, zero biases, identity LayerNorms."""
        std = self.config.initializer_range
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, mean=0.0, std=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        # Embeddings last: the MLM decoder shares the word-embedding matrix, and the padding row
        # must end up zero whichever of the two was initialised first.
        for module in self.modules():
            if isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, mean=0.0, std=std)
                if module.padding_idx is not None:
                    with torch.no_grad():
                        module.weight[module.padding_idx].zero_()

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, **head_args):
        """Load a Hugging Face BERT directory, a named offline model ("all-MiniLM-L6-v2") or a hub id.

        A base checkpoint loads into a task model: the new head is initialised and named in one
        warning. `head_args` go to the constructor, e.g. `num_labels=2`.
        """
        from .checkpoint import load_pretrained
        return load_pretrained(cls, name_or_path, **head_args)

    def save_pretrained(self, directory: str | Path, tokenizer=None) -> Path:
        """Write `config.json` and `model.safetensors` with Hugging Face's key names (and the
        tokenizer's files, if given), atomically as one directory."""
        from .checkpoint import save_pretrained
        return save_pretrained(self, directory, tokenizer)

    def num_parameters(self) -> int:
        """Distinct trainable parameters (a tied decoder counts once)."""
        return sum(p.numel() for p in self.parameters())


def check_inputs(config: BertConfig, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                 token_type_ids: torch.Tensor | None) -> None:
    """Fail early, naming the problem, instead of an index error deep inside an embedding."""
    if not isinstance(input_ids, torch.Tensor):
        raise TypeError(f"input_ids must be a torch.Tensor of token ids, got {type(input_ids).__name__}; "
                        "use the Tokenizer, or torch.tensor([[...]])")
    if input_ids.is_floating_point() or input_ids.dtype == torch.bool or input_ids.is_complex():
        raise TypeError(f"input_ids must hold integer token ids, got dtype {input_ids.dtype}; "
                        "did you pass embeddings, or forget .long()?")
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must have shape (batch, seq_len), got {tuple(input_ids.shape)}; "
                         "for one sequence use input_ids.unsqueeze(0)")
    B, T = input_ids.shape
    if B == 0 or T == 0:
        raise ValueError(f"input_ids is empty (shape {tuple(input_ids.shape)}): nothing to encode")
    if T > config.max_position_embeddings:
        raise ValueError(
            f"sequence length {T} exceeds max_position_embeddings={config.max_position_embeddings}: "
            "truncate it (Tokenizer(..., max_length=512, truncation=True)) or split it into windows")
    lo, hi = int(input_ids.min()), int(input_ids.max())
    if lo < 0 or hi >= config.vocab_size:
        bad = lo if lo < 0 else hi
        raise ValueError(f"input_ids contains id {bad}, outside the vocabulary [0, {config.vocab_size}); "
                         "was it made with a tokenizer for another vocabulary?")
    for name, t in (("attention_mask", attention_mask), ("token_type_ids", token_type_ids)):
        if t is None:
            continue
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if tuple(t.shape) != (B, T):
            raise ValueError(f"{name} has shape {tuple(t.shape)} but input_ids has shape {(B, T)}; "
                             "they must match token for token")
    if token_type_ids is not None:
        if token_type_ids.is_floating_point():
            raise TypeError(f"token_type_ids must be integers, got {token_type_ids.dtype}")
        lo, hi = int(token_type_ids.min()), int(token_type_ids.max())
        if lo < 0 or hi >= config.type_vocab_size:
            raise ValueError(f"token_type_ids contains {hi if hi >= config.type_vocab_size else lo}, "
                             f"outside [0, {config.type_vocab_size}): segment ids are 0 (sentence A) "
                             "or 1 (sentence B)")
    if attention_mask is not None:
        if attention_mask.is_floating_point():
            ok = bool(((attention_mask == 0) | (attention_mask == 1)).all())
        else:
            ok = int(attention_mask.min()) >= 0 and int(attention_mask.max()) <= 1
        if not ok:
            raise ValueError("attention_mask must contain only 1 (real token) and 0 (padding)")


class BertModel(BertPreTrainedModel):
    """The BERT encoder. `add_pooling_layer=False` drops the pooler (the MLM and QA models do)."""

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True):
        super().__init__()
        if not isinstance(config, BertConfig):
            raise TypeError(f"BertModel expects a BertConfig, got {type(config).__name__}")
        self.config = copy.deepcopy(config)  # a value: the caller's config is never changed
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        # Skip the work on padding tokens (see forward_unpadded). Their outputs are then zeros, not
        # the meaningless values transformers computes there; a head whose loss looks at padding
        # positions (question answering's softmax over all tokens) turns this off to stay identical.
        self.skip_padding = True
        self.init_weights()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> BertOutput:
        check_inputs(self.config, input_ids, attention_mask, token_type_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)  # everything is sentence A
        if attention_mask is None or bool(attention_mask.all()):
            # No padding: no bias at all, which also lets SDPA take its fastest path.
            x = self.embeddings(input_ids, token_type_ids.long())  # (B, T, H)
            x, hidden_states, attentions = self.encoder(x, None, output_attentions, output_hidden_states)
        elif output_attentions or not self.skip_padding:
            # Every position computed (and with output_attentions, every attention map returned).
            x = self.embeddings(input_ids, token_type_ids.long())
            bias = padding_mask_to_bias(attention_mask, x.dtype)  # (B, 1, 1, T)
            x, hidden_states, attentions = self.encoder(x, bias, output_attentions, output_hidden_states)
        else:
            x, hidden_states = self.forward_unpadded(input_ids, attention_mask, token_type_ids.long(),
                                                     output_hidden_states)
            attentions = None
        return BertOutput(
            last_hidden_state=x,
            pooler_output=self.pooler(x) if self.pooler is not None else None,
            hidden_states=tuple(hidden_states) if hidden_states is not None else None,
            attentions=tuple(attentions) if attentions is not None else None,
        )

    def forward_unpadded(self, input_ids, attention_mask, token_type_ids, output_hidden_states):
        """The fast path for padded batches: the same numbers at every real token, no work on padding.

        Columns that are padding in every row are cut off first; then the dense layers see only the
        real tokens (see TokenIndex). Outputs at padding positions are zeros: they mean nothing.
        """
        T = input_ids.size(1)
        used = int(attention_mask.any(dim=0).nonzero().max()) + 1  # last column with a real token
        ids, mask, types = input_ids[:, :used], attention_mask[:, :used], token_type_ids[:, :used]
        tokens = TokenIndex.from_mask(mask)
        x = tokens.unpad(self.embeddings(ids, types))  # (N, H)
        bias = padding_mask_to_bias(mask, x.dtype)  # (B, 1, 1, used)
        x, hidden_states, _ = self.encoder(x, bias, False, output_hidden_states, tokens)

        def restore(h: torch.Tensor) -> torch.Tensor:  # (B, used, H) -> (B, T, H)
            return F.pad(h, (0, 0, 0, T - used)) if used < T else h

        x = restore(tokens.pad(x))
        if hidden_states is not None:
            hidden_states = [restore(h) for h in hidden_states]
        return x, hidden_states
