"""The scores the course reports, each defined once, as its reference defines it.

1. SQuAD v1.1: `normalize_answer`, `exact_match_score`, `f1_score` and `squad_metrics`
   compute exact match and F1 exactly as the official evaluator (`evaluate-v1.1.py`,
   Rajpurkar et al. 2016) does, quirks included: an answer made only of articles and
   punctuation normalizes to "", and two empty answers score F1 0.
2. Classification: accuracy, macro-F1 and the confusion matrix (`accuracy`,
   `macro_f1`, `classification_metrics`), as scikit-learn computes them.
3. Precision, recall and F1 from counts (`precision_recall_f1`), the arithmetic of
   `conlleval`'s entity scores (`bertmini.token_classification.entity_scores`).

Plain Python on strings and label ids: no model, and a tensor or array of labels is
turned into a list first, so a score can be checked by hand or against its reference
implementation. Arguments are checked first: a string where an id goes, a row of
probabilities where a label goes or an impossible count would otherwise give a
plausible, wrong score.
"""

from __future__ import annotations

import numbers
import re
import string
import warnings
from collections import Counter
from typing import Any, Iterable, Mapping, Sequence

from ._validate import check_int, check_str

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
    check_str("s", s)

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
    check_str("prediction", prediction)
    check_str("ground_truth", ground_truth)
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def f1_score(prediction: str, ground_truth: str) -> float:
    """Harmonic mean of token precision and recall (bag-of-words overlap after
    normalizing).

    As in the official script, no shared token (including two empty answers) scores 0.
    """
    check_str("prediction", prediction)
    check_str("ground_truth", ground_truth)
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
    warning); predictions for ids not in `references` are ignored. But predictions none
    of whose ids is a reference id are refused (ValueError): they are keyed differently
    (1 vs "1"), or belong to other questions, and would score 0 for no reason.
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
    if predictions and not any(qid in predictions for qid in references):
        p, r = next(iter(predictions)), next(iter(references))
        raise ValueError(
            f"no id of predictions is an id of references: predictions has "
            f"{p!r} ({type(p).__name__}), references {r!r} ({type(r).__name__}); key "
            "both by the same question ids (references_from_examples uses str ids)"
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
    """`{id: [gold answer texts]}` for `squad_metrics` from SQuAD-style records.

    Each record needs an 'id' (unique as a string, as the keys of `postprocess`) and
    `"answers": {"text": [...]}`: a list of strings even for one answer, as in SQuAD's
    files; a bare string is refused, since it would be scored letter by letter.
    """
    if isinstance(examples, (str, Mapping)) or not isinstance(examples, Sequence):
        raise TypeError(
            f"examples must be a list of records, got {type(examples).__name__} "
            "(wrap a single record in a list)"
        )
    out = {}
    for i, ex in enumerate(examples):
        if not isinstance(ex, Mapping):
            raise TypeError(f"example {i} must be a dict, got {type(ex).__name__}")
        answers = ex.get("answers")
        if "id" not in ex or not isinstance(answers, Mapping) or "text" not in answers:
            raise ValueError(
                f"example {i} needs an 'id' and an 'answers' dict with a 'text' list "
                "to be scored"
            )
        texts = answers["text"]
        if (
            isinstance(texts, (str, Mapping))
            or not isinstance(texts, Iterable)
            or not all(isinstance(t, str) for t in texts)
        ):
            raise TypeError(
                f"example {i} (id {ex['id']!r}): answers['text'] must be a list of "
                f"answer strings, got {texts!r:.80}"
            )
        qid = str(ex["id"])
        if qid in out:
            raise ValueError(
                f"example {i} repeats the id {qid!r}: each question needs its own id "
                "(a second one would replace the first one's gold answers)"
            )
        out[qid] = list(texts)
    return out


# ------------------------------------------------------------------ classification
def _check_labels(y_true: Any, y_pred: Any) -> tuple[list, list]:
    """y_true and y_pred as two equally long, non-empty lists of labels of one kind.

    A label is an integer class id (a Python or NumPy int; a tensor or array must be
    1-D) or a class name (str), the same kind on both sides: "1" never equals 1, so
    mixed kinds, float labels or rows of probabilities would only count as misses.
    """
    lists = []
    for name, ys in (("y_true", y_true), ("y_pred", y_pred)):
        if hasattr(ys, "ndim") and hasattr(ys, "tolist"):  # a tensor or an array
            if ys.ndim != 1:
                raise ValueError(
                    f"{name} must be 1-D, one label per item, got shape "
                    f"{tuple(ys.shape)}"
                )
            ys = ys.tolist()
        elif isinstance(ys, str) or not isinstance(ys, Sequence):
            raise TypeError(f"{name} must be a list of labels, got {type(ys).__name__}")
        lists.append(list(ys))
    true, pred = lists
    if len(true) != len(pred) or len(true) == 0:
        raise ValueError(
            "need equally many (>0) true and predicted labels, "
            f"got {len(true)} and {len(pred)}"
        )
    for name, ys in (("y_true", true), ("y_pred", pred)):
        for y in ys:
            if isinstance(y, bool) or not isinstance(y, (numbers.Integral, str)):
                raise TypeError(
                    f"{name} must hold integer class ids (or class names), got "
                    f"{y!r:.80} ({type(y).__name__})"
                )
    if len({isinstance(y, str) for y in true + pred}) > 1:
        raise TypeError(
            "y_true and y_pred mix class names (str) and integer class ids, e.g. "
            f"{true[0]!r} and {pred[0]!r}: '1' never equals 1; use one kind"
        )
    return true, pred


def accuracy(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """The share of predictions equal to their true label.

    Labels: integer class ids or class names, the same kind in both (`_check_labels`).
    """
    y_true, y_pred = _check_labels(y_true, y_pred)
    return sum(t == p for t, p in zip(y_true, y_pred)) / len(y_true)


def classification_metrics(
    y_true: Sequence[int], y_pred: Sequence[int], num_labels: int
) -> dict[str, Any]:
    """Accuracy, macro-averaged F1 (each class's F1, unweighted mean) and the confusion
    matrix.
    """
    y_true, y_pred = _check_labels(y_true, y_pred)
    num_labels = check_int("num_labels", num_labels, minimum=1)
    for name, ys in (("y_true", y_true), ("y_pred", y_pred)):
        for y in ys:
            if isinstance(y, str):
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
    much as a common one. The counts must be integers >= 0 (a list of lists, a tensor
    or an array).
    """
    if hasattr(confusion, "tolist"):  # a tensor or an array
        confusion = confusion.tolist()
    if isinstance(confusion, Sequence) and not isinstance(confusion, str):
        confusion = [
            row.tolist() if hasattr(row, "tolist") else row for row in confusion
        ]
    if not isinstance(confusion, list) or not all(
        isinstance(row, Sequence) and not isinstance(row, str) for row in confusion
    ):
        raise TypeError(
            "confusion must be a list of rows of counts, confusion[true][predicted], "
            f"got {confusion!r:.80}"
        )
    C = len(confusion)
    if C == 0 or any(len(row) != C for row in confusion):
        raise ValueError(
            f"confusion must be a non-empty square matrix, got {C} rows of lengths "
            f"{[len(row) for row in confusion]}"
        )
    for r, row in enumerate(confusion):
        for c, count in enumerate(row):
            check_int(f"confusion[{r}][{c}]", count, minimum=0)
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
    0 where a ratio is 0/0 (as `seqeval` and `conlleval` report it). The counts are
    integers >= 0, and the correct items are among both the predicted and the true
    ones, so `correct` can exceed neither (else precision or recall would pass 1).
    """
    for name, count in (("correct", correct), ("predicted", predicted), ("true", true)):
        check_int(name, count, minimum=0)
    if correct > predicted or correct > true:
        raise ValueError(
            f"correct={correct} cannot exceed predicted={predicted} or true={true}: "
            "a correct item is both predicted and true"
        )
    precision = correct / predicted if predicted else 0.0
    recall = correct / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}
