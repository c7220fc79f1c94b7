"""Sentence (and sentence-pair) classification: batching text, scoring a model,
predicting.

Fine-tuning itself is `bertmini.train.fit`, the same loop that pretrains: a classifier
is just a model whose output has a `loss`. What is specific to classification lives
here: turning records such as `{"sentence": ..., "label": ...}` into padded batches, and
scoring a model (the metrics themselves are `bertmini.metrics`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import torch

from ._validate import (
    check_finite_logits,
    check_int,
    check_module,
    check_str,
    check_tokenizer,
)
from .device import evaluating
from .heads import as_label_id
from .metrics import classification_metrics, macro_f1  # noqa: F401 (public here too)
from .tokenizer import Tokenizer


@dataclass
class ClassificationCollator:
    """Tokenize a list of records into one padded batch, as `fit` and `evaluate` want
    it.

    Padding is dynamic (to the longest text in the batch, at most `max_length`), so
    short sentences cost little. With `pair_key`, records are sentence pairs ([CLS] A
    [SEP] B [SEP]).

    A batch is labelled when every record has `label_key`, unlabelled when none has it;
    a batch where only some have it is refused (its labels cannot go to the model), and
    so are records with no `label_key` but a key close to it ("labels" for "label"),
    which is a misspelt `label_key`, not unlabelled data. Labels are integer class ids
    (Python, NumPy or 0-d tensor integers; never bools or floats).
    """

    tokenizer: Tokenizer
    max_length: int = 128
    text_key: str = "sentence"
    pair_key: str | None = None
    label_key: str | None = "label"
    num_labels: int | None = None

    def __post_init__(self) -> None:
        check_tokenizer(self.tokenizer)
        self.max_length = check_int("max_length", self.max_length, minimum=3)
        self.num_labels = check_int(
            "num_labels", self.num_labels, minimum=1, optional=True
        )
        # Field names are looked up in every record: a None or a number here would
        # surface only at the first batch, as a missing field.
        check_str("text_key", self.text_key, nonempty=True)
        for name in ("pair_key", "label_key"):
            if getattr(self, name) is not None:
                check_str(name, getattr(self, name), nonempty=True)

    def __call__(self, records: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if len(records) == 0:
            raise ValueError("cannot collate an empty batch")
        _check_records(records)
        for r in records:
            if not isinstance(r, Mapping):
                raise TypeError(
                    f"each record must be a dict with a {self.text_key!r} field, "
                    f"got {type(r).__name__} {r!r:.80}"
                )
            if self.text_key not in r:
                raise KeyError(
                    f"each record must be a dict with a {self.text_key!r} field, "
                    f"got {r!r:.80}"
                )
        texts = [r[self.text_key] for r in records]
        if self.pair_key and any(self.pair_key not in r for r in records):
            raise KeyError(f"pair_key={self.pair_key!r}: every record needs that field")
        pairs = [r[self.pair_key] for r in records] if self.pair_key else None
        enc = self.tokenizer(
            texts, pairs, max_length=self.max_length, truncation=True, padding=True
        )
        batch = enc.model_inputs()
        if self._labelled(records):
            labels = [as_label_id(r[self.label_key], "labels") for r in records]
            for y in labels:
                if y < 0:
                    raise ValueError(f"label {y} is negative; class ids are 0, 1, ...")
                if self.num_labels is not None and not 0 <= y < self.num_labels:
                    raise ValueError(
                        f"label {y} is outside [0, {self.num_labels}); "
                        "check the label mapping"
                    )
            batch["labels"] = torch.tensor(labels, dtype=torch.long)
        return batch

    def _labelled(self, records: Sequence[dict[str, Any]]) -> bool:
        """Whether every record has `label_key` (True) or none has it (False)."""
        if self.label_key is None:
            return False
        has = [self.label_key in r for r in records]
        if all(has):
            return True
        if any(has):
            raise ValueError(
                f"record {has.index(False)} has no {self.label_key!r} but record "
                f"{has.index(True)} has one: label every record, or none"
            )
        others = [k for k in records[0] if k not in (self.text_key, self.pair_key)]
        near = difflib.get_close_matches(str(self.label_key), map(str, others), 1, 0.8)
        if near:
            raise ValueError(
                f"no record has label_key={self.label_key!r}, but they have "
                f"{near[0]!r}: pass label_key={near[0]!r} (or label_key=None for "
                "unlabelled records)"
            )
        return False

    def lengths(self, records: Sequence[dict[str, Any]]) -> list[int]:
        """The number of tokens each record becomes (specials included, truncated at
        `max_length`): what `fit(..., lengths=...)` groups batches by.
        """
        _check_records(records)
        out: list[int] = []
        for i in range(0, len(records), 1024):
            chunk = list(records[i : i + 1024])
            batch = self(chunk)
            out += batch["attention_mask"].sum(dim=1).tolist()
        return out


def _check_records(records: Any) -> None:
    """A sequence of records (list, tuple, HF Dataset), read by position: a dict or a
    string also has a length, but records[0] of it is no record."""
    if (
        isinstance(records, (str, bytes, Mapping))
        or not hasattr(records, "__len__")
        or not hasattr(records, "__getitem__")
    ):
        raise TypeError(
            "records must be a list of dicts such as {'sentence': ..., 'label': ...}, "
            f"got {type(records).__name__}"
        )


def _check_model(model: Any) -> None:
    """The model runs in eval mode on its own device: it must be an nn.Module."""
    check_module(
        model, "a classifier such as BertForSequenceClassification (an nn.Module)"
    )


def _class_logits(
    model, records: Sequence[dict], collator, batch_size: int, caller: str
) -> torch.Tensor:
    """`predict_logits` for `evaluate` and `predict`, which read a softmax over classes.

    A regression model (num_labels=1) or a multi-label one has no such distribution: a
    softmax over one output is always 1.0, so both are refused, as are NaN scores.
    """
    _check_model(model)
    config = getattr(model, "config", None)
    kind = getattr(config, "problem_type", None)
    if getattr(config, "num_labels", 2) < 2 or kind in (
        "regression",
        "multi_label_classification",
    ):
        raise ValueError(
            f"{caller} needs a single-label classifier with >= 2 labels, got a model "
            f"with num_labels={config.num_labels} and problem_type={kind!r}: "
            "regression and multi-label models have no class probabilities "
            "(predict_logits gives their outputs)"
        )
    logits = predict_logits(model, records, collator, batch_size)
    if logits.size(-1) < 2:
        raise ValueError(
            f"{caller} needs a classifier with >= 2 labels, got a model with 1 output: "
            "regression has no class probabilities (predict_logits gives its outputs)"
        )
    check_finite_logits(logits)
    return logits


def predict_logits(
    model, records: Sequence[dict], collator, batch_size: int = 64
) -> torch.Tensor:
    """Logits (N, num_labels) for every record, in order, with the model in eval
    mode.

    With a collator that knows its records' lengths (`ClassificationCollator.lengths`),
    the records run shortest first, so each batch holds texts of similar length and
    little padding; the logits come back in the records' order. A text's logits do not
    depend on which texts share its batch (padding is masked), so the order changes only
    the time, not the answer (beyond float rounding).
    """
    _check_model(model)
    _check_records(records)
    if len(records) == 0:
        raise ValueError("records is empty: there is nothing to score")
    if not callable(collator):
        raise TypeError(
            "collator must turn a list of records into a batch (a "
            f"ClassificationCollator), got {type(collator).__name__}"
        )
    batch_size = check_int("batch_size", batch_size, minimum=1)
    device = next(model.parameters()).device
    n = len(records)
    if hasattr(collator, "lengths"):
        lengths = collator.lengths(records)
        order = sorted(range(n), key=lengths.__getitem__)
    else:
        order = list(range(n))
    out: torch.Tensor | None = None
    with evaluating(model):
        for i in range(0, n, batch_size):
            rows = order[i : i + batch_size]
            batch = collator([records[j] for j in rows])
            batch.pop("labels", None)
            output = model(**{k: v.to(device) for k, v in batch.items()})
            if not hasattr(output, "logits"):
                raise TypeError(
                    f"model must score classes, as BertForSequenceClassification does; "
                    f"{type(model).__name__} returned {type(output).__name__}, which "
                    "has no logits (a bare BertModel gives vectors: add a "
                    "classification head)"
                )
            logits = output.logits
            if out is None:
                out = torch.empty(n, logits.shape[-1])  # (N, num_labels)
            out[rows] = logits.float().cpu()
    return out


@dataclass
class ClassificationReport:
    accuracy: float
    macro_f1: float
    confusion: list[list[int]]  # confusion[true][predicted]
    predictions: list[int] = field(repr=False)
    probabilities: list[list[float]] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "confusion": self.confusion,
        }


def evaluate(
    model,
    records: Sequence[dict],
    collator: ClassificationCollator,
    batch_size: int = 64,
) -> ClassificationReport:
    """Score a classifier on labelled records: accuracy, macro-F1, confusion matrix,
    predictions.

    The model must be a single-label classifier with >= 2 labels: accuracy needs a
    predicted class, and a regression model has none.
    """
    _check_records(records)
    if len(records) == 0:
        raise ValueError("evaluate needs at least one labelled record, got none")
    if not callable(collator):
        raise TypeError(
            f"collator must be a ClassificationCollator, got {type(collator).__name__}"
        )
    label_key = getattr(collator, "label_key", None)
    if label_key is None:
        raise ValueError(
            "evaluate needs labelled records, but the collator has no label_key; "
            "set it to the records' label field (ClassificationCollator(label_key=...))"
        )
    for r in records:
        if not isinstance(r, Mapping):
            raise TypeError(
                f"each record must be a dict with a {label_key!r} label, "
                f"got {type(r).__name__}"
            )
    if any(label_key not in r for r in records):
        raise KeyError(f"evaluate needs a {label_key!r} label in every record")
    logits = _class_logits(model, records, collator, batch_size, "evaluate")
    probs = logits.softmax(-1)
    preds = probs.argmax(-1).tolist()
    y_true = [int(r[collator.label_key]) for r in records]
    m = classification_metrics(y_true, preds, logits.size(-1))
    return ClassificationReport(
        m["accuracy"], m["macro_f1"], m["confusion"], preds, probs.tolist()
    )


def predict(
    model,
    tokenizer: Tokenizer,
    texts: str | Sequence[str],
    text_pairs=None,
    max_length: int = 128,
    batch_size: int = 64,
) -> list[dict[str, Any]]:
    """Labels and class probabilities for raw texts: `[{"label": "positive",
    "probabilities": {...}}]`.

    Label names come from the model config's `id2label` when it has them. The model
    must be a single-label classifier with >= 2 labels: a regression model has no class
    probabilities (`predict_logits` gives its outputs).
    """
    single = isinstance(texts, str)
    if not single and not isinstance(texts, Iterable):
        raise TypeError(
            f"texts must be a string or a list of strings, got {type(texts).__name__}"
        )
    texts = [texts] if single else list(texts)
    if not texts:
        raise ValueError("predict needs at least one text")
    if any(not isinstance(t, str) or not t.strip() for t in texts):
        raise ValueError("every text must be a non-empty string")
    records = [{"text": t} for t in texts]
    if text_pairs is not None:
        if not isinstance(text_pairs, Iterable):
            raise TypeError(
                "text_pairs must be a string, a list of strings or None, got "
                f"{type(text_pairs).__name__}"
            )
        pairs = [text_pairs] if isinstance(text_pairs, str) else list(text_pairs)
        if len(pairs) != len(records):
            raise ValueError(f"got {len(records)} texts but {len(pairs)} text_pairs")
        for r, p in zip(records, pairs):
            r["pair"] = p
    collator = ClassificationCollator(
        tokenizer, max_length, "text", "pair" if text_pairs is not None else None, None
    )
    probs = _class_logits(model, records, collator, batch_size, "predict").softmax(-1)
    id2label = getattr(model.config, "id2label", None) or {}
    names = [id2label.get(i, str(i)) for i in range(probs.size(-1))]
    out = [
        {
            "label": names[int(p.argmax())],
            "label_id": int(p.argmax()),
            "probabilities": {n: float(v) for n, v in zip(names, p)},
        }
        for p in probs
    ]
    return out
