"""What the models return: dataclasses that also index like tuples, as transformers'
outputs do.

`out.logits`, `out["logits"]` and `out[0]` (the first field that is not None) all work,
and `out.to_tuple()` gives the fields that are set, in order. So code written for
`transformers`, such as `model(**batch)[0]`, runs unchanged on bertmini's models.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch


class ModelOutput:
    """Tuple-like access to a dataclass's fields that are not None (base of every
    output).
    """

    def to_tuple(self) -> tuple[Any, ...]:
        """The fields that are not None, in declaration order."""
        return tuple(
            v for f in fields(self) if (v := getattr(self, f.name)) is not None
        )

    def keys(self) -> list[str]:
        """The names of the fields that are not None, in declaration order."""
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]

    def __getitem__(self, key: int | slice | str) -> Any:
        if isinstance(key, str):
            if key not in self.keys():
                raise KeyError(
                    f"{type(self).__name__} has no field {key!r} that is set; "
                    f"set fields: {self.keys()}"
                )
            return getattr(self, key)
        if isinstance(key, (int, slice)):
            return self.to_tuple()[key]
        raise TypeError(
            f"{type(self).__name__} indices must be int, slice or str, "
            f"got {type(key).__name__}"
        )

    def __iter__(self):
        return iter(self.to_tuple())

    def __len__(self) -> int:
        return len(self.to_tuple())


@dataclass
class BertModelOutput(ModelOutput):
    """What BertModel returns. `attentions`: a tuple of (B, heads, T, T), the format
    bertviz takes.
    """

    last_hidden_state: torch.Tensor  # (B, T, H)
    pooler_output: torch.Tensor | None = None  # (B, H)
    # embeddings + one per layer, (B, T, H)
    hidden_states: tuple[torch.Tensor, ...] | None = None
    # one per layer, (B, heads, T, T)
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class MaskedLMOutput(ModelOutput):
    loss: torch.Tensor | None
    logits: torch.Tensor  # (B, T, V), or (N, V) at the N scored positions
    hidden_states: tuple | None = None
    attentions: tuple | None = None


@dataclass
class PreTrainingOutput(ModelOutput):
    loss: torch.Tensor | None  # mlm_loss + nsp_loss
    prediction_logits: torch.Tensor  # (B, T, V), or (N, V) at the N scored positions
    seq_relationship_logits: torch.Tensor  # (B, 2): 0 = IsNext, 1 = NotNext
    mlm_loss: torch.Tensor | None = None
    nsp_loss: torch.Tensor | None = None
    hidden_states: tuple | None = None
    attentions: tuple | None = None


@dataclass
class SequenceClassifierOutput(ModelOutput):
    loss: torch.Tensor | None
    logits: torch.Tensor  # (B, num_labels)
    hidden_states: tuple | None = None
    attentions: tuple | None = None


@dataclass
class QuestionAnsweringOutput(ModelOutput):
    loss: torch.Tensor | None
    start_logits: torch.Tensor  # (B, T)
    end_logits: torch.Tensor  # (B, T)
    hidden_states: tuple | None = None
    attentions: tuple | None = None


@dataclass
class TokenClassifierOutput(ModelOutput):
    loss: torch.Tensor | None
    logits: torch.Tensor  # (B, T, num_labels)
    hidden_states: tuple | None = None
    attentions: tuple | None = None
