"""The numbers that define a BERT: sizes, dropout rates and the activation.

The field names are Hugging Face's on purpose: a `config.json` written by `transformers`
loads here unchanged, and one written here loads there, unless it uses a variant field
that BERT does not have (`VARIANT_FIELDS`: then transformers refuses it). Impossible values are rejected
when the config is made, not deep inside a forward pass where the error would name a
tensor instead of the field.
"""

from __future__ import annotations

import dataclasses
import json
import numbers
import os
import tempfile
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ._validate import as_path, check_int, check_number, read_text

# The non-linearities of the feed-forward block, by their Hugging Face names: the one
# table that both the config check and the model use. Google's original BERT
# (TensorFlow) computed GELU with the tanh approximation ("gelu_new"); Hugging Face's
# "gelu", which BERT checkpoints name, is the exact erf form. The two differ by less
# than 1e-3 (chapter 2 measures it).
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,
    "gelu_new": partial(F.gelu, approximate="tanh"),
    "gelu_pytorch_tanh": partial(F.gelu, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
}
# The model_type of a config.json that uses a field below that BERT does not have
# (pre_layer_norm, alibi): not "bert", which would let transformers load the weights
# into its BERT and silently compute something else.
VARIANT_MODEL_TYPE = "bertmini"
VARIANT_FIELDS = ("pre_layer_norm", "alibi")
# How a classification head turns logits and labels into a loss (Hugging Face's names).
PROBLEM_TYPES = (
    None,
    "regression",
    "single_label_classification",
    "multi_label_classification",
)


def _is_class_id(key: Any) -> bool:
    """An int (not bool), or a string of ASCII digits: how JSON writes an int key."""
    if isinstance(key, str):
        return key.isascii() and key.isdigit()
    return isinstance(key, numbers.Integral) and not isinstance(key, bool)


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
    # Not Hugging Face fields, so a config that sets one is written with its own
    # model_type (transformers then refuses it instead of misreading it).
    # pre_layer_norm: each LayerNorm before its block (`encoder.PreLNEncoderLayer`).
    # alibi: a fixed distance penalty in every head's scores (`attention.alibi_bias`).
    pre_layer_norm: bool = False
    alibi: bool = False
    # The task head's classes, as in transformers: `num_labels` defaults to
    # len(id2label), or 2; `id2label` to LABEL_0, LABEL_1, ...; `label2id` to its
    # inverse. Keys of id2label are ints here (config.json stores them as strings, as
    # JSON must).
    num_labels: int | None = None
    id2label: dict[int, str] | None = None
    label2id: dict[str, int] | None = None
    problem_type: str | None = None
    # Keys of a config.json that are not fields above (e.g. "architectures", "id2label")
    # are kept here so that a round trip through bertmini does not drop them.
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
            "type_vocab_size",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(
                    f"BertConfig.{name} must be a positive integer, got {value!r}"
                )
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"BertConfig.hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({self.num_attention_heads}): each head gets "
                "hidden_size / heads dimensions"
            )
        if not isinstance(self.hidden_act, str) or self.hidden_act not in ACTIVATIONS:
            raise ValueError(
                f"BertConfig.hidden_act {self.hidden_act!r} is unknown; use one of {tuple(ACTIVATIONS)}"
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            check_number(f"BertConfig.{name}", value, 0.0, 1.0, high_open=True)
        check_number(
            "BertConfig.layer_norm_eps", self.layer_norm_eps, 0.0, low_open=True
        )
        check_number(
            "BertConfig.initializer_range", self.initializer_range, 0.0, low_open=True
        )
        for name in VARIANT_FIELDS:
            if not isinstance(getattr(self, name), bool):
                raise TypeError(
                    f"BertConfig.{name} must be True or False, got "
                    f"{getattr(self, name)!r}"
                )
        self.pad_token_id = check_int("BertConfig.pad_token_id", self.pad_token_id)
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(
                f"BertConfig.pad_token_id ({self.pad_token_id}) must be a valid id below vocab_size "
                f"({self.vocab_size})"
            )
        if not isinstance(self.extra, dict):
            raise TypeError(
                f"BertConfig.extra must be a dict, got {type(self.extra).__name__}"
            )
        self._check_labels()

    def _check_labels(self) -> None:
        """Make num_labels, id2label and label2id agree (filling in what was not
        given).

        A class id is an int (or a digit string, as config.json stores it), never
        rounded from a float; names are unique, or label2id would lose a class.
        """
        self.num_labels = check_int(
            "BertConfig.num_labels", self.num_labels, minimum=1, optional=True
        )
        if self.id2label is None and isinstance(self.label2id, dict):
            # Only names by id given: id2label is its inverse (checked below)
            self.id2label = {v: k for k, v in self.label2id.items()}
            if len(self.id2label) != len(self.label2id):
                raise ValueError(
                    f"BertConfig.label2id gives one id to several names: {self.label2id}"
                )
        if self.id2label is not None:
            if isinstance(self.id2label, (list, tuple)):
                self.id2label = dict(enumerate(self.id2label))
            if not isinstance(self.id2label, dict):
                raise TypeError(
                    f"BertConfig.id2label must be a dict {{id: name}} or a list of names, "
                    f"got {type(self.id2label).__name__}"
                )
            id2label = {}
            for k, v in self.id2label.items():
                if not _is_class_id(k):
                    raise ValueError(
                        f"BertConfig.id2label keys must be class ids 0, 1, ... (ints, "
                        f"or digit strings as in config.json), got {k!r} in "
                        f"{list(self.id2label)}"
                    )
                if int(k) in id2label:
                    raise ValueError(f"BertConfig.id2label names class {k!r} twice")
                id2label[int(k)] = v
            if sorted(id2label) != list(range(len(id2label))) or not id2label:
                raise ValueError(
                    f"BertConfig.id2label must name classes 0..n-1, got ids {sorted(id2label)}"
                )
            if any(not isinstance(v, str) for v in id2label.values()):
                raise TypeError(
                    "BertConfig.id2label values must be class names (strings)"
                )
            names = list(id2label.values())
            repeated = sorted({v for v in names if names.count(v) > 1})
            if repeated:
                raise ValueError(
                    f"BertConfig.id2label names must be unique, got {repeated} more "
                    "than once (label2id could then map a name to one class only)"
                )
            if self.num_labels is None:
                self.num_labels = len(id2label)
            elif self.num_labels != len(id2label):
                raise ValueError(
                    f"BertConfig.id2label names {len(id2label)} classes but num_labels "
                    f"is {self.num_labels}"
                )
            self.id2label = dict(sorted(id2label.items()))
        else:
            self.num_labels = 2 if self.num_labels is None else self.num_labels
            self.id2label = {i: f"LABEL_{i}" for i in range(self.num_labels)}
        inverse = {v: k for k, v in self.id2label.items()}
        if self.label2id is None:
            self.label2id = inverse
        elif not isinstance(self.label2id, dict) or any(
            isinstance(v, bool) or not isinstance(v, numbers.Integral)
            for v in self.label2id.values()
        ):
            raise TypeError(
                f"BertConfig.label2id must be a dict {{name: id}}, got {self.label2id!r}"
            )
        elif self.label2id != inverse:
            raise ValueError(
                f"BertConfig.label2id {self.label2id} disagrees with id2label "
                f"{self.id2label}; it must be its inverse {inverse} (or leave it out)"
            )
        else:
            self.label2id = inverse
        if self.problem_type not in PROBLEM_TYPES:
            raise ValueError(
                f"BertConfig.problem_type must be one of {PROBLEM_TYPES}, "
                f"got {self.problem_type!r}"
            )

    @property
    def head_size(self) -> int:
        """Dimensions per attention head, d_k = hidden_size / num_attention_heads."""
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "BertConfig":
        """Build a config from a dict such as a parsed `config.json`; unknown keys go to
        `extra`.
        """
        if not isinstance(values, dict):
            raise TypeError(
                "BertConfig.from_dict expects a dict as values (e.g. a parsed "
                f"config.json), got {type(values).__name__}"
            )
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in values.items() if k in names}
        extra = {k: v for k, v in values.items() if k not in names}
        extra.update(values.get("extra", {}) or {})
        extra.pop("extra", None)
        if extra.get("model_type") == VARIANT_MODEL_TYPE:
            if not any(known.get(name) is True for name in VARIANT_FIELDS):
                raise ValueError(
                    f"model_type {VARIANT_MODEL_TYPE!r} needs one of "
                    f"{VARIANT_FIELDS} set to true; the config sets none"
                )
            del extra["model_type"]  # to_dict writes it again from the fields
        pos = extra.get("position_embedding_type", "absolute")
        if pos != "absolute":
            raise ValueError(
                f"position_embedding_type {pos!r} is not BERT's; bertmini supports 'absolute' only"
            )
        return cls(**known, extra=extra)

    @classmethod
    def from_json_file(cls, path: str | Path) -> "BertConfig":
        """Read a Hugging Face style `config.json`."""
        path = as_path("path", path)
        try:
            values = json.loads(read_text(path, "config file"))
        except json.JSONDecodeError as e:
            raise ValueError(f"config file {path} is not valid JSON: {e}") from None
        if not isinstance(values, dict):
            raise ValueError(
                f"config file {path} holds a JSON {type(values).__name__}, expected an "
                "object of fields"
            )
        try:
            return cls.from_dict(values)
        except (TypeError, ValueError) as e:
            raise type(e)(f"config file {path}: {e}") from None

    def to_dict(self) -> dict[str, Any]:
        """The config as Hugging Face writes it: the fields, the extra keys, and
        `model_type`.
        """
        out = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "extra"
        }
        # As transformers writes it: num_labels is len(id2label), whose JSON keys are
        # strings; problem_type only when set.
        del out["num_labels"]
        out["id2label"] = {str(k): v for k, v in self.id2label.items()}
        out["label2id"] = dict(self.label2id)
        if out["problem_type"] is None:
            del out["problem_type"]
        variant = [name for name in VARIANT_FIELDS if getattr(self, name)]
        for name in set(VARIANT_FIELDS) - set(variant):
            del out[name]  # BERT's own layout: a config transformers reads as it is
        out = {**self.extra, **out}
        out.setdefault("model_type", "bert")
        if variant:
            out["model_type"] = VARIANT_MODEL_TYPE
        return out

    def to_json_file(self, path: str | Path) -> None:
        """Write the config atomically: a crash leaves the previous file, never half of
        one.
        """
        path = as_path("path", path)
        # Checked here: mkstemp and os.replace would name their temporary file instead.
        if path.is_dir():
            raise IsADirectoryError(
                f"path {str(path)!r} is a directory; name the file, e.g. "
                f"{str(path / 'config.json')!r}"
            )
        if not path.parent.is_dir():
            raise FileNotFoundError(
                f"path {str(path)!r}: its folder {str(path.parent)!r} does not exist"
            )
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
