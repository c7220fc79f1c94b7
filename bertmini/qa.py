"""Extractive question answering (SQuAD-style) around `BertForQuestionAnswering`.

The model only ever sees fixed-size windows of token ids and predicts, for every token,
a "this is where the answer starts" logit and a "this is where it ends" logit.
Everything that turns *strings* into those windows and the logits back into *strings*
lives here:

1. `prepare_features` - `[CLS] question [SEP] context-window [SEP]` windows that slide
   over long contexts, with the character offset of every context token and start/end
   token labels for training (the `[CLS]` index 0 when the window does not hold the
   whole answer).
2. `postprocess` - the best answer span over all windows of a question, mapped back to
   characters of the original context.
3. `squad_metrics` - exact match and F1 exactly as the official SQuAD v1.1 script
   (`evaluate-v1.1.py`, Rajpurkar et al. 2016) computes them.
4. `answer` - one question, one context, one model: the interactive demo.
5. `sentence_overlap_baseline` - the "no learning" baseline the chapter beats.
6. `train_qa`, `predict_logits`, `evaluate_qa` - fine-tuning with `bertmini.train.fit`
   on windows batched by length, and the official score of a model.

Only numpy and torch are needed at import time; the tokenizer is passed in by the
caller.
"""

from __future__ import annotations

import re
import string
import time
import warnings
from collections import Counter
from dataclasses import dataclass, fields, replace
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch

from ._validate import check_int, check_str
from .device import evaluating

__all__ = [
    "QAFeatures",
    "prepare_features",
    "postprocess",
    "postprocess_with_scores",
    "normalize_answer",
    "exact_match_score",
    "f1_score",
    "squad_metrics",
    "references_from_examples",
    "answer",
    "sentence_overlap_baseline",
    "length_grouped_batches",
    "predict_logits",
    "evaluate_qa",
    "train_qa",
]

CLS_INDEX = (
    0  # BERT puts [CLS] first; "no answer in this window" is labelled with its index.
)
NO_OFFSET = -1  # offset_mapping value for question, special and padding tokens.


# --------------------------------------------------------------------------------------
# 1. Features: sliding windows with offsets and labels
# --------------------------------------------------------------------------------------


@dataclass
class QAFeatures:
    """The windows that are fed to the model, plus what is needed to map logits back to
    text.

    One *example* (a question with its context) becomes one or more *features* (windows)
    when the context is longer than `max_length`; `example_index` says which example
    each window came from, so predictions from every window of a question can be
    compared.
    """

    input_ids: torch.Tensor  # (N, T) long
    attention_mask: torch.Tensor  # (N, T) long, 1 = real token, 0 = padding
    token_type_ids: (
        torch.Tensor
    )  # (N, T) long, 0 = question segment, 1 = context segment
    offset_mapping: (
        torch.Tensor
    )  # (N, T, 2) long, character span in the context, -1 elsewhere
    example_index: torch.Tensor  # (N,) long, window -> index into the examples list
    example_ids: list[str]  # (N,) the "id" of the example each window came from
    start_positions: torch.Tensor | None = (
        None  # (N,) long, answer start token, 0 = [CLS]
    )
    end_positions: torch.Tensor | None = None  # (N,) long, answer end token (inclusive)

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    @property
    def has_labels(self) -> bool:
        return self.start_positions is not None and self.end_positions is not None

    def answerable(self) -> torch.Tensor:
        """Boolean mask (N,) of windows that contain the whole labelled answer.

        A common recipe trains only on these windows: a window labelled `[CLS]` teaches
        "no answer here", which SQuAD v1.1 never asks for at test time.
        """
        if not self.has_labels:
            raise ValueError(
                "these features have no labels; build them with prepare_features(..., "
                "with_labels=True) to know which windows contain the answer"
            )
        return self.start_positions != CLS_INDEX  # type: ignore[operator]

    def select(self, index: torch.Tensor | Sequence[int]) -> "QAFeatures":
        """A subset of the windows (a boolean mask or integer indices).

        `example_index` keeps pointing into the *original* examples list, so a subset
        can still be post-processed against the same examples.
        """
        idx = torch.as_tensor(index)
        if idx.dtype == torch.bool:
            if idx.shape != (len(self),):
                raise ValueError(
                    f"boolean mask has shape {tuple(idx.shape)}, expected "
                    f"({len(self)},)"
                )
            idx = idx.nonzero().flatten()
        idx = idx.long()
        chosen = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                chosen[f.name] = None
            elif isinstance(value, torch.Tensor):
                chosen[f.name] = value[idx]
            else:  # example_ids list
                chosen[f.name] = [value[i] for i in idx.tolist()]
        return replace(self, **chosen)

    def model_inputs(
        self, index: torch.Tensor | slice | Sequence[int], trim: bool = True
    ) -> dict[str, torch.Tensor]:
        """The tensors `model(**inputs)` needs for some windows (labels included if
        present).

        `trim` drops padding columns that are padding in every selected window: on a CPU
        the cost of attention grows with T^2, so short contexts should not pay for long
        ones.
        """
        batch = {
            "input_ids": self.input_ids[index],
            "attention_mask": self.attention_mask[index],
            "token_type_ids": self.token_type_ids[index],
        }
        if trim and batch["attention_mask"].numel() > 0:
            width = int(batch["attention_mask"].sum(dim=1).max())
            batch = {k: v[:, :width] for k, v in batch.items()}
        if self.has_labels:
            batch["start_positions"] = self.start_positions[index]  # type: ignore[index]
            batch["end_positions"] = self.end_positions[index]  # type: ignore[index]
        return batch

    def batches(
        self,
        batch_size: int = 16,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        answerable_only: bool = False,
        trim: bool = True,
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Yield dicts of (B, T_batch) tensors ready for `model(**batch)`.

        Keep `shuffle=False` for evaluation: `postprocess` accepts the list of per-batch
        logits (of different widths when `trim=True`) in this order.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if answerable_only:
            order = self.answerable().nonzero().flatten()
        else:
            order = torch.arange(len(self))
        if shuffle:
            order = order[torch.randperm(len(order), generator=generator)]
        for begin in range(0, len(order), batch_size):
            yield self.model_inputs(order[begin : begin + batch_size], trim=trim)


def _backend_of(tokenizer: Any) -> Any:
    """The underlying `tokenizers.Tokenizer` (`bertmini.Tokenizer.backend`) or the
    object itself.
    """
    backend = getattr(tokenizer, "backend", tokenizer)
    for method in ("encode_batch", "enable_truncation", "no_truncation", "no_padding"):
        if not hasattr(backend, method):
            raise TypeError(
                f"expected a bertmini.Tokenizer or a tokenizers.Tokenizer, got {type(tokenizer).__name__} "
                f"(no .{method}); load one with bertmini.Tokenizer.from_pretrained(...)"
            )
    return backend


def _pad_token_id(tokenizer: Any, backend: Any) -> int:
    pad = getattr(tokenizer, "pad_token_id", None)
    if pad is None:
        pad = backend.token_to_id("[PAD]")
    return 0 if pad is None else int(pad)


def _truncate_question(
    backend: Any, question: str, max_question_tokens: int
) -> tuple[str, int]:
    """Cut a question to at most `max_question_tokens` word pieces (BERT's
    max_query_length).

    Truncation must be done on the string: the tokenizer's only_second strategy never
    shortens the question, and a question longer than the window would leave no room for
    the context.
    """
    enc = backend.encode(question, add_special_tokens=False)
    if len(enc.ids) <= max_question_tokens:
        return question, len(enc.ids)
    end_char = enc.offsets[max_question_tokens - 1][1]
    return question[:end_char], max_question_tokens


def _is_word_aligned(context: str, start: int, end: int) -> bool:
    """True when [start, end) neither begins nor ends in the middle of a word."""
    begins_clean = (
        start == 0 or not context[start - 1].isalnum() or not context[start].isalnum()
    )
    ends_clean = (
        end == len(context)
        or not context[end].isalnum()
        or not context[end - 1].isalnum()
    )
    return begins_clean and ends_clean


def _answer_char_span(example: Mapping[str, Any]) -> tuple[int, int] | None:
    """Character span [start, end) of the gold answer to train on, whitespace trimmed.

    The first gold answer is used, unless it cuts through a word and a later one does
    not: SQuAD has a few annotations such as "8" marked inside "18", which no word-piece
    span can reproduce. None when the example has no answer.
    """
    answers = example.get("answers") or {}
    texts, starts = answers.get("text", []), answers.get("answer_start", [])
    if len(texts) == 0:
        return None
    if len(starts) != len(texts):
        raise ValueError(
            f"example {example.get('id')!r} has {len(texts)} answer texts but {len(starts)} answer_start values"
        )
    context = example["context"]
    spans = []
    for text, start in zip(texts, starts):
        start = int(start)
        end = start + len(text)
        if not (0 <= start <= end <= len(context)):
            raise ValueError(
                f"example {example.get('id')!r}: answer_start={start} with answer length {len(text)} "
                f"falls outside its context of {len(context)} characters"
            )
        if (
            context[start:end] != text
        ):  # a wrong offset would silently train on the wrong span
            raise ValueError(
                f"example {example.get('id')!r}: the context at answer_start={start} reads "
                f"{context[start:end]!r}, not the answer text {text!r}; fix answer_start (a character offset)"
            )
        # An answer that begins or ends with spaces should be labelled by the tokens of
        # its words.
        while start < end and context[start].isspace():
            start += 1
        while end > start and context[end - 1].isspace():
            end -= 1
        spans.append((start, end))
    aligned = [(s, e) for s, e in spans if e > s and _is_word_aligned(context, s, e)]
    return aligned[0] if aligned else spans[0]


def _label_window(offsets: np.ndarray, span: tuple[int, int] | None) -> tuple[int, int]:
    """Start/end token labels of one window; (CLS, CLS) unless the whole answer is
    inside.

    offsets: (T, 2) character spans, `NO_OFFSET` for non-context tokens. The label is
    the smallest run of context tokens that covers the answer's characters: the first
    token ending after the answer starts, the last token starting before the answer
    ends.
    """
    if span is None:
        return CLS_INDEX, CLS_INDEX
    start_char, end_char = span
    context_tokens = np.nonzero(offsets[:, 0] != NO_OFFSET)[0]
    if len(context_tokens) == 0 or end_char <= start_char:
        return CLS_INDEX, CLS_INDEX
    first, last = context_tokens[0], context_tokens[-1]
    if offsets[first, 0] > start_char or offsets[last, 1] < end_char:
        return CLS_INDEX, CLS_INDEX  # the answer is (partly) outside this window
    starts, ends = offsets[context_tokens, 0], offsets[context_tokens, 1]
    after_start = np.nonzero(ends > start_char)[0]
    before_end = np.nonzero(starts < end_char)[0]
    if len(after_start) == 0 or len(before_end) == 0:
        return CLS_INDEX, CLS_INDEX
    token_start, token_end = (
        context_tokens[after_start[0]],
        context_tokens[before_end[-1]],
    )
    if token_end < token_start:  # the answer lies in characters no token covers
        return CLS_INDEX, CLS_INDEX
    return int(token_start), int(token_end)


def prepare_features(
    examples: Sequence[Mapping[str, Any]],
    tokenizer: Any,
    max_length: int = 384,
    stride: int = 128,
    with_labels: bool = True,
    max_question_tokens: int = 64,
) -> QAFeatures:
    """Turn `{"id", "question", "context", "answers"}` records into model windows.

    Each window is `[CLS] question [SEP] part-of-context [SEP]`: the question is
    repeated in every window and only the context is cut (`truncation="only_second"`).
    Consecutive windows share `stride` context tokens (the Hugging Face meaning of
    stride: the overlap), so an answer cut by one window boundary is whole in the next
    one.

    Args:
        examples: records as returned by `bertmini.data.load_squad`; `answers` may be
            absent or empty when `with_labels=False` (or for an unanswerable example).
        tokenizer: a `bertmini.Tokenizer` (its `.backend` is used) or a
            `tokenizers.Tokenizer`.
        max_length: tokens per window, specials included (<= the model's position
            embeddings).
        stride: context tokens shared by consecutive windows; must be smaller than the
            room left for context after the question.
        with_labels: compute `start_positions`/`end_positions` from the first gold
            answer (the first one that does not cut through a word, see
            `_answer_char_span`).
        max_question_tokens: longer questions are cut to this many word pieces.
    """
    check_int("max_length", max_length)
    check_int("stride", stride)
    check_int("max_question_tokens", max_question_tokens)
    if max_length < 8:
        raise ValueError(
            f"max_length={max_length} is too small for [CLS] question [SEP] context [SEP]"
        )
    if stride < 0:
        raise ValueError(f"stride must be >= 0, got {stride}")
    if max_question_tokens < 1:
        raise ValueError(f"max_question_tokens must be >= 1, got {max_question_tokens}")
    if isinstance(examples, (str, Mapping)) or not isinstance(examples, Sequence):
        raise TypeError(
            f"examples must be a list of records, got {type(examples).__name__} "
            "(wrap a single record in a list)"
        )
    for i, ex in enumerate(examples):
        if not isinstance(ex, Mapping):
            raise TypeError(
                f"example {i} must be a dict with 'question' and 'context', "
                f"got {type(ex).__name__}"
            )
    backend = _backend_of(tokenizer)
    pad_id = _pad_token_id(tokenizer, backend)

    saved_truncation, saved_padding = backend.truncation, backend.padding
    try:
        backend.no_truncation()
        backend.no_padding()
        questions, contexts = [], []
        for i, ex in enumerate(examples):
            for key in ("question", "context"):
                if not isinstance(ex.get(key), str):
                    raise ValueError(
                        f"example {i} (id {ex.get('id')!r}) needs a string {key!r}"
                    )
            question, n_question = _truncate_question(
                backend, ex["question"].lstrip(), max_question_tokens
            )
            room = max_length - n_question - 3  # 3 specials: [CLS] ... [SEP] ... [SEP]
            if room <= stride:
                raise ValueError(
                    f"example {ex.get('id')!r}: its question takes {n_question} tokens, leaving {room} "
                    f"context tokens per window with max_length={max_length}, which must exceed "
                    f"stride={stride}; raise max_length, lower stride or lower max_question_tokens"
                )
            questions.append(question)
            contexts.append(ex["context"])
        backend.enable_truncation(max_length, stride=stride, strategy="only_second")
        encodings = (
            backend.encode_batch(list(zip(questions, contexts))) if questions else []
        )
    finally:  # a shared tokenizer must come back exactly as it was handed to us
        backend.no_truncation()
        if saved_truncation is not None:
            backend.enable_truncation(**saved_truncation)
        if saved_padding is not None:
            backend.enable_padding(**saved_padding)

    windows, example_index = [], []
    for i, enc in enumerate(encodings):
        for window in [enc, *enc.overflowing]:
            windows.append(window)
            example_index.append(i)

    n, width = len(windows), max((len(w.ids) for w in windows), default=0)
    input_ids = np.full((n, width), pad_id, dtype=np.int64)
    attention_mask = np.zeros((n, width), dtype=np.int64)
    token_type_ids = np.zeros((n, width), dtype=np.int64)
    offset_mapping = np.full((n, width, 2), NO_OFFSET, dtype=np.int64)
    start_positions = np.zeros(n, dtype=np.int64)
    end_positions = np.zeros(n, dtype=np.int64)
    spans = [_answer_char_span(ex) for ex in examples] if with_labels else []

    for row, (window, ex_i) in enumerate(zip(windows, example_index)):
        t = len(window.ids)
        input_ids[row, :t] = window.ids
        attention_mask[row, :t] = window.attention_mask
        token_type_ids[row, :t] = window.type_ids
        is_context = np.array([s == 1 for s in window.sequence_ids], dtype=bool)  # (t,)
        offsets = np.asarray(window.offsets, dtype=np.int64).reshape(t, 2)
        offset_mapping[row, :t][is_context] = offsets[is_context]
        if with_labels:
            start_positions[row], end_positions[row] = _label_window(
                offset_mapping[row], spans[ex_i]
            )

    return QAFeatures(
        input_ids=torch.from_numpy(input_ids),
        attention_mask=torch.from_numpy(attention_mask),
        token_type_ids=torch.from_numpy(token_type_ids),
        offset_mapping=torch.from_numpy(offset_mapping),
        example_index=torch.tensor(example_index, dtype=torch.long),
        example_ids=[str(examples[i].get("id", i)) for i in example_index],
        start_positions=torch.from_numpy(start_positions) if with_labels else None,
        end_positions=torch.from_numpy(end_positions) if with_labels else None,
    )


# --------------------------------------------------------------------------------------
# 2. Post-processing: logits -> answer text
# --------------------------------------------------------------------------------------


def _to_numpy_logits(logits: Any, n_features: int, name: str) -> np.ndarray:
    """(N, T) float64 array from a tensor/array or a list of per-batch (B_i, T_i)
    pieces.

    Per-batch pieces may have different widths (trimmed batches); they are right-padded
    with -inf, a position that can never win.
    """

    def as_array(x: Any) -> np.ndarray:
        if isinstance(x, torch.Tensor):
            x = x.detach().float().cpu().numpy()
        return np.asarray(x, dtype=np.float64)

    if isinstance(logits, (list, tuple)):
        pieces = [as_array(p) for p in logits]
        if any(p.ndim != 2 for p in pieces):
            raise ValueError(f"{name}: every per-batch piece must be 2-D (B, T)")
        width = max((p.shape[1] for p in pieces), default=0)
        pieces = [
            np.pad(p, ((0, 0), (0, width - p.shape[1])), constant_values=-np.inf)
            for p in pieces
        ]
        array = np.concatenate(pieces, axis=0) if pieces else np.zeros((0, 0))
    else:
        array = as_array(logits)
    if array.ndim != 2 or array.shape[0] != n_features:
        raise ValueError(
            f"{name} has shape {array.shape}, expected ({n_features}, T): one row of logits per "
            f"window in features, in the same order (do not shuffle evaluation batches)"
        )
    return np.where(np.isnan(array), -np.inf, array)  # a NaN logit must never be chosen


def _best_span_in_window(
    start: np.ndarray,
    end: np.ndarray,
    offsets: np.ndarray,
    n_best: int,
    max_answer_length: int,
) -> tuple[float, int, int] | None:
    """Best (score, char_start, char_end) in one window, or None if no span is valid.

    start, end: (T,) logits; offsets: (T, 2). Candidates are the `n_best` highest start
    and end logits among *context* tokens; a span is valid if end >= start and it is at
    most `max_answer_length` tokens long. Its score is start_logit + end_logit.
    """
    width = min(len(start), len(end), len(offsets))
    context_tokens = np.nonzero(offsets[:width, 0] != NO_OFFSET)[0]  # (C,)
    if len(context_tokens) == 0:
        return None
    top_start = context_tokens[
        np.argsort(-start[context_tokens], kind="stable")[:n_best]
    ]  # (K,)
    top_end = context_tokens[
        np.argsort(-end[context_tokens], kind="stable")[:n_best]
    ]  # (K,)
    length = top_end[None, :] - top_start[:, None] + 1  # (K, K) tokens in span
    with np.errstate(invalid="ignore"):  # +inf + -inf = NaN: treated as invalid below
        score = start[top_start][:, None] + end[top_end][None, :]  # (K, K)
    valid = (length >= 1) & (length <= max_answer_length) & ~np.isnan(score)
    if not valid.any():
        return None
    score = np.where(valid, score, -np.inf)
    flat = int(np.argmax(score))  # first maximum: deterministic on ties
    if not valid.flat[
        flat
    ]:  # every valid score is -inf but argmax picked an invalid one
        flat = int(np.flatnonzero(valid)[0])
    i, j = np.unravel_index(flat, score.shape)
    return (
        float(score[i, j]),
        int(offsets[top_start[i], 0]),
        int(offsets[top_end[j], 1]),
    )


def postprocess_with_scores(
    features: QAFeatures,
    start_logits: Any,
    end_logits: Any,
    examples: Sequence[Mapping[str, Any]],
    n_best: int = 20,
    max_answer_length: int = 30,
) -> dict[str, dict[str, Any]]:
    """Best answer per example with its score and character span.

    Returns `{id: {"text", "score", "start", "end"}}` where
    `context[start:end] == text`. An example with no valid span in any window (or no
    window at all) gets `{"text": "", "score": -inf, "start": 0, "end": 0}`.

    start_logits, end_logits: (N, T) for the N windows of `features`, or a list of
    per-batch (B_i, T_i) pieces in feature order.
    """
    check_int("n_best", n_best, minimum=1)
    check_int("max_answer_length", max_answer_length, minimum=1)
    if not isinstance(features, QAFeatures):
        raise TypeError(
            "features must be the QAFeatures of prepare_features, "
            f"got {type(features).__name__}"
        )
    start = _to_numpy_logits(start_logits, len(features), "start_logits")  # (N, T)
    end = _to_numpy_logits(end_logits, len(features), "end_logits")  # (N, T)
    offsets = features.offset_mapping.numpy()  # (N, T, 2)
    example_index = features.example_index.tolist()
    if example_index and max(example_index) >= len(examples):
        raise ValueError(
            f"features refer to example {max(example_index)} but only {len(examples)} examples "
            f"were given; pass the same examples list that prepare_features received"
        )

    best: dict[int, tuple[float, int, int]] = {}
    for row, ex_i in enumerate(example_index):
        candidate = _best_span_in_window(
            start[row], end[row], offsets[row], n_best, max_answer_length
        )
        if candidate is not None and (ex_i not in best or candidate[0] > best[ex_i][0]):
            best[ex_i] = candidate

    predictions = {}
    for ex_i, ex in enumerate(examples):
        context = ex["context"]
        if ex_i in best:
            score, char_start, char_end = best[ex_i]
            char_start = min(
                max(char_start, 0), len(context)
            )  # defensive: stay inside context
            char_end = min(max(char_end, char_start), len(context))
            predictions[str(ex.get("id", ex_i))] = {
                "text": context[char_start:char_end],
                "score": score,
                "start": char_start,
                "end": char_end,
            }
        else:
            predictions[str(ex.get("id", ex_i))] = {
                "text": "",
                "score": float("-inf"),
                "start": 0,
                "end": 0,
            }
    return predictions


def postprocess(
    features: QAFeatures,
    start_logits: Any,
    end_logits: Any,
    examples: Sequence[Mapping[str, Any]],
    n_best: int = 20,
    max_answer_length: int = 30,
) -> dict[str, str]:
    """`{id: answer text}`: the highest scoring valid span over all windows of each
    example.
    """
    rich = postprocess_with_scores(
        features, start_logits, end_logits, examples, n_best, max_answer_length
    )
    return {qid: pred["text"] for qid, pred in rich.items()}


# --------------------------------------------------------------------------------------
# 3. The official SQuAD v1.1 metric
# --------------------------------------------------------------------------------------


def normalize_answer(s: str) -> str:
    """Lower case, drop ASCII punctuation, drop the articles a/an/the, collapse white
    space.

    Same steps in the same order as the official script; the order matters: punctuation
    goes first, so "the-end" -> "theend" keeps its "the", while "the end" -> "end".
    """

    def lower(text: str) -> str:
        return text.lower()

    def remove_punc(text: str) -> str:
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def remove_articles(text: str) -> str:
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text: str) -> str:
        return " ".join(text.split())

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def exact_match_score(prediction: str, ground_truth: str) -> bool:
    """True when the two strings are equal after `normalize_answer`."""
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def f1_score(prediction: str, ground_truth: str) -> float:
    """Harmonic mean of token precision and recall (bag-of-words overlap after
    normalizing).

    As in the official script, no shared token (including two empty answers) scores 0.
    """
    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def _gold_texts(qid: str, gold: Any) -> list[str]:
    if isinstance(gold, Mapping) and "text" in gold:  # a SQuAD "answers" record
        gold = gold["text"]
    if isinstance(gold, str) or not isinstance(gold, (list, tuple)):
        raise TypeError(
            f"references[{qid!r}] must be a list of gold answer strings (or an answers dict with "
            f"a 'text' list), got {type(gold).__name__}"
        )
    if len(gold) == 0:
        raise ValueError(
            f"references[{qid!r}] has no gold answer; SQuAD v1.1 questions have at least one"
        )
    if any(not isinstance(g, str) for g in gold):
        raise TypeError(
            f"references[{qid!r}] must hold gold answer strings, got {gold!r:.80}"
        )
    return list(gold)


def squad_metrics(
    predictions: Mapping[str, str], references: Mapping[str, Any]
) -> dict[str, float]:
    """`{"exact_match", "f1"}` in 0-100, as the official SQuAD v1.1 evaluator reports
    them.

    Each question scores the best EM/F1 over its gold answers; the average is over the
    questions in `references`. A question missing from `predictions` scores 0 (with a
    warning); predictions for ids not in `references` are ignored.
    """
    if not isinstance(predictions, Mapping) or not isinstance(references, Mapping):
        raise TypeError(
            f"predictions and references must be dicts keyed by question id, got "
            f"{type(predictions).__name__} and {type(references).__name__}"
        )
    if len(references) == 0:
        raise ValueError("references is empty: there is nothing to average over")
    for qid, text in predictions.items():
        if not isinstance(text, str):
            raise TypeError(
                f"predictions[{qid!r}] must be the answer text (a string), got "
                f"{type(text).__name__}; use postprocess(), not postprocess_with_scores()"
            )
    exact_match = f1 = 0.0
    missing = []
    for qid, gold in references.items():
        ground_truths = _gold_texts(qid, gold)
        if qid not in predictions:
            missing.append(qid)
            continue
        prediction = predictions[qid]
        exact_match += max(exact_match_score(prediction, g) for g in ground_truths)
        f1 += max(f1_score(prediction, g) for g in ground_truths)
    if missing:
        warnings.warn(
            f"{len(missing)} unanswered question(s) will receive score 0 (first: {missing[0]!r})",
            stacklevel=2,
        )
    total = len(references)
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}


def references_from_examples(
    examples: Sequence[Mapping[str, Any]],
) -> dict[str, list[str]]:
    """`{id: [gold answer texts]}` for `squad_metrics` from SQuAD-style records."""
    out = {}
    for i, ex in enumerate(examples):
        if (
            not isinstance(ex, Mapping)
            or "id" not in ex
            or not isinstance(ex.get("answers"), Mapping)
        ):
            raise ValueError(
                f"example {i} needs an 'id' and an 'answers' dict with a 'text' list "
                "to be scored"
            )
        out[str(ex["id"])] = list(ex["answers"]["text"])
    return out


# --------------------------------------------------------------------------------------
# 4. Interactive use
# --------------------------------------------------------------------------------------


@torch.no_grad()
def answer(
    question: str,
    context: str,
    model: torch.nn.Module,
    tokenizer: Any,
    max_length: int = 384,
    stride: int = 128,
    n_best: int = 20,
    max_answer_length: int = 30,
    batch_size: int = 16,
) -> dict[str, Any]:
    """Answer one question from one context of any length.

    Returns `{"text", "score", "start", "end"}` with `context[start:end] == text`; the
    score is start_logit + end_logit of the chosen span (higher is more confident, not a
    probability).
    """
    check_str("question", question)
    check_str("context", context)
    if not question.strip() or not context.strip():
        raise ValueError("answer() needs a non-empty question and a non-empty context")
    example = {"id": "0", "question": question, "context": context}
    features = prepare_features(
        [example], tokenizer, max_length=max_length, stride=stride, with_labels=False
    )
    start, end = predict_logits(model, features, batch_size=batch_size)  # (N, T) each
    result = postprocess_with_scores(
        features, start, end, [example], n_best, max_answer_length
    )
    return result["0"]


# --------------------------------------------------------------------------------------
# 5. A lexical baseline
# --------------------------------------------------------------------------------------

# Words that every question shares with every sentence; counting them would reward
# length.
_STOP_WORDS = frozenset(
    "a an the of in on at to for from by with and or is are was were be been being did do does "
    "what which who whom whose when where why how that this these those it its as into than "
    "there their they he she his her has have had not no".split()
)


def _content_words(text: str) -> set[str]:
    return {w for w in normalize_answer(text).split() if w not in _STOP_WORDS}


def sentence_overlap_baseline(question: str, context: str) -> str:
    """The context sentence sharing the most content words with the question.

    No model at all: it shows how far word overlap gets on SQuAD (questions are often
    paraphrases of the answer's sentence) and why a span-level model is needed for EM.
    Ties go to the earlier sentence; the result is always a substring of `context`.
    """
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", context) if s.strip()]
    if not sentences:
        return ""
    question_words = _content_words(question)
    overlaps = [len(question_words & _content_words(s)) for s in sentences]
    return sentences[int(np.argmax(overlaps))]


# --------------------------------------------------------------------------------------
# 6. Fine-tuning and evaluation
# --------------------------------------------------------------------------------------


def _length_order(
    features: QAFeatures, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Window indices sorted by real length, ties in random order (or in order without a
    generator).
    """
    lengths = features.attention_mask.sum(dim=1)  # (N,)
    if generator is None:
        return torch.sort(lengths, stable=True).indices
    shuffled = torch.randperm(len(features), generator=generator)  # (N,)
    return shuffled[torch.sort(lengths[shuffled], stable=True).indices]


def length_grouped_batches(
    features: QAFeatures, batch_size: int, generator: torch.Generator | None = None
) -> list[dict[str, torch.Tensor]]:
    """Batches of windows of similar length, each trimmed to its longest window.

    Why: a batch is as wide as its longest window, and the model pays for every column.
    Random batches of SQuAD windows are nearly always full width (128 of 128 tokens)
    although the last window of a paragraph is often short; sorting by length first
    removes most of the padding (about 15% of the work at max_length=128). The windows
    of each length come in random order (`generator`) and the training loop shuffles the
    order of the batches, so batches are still random samples of the windows of one
    length.
    """
    check_int("batch_size", batch_size, minimum=1)
    order = _length_order(features, generator)
    return [
        features.model_inputs(order[i : i + batch_size])
        for i in range(0, len(order), batch_size)
    ]


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module, features: QAFeatures, batch_size: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """Start and end logits (N, T) for every window, in the order of `features`.

    Windows are run shortest first in length-grouped batches (less padding), then put
    back in order; columns beyond a window's batch width hold -inf, which `postprocess`
    never picks. The model runs in eval mode (no dropout) and its mode is restored
    afterwards.
    """
    check_int("batch_size", batch_size, minimum=1)
    n, width = features.input_ids.shape
    start = torch.full((n, width), float("-inf"))  # (N, T)
    end = torch.full((n, width), float("-inf"))  # (N, T)
    device = next(model.parameters()).device
    order = _length_order(features)
    with evaluating(model):
        for begin in range(0, n, batch_size):
            rows = order[begin : begin + batch_size]
            batch = features.model_inputs(rows)
            batch.pop("start_positions", None)
            batch.pop("end_positions", None)
            out = model(**{k: v.to(device) for k, v in batch.items()})
            t = out.start_logits.shape[1]
            start[rows, :t] = out.start_logits.float().cpu()  # (B, t)
            end[rows, :t] = out.end_logits.float().cpu()
    return start, end


def evaluate_qa(
    model: torch.nn.Module,
    tokenizer: Any,
    examples: Sequence[Mapping[str, Any]],
    max_length: int = 384,
    stride: int = 128,
    batch_size: int = 64,
    features: QAFeatures | None = None,
    n_best: int = 20,
    max_answer_length: int = 30,
) -> dict[str, Any]:
    """`{"exact_match", "f1", "predictions"}`: the official SQuAD v1.1 score of `model`.

    Pass `features` (built from these `examples` by `prepare_features`) to evaluate the
    same questions many times without tokenizing again; `max_length`/`stride` are then
    not used. `predictions` maps each question id to its answer text.
    """
    if isinstance(examples, (str, Mapping)) or len(examples) == 0:
        raise ValueError("evaluate_qa needs at least one example (a non-empty list)")
    if features is None:
        features = prepare_features(
            examples, tokenizer, max_length=max_length, stride=stride, with_labels=False
        )
    start, end = predict_logits(model, features, batch_size=batch_size)
    predictions = postprocess(features, start, end, examples, n_best, max_answer_length)
    scores = squad_metrics(predictions, references_from_examples(examples))
    return {
        "exact_match": scores["exact_match"],
        "f1": scores["f1"],
        "predictions": predictions,
    }


def train_qa(
    model: torch.nn.Module,
    features: QAFeatures,
    config: Any,
    *,
    answerable_only: bool = True,
    eval_fn: Any = None,
    eval_steps: Sequence[int] = (),
    callbacks: Sequence[Any] = (),
) -> Any:
    """Fine-tune a `BertForQuestionAnswering` on labelled windows with
    `bertmini.train.fit`.

    `config` is a `bertmini.train.TrainConfig`; `config.batch_size` windows make one
    micro-batch. Windows are grouped by length (`length_grouped_batches`, drawn once
    with `config.seed`); `fit` shuffles the order of the batches every epoch.

    answerable_only: train only on windows that hold the whole answer. A window labelled
        `[CLS]` teaches "no answer here", which SQuAD v1.1 never asks at test time, and
        on a small budget those windows take half the steps.
    eval_fn, eval_steps: `eval_fn(model) -> {name: number}` is run (in eval mode) after
        each optimizer step listed in `eval_steps`; results go to
        `history.eval`/`eval_step`. The time spent evaluating is taken out of
        `history.time`, which therefore measures training alone: a curve of a metric
        against it shows what more training time buys.

    Returns the `History` of the run.
    """
    from .train import TrainConfig, fit  # noqa: PLC0415 (train pulls in tqdm)

    if not isinstance(config, TrainConfig):
        raise TypeError(
            f"config must be a bertmini.train.TrainConfig, got {type(config).__name__}"
        )
    if not isinstance(features, QAFeatures):
        raise TypeError(
            "features must be the QAFeatures of prepare_features, "
            f"got {type(features).__name__}"
        )
    if not features.has_labels:
        raise ValueError(
            "train_qa needs labelled features: prepare_features(..., with_labels=True)"
        )
    if eval_steps and eval_fn is None:
        raise ValueError(
            "eval_steps was given without an eval_fn to run at those steps"
        )
    windows = features.select(features.answerable()) if answerable_only else features
    if len(windows) == 0:
        raise ValueError(
            "no window holds its whole answer: raise max_length or check the answers"
        )
    batches = length_grouped_batches(
        windows, config.batch_size, torch.Generator().manual_seed(config.seed)
    )
    # fit sees a list of ready batches: one "example" per micro-batch.
    run_config = replace(config, batch_size=1)

    wanted = set(int(s) for s in eval_steps)
    evaluations: list[
        tuple[int, dict[str, float], float]
    ] = []  # (step, metrics, seconds spent)

    def evaluate_at(step: int, logs: dict) -> None:
        if step not in wanted:
            return
        began = time.perf_counter()
        with evaluating(model):
            metrics = {k: float(v) for k, v in eval_fn(model).items()}
        evaluations.append((step, metrics, time.perf_counter() - began))

    history = fit(
        model,
        batches,
        run_config,
        collate_fn=_single_batch,
        callbacks=[evaluate_at, *callbacks],
    )
    spent_before = (
        0.0  # evaluation seconds before each step, to take out of history.time
    )
    done = iter(evaluations)
    pending = next(done, None)
    for i, step in enumerate(history.step):
        history.time[i] -= spent_before
        while pending is not None and pending[0] == step:
            spent_before += pending[2]
            history.eval_step.append(step)
            for name, value in pending[1].items():
                history.eval.setdefault(name, []).append(value)
            pending = next(done, None)
    return history


def _single_batch(items: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """collate_fn for a list of ready batches read one at a time."""
    if len(items) != 1:
        raise ValueError(f"expected one ready batch per micro-batch, got {len(items)}")
    return items[0]
