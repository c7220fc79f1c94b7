"""The exercises of chapter 4: WordPiece, answer spans in tokens, and windows over long
texts.

Exercise 4.1 is `bertmini.wordpiece.wordpiece_tokenize` itself. Exercises 4.2 and 4.3
prepare question answering: from an answer's characters to its tokens, and how many
windows a long text needs. Their reference solutions live here, not in the library.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..wordpiece import CONTINUATION, wordpiece_tokenize
from .checker import Case, Exercise, Mistake

# Exercise 4.1 is `wordpiece_tokenize` itself. Exercises 4.2 and 4.3 prepare question
# answering: from an answer's characters to its tokens, and how many windows a long text
# needs.


def char_span_to_token_span(
    offsets: Sequence[tuple[int, int]],
    sequence_ids: Sequence[int | None],
    start_char: int,
    end_char: int,
) -> tuple[int, int]:
    """Indices (first, last), both inclusive, of the context tokens covering characters
    [start_char, end_char).

    `offsets[i]` is token i's (start, end) character span in *its own* text, so only
    tokens with `sequence_ids[i] == 1` (the context of a question/context pair) can hold
    the answer. The first token is the first one ending after the answer starts; the
    last, the last one starting before the answer ends (end_char is exclusive, as in
    Python slices).
    """
    context = [i for i, s in enumerate(sequence_ids) if s == 1]
    first = next(i for i in context if offsets[i][1] > start_char)
    last = [i for i in context if offsets[i][0] < end_char][-1]
    return first, last


def count_windows(n_tokens: int, max_length: int, stride: int) -> int:
    """How many windows `tok(text, max_length=..., stride=...,
    return_overflowing_tokens=True)` makes.

    Each window holds `max_length - 2` text tokens ([CLS] and [SEP] take two places) and
    repeats the last `stride` tokens of the window before it, so a window moves
    `max_length - 2 - stride` tokens forward.
    """
    room = max_length - 2
    if n_tokens <= room:
        return 1
    return 1 + math.ceil((n_tokens - room) / (room - stride))


def _wordpiece_shortest_first(word, vocab, unk="[UNK]", max_chars=100):
    if len(word) > max_chars:
        return [unk]
    pieces, start = [], 0
    while start < len(word):
        for end in range(start + 1, len(word) + 1):  # shortest candidate first: wrong
            piece = word[start:end] if start == 0 else CONTINUATION + word[start:end]
            if piece in vocab:
                break
        else:
            return [unk]
        pieces.append(piece)
        start = end
    return pieces


def _wordpiece_no_prefix(word, vocab, unk="[UNK]", max_chars=100):
    if len(word) > max_chars:
        return [unk]
    pieces, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):
            if word[start:end] in vocab:  # continuations looked up without "##": wrong
                break
        else:
            return [unk]
        pieces.append(word[start:end])
        start = end
    return pieces


def _wordpiece_partial_unk(word, vocab, unk="[UNK]", max_chars=100):
    if len(word) > max_chars:
        return [unk]
    pieces, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):
            piece = word[start:end] if start == 0 else CONTINUATION + word[start:end]
            if piece in vocab:
                break
        else:  # only this character becomes unknown: wrong, the whole word does
            pieces.append(unk)
            start += 1
            continue
        pieces.append(piece)
        start = end
    return pieces


def _wordpiece_no_length_limit(word, vocab, unk="[UNK]", max_chars=100):
    return wordpiece_tokenize(word, vocab, unk, max_chars=10**9)


_TOY_VOCAB = {
    "[UNK]": 0,
    "un": 1,
    "##aff": 2,
    "##able": 3,
    "##a": 4,
    "##f": 5,
    "##b": 6,
    "##l": 7,
    "##e": 8,
    "u": 9,
    "##n": 10,
    "play": 11,
    "##ing": 12,
    "##s": 13,
    "p": 14,
    "##p": 15,
    "##i": 16,
    "##g": 17,
    "a": 18,
    "##ay": 19,
    "##y": 20,
    "aaa": 21,
    "##aa": 22,
}


def _wordpiece_args(word: str, vocab: str = "toy", max_chars: int = 100):
    def make():
        if vocab == "toy":
            return word, dict(_TOY_VOCAB), "[UNK]", max_chars
        return word, _minilm_vocab(), "[UNK]", max_chars

    return make


def _minilm_vocab() -> dict[str, int]:
    """The bert-base-uncased vocabulary of all-MiniLM-L6-v2 (loaded once)."""
    global _MINILM_VOCAB
    if _MINILM_VOCAB is None:
        from ..tokenizer import Tokenizer

        _MINILM_VOCAB = dict(Tokenizer.from_pretrained("all-MiniLM-L6-v2").vocab)
    return _MINILM_VOCAB


_MINILM_VOCAB: dict[str, int] | None = None
_MINILM_TOKENIZER = None


def _minilm_tokenizer():
    global _MINILM_TOKENIZER
    if _MINILM_TOKENIZER is None:
        from ..tokenizer import Tokenizer

        _MINILM_TOKENIZER = Tokenizer.from_pretrained("all-MiniLM-L6-v2")
    return _MINILM_TOKENIZER


# (question, context, answer): each answer also occurs in the question, so an answer
# that ignores the sequence ids finds question tokens; "Paris" is followed by "." with
# no space in between.
_SPAN_CASES = [
    (
        "Which city is the capital of France, Paris or Lyon?",
        "The capital of France is Paris.",
        "Paris",
    ),
    (
        "Who proposed tokenization into wordpieces?",
        "Schuster and Nakajima proposed wordpieces in 2012, "
        "long before BERT used them for tokenization.",
        "wordpieces in 2012",
    ),
    (
        "When did the unaffable lobster moult?",
        "The unaffable lobster moulted in 1988; nobody noticed.",
        "unaffable lobster",
    ),
]


def _span_args(index: int):
    def make():
        question, context, answer = _SPAN_CASES[index]
        enc = _minilm_tokenizer()(question, context, return_offsets_mapping=True)
        offsets = [tuple(pair) for pair in enc["offset_mapping"][0].tolist()]
        start = context.index(answer)
        return offsets, enc.sequence_ids(0), start, start + len(answer)

    return make


def _span_ignores_sequence_ids(offsets, sequence_ids, start_char, end_char):
    real = [i for i, s in enumerate(sequence_ids) if s is not None]
    first = next(i for i in real if offsets[i][1] > start_char)
    last = [i for i in real if offsets[i][0] < end_char][-1]
    return first, last


def _span_exclusive_end(offsets, sequence_ids, start_char, end_char):
    first, last = char_span_to_token_span(offsets, sequence_ids, start_char, end_char)
    return first, last + 1


def _span_end_inclusive_chars(offsets, sequence_ids, start_char, end_char):
    context = [i for i, s in enumerate(sequence_ids) if s == 1]
    first = next(i for i in context if offsets[i][1] > start_char)
    # Takes the token right after
    last = [i for i in context if offsets[i][0] <= end_char][-1]
    return first, last


def _windows_no_specials(n_tokens, max_length, stride):
    return count_windows(n_tokens, max_length + 2, stride)


def _windows_stride_as_step(n_tokens, max_length, stride):
    room = max_length - 2
    return 1 if n_tokens <= room else 1 + math.ceil((n_tokens - room) / stride)


def _windows_no_overlap(n_tokens, max_length, stride):
    return count_windows(n_tokens, max_length, 0)


WORDPIECE_TOKENIZE = Exercise(
    name="wordpiece_tokenize",
    title="Exercise 4.1: WordPiece, greedy longest match first",
    kind="function",
    signature="wordpiece_tokenize(word, vocab, unk='[UNK]', max_chars=100) -> list[str]",
    reference=wordpiece_tokenize,
    cases=[
        Case("'unaffable' with a toy vocabulary", _wordpiece_args("unaffable")),
        Case("'playing' with a toy vocabulary", _wordpiece_args("playing")),
        Case("'aaaaa' with a toy vocabulary", _wordpiece_args("aaaaa")),
        Case("'unaffablez' ('z' is in no piece)", _wordpiece_args("unaffablez")),
        Case(
            "a 12-letter word with max_chars=10",
            _wordpiece_args("unaffablessa", max_chars=10),
        ),
        Case(
            "'tokenization' with bert-base-uncased",
            _wordpiece_args("tokenization", "minilm"),
        ),
        Case(
            "'huggingface' with bert-base-uncased",
            _wordpiece_args("huggingface", "minilm"),
        ),
    ],
    mistakes=[
        Mistake(
            _wordpiece_shortest_first,
            "you take the *shortest* matching piece: start with the "
            "whole rest of the word and shorten it one character at a time.",
        ),
        Mistake(
            _wordpiece_no_prefix,
            "pieces after the first one must be looked up (and returned) "
            "with the '##' prefix: 'able' at the start of a word and '##able' inside "
            "one are different vocabulary entries.",
        ),
        Mistake(
            _wordpiece_partial_unk,
            "when no piece matches at some position, the whole word "
            "becomes [UNK] (one token), not just that character.",
        ),
        Mistake(
            _wordpiece_no_length_limit,
            "a word longer than max_chars is [UNK] straight away.",
        ),
    ],
)

CHAR_SPAN_TO_TOKEN_SPAN = Exercise(
    name="char_span_to_token_span",
    title="Exercise 4.2: from an answer's characters to its tokens",
    kind="function",
    signature="char_span_to_token_span(offsets, sequence_ids, start_char, end_char) -> (first, last)",
    reference=char_span_to_token_span,
    cases=[
        Case(f"answer {answer!r}", _span_args(i))
        for i, (_, _, answer) in enumerate(_SPAN_CASES)
    ],
    mistakes=[
        Mistake(
            _span_ignores_sequence_ids,
            "question tokens have offsets too (into the question): "
            "keep only the tokens whose sequence id is 1, the context.",
        ),
        Mistake(
            _span_exclusive_end,
            "return the index of the *last* token of the answer, not one past "
            "it: both indices are inclusive, like BERT's start/end positions.",
        ),
        Mistake(
            _span_end_inclusive_chars,
            "end_char is exclusive: a token starting exactly at "
            "end_char (like the '.' after 'Paris') is not part of the answer; use < end_char.",
        ),
    ],
)

COUNT_WINDOWS = Exercise(
    name="count_windows",
    title="Exercise 4.3: how many windows?",
    kind="function",
    signature="count_windows(n_tokens, max_length, stride) -> int",
    reference=count_windows,
    cases=[
        Case("a short text: 5 tokens, max_length=16", lambda: (5, 16, 4)),
        Case("exactly one full window: 14 tokens, max_length=16", lambda: (14, 16, 4)),
        Case("100 tokens, max_length=16, stride=4", lambda: (100, 16, 4)),
        Case("300 tokens, max_length=64, stride=16", lambda: (300, 64, 16)),
        Case("1000 tokens, max_length=384, stride=128", lambda: (1000, 384, 128)),
    ],
    mistakes=[
        Mistake(
            _windows_no_specials,
            "[CLS] and [SEP] take two of the max_length places: a window "
            "holds max_length - 2 text tokens.",
        ),
        Mistake(
            _windows_stride_as_step,
            "stride is the *overlap* between windows, not the step: a "
            "window moves (max_length - 2) - stride tokens forward.",
        ),
        Mistake(
            _windows_no_overlap,
            "consecutive windows overlap by stride tokens, so more windows "
            "are needed than without overlap.",
        ),
    ],
)


EXERCISES = [WORDPIECE_TOKENIZE, CHAR_SPAN_TO_TOKEN_SPAN, COUNT_WINDOWS]
