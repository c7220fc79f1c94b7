"""The numbers that define a BERT: sizes, dropout rates and the activation.

The field names are Hugging Face's on purpose: a `config.json` written by `transformers` loads here
unchanged, and one written here loads there. Impossible values are rejected when the config is made,
not deep inside a forward pass where the error would name a tensor instead of the field.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from functools import partial
from typing import Any, Callable

import torch
import torch.nn.functional as F

# The non-linearities of the feed-forward block, by their Hugging Face names: the one table that
# both the config check and the model use. Google's original BERT (TensorFlow) computed GELU with
# the tanh approximation ("gelu_new"); Hugging Face's "gelu", which BERT checkpoints name, is the
# exact erf form. The two differ by less than 1e-3 (chapter 2 measures it).
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,
    "gelu_new": partial(F.gelu, approximate="tanh"),
    "gelu_pytorch_tanh": partial(F.gelu, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
}


@dataclass
class BertConfig:
    """Hyper-parameters of a BERT encoder. Defaults are BERT-base (110M parameters)."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    initializer_range: float = 0.02
    # Keys of a config.json that are not fields above (e.g. "architectures", "id2label") are kept
    # here so that a round trip through bertmini does not drop them.
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"BertConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"BertConfig.hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({self.num_attention_heads}): each head gets hidden_size / heads "
                "dimensions")
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"BertConfig.hidden_act {self.hidden_act!r} is unknown; use one of {tuple(ACTIVATIONS)}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if not 0.0 <= float(value) < 1.0:
                raise ValueError(f"BertConfig.{name} must be in [0, 1), got {value!r}")
        if not self.layer_norm_eps > 0:
            raise ValueError(f"BertConfig.layer_norm_eps must be positive, got {self.layer_norm_eps!r}")
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(
                f"BertConfig.pad_token_id ({self.pad_token_id}) must be a valid id below vocab_size "
                f"({self.vocab_size})")
        if not self.initializer_range > 0:
            raise ValueError(f"BertConfig.initializer_range must be positive, got {self.initializer_range!r}")

    @property
    def head_size(self) -> int:
        """Dimensions per attention head, d_k = hidden_size / num_attention_heads."""
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "BertConfig":
        """Build a config from a dict such as a parsed `config.json`; unknown keys go to `extra`."""
        if not isinstance(values, dict):
            raise TypeError(f"BertConfig.from_dict expects a dict, got {type(values).__name__}")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in values.items() if k in names}
        extra = {k: v for k, v in values.items() if k not in names}
        extra.update(values.get("extra", {}) or {})
        extra.pop("extra", None)
        pos = extra.get("position_embedding_type", "absolute")
        if pos != "absolute":
            raise ValueError(f"position_embedding_type {pos!r} is not BERT's; bertmini supports 'absolute' only")
        return cls(**known, extra=extra)

    @classmethod
    def from_json_file(cls, path: str | Path) -> "BertConfig":
        """Read a Hugging Face style `config.json`."""
        with open(path, encoding="utf-8") as f:
            try:
                values = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path} is not valid JSON: {e}") from None
        return cls.from_dict(values)

    def to_dict(self) -> dict[str, Any]:
        """The config as Hugging Face writes it: the fields, the extra keys, and `model_type`."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        out = {**self.extra, **out}
        out.setdefault("model_type", "bert")
        return out

    def to_json_file(self, path: str | Path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2, sort_keys=True)
            f.write("\n")
