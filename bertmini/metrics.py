"""The scores the course reports, each defined once, as its reference defines it.

1. SQuAD v1.1: `normalize_answer`, `exact_match_score`, `f1_score` and `squad_metrics`
   compute exact match and F1 exactly as the official evaluator (`evaluate-v1.1.py`,
   Rajpurkar et al. 2016) does, quirks included: an answer made only of articles and
   punctuation normalizes to "", and two empty answers score F1 0.
2. Classification: accuracy, macro-F1 and the confusion matrix (`accuracy`,
   `macro_f1`, `classification_metrics`), as scikit-learn computes them.
3. Precision, recall and F1 from counts (`precision_recall_f1`), the arithmetic of
   `conlleval`'s entity scores (`bertmini.token_classification.entity_scores`).

Plain Python on strings and label ids: no model and no tensors, so a score can be
checked by hand or against its reference implementation.
"""

from __future__ import annotations

import re
import string
import warnings
from collections import Counter
from typing import Any, Mapping, Sequence

from ._validate import check_int

__all__ = [
    "normalize_answer",
    "exact_match_score",
    "f1_score",
    "squad_metrics",
    "references_from_examples",
    "accuracy",
    "macro_f1",
    "classification_metrics",
    "precision_recall_f1",
]


# ------------------------------------------------------------------ SQuAD v1.1
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


# ------------------------------------------------------------------ classification
def accuracy(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """The share of predictions equal to their true label."""
    if len(y_true) != len(y_pred) or len(y_true) == 0:
        raise ValueError(
            "need equally many (>0) true and predicted labels, "
            f"got {len(y_true)} and {len(y_pred)}"
        )
    return sum(t == p for t, p in zip(y_true, y_pred)) / len(y_true)


def classification_metrics(
    y_true: Sequence[int], y_pred: Sequence[int], num_labels: int
) -> dict[str, Any]:
    """Accuracy, macro-averaged F1 (each class's F1, unweighted mean) and the confusion
    matrix.
    """
    if len(y_true) != len(y_pred) or len(y_true) == 0:
        raise ValueError(
            f"need equally many (>0) true and predicted labels, got {len(y_true)} and {len(y_pred)}"
        )
    check_int("num_labels", num_labels, minimum=1)
    for name, ys in (("y_true", y_true), ("y_pred", y_pred)):
        for y in ys:
            if isinstance(y, bool) or not isinstance(y, int):
                raise TypeError(f"{name} must hold integer class ids, got {y!r}")
            # A negative id would silently count as the last class
            if not 0 <= y < num_labels:
                raise ValueError(f"{name} contains {y}, outside [0, {num_labels})")
    confusion = [[0] * num_labels for _ in range(num_labels)]
    for t, p in zip(y_true, y_pred):
        confusion[t][p] += 1
    return {
        "accuracy": accuracy(y_true, y_pred),
        "macro_f1": macro_f1(confusion),
        "confusion": confusion,
    }


def macro_f1(confusion: Sequence[Sequence[int]]) -> float:
    """Mean over classes of 2·TP / (2·TP + FP + FN), from confusion[true][predicted].

    A class never true nor predicted scores 0. Unweighted, so a rare class counts as
    much as a common one.
    """
    C = len(confusion)
    if C == 0 or any(len(row) != C for row in confusion):
        raise ValueError(
            f"confusion must be a non-empty square matrix, got {C} rows of lengths "
            f"{[len(row) for row in confusion]}"
        )
    f1s = []
    for c in range(C):
        tp = confusion[c][c]
        fp = sum(confusion[r][c] for r in range(C)) - tp
        fn = sum(confusion[c]) - tp
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return sum(f1s) / C


# ------------------------------------------------------------------ counts
def precision_recall_f1(correct: int, predicted: int, true: int) -> dict[str, float]:
    """`{"precision", "recall", "f1"}` from counts of correct, predicted and true items.

    Precision = correct / predicted, recall = correct / true, F1 their harmonic mean;
    0 where a ratio is 0/0 (as `seqeval` and `conlleval` report it).
    """
    precision = correct / predicted if predicted else 0.0
    recall = correct / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}
