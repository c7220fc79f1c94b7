"""bertmini.metrics: SQuAD v1.1 as the official evaluator scores it, classification as
scikit-learn does, precision/recall/F1 from counts."""

from __future__ import annotations

import warnings

import pytest
import torch

from bertmini.metrics import (
    accuracy,
    classification_metrics,
    exact_match_score,
    f1_score,
    macro_f1,
    normalize_answer,
    precision_recall_f1,
    references_from_examples,
    squad_metrics,
)

# ------------------------------------------------------------------------- SQuAD v1.1
# Hand-checked cases of the official evaluator's behaviour (evaluate-v1.1.py), quirks
# included.


@pytest.mark.parametrize(
    "raw, expected",
    [
        # lower case, punctuation gone, articles gone, white space collapsed
        ("The  Quick, Brown fox!", "quick brown fox"),
        ("an apple a day", "apple day"),
        # articles only as whole words: "theory" and "another" keep their letters
        ("Theory of another", "theory of another"),
        # punctuation is removed BEFORE articles: "the-end" -> "theend" keeps its "the"
        ("the-end", "theend"),
        ("A.B.C.", "abc"),
        # "A's" -> "as" (apostrophe removed first), not an article any more
        ("A's", "as"),
        # tabs, newlines and the non-breaking space are white space for str.split()
        ("  Beyoncé\u00a0\tKnowles\n", "beyoncé knowles"),
        # accents are kept; only string.punctuation (ASCII) is removed,
        # curly quotes stay
        ("Café “Naïve”", "café “naïve”"),
        ("\u201cHello\u201d", "\u201chello\u201d"),
        # an answer made only of articles and punctuation normalizes to the empty string
        ("The.", ""),
        ("", ""),
    ],
)
def test_normalize_answer(raw, expected):
    assert normalize_answer(raw) == expected


def test_exact_match_cases():
    assert exact_match_score(
        "The Denver Broncos.", "denver broncos"
    )  # article, case, punctuation
    assert exact_match_score("Denver   Broncos", "denver broncos")  # white space
    assert not exact_match_score("naïve", "naive")  # unicode accents are not folded
    assert not exact_match_score(
        "\u201cHello\u201d", "hello"
    )  # curly quotes are not ASCII punctuation
    assert exact_match_score(
        "", "the"
    )  # both normalize to "" (quirk of the official script)


def test_f1_cases():
    # pred -> [cat, sat, on, mat] (4), gold -> [cat, on, mat] (3); common 3
    # precision 3/4, recall 3/3, F1 = 2 * 0.75 * 1 / 1.75 = 6/7
    assert f1_score("the cat sat on the mat", "a cat on a mat") == pytest.approx(6 / 7)
    # Counter intersection: [x, x, y] & [x, y, y] = {x: 1, y: 1} -> 2 common
    # precision 2/3, recall 2/3, F1 = 2/3
    assert f1_score("x x y", "x y y") == pytest.approx(2 / 3)
    # no overlap -> 0; empty vs empty -> 0 (official script: num_same == 0 -> 0)
    assert f1_score("Paris", "London") == 0
    assert f1_score("", "") == 0
    assert f1_score("the", "a") == 0
    # unicode tokens must match exactly:
    # [beyoncé, knowles] vs [beyonce, knowles] -> 1 common
    # precision 1/2, recall 1/2, F1 = 1/2
    assert f1_score("Beyoncé Knowles", "Beyonce Knowles") == pytest.approx(0.5)
    assert f1_score("The Broncos!", "broncos") == pytest.approx(1.0)


def test_squad_metrics_multiple_golds_and_missing_prediction():
    references = {
        "q1": ["Denver Broncos", "The Denver Broncos", "Broncos"],
        "q2": ["Denver Broncos", "Broncos"],
        "q3": ["Santa Clara"],
    }
    predictions = {
        "q1": "the denver broncos",  # EM 1, F1 1
        # vs "Denver Broncos": [broncos, team] & [denver, broncos] = 1:
        #                      P 1/2, R 1/2 -> F1 1/2
        # vs "Broncos":        1 common: P 1/2, R 1/1 -> F1 2/3; max = 2/3, EM 0
        "q2": "Broncos team",
        # q3 missing -> 0 for both
        "unused": "ignored, not in references",
    }
    with pytest.warns(UserWarning, match="unanswered"):
        scores = squad_metrics(predictions, references)
    assert scores["exact_match"] == pytest.approx(100 * 1 / 3)  # 33.33
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)  # 55.56


def test_squad_metrics_perfect_and_input_checks():
    references = {
        "a": {"text": ["x"], "answer_start": [0]},
        "b": ["y z"],
    }  # answers dicts accepted
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # all answered: no warning
        assert squad_metrics({"a": "X", "b": "Y Z."}, references) == {
            "exact_match": 100.0,
            "f1": 100.0,
        }
    with pytest.raises(ValueError, match="empty"):
        squad_metrics({}, {})
    with pytest.raises(TypeError, match="list of gold answer strings"):
        squad_metrics(
            {"a": "x"}, {"a": "x"}
        )  # a bare string would be iterated char by char
    with pytest.raises(ValueError, match="no gold answer"):
        squad_metrics({"a": "x"}, {"a": []})


def test_references_from_examples():
    records = [
        {"id": 7, "answers": {"text": ["a", "b"], "answer_start": [0, 2]}},
        {"id": "q", "answers": {"text": ["c"], "answer_start": [1]}},
    ]
    assert references_from_examples(records) == {"7": ["a", "b"], "q": ["c"]}
    with pytest.raises(ValueError, match="'answers' dict"):
        references_from_examples([{"id": "x"}])


# --------------------------------------------------------------------- classification
def test_classification_metrics_match_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    g = torch.Generator().manual_seed(0)
    y_true = torch.randint(0, 3, (200,), generator=g).tolist()
    y_pred = torch.randint(0, 3, (200,), generator=g).tolist()
    m = classification_metrics(y_true, y_pred, 3)
    assert m["accuracy"] == pytest.approx(
        sklearn_metrics.accuracy_score(y_true, y_pred)
    )
    assert m["macro_f1"] == pytest.approx(
        sklearn_metrics.f1_score(y_true, y_pred, average="macro")
    )
    assert m["confusion"] == sklearn_metrics.confusion_matrix(y_true, y_pred).tolist()
    assert accuracy(y_true, y_pred) == m["accuracy"]
    assert macro_f1(m["confusion"]) == m["macro_f1"]


def test_accuracy_and_macro_f1_by_hand():
    assert accuracy([1, 0, 1, 1], [1, 1, 1, 0]) == 0.5
    assert accuracy(["a", "b"], ["a", "b"]) == 1.0
    with pytest.raises(ValueError, match="equally many"):
        accuracy([1, 0], [1])
    with pytest.raises(ValueError, match="equally many"):
        accuracy([], [])
    # class 0: TP 1, FP 1, FN 0 -> 2/3; class 1: TP 0, FP 0, FN 1 -> 0; a class never
    # true nor predicted (class 2) scores 0 and still counts in the mean
    assert macro_f1([[1, 0, 0], [1, 0, 0], [0, 0, 0]]) == pytest.approx((2 / 3) / 3)
    with pytest.raises(ValueError, match="square"):
        macro_f1([[1, 0]])


# ----------------------------------------------------------------------------- counts
def test_precision_recall_f1_from_counts():
    # 3 correct of 4 predicted and 6 true: P 3/4, R 1/2, F1 2 * 3/8 / (5/4) = 3/5
    assert precision_recall_f1(3, 4, 6) == pytest.approx(
        {"precision": 0.75, "recall": 0.5, "f1": 0.6}
    )
    # 0/0 is 0, as seqeval and conlleval report it
    assert precision_recall_f1(0, 0, 5) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert precision_recall_f1(0, 0, 0) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
