"""Exercises checked by code: `check(name, answer)` runs hidden test cases and explains
mistakes.

Every chapter ends with a few exercises. The student writes a function (or computes a
value) and calls `check("attention", my_attention)`. `check` runs the answer on hidden
cases, compares it with a reference solution, prints a short pass/fail summary and
returns True or False. It never raises because of the answer (see
`checker.check_answer`).

Why hints from *wrong implementations*? The mistakes students make with attention and
MLM are few and well known (no √d_k, softmax over the wrong axis, mask added after the
softmax, a loss over every position). Each exercise lists them as small functions. When
an answer fails, `check` runs each known mistake on the same cases; if the answer
behaves exactly like one of them, the hint for that mistake is printed. That is more
useful than "wrong at index [0, 2, 1]".

Layout: `checker` is the machinery; `chNN_*` holds one chapter's exercises (references,
cases, mistakes) and lists them in its `EXERCISES`; the table below collects every
chapter's. The library modules know nothing of exercises. A teacher adds an exercise of
their own with `add(Exercise(...))`.
"""

from __future__ import annotations

from typing import Any

from .._validate import check_bool, check_str
from . import (
    ch01_attention,
    ch02_encoder,
    ch03_masking,
    ch04_tokenization,
    ch05_pretraining,
    ch06_classification,
    ch07_question_answering,
    ch08_attention_views,
    ch09_token_classification,
    ch10_sentence_embeddings,
)
from .checker import Case, Exercise, Mistake, check_answer, close

CHAPTERS = (
    ch01_attention,
    ch02_encoder,
    ch03_masking,
    ch04_tokenization,
    ch05_pretraining,
    ch06_classification,
    ch07_question_answering,
    ch08_attention_views,
    ch09_token_classification,
    ch10_sentence_embeddings,
)

# name -> exercise, for every chapter, in chapter order
EXERCISES: dict[str, Exercise] = {e.name: e for ch in CHAPTERS for e in ch.EXERCISES}


def add(exercise: Exercise, replace: bool = False) -> Exercise:
    """Add an exercise of your own to the table (for teachers); names must stay
    unique.
    """
    if not isinstance(exercise, Exercise):
        raise TypeError(f"exercise must be an Exercise, got {type(exercise).__name__}")
    check_bool("replace", replace)
    if exercise.name in EXERCISES and not replace:
        raise ValueError(
            f"an exercise named {exercise.name!r} already exists; "
            "choose another name or pass replace=True"
        )
    EXERCISES[exercise.name] = exercise
    return exercise


def check(name: str, answer: Any) -> bool:
    """Run exercise `name` on `answer`; print a summary (and a hint when it fails);
    return True/False.
    """
    check_str("name", name)
    if name not in EXERCISES:
        raise KeyError(
            f"unknown exercise {name!r}; known exercises: "
            f"{', '.join(sorted(EXERCISES))}"
        )
    return check_answer(EXERCISES[name], answer)


__all__ = [
    "CHAPTERS",
    "EXERCISES",
    "Case",
    "Exercise",
    "Mistake",
    "add",
    "check",
    "check_answer",
    "close",
]
