"""SQuAD records -> the windows a QA model reads, with what maps its logits back to text.

One *example* (a question with its context) becomes one or more *features* (windows):
each window is `[CLS] question [SEP] part-of-context [SEP]`, the windows slide over a
long context with an overlap (`stride`), and every context token keeps the character
span it came from (`offset_mapping`), so that `bertmini.qa_postprocess` can cut the
answer out of the original string. For training, each window gets start/end token
labels: the answer's tokens when the window holds the whole answer, else the `[CLS]`
index 0 ("no answer in this window").

Only numpy and torch are needed at import time; the tokenizer is passed in by the
caller.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, fields, replace
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch

from ._validate import check_bool, check_generator, check_int

__all__ = [
    "QAFeatures",
    "prepare_features",
    "length_grouped_batches",
]

# BERT puts [CLS] first; "no answer in this window" is labelled with its index.
CLS_INDEX = 0
NO_OFFSET = -1  # offset_mapping value for question, special and padding tokens.


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
    # (N, T) long, 0 = question segment, 1 = context segment
    token_type_ids: torch.Tensor
    # (N, T, 2) long, character span in the context, -1 elsewhere
    offset_mapping: torch.Tensor
    example_index: torch.Tensor  # (N,) long, window -> index into the examples list
    example_ids: list[str]  # (N,) the "id" of the example each window came from
    start_positions: torch.Tensor | None = None  # (N,) long, answer start, 0 = [CLS]
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

    def _window_index(
        self, name: str, index: Any, allow_slice: bool
    ) -> torch.Tensor | slice:
        """`index` as a (N,) boolean mask or a 1-D long tensor of window numbers (or a
        slice of ints).

        Why so strict: torch reads None as "add a dimension" and a (k, m) index as k
        batches, so both would give (k, m, T) inputs instead of an error, and it names
        neither a float nor an out-of-range window as the caller's argument.
        """
        n = len(self)
        if allow_slice and isinstance(index, slice):
            check_int(f"{name}.start", index.start, optional=True)
            check_int(f"{name}.stop", index.stop, optional=True)
            check_int(f"{name}.step", index.step, minimum=1, optional=True)
            return index
        expected = "a list of window indices or a boolean mask of one value per window"
        if isinstance(index, (numbers.Number, np.bool_)):
            hint = ""
            if isinstance(index, numbers.Integral) and not isinstance(index, bool):
                hint = f"; wrap one window in a list: [{index!r}]"
            raise TypeError(
                f"{name} must be {expected}, got {index!r} ({type(index).__name__})"
                f"{hint}"
            )
        if isinstance(index, (str, Mapping)) or not isinstance(
            index, (torch.Tensor, np.ndarray, Sequence)
        ):
            raise TypeError(f"{name} must be {expected}, got {type(index).__name__}")
        if not isinstance(index, (torch.Tensor, np.ndarray)):
            for i in index:
                if not isinstance(i, (np.bool_, numbers.Integral)):
                    raise TypeError(
                        f"{name} must be {expected}, got an element {i!r} "
                        f"({type(i).__name__})"
                    )
            if len(index) == 0:  # torch.as_tensor([]) is a float tensor
                return torch.zeros(0, dtype=torch.long)
        idx = torch.as_tensor(index)
        if idx.dtype == torch.bool:
            if idx.shape != (n,):
                raise ValueError(
                    f"boolean mask {name} has shape {tuple(idx.shape)}, expected ({n},)"
                )
            return idx
        if idx.is_floating_point() or idx.is_complex() or idx.dim() != 1:
            raise TypeError(
                f"{name} must be {expected}, got a {idx.dtype} tensor of shape "
                f"{tuple(idx.shape)}"
            )
        idx = idx.long()
        outside = (idx < -n) | (idx >= n)
        if bool(outside.any()):
            raise IndexError(
                f"{name} holds window {int(idx[outside][0])}, out of range for {n} "
                "windows"
            )
        return idx

    def select(self, index: torch.Tensor | Sequence[int]) -> "QAFeatures":
        """A subset of the windows (a boolean mask or integer indices).

        `example_index` keeps pointing into the *original* examples list, so a subset
        can still be post-processed against the same examples.
        """
        idx = self._window_index("index", index, allow_slice=False)
        if idx.dtype == torch.bool:
            idx = idx.nonzero().flatten()
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
        index = self._window_index("index", index, allow_slice=True)
        check_bool("trim", trim)
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
        batch_size = check_int("batch_size", batch_size, minimum=1)
        check_bool("shuffle", shuffle)
        check_bool("answerable_only", answerable_only)
        check_bool("trim", trim)
        check_generator("generator", generator)
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


def _check_answers(i: int, example: Mapping[str, Any]) -> None:
    """`answers` in the SQuAD format: {"text": [str, ...], "answer_start": [int, ...]}.

    Why so strict: a bare string or int (`{"text": "Paris", "answer_start": 0}`), a list
    of dicts, or an offset such as 0.9, "0" or True would otherwise fail deep inside, or
    worse, be read as another character offset and train on the wrong span. Missing,
    None or empty answers mean "no answer".
    """
    answers = example.get("answers")
    if answers is None or (isinstance(answers, Mapping) and not answers):
        return
    where = f"example {i} (id {example.get('id')!r})"
    expected = '{"text": [str, ...], "answer_start": [int, ...]} (SQuAD format)'
    if not isinstance(answers, Mapping):
        raise TypeError(
            f"{where}: answers must be {expected}, got {type(answers).__name__}"
        )
    texts, starts = answers.get("text", []), answers.get("answer_start", [])
    for key, values in (("text", texts), ("answer_start", starts)):
        if not isinstance(values, (list, tuple, np.ndarray)):
            raise TypeError(
                f"{where}: answers[{key!r}] must be a list, as in {expected}, got "
                f"{values!r} ({type(values).__name__})"
            )
    if len(starts) != len(texts):
        raise ValueError(
            f"{where} has {len(texts)} answer texts but {len(starts)} answer_start "
            "values; they must be of equal length"
        )
    for text, start in zip(texts, starts):
        if not isinstance(text, str):
            raise TypeError(
                f"{where}: answer texts must be strings, got {text!r} "
                f"({type(text).__name__})"
            )
        if isinstance(start, (bool, np.bool_)) or not isinstance(
            start, numbers.Integral
        ):
            raise TypeError(
                f"{where}: answer_start values must be integer character offsets, got "
                f"{start!r} ({type(start).__name__})"
            )


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
        # A wrong offset would silently train on the wrong span
        if context[start:end] != text:
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
    max_length = check_int("max_length", max_length)
    stride = check_int("stride", stride)
    max_question_tokens = check_int("max_question_tokens", max_question_tokens)
    check_bool("with_labels", with_labels)
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
        if with_labels:
            _check_answers(i, ex)
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


# ------------------------------------------------------------------ batching by length
def check_features(features: Any) -> None:
    """The windows of `prepare_features`: raw records or None have no input_ids."""
    if not isinstance(features, QAFeatures):
        raise TypeError(
            "features must be the QAFeatures returned by prepare_features(examples, "
            f"tokenizer), got {type(features).__name__}"
        )


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
    removes most of the padding. For chapter 7's 2,735 training windows (max_length=128,
    stride 32), random batches of 32 held 350,080 positions (mean of 20 shuffles) and
    grouped ones 313,248, for 311,904 real tokens: a tenth fewer positions to compute
    (tests/test_qa_features.py recomputes these).
    The windows of each length come in random order (`generator`) and the training loop
    shuffles the order of the batches, so batches are still random samples of the
    windows of one length.
    """
    check_features(features)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    check_generator("generator", generator)
    order = _length_order(features, generator)
    return [
        features.model_inputs(order[i : i + batch_size])
        for i in range(0, len(order), batch_size)
    ]
