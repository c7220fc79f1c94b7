"""BertModel: embeddings, the encoder stack and the pooler, with the input checks a
beginner needs.

    ids ─▶ BertEmbeddings ─▶ EncoderLayer × N ─▶ last_hidden_state (B, T, H)
                                                   └─▶ [CLS] vector ─▶ tanh(W·)
                                                         ─▶ pooler_output (B, H)
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from . import unpadded
from ._validate import check_bool
from .attention import alibi_bias, padding_mask_to_bias
from .config import BertConfig
from .embeddings import BertEmbeddings
from .encoder import BertEncoder
from .outputs import BertModelOutput


class BertPooler(nn.Module):
    """tanh(W · h_[CLS] + b): the sentence vector that next-sentence prediction was
    trained on.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        # (B, H): only the first ([CLS]) token
        return torch.tanh(self.dense(hidden[:, 0]))


class BertPreTrainedModel(nn.Module):
    """Shared by BertModel and the task heads: weight initialisation and Hugging Face
    checkpoint I/O.
    """

    config: BertConfig

    def init_weights(self) -> None:
        """BERT's initialisation: N(0, 0.02) weights, zero biases, identity
        LayerNorms.
        """
        std = self.config.initializer_range
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, mean=0.0, std=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        # Embeddings last: the MLM decoder shares the word-embedding matrix, and the
        # padding row must end up zero whichever of the two was initialised first.
        for module in self.modules():
            if isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, mean=0.0, std=std)
                if module.padding_idx is not None:
                    with torch.no_grad():
                        module.weight[module.padding_idx].zero_()

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, **head_args):
        """Load a Hugging Face BERT directory, a named offline model
        ("all-MiniLM-L6-v2") or a hub id.

        A base checkpoint loads into a task model: the new head is initialised and named
        in one warning. `head_args` go to the constructor, e.g. `num_labels=2`.
        """
        from .checkpoint import load_pretrained

        return load_pretrained(cls, name_or_path, **head_args)

    def save_pretrained(self, directory: str | Path, tokenizer=None) -> Path:
        """Write `config.json` and `model.safetensors` with Hugging Face's key names
        (and the tokenizer's files, if given), atomically as one directory.
        """
        from .checkpoint import save_pretrained

        return save_pretrained(self, directory, tokenizer)

    def num_parameters(self) -> int:
        """Distinct trainable parameters (a tied decoder counts once)."""
        return sum(p.numel() for p in self.parameters())


def check_inputs(
    config: BertConfig,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    token_type_ids: torch.Tensor | None,
) -> None:
    """Fail early, naming the problem, instead of an index error deep inside an
    embedding.
    """
    if not isinstance(input_ids, torch.Tensor):
        raise TypeError(
            "input_ids must be a torch.Tensor of token ids, got "
            f"{type(input_ids).__name__}; use the Tokenizer, or torch.tensor([[...]])"
        )
    if (
        input_ids.is_floating_point()
        or input_ids.dtype == torch.bool
        or input_ids.is_complex()
    ):
        raise TypeError(
            f"input_ids must hold integer token ids, got dtype {input_ids.dtype}; "
            "did you pass embeddings, or forget .long()?"
        )
    if input_ids.dtype not in (torch.int64, torch.int32):
        # nn.Embedding indexes with int64 or int32 only; uint8 would fail inside it
        raise TypeError(
            f"input_ids must be int64 (torch.long) or int32 token ids, got dtype "
            f"{input_ids.dtype}; use input_ids.long()"
        )
    if input_ids.dim() != 2:
        raise ValueError(
            f"input_ids must have shape (batch, seq_len), got {tuple(input_ids.shape)}; "
            "for one sequence use input_ids.unsqueeze(0)"
        )
    B, T = input_ids.shape
    if B == 0 or T == 0:
        raise ValueError(
            f"input_ids is empty (shape {tuple(input_ids.shape)}): nothing to encode"
        )
    if T > config.max_position_embeddings:
        raise ValueError(
            f"sequence length {T} exceeds max_position_embeddings={config.max_position_embeddings}: "
            "truncate it (Tokenizer(..., max_length=512, truncation=True)) or split it into windows"
        )
    lo, hi = int(input_ids.min()), int(input_ids.max())
    if lo < 0 or hi >= config.vocab_size:
        bad = lo if lo < 0 else hi
        raise ValueError(
            f"input_ids contains id {bad}, outside the vocabulary [0, {config.vocab_size}); "
            "was it made with a tokenizer for another vocabulary?"
        )
    for name, t in (
        ("attention_mask", attention_mask),
        ("token_type_ids", token_type_ids),
    ):
        if t is None:
            continue
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if tuple(t.shape) != (B, T):
            raise ValueError(
                f"{name} has shape {tuple(t.shape)} but input_ids has shape {(B, T)}; "
                "they must match token for token"
            )
    if token_type_ids is not None:
        if token_type_ids.is_floating_point():
            raise TypeError(
                f"token_type_ids must be integers, got {token_type_ids.dtype}"
            )
        lo, hi = int(token_type_ids.min()), int(token_type_ids.max())
        if lo < 0 or hi >= config.type_vocab_size:
            raise ValueError(
                f"token_type_ids contains {hi if hi >= config.type_vocab_size else lo}, "
                f"outside [0, {config.type_vocab_size}): segment ids are 0 (sentence A) "
                "or 1 (sentence B)"
            )
    if attention_mask is not None:
        if attention_mask.is_floating_point():
            ok = bool(((attention_mask == 0) | (attention_mask == 1)).all())
        else:
            ok = int(attention_mask.min()) >= 0 and int(attention_mask.max()) <= 1
        if not ok:
            raise ValueError(
                "attention_mask must contain only 1 (real token) and 0 (padding)"
            )
        empty = (attention_mask == 0).all(dim=1).nonzero()
        if len(empty):
            # A sequence with nothing to attend to has no meaningful encoding
            raise ValueError(
                f"attention_mask row {int(empty[0])} is all 0: that sequence has no "
                "real token (even [CLS] is masked out)"
            )


class BertModel(BertPreTrainedModel):
    """The BERT encoder. `add_pooling_layer=False` drops the pooler (the MLM and QA
    models do).
    """

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True):
        super().__init__()
        if not isinstance(config, BertConfig):
            raise TypeError(
                f"BertModel expects a BertConfig, got {type(config).__name__}"
            )
        check_bool("add_pooling_layer", add_pooling_layer)  # "no" would add one
        # A value: the caller's config is never changed
        self.config = copy.deepcopy(config)
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.init_weights()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        skip_padding: bool = True,
    ) -> BertModelOutput:
        """Encode a batch: (B, T) ids -> (B, T, H) vectors, and the pooled [CLS] vector.

        With `skip_padding` (the default) a padded batch runs through
        `bertmini.unpadded`: the same numbers at every real token, with the projections,
        LayerNorms and feed-forward blocks run on the real tokens only (attention still
        computes the padding rows, then drops them), and zeros at padding positions
        instead of the meaningless values transformers computes there. A caller whose
        loss looks at padding positions (question answering's softmax over all
        positions) passes False.
        """
        check_inputs(self.config, input_ids, attention_mask, token_type_ids)
        check_bool("output_attentions", output_attentions)
        check_bool("output_hidden_states", output_hidden_states)
        check_bool("skip_padding", skip_padding)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)  # everything is sentence A
        token_type_ids = token_type_ids.long()
        attentions = None
        # (1, heads, T, T) with config.alibi; None for BERT, whose positions are all in
        # the embeddings
        position_bias = (
            alibi_bias(
                self.config.num_attention_heads,
                input_ids.size(1),
                self.embeddings.word_embeddings.weight.dtype,
                input_ids.device,
            )
            if self.config.alibi
            else None
        )
        if attention_mask is None or bool(attention_mask.all()):
            # No padding: no padding bias, which also lets SDPA take its fastest path.
            x = self.embeddings(input_ids, token_type_ids)  # (B, T, H)
            x, hidden_states, attentions = self.encoder(
                x, position_bias, output_attentions, output_hidden_states
            )
        elif skip_padding and not output_attentions:
            x, hidden_states = unpadded.encode(
                self.embeddings,
                self.encoder,
                input_ids,
                attention_mask,
                token_type_ids,
                output_hidden_states,
                position_bias,
            )
        else:
            # Every position computed, and with output_attentions every attention map
            # returned
            x = self.embeddings(input_ids, token_type_ids)
            bias = padding_mask_to_bias(attention_mask, x.dtype)  # (B, 1, 1, T)
            if position_bias is not None:
                bias = bias + position_bias  # (B, heads, T, T)
            x, hidden_states, attentions = self.encoder(
                x, bias, output_attentions, output_hidden_states
            )
        return BertModelOutput(
            last_hidden_state=x,
            pooler_output=self.pooler(x) if self.pooler is not None else None,
            hidden_states=tuple(hidden_states) if hidden_states is not None else None,
            attentions=tuple(attentions) if attentions is not None else None,
        )
