"""The exercises of Chapter 7: question answering: reference solutions, hidden cases,
and the usual mistakes.
"""

from __future__ import annotations

import torch

from .checker import Case, Exercise, Mistake


def best_span_reference(
    start_logits: torch.Tensor, end_logits: torch.Tensor, max_answer_length: int
) -> tuple[int, int]:
    """(i, j) maximising start_logits[i] + end_logits[j] with
    i <= j < i + max_answer_length.
    """
    T = start_logits.size(0)
    # (T, T): score[i, j] of span i..j
    score = start_logits[:, None] + end_logits[None, :]
    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    valid = (j >= i) & (j - i < max_answer_length)  # end not before start, not too long
    flat = int(score.masked_fill(~valid, float("-inf")).argmax())
    return flat // T, flat % T


def _best_span_args(
    start_at: int,
    end_at: int,
    T: int,
    seed: int,
    max_answer_length: int = 5,
    peak: float = 6.0,
):
    """Random logits with a sharp start peak at `start_at` and a sharp end peak at
    `end_at`.
    """

    def make():
        g = torch.Generator().manual_seed(seed)
        start, end = torch.randn(T, generator=g), torch.randn(T, generator=g)
        start[start_at] += peak
        end[end_at] += peak
        return start, end, max_answer_length

    return make


HINT_END_BEFORE_START = (
    "your span ends before it starts: taking argmax(start) and argmax(end) separately "
    "can give j < i. Score every pair (i, j) with i <= j, start[i] + end[j], and take "
    "the best valid pair."
)
HINT_SPAN_TOO_LONG = (
    "your span is longer than max_answer_length tokens: also require "
    "j - i + 1 <= max_answer_length."
)
HINT_SPAN_OFF_BY_ONE = (
    "your span can have max_answer_length + 1 tokens: span i..j has j - i + 1 tokens, "
    "so the rule is j - i < max_answer_length."
)


def verify_span(result, expected, args) -> str | None:
    """Exact (i, j); an end before the start gets its own explanation whatever the
    cause.
    """
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        return "return a pair of token indices (i, j)"
    i, j = (int(v) for v in result)
    if (i, j) == tuple(expected):
        return None
    if j < i:
        return f"got ({i}, {j}), expected {tuple(expected)}: {HINT_END_BEFORE_START}"
    return f"got ({i}, {j}), expected {tuple(expected)}"


def _best_span_independent_argmax(start_logits, end_logits, max_answer_length):
    return int(start_logits.argmax()), int(end_logits.argmax())


def _best_span_no_length_limit(start_logits, end_logits, max_answer_length):
    return best_span_reference(start_logits, end_logits, start_logits.size(0))


def _best_span_off_by_one(start_logits, end_logits, max_answer_length):
    return best_span_reference(start_logits, end_logits, max_answer_length + 1)


BEST_SPAN = Exercise(
    name="best_span",
    title="Exercise 7.1: the best answer span",
    kind="function",
    signature="best_span(start_logits, end_logits, max_answer_length) -> (i, j)",
    reference=best_span_reference,
    cases=[
        Case(
            "the best start comes after the best end",
            _best_span_args(9, 4, 16, seed=70),
            verify=verify_span,
        ),
        Case(
            "the two peaks are 9 tokens apart, max_answer_length=5",
            _best_span_args(2, 11, 16, seed=71),
            verify=verify_span,
        ),
        Case(
            "the two peaks make a span of exactly 6 tokens, max_answer_length=5",
            _best_span_args(3, 8, 16, seed=72),
            verify=verify_span,
        ),
        Case(
            "an easy one: start peak at 5, end peak at 7",
            _best_span_args(5, 7, 12, seed=73),
            verify=verify_span,
        ),
    ],
    mistakes=[
        Mistake(_best_span_independent_argmax, HINT_END_BEFORE_START),
        Mistake(_best_span_no_length_limit, HINT_SPAN_TOO_LONG),
        Mistake(_best_span_off_by_one, HINT_SPAN_OFF_BY_ONE),
    ],
)


def normalize_answer_reference(text: str) -> str:
    """The package's own SQuAD normalisation (what `squad_metrics` uses) is the
    reference."""
    from ..metrics import normalize_answer

    return normalize_answer(text)


NORMALIZE_CASES = [
    "The  Quick, Brown fox!",
    "the-end of the story",
    "Theory of another anthem",
    "A.B.C. and an apple",
]


def _normalize_no_lower(text):
    import re
    import string

    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def _normalize_articles_first(text):
    import re
    import string

    text = re.sub(r"\b(a|an|the)\b", " ", text.lower())
    return " ".join(
        "".join(ch for ch in text if ch not in set(string.punctuation)).split()
    )


def _normalize_articles_as_substrings(text):
    import string

    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    for article in ("the", "an", "a"):
        text = text.replace(article, " ")
    return " ".join(text.split())


def _normalize_no_whitespace_fix(text):
    import re
    import string

    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return re.sub(r"\b(a|an|the)\b", " ", text)


NORMALIZE_ANSWER = Exercise(
    name="normalize_answer",
    title="Exercise 7.2: SQuAD's answer normalisation",
    kind="function",
    signature="normalize_answer(text) -> str",
    reference=normalize_answer_reference,
    cases=[Case(repr(text), (lambda t=text: (t,))) for text in NORMALIZE_CASES],
    mistakes=[
        Mistake(
            _normalize_no_lower,
            "lower-case first: 'The' and 'the' must compare equal (and the article "
            "rule only matches lower-case articles).",
        ),
        Mistake(
            _normalize_articles_first,
            "the order matters: punctuation goes first, then articles. "
            "'the-end' becomes 'theend' (its 'the' is no longer a separate word) in "
            "the official script.",
        ),
        Mistake(
            _normalize_articles_as_substrings,
            "articles are removed as whole words only (a regex with "
            r"\b word boundaries): 'theory' and 'another' keep their letters.",
        ),
        Mistake(
            _normalize_no_whitespace_fix,
            "collapse white space at the end: ' '.join(text.split()), so "
            "removed articles and double spaces leave no stray spaces.",
        ),
    ],
)


def qa_f1_by_hand_reference() -> float:
    """F1 of "The Broncos beat the Panthers." against the gold answer "Denver Broncos".

    Normalised: prediction [broncos, beat, panthers], gold [denver, broncos]; 1 common
    token: precision 1/3, recall 1/2, F1 = 2 * (1/3 * 1/2) / (1/3 + 1/2) = 0.4.
    """
    from ..metrics import f1_score

    return f1_score("The Broncos beat the Panthers.", "Denver Broncos")


QA_F1_BY_HAND = Exercise(
    name="qa_f1_by_hand",
    title="Exercise 7.3: SQuAD F1 by hand",
    kind="value",
    signature="f1 = <a number between 0 and 1>",
    reference=qa_f1_by_hand_reference,
    cases=[
        Case(
            "F1 of 'The Broncos beat the Panthers.' vs 'Denver Broncos'",
            atol=1e-3,
            rtol=0,
        )
    ],
    mistakes=[
        Mistake(
            2 / 7,
            "normalise both answers first (lower case, no punctuation, no articles): 'The', "
            "'the' and 'Panthers.' should not be tokens.",
        ),
        Mistake(
            1 / 3,
            "that is the precision (common / predicted tokens); F1 is the harmonic mean of "
            "precision and recall.",
        ),
        Mistake(
            1 / 2,
            "that is the recall (common / gold tokens); F1 is the harmonic mean of precision "
            "and recall.",
        ),
        Mistake(
            0.0,
            "0 is the exact match; F1 gives partial credit for the shared token 'broncos'.",
        ),
    ],
)


EXERCISES = [BEST_SPAN, NORMALIZE_ANSWER, QA_F1_BY_HAND]
