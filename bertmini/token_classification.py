"""Token classification: a label for every word (named entities, parts of speech).

Three things are specific to it, and each is easy to get subtly wrong:

1. **Alignment.** Labels belong to words, the model sees WordPiece pieces: "Kardashian"
   may be "ka", "##rda", "##shian". The label goes on the first piece; the other pieces
   and the specials get -100, which the loss skips (`align_labels`). Reading predictions
   back means reading the first piece of every word (`word_labels_from_pieces`).
2. **The metric.** Entities, not tokens, are what count: an entity is right only if its
   type and both of its boundaries are right (CoNLL's rule), and over 92% of WNUT-17's
   words are `O`, so a model that never finds anything has over 92% token accuracy.
   `entity_scores` is the entity-level precision/recall/F1 of `conlleval` (and of
   `seqeval`'s default mode).
3. **Free text.** `predict_entities` turns raw text into typed entities with character
   spans, by way of the tokenizer's word ids and offsets.

The model, `BertForTokenClassification`, is a linear layer on every token's vector and
reads and writes Hugging Face checkpoints (`classifier.weight`, `classifier.bias`).
"""

from __future__ import annotations

import numbers
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._validate import (
    check_bool,
    check_int,
    check_module,
    check_number,
    check_tokenizer,
)
from .config import BertConfig
from .device import evaluating
from .heads import IGNORE_INDEX, as_label_id, check_labels, with_labels
from .metrics import precision_recall_f1
from .model import BertModel, BertPreTrainedModel
from .outputs import TokenClassifierOutput
from .tokenizer import Tokenizer

__all__ = [
    "BertForTokenClassification",
    "TokenClassifierOutput",
    "TokenClassificationCollator",
    "align_labels",
    "word_labels_from_pieces",
    "encode_words",
    "inside_label_ids",
    "entities",
    "entity_scores",
    "predict_word_labels",
    "predict_entities",
    "class_weights",
]


# ---------------------------------------------------------------------- argument checks
def _check_model(model: Any) -> None:
    """Prediction needs a module (for its device and eval mode) that names its labels."""
    expected = "a token classifier such as BertForTokenClassification"
    check_module(model, f"{expected} (an nn.Module)")
    if not hasattr(model, "id2label"):
        raise TypeError(
            f"model must be {expected} (with id2label), got {type(model).__name__}"
        )


def _check_sentences(sentences: Any) -> None:
    if (
        isinstance(sentences, (str, bytes))
        or not isinstance(sentences, Sequence)
        or not sentences
    ):
        raise ValueError(
            "sentences must be a non-empty list of word lists, got "
            f"{sentences!r:.80} ({type(sentences).__name__})"
        )
    for s in sentences:
        if (
            isinstance(s, str)
            or not isinstance(s, Sequence)
            or not all(isinstance(w, str) for w in s)
        ):
            raise TypeError(
                f"each sentence must be a list of words (strings), got {s!r:.80}"
            )


# ---------------------------------------------------------------------------- the model
class BertForTokenClassification(BertPreTrainedModel):
    """Every token's vector -> dropout -> linear: one score per label at every position.

    The same layer as Hugging Face's `BertForTokenClassification` (no pooler; the head
    is `classifier`), so checkpoints move both ways. `class_weight` (one number per
    label) weights the cross-entropy: a way to make rare entity tags count more than the
    sea of `O`. It is part of the training recipe, not of the model, so it is not saved
    with the weights.

    The loss is the mean over labelled tokens (labels != -100). A batch with none (every
    word truncated away) has loss 0, still attached to the graph, not the NaN of a mean
    over nothing, as in `masked_lm_loss`.
    """

    def __init__(
        self,
        config: BertConfig,
        num_labels: int | None = None,
        id2label: dict[int, str] | Sequence[str] | None = None,
        class_weight: torch.Tensor | Sequence[float] | None = None,
    ):
        super().__init__()
        if not isinstance(config, BertConfig):
            raise TypeError(
                f"{type(self).__name__} expects a BertConfig, got "
                f"{type(config).__name__}"
            )
        self.config = config = with_labels(config, num_labels, id2label)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        dropout = config.extra.get("classifier_dropout")
        self.dropout = nn.Dropout(
            config.hidden_dropout_prob if dropout is None else dropout
        )
        self.classifier = nn.Linear(config.hidden_size, self.num_labels)
        self.register_buffer("class_weight", None, persistent=False)
        self.init_weights()
        self.set_class_weight(class_weight)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(self.config.id2label)

    def set_class_weight(self, weight: torch.Tensor | Sequence[float] | None) -> None:
        """Weight each label's share of the loss (None: plain cross-entropy).

        Finite and > 0: an inf weight makes the loss NaN, and a 0 makes it NaN on a
        batch whose labelled tokens all have that label (a weighted mean over nothing).
        """
        if weight is not None:
            expected = f"class_weight must be {self.num_labels} positive numbers"
            try:
                weight = torch.as_tensor(weight, dtype=torch.float32)
            except (TypeError, ValueError, RuntimeError):
                raise TypeError(f"{expected}, got {weight!r:.80}") from None
            if (
                weight.shape != (self.num_labels,)
                or not bool((weight > 0).all())
                or not bool(torch.isfinite(weight).all())
            ):
                raise ValueError(
                    f"{expected} (finite, one per label), got {weight.tolist()}"
                )
            weight = weight.to(self.classifier.weight.device)
        self.class_weight = weight

    def forward(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        labels=None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> TokenClassifierOutput:
        out = self.bert(
            input_ids,
            attention_mask,
            token_type_ids,
            output_attentions,
            output_hidden_states,
        )
        # (B, T, num_labels)
        logits = self.classifier(self.dropout(out.last_hidden_state))
        loss = None
        if labels is not None:
            check_labels(labels, self.num_labels, "labels", logits.shape[:2])
            if not bool((labels != IGNORE_INDEX).any()):
                # No labelled token: 0, connected to the graph so backward() still works
                loss = logits.float().sum() * 0.0
            else:
                loss = F.cross_entropy(
                    logits.reshape(-1, self.num_labels).float(),
                    labels.reshape(-1),
                    weight=self.class_weight,
                    ignore_index=IGNORE_INDEX,
                )
        return TokenClassifierOutput(loss, logits, out.hidden_states, out.attentions)


def class_weights(
    label_ids: Sequence[Sequence[int]], num_labels: int, power: float = 0.5
) -> torch.Tensor:
    """Weights `(max count / count) ** power` per label, from aligned training labels.

    `power=1` is full inverse frequency (a rare tag weighs as much as all `O` together,
    which tends to flood the output with false positives); `power=0.5` is a milder
    middle ground. Labels never seen get the largest weight. -100 positions are not
    counted, as the loss skips them; every other label must be an integer in
    [0, num_labels) (a -1 would otherwise count as the last label). With no label to
    count there is nothing to weigh: that is an error, not all ones.
    """
    num_labels = check_int("num_labels", num_labels, minimum=1)
    check_number("power", power)
    if isinstance(label_ids, (str, bytes)) or not isinstance(label_ids, Iterable):
        raise TypeError(
            f"label_ids must be rows of label ids, got {type(label_ids).__name__}"
        )
    counts: Counter[int] = Counter()
    for row in label_ids:
        if isinstance(row, (str, bytes)) or not isinstance(row, Iterable):
            raise TypeError(
                "label_ids must be rows of label ids, one per sentence (as "
                f"collator(records)['labels'].tolist() gives), got a row {row!r:.80}"
            )
        for y in row:
            y = as_label_id(y, "label_ids")
            if y == IGNORE_INDEX:
                continue
            if not 0 <= y < num_labels:
                raise ValueError(
                    f"label_ids contains {y}, outside [0, {num_labels}) "
                    f"(use {IGNORE_INDEX} for positions to ignore)"
                )
            counts[y] += 1
    if not counts:
        raise ValueError(
            f"label_ids holds no label other than {IGNORE_INDEX}: nothing to count"
        )
    total = torch.tensor([counts[i] for i in range(num_labels)], dtype=torch.float32)
    total = total.clamp(min=1)
    return (total.max() / total) ** power


# ---------------------------------------------------------------------------- alignment
def inside_label_ids(id2label: dict[int, str] | Sequence[str]) -> list[int]:
    """For every label id, the id a *continuation* piece gets: B-x -> I-x, else itself.

    Used when every piece is labelled: the second piece of a word is inside the entity,
    never its beginning, or one word would read as two entities. `id2label` is a list
    of names or a dict that names every id from 0 to n - 1.
    """
    if isinstance(id2label, (list, tuple)):
        names = dict(enumerate(id2label))
    elif isinstance(id2label, Mapping):
        names = dict(id2label)
    else:
        raise TypeError(
            "id2label must be a list of label names or a dict {id: name}, got "
            f"{type(id2label).__name__}"
        )
    for k, v in names.items():
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise TypeError(
                f"id2label must map integer ids to names, got the key {k!r} "
                "(is it label2id? invert it: {i: name for name, i in label2id.items()})"
            )
        if not isinstance(v, str):
            raise TypeError(
                f"id2label's names must be strings such as 'B-PER', got {v!r} for id {k}"
            )
    unnamed = sorted(set(range(len(names))) - set(names))
    if unnamed:
        raise ValueError(
            f"id2label must name every id from 0 to {len(names) - 1}, got ids "
            f"{sorted(names)} (no name for id {unnamed[0]})"
        )
    ids = {v: k for k, v in names.items()}
    out = []
    for i in range(len(names)):
        name = names[i]
        inside = "I-" + name[2:] if name.startswith("B-") else name
        out.append(ids.get(inside, i))
    return out


def _check_sequence(name: str, value: Any) -> None:
    """A list (tuple, tensor row) of per-word or per-piece items. A string is refused:
    it iterates as characters, each then read as a tag or an id."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(f"{name} must be a list, got {type(value).__name__}")


def align_labels(
    word_ids: Sequence[int | None],
    word_labels: Sequence[int],
    label_all_pieces: bool = False,
    inside: Sequence[int] | None = None,
) -> list[int]:
    """Labels for the pieces of one encoded text, from the labels of its words.

    Args:
        word_ids: for every piece, the index of the word it came from; None for [CLS],
            [SEP] and padding (`Encoding.encodings[i].word_ids`, padded).
        word_labels: one label id per word.
        label_all_pieces: False (the usual choice): the first piece of a word carries
            its label, the other pieces -100. True: every piece is labelled,
            continuation pieces with `inside[label]` (see `inside_label_ids`) when
            given.
        inside: the continuation label of each label id; None keeps the word's label.

    Returns:
        One label per piece; -100 wherever the loss should not look.
    """
    check_bool("label_all_pieces", label_all_pieces)
    _check_sequence("word_ids", word_ids)
    _check_sequence("word_labels", word_labels)
    labels = [as_label_id(y, "word_labels") for y in word_labels]
    if label_all_pieces and inside is not None:
        # inside[label] is read for every continuation piece: check it covers them all
        _check_sequence("inside", inside)
        inside = [as_label_id(i, "inside") for i in inside]
        for y in labels:
            if not 0 <= y < len(inside):
                raise ValueError(
                    f"inside has {len(inside)} entries (one per label id), but "
                    f"word_labels has the label {y}"
                )
    out = []
    previous = None
    for w in word_ids:
        if w is None:
            out.append(IGNORE_INDEX)
        else:
            _check_word_id(w, len(labels), "word labels")
            if w != previous:
                out.append(labels[w])
            elif label_all_pieces:
                out.append(inside[labels[w]] if inside is not None else labels[w])
            else:
                out.append(IGNORE_INDEX)
        previous = w
    return out


def _check_word_id(w: Any, num_words: int, what: str) -> None:
    """A word id indexes a list of words: an integer in [0, num_words). A negative one
    would silently read a word from the end, a float is not an index."""
    if isinstance(w, bool) or not isinstance(w, numbers.Integral):
        raise TypeError(f"word_ids must be integers or None, got {w!r}")
    if not 0 <= w < num_words:
        raise ValueError(f"word_ids contains {w}, outside [0, {num_words}) {what}")


def word_labels_from_pieces(
    word_ids: Sequence[int | None],
    piece_labels: Sequence[int],
    num_words: int,
    missing: int = IGNORE_INDEX,
) -> list[int]:
    """The inverse of `align_labels`: each word takes its first piece's label.

    A word with no piece (cut off by truncation) gets `missing`. Word ids must be None
    or in [0, num_words): a negative one would silently label a word from the end.
    Labels must be integers (a float is not rounded into a class).
    """
    num_words = check_int("num_words", num_words, minimum=0)
    missing = check_int("missing", missing)
    _check_sequence("word_ids", word_ids)
    _check_sequence("piece_labels", piece_labels)
    if len(word_ids) != len(piece_labels):
        raise ValueError(
            f"got {len(word_ids)} word ids but {len(piece_labels)} piece labels"
        )
    out = [missing] * num_words
    previous = None
    for w, y in zip(word_ids, piece_labels):
        if w is not None:
            _check_word_id(w, num_words, f"for num_words={num_words}")
            if w != previous:
                out[w] = as_label_id(y, "piece_labels")
        previous = w
    return out


def encode_words(
    tokenizer: Tokenizer, sentences: Sequence[Sequence[str]], max_length: int = 128
):
    """Tokenize sentences already split into words, keeping each piece's word index.

    Returns `(batch, word_ids)`: padded LongTensors (B, T) as a BERT forward takes them,
    and for every row the word index of each piece (None for specials and padding). A
    sentence longer than `max_length` pieces is truncated; its last words then have no
    piece. `max_length` is at least 3: [CLS], one piece, [SEP].
    """
    check_tokenizer(tokenizer)
    _check_sentences(sentences)
    max_length = check_int("max_length", max_length, minimum=3)
    backend = tokenizer.backend
    backend.enable_truncation(max_length)
    try:
        encodings = backend.encode_batch(
            [list(s) for s in sentences], is_pretokenized=True
        )
    finally:
        backend.no_truncation()
    T = max(len(e.ids) for e in encodings)

    def pad(rows, fill):
        return torch.tensor(
            [list(r) + [fill] * (T - len(r)) for r in rows], dtype=torch.long
        )

    batch = {
        "input_ids": pad([e.ids for e in encodings], tokenizer.pad_token_id),
        "attention_mask": pad([e.attention_mask for e in encodings], 0),
        "token_type_ids": pad([e.type_ids for e in encodings], 0),
    }
    word_ids = [list(e.word_ids) + [None] * (T - len(e.ids)) for e in encodings]
    return batch, word_ids


@dataclass
class TokenClassificationCollator:
    """Records `{"tokens": [...], "tags": [...]}` -> a padded batch, labels aligned.

    `label2id` maps tag names to ids; tags may also be given as ids already (one of
    label2id's ids; never a float or a bool). A batch is labelled only if every record
    has "tags": a batch where only some have them is refused, since labels for part of
    a batch cannot be sent to the model.
    """

    tokenizer: Tokenizer
    label2id: dict[str, int]
    max_length: int = 128
    label_all_pieces: bool = False

    def __post_init__(self) -> None:
        check_tokenizer(self.tokenizer)
        self.max_length = check_int("max_length", self.max_length, minimum=3)
        check_bool("label_all_pieces", self.label_all_pieces)  # "no" is truthy
        if not isinstance(self.label2id, Mapping):
            raise TypeError(
                "label2id must be a dict {tag name: id}, e.g. {'O': 0, 'B-PER': 1}, "
                f"got {type(self.label2id).__name__}"
            )
        for name, i in self.label2id.items():
            if not isinstance(name, str):
                raise TypeError(
                    f"label2id must map tag names to ids, got the key {name!r} (is it "
                    "id2label? invert it: {name: i for i, name in id2label.items()})"
                )
            check_int(f"label2id[{name!r}]", i, minimum=0)
        self.ids = set(self.label2id.values())
        id2label = {i: name for name, i in self.label2id.items()}
        self.inside = inside_label_ids(id2label) if self.label_all_pieces else None

    def _tag_id(self, tag: Any) -> int:
        if isinstance(tag, str):
            if tag not in self.label2id:
                raise ValueError(
                    f"tag {tag!r} is not in label2id (known: {sorted(self.label2id)})"
                )
            return self.label2id[tag]
        if isinstance(tag, bool) or not isinstance(tag, numbers.Integral):
            raise TypeError(
                "tags must be tag names or integer ids from label2id, got "
                f"{tag!r} ({type(tag).__name__})"
            )
        if tag not in self.ids:
            raise ValueError(
                f"tag id {tag} is not an id of label2id (ids: {sorted(self.ids)})"
            )
        return int(tag)

    def __call__(self, records: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if len(records) == 0:
            raise ValueError("cannot collate an empty batch")
        for r in records:
            if not isinstance(r, Mapping) or "tokens" not in r:
                raise ValueError(
                    f"each record must be a dict with a 'tokens' list, got {r!r:.80}"
                )
        labelled = ["tags" in r for r in records]
        if any(labelled) and not all(labelled):
            raise ValueError(
                f"record {labelled.index(False)} has no 'tags' but record "
                f"{labelled.index(True)} has: give tags for every record, or for none"
            )
        batch, word_ids = encode_words(
            self.tokenizer, [r["tokens"] for r in records], self.max_length
        )
        if all(labelled):
            rows = []
            for r, ids in zip(records, word_ids):
                tags = r["tags"]
                if isinstance(tags, str) or not isinstance(tags, Sequence):
                    raise TypeError(f"a record's tags must be a list, got {tags!r:.80}")
                if len(tags) != len(r["tokens"]):
                    raise ValueError(
                        f"a record has {len(r['tokens'])} tokens but {len(tags)} tags"
                    )
                tags = [self._tag_id(t) for t in tags]
                rows.append(align_labels(ids, tags, self.label_all_pieces, self.inside))
            batch["labels"] = torch.tensor(rows, dtype=torch.long)
        return batch


# ----------------------------------------------------------------------------- entities
def _split_tag(tag: str) -> tuple[str, str]:
    if tag == "O":
        return "O", ""
    if len(tag) > 2 and tag[:2] in ("B-", "I-"):
        return tag[0], tag[2:]
    raise ValueError(
        f"{tag!r} is not a BIO tag: expected 'O', 'B-<type>' or 'I-<type>'"
    )


def entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """The entities of one BIO sequence as `(type, first, last)`, inclusive indices.

    CoNLL's rules (those of `conlleval` and `seqeval`'s default mode): an entity starts
    at a `B-`, or at an `I-` that does not continue an entity of the same type (a stray
    `I-x` after `O` starts one); it ends before `O`, `B-` or a change of type.
    """
    _check_sequence("tags", tags)
    found: list[tuple[str, int, int]] = []
    start, kind = None, ""
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, type_ = _split_tag(tag)
        if start is not None and (prefix in ("O", "B") or type_ != kind):
            found.append((kind, start, i - 1))
            start = None
        if prefix == "B" or (prefix == "I" and start is None):
            start, kind = i, type_
    return found


def entity_scores(
    true_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]]
) -> dict[str, Any]:
    """Entity-level precision, recall and F1 of a corpus: overall (micro) and per type.

    An entity counts as found only if a predicted entity has the same type and the same
    first and last word. Precision = found / predicted entities, recall = found / true
    entities, F1 their harmonic mean; 0 where a ratio is 0/0 (as `seqeval` reports it).

    Returns:
        `{"precision", "recall", "f1", "true", "predicted", "correct", "per_type":
        {type: {"precision", "recall", "f1", "support"}}}`, support being the number of
        true entities of that type.
    """
    _check_sequence("true_tags", true_tags)
    _check_sequence("pred_tags", pred_tags)
    if len(true_tags) != len(pred_tags):
        raise ValueError(
            f"got {len(true_tags)} true sequences but {len(pred_tags)} predicted"
        )
    true_set, pred_set = set(), set()
    for n, (t, p) in enumerate(zip(true_tags, pred_tags)):
        if isinstance(t, str) or isinstance(p, str):
            raise TypeError(
                "true_tags and pred_tags are lists of tag sequences, one per sentence"
            )
        if len(t) != len(p):
            raise ValueError(f"sentence {n}: {len(t)} true tags but {len(p)} predicted")
        true_set.update((n, *e) for e in entities(t))
        pred_set.update((n, *e) for e in entities(p))
    correct = true_set & pred_set
    result: dict[str, Any] = precision_recall_f1(
        len(correct), len(pred_set), len(true_set)
    )
    result.update(true=len(true_set), predicted=len(pred_set), correct=len(correct))
    by = {
        name: Counter(e[1] for e in s)
        for name, s in (("true", true_set), ("pred", pred_set), ("correct", correct))
    }
    result["per_type"] = {
        kind: {
            **precision_recall_f1(
                by["correct"][kind], by["pred"][kind], by["true"][kind]
            ),
            "support": by["true"][kind],
        }
        for kind in sorted(set(by["true"]) | set(by["pred"]))
    }
    return result


# --------------------------------------------------------------------------- prediction
def predict_word_labels(
    model: BertForTokenClassification,
    tokenizer: Tokenizer,
    sentences: Sequence[Sequence[str]],
    max_length: int = 128,
    batch_size: int = 64,
) -> list[list[str]]:
    """Tag names for every word of pre-split sentences; a word's first piece decides.

    A word cut off by `max_length` gets `O`: it was never seen, so nothing is claimed.
    Sentences run shortest first (fewer words, fewer pieces: less padding per batch) and
    come back in their order; a sentence's tags do not depend on its batch.
    `max_length` is at least 3 ([CLS], one piece, [SEP]): with less, no word is seen.
    """
    _check_model(model)
    check_tokenizer(tokenizer)
    _check_sentences(sentences)
    max_length = check_int("max_length", max_length, minimum=3)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    device = next(model.parameters()).device
    names = model.id2label
    out: list[list[str]] = [[] for _ in sentences]
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    with evaluating(model):
        for i in range(0, len(order), batch_size):
            rows = order[i : i + batch_size]
            chunk = [sentences[j] for j in rows]
            batch, word_ids = encode_words(tokenizer, chunk, max_length)
            inputs = {k: v.to(device) for k, v in batch.items()}
            logits = model(**inputs).logits  # (B, T, C)
            pieces = logits.argmax(-1).cpu().tolist()
            for j, words, ids, row in zip(rows, chunk, word_ids, pieces):
                labels = word_labels_from_pieces(ids, row, len(words))
                out[j] = [names[y] if y != IGNORE_INDEX else "O" for y in labels]
    return out


def predict_entities(
    model: BertForTokenClassification,
    tokenizer: Tokenizer,
    text: str,
    max_length: int = 128,
) -> list[dict[str, Any]]:
    """Typed entities in free text, with character spans: what a user of NER wants.

    The text is split into words by the tokenizer's own pre-tokenizer (white space and
    punctuation), each word is labelled by its first piece, BIO tags are grouped into
    entities, and each entity's span runs from its first word's first character to its
    last word's last character. `score` is the mean probability of the chosen tag over
    the entity's words.

    Returns:
        `[{"type", "text", "start", "end", "score"}, ...]` with
        `text == text[start:end]`.
    """
    _check_model(model)
    check_tokenizer(tokenizer)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must be a non-empty string, got {text!r:.80}")
    max_length = check_int("max_length", max_length, minimum=3)
    enc = tokenizer(
        text, max_length=max_length, truncation=True, return_offsets_mapping=True
    )
    device = next(model.parameters()).device
    with evaluating(model):
        inputs = enc.to(device).model_inputs()
        logits = model(**inputs).logits[0].float().cpu()  # (T, C)
    probs = logits.softmax(-1)
    word_ids = enc.encodings[0].word_ids
    offsets = enc.encodings[0].offsets
    spans: dict[int, list[int]] = {}
    first_piece: dict[int, int] = {}
    for t, w in enumerate(word_ids):
        if w is None:
            continue
        start, end = offsets[t]
        if w not in spans:
            spans[w], first_piece[w] = [start, end], t
        spans[w][1] = end
    words = sorted(spans)
    names = model.id2label
    tags = [names[int(probs[first_piece[w]].argmax())] for w in words]
    result = []
    for kind, first, last in entities(tags):
        start, end = spans[words[first]][0], spans[words[last]][1]
        chosen = [
            float(probs[first_piece[words[k]]].max()) for k in range(first, last + 1)
        ]
        result.append(
            {
                "type": kind,
                "text": text[start:end],
                "start": start,
                "end": end,
                "score": sum(chosen) / len(chosen),
            }
        )
    return result
