"""Bad inputs to QA post-processing and to the metrics: each is refused with a TypeError
or ValueError that names the argument, never an internal error or a silently wrong
answer or score. Valid inputs at the edges of what is allowed still work.
"""

from __future__ import annotations

import warnings

import numpy as np
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
from bertmini.qa_features import prepare_features
from bertmini.qa_postprocess import postprocess, postprocess_with_scores
from tests.qa_helpers import toy_example

PARIS = {
    "id": "q1",
    "question": "Where?",
    "context": "Paris is the capital of France.",
    "answers": {"text": ["Paris"], "answer_start": [0]},
}
APPLES = {
    "id": "q2",
    "question": "What does Bob like?",
    "context": "Bob likes apples a lot, and pears too, on most days of the week.",
    "answers": {"text": ["apples"], "answer_start": [10]},
}


@pytest.fixture(scope="module")
def tok():
    from bertmini import Tokenizer  # noqa: PLC0415

    return Tokenizer.from_pretrained("all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def two(tok):
    """Features of [PARIS, APPLES] (one window each) and one-hot logits on the golds."""
    f = prepare_features([PARIS, APPLES], tok, max_length=32, stride=8)
    n, t = f.input_ids.shape
    start, end = torch.zeros(n, t), torch.zeros(n, t)
    start[torch.arange(n), f.start_positions] = 10.0
    end[torch.arange(n), f.end_positions] = 10.0
    return f, start, end


def test_valid_logits_still_answer(two):
    f, start, end = two
    assert postprocess(f, start, end, [PARIS, APPLES]) == {
        "q1": "Paris",
        "q2": "apples",
    }
    # trimmed per-batch pieces (features.batches()), -inf padding and float16 are fine
    width0 = int(f.attention_mask[0].sum())
    pieces_s = [start[:1, :width0], start[1:]]
    pieces_e = [end[:1, :width0].numpy(), end[1:].numpy().astype(np.float16)]
    assert postprocess(f, pieces_s, pieces_e, [PARIS, APPLES]) == {
        "q1": "Paris",
        "q2": "apples",
    }
    padded = start.clone()
    padded[0, width0:] = float("-inf")
    assert postprocess(f, padded, end, [PARIS, APPLES])["q1"] == "Paris"
    # an example without windows (features.select) still gets "", as documented
    one = f.select([0])
    assert postprocess(one, start[:1], end[:1], [PARIS, APPLES]) == {
        "q1": "Paris",
        "q2": "",
    }


def test_one_window_of_a_long_context_as_chapter_7_does(tok):
    ex = toy_example(prefix_sentences=30)
    wins = prepare_features([ex], tok, max_length=64, stride=16)
    assert len(wins) > 1
    n, t = wins.input_ids.shape
    start, end = torch.randn(n, t), torch.randn(n, t)
    for w in range(n):
        rich = postprocess_with_scores(
            wins.select([w]), start[w : w + 1], end[w : w + 1], [ex]
        )
        assert (
            ex["context"][rich["q0"]["start"] : rich["q0"]["end"]] == rich["q0"]["text"]
        )


# ---------------------------------------------------------- 1. examples and features
def test_examples_in_another_order_are_refused(two):
    f, start, end = two
    with pytest.raises(ValueError, match="same order"):
        postprocess(f, start, end, [APPLES, PARIS])
    with pytest.raises(ValueError, match=r"examples\[0\] has id 'other'"):
        postprocess(f, start, end, [{**PARIS, "id": "other"}, APPLES])


def test_duplicate_example_ids_are_refused(two):
    f, start, end = two
    with pytest.raises(ValueError, match="repeats the id 'q1'"):
        postprocess(f, start, end, [PARIS, APPLES, {**APPLES, "id": "q1"}])


# ---------------------------------------------------------- 2. non-finite, non-float
def test_nan_logits_are_refused(two):
    f, start, end = two
    with pytest.raises(ValueError, match="start_logits contains NaN"):
        postprocess_with_scores(
            f, torch.full_like(start, float("nan")), end, [PARIS, APPLES]
        )
    nan_end = end.numpy().copy()
    nan_end[1, 3] = np.nan
    with pytest.raises(ValueError, match="end_logits contains NaN"):
        postprocess(f, start, nan_end, [PARIS, APPLES])


def test_integer_or_bool_logits_are_refused(two):
    f, start, end = two
    with pytest.raises(TypeError, match="start_logits must be floating-point"):
        postprocess(f, torch.zeros(start.shape, dtype=torch.long), end, [PARIS, APPLES])
    with pytest.raises(TypeError, match="end_logits must be floating-point"):
        postprocess(f, start, end.bool(), [PARIS, APPLES])
    with pytest.raises(TypeError, match="start_logits must be floating-point"):
        postprocess(f, start.to(torch.complex64), end, [PARIS, APPLES])


# ------------------------------------------------------------------- 3. logit shapes
def test_logits_that_miss_tokens_or_disagree_are_refused(two):
    f, start, end = two
    n, t = start.shape
    with pytest.raises(ValueError, match=r"start_logits has shape \(2, 3\)"):
        postprocess(f, torch.randn(n, 3), torch.randn(n, 3), [PARIS, APPLES])
    with pytest.raises(ValueError, match="end_logits has shape"):
        postprocess(f, start, torch.randn(n, 4), [PARIS, APPLES])
    with pytest.raises(ValueError, match="start_logits has shape"):  # wider: not ours
        postprocess(f, torch.randn(n, t + 5), torch.randn(n, t + 5), [PARIS, APPLES])
    # each piece must cover the real tokens of its own windows
    width1 = int(f.attention_mask[1].sum())
    with pytest.raises(ValueError, match=r"windows 1\.\.1"):
        postprocess(f, [start[:1], start[1:, : width1 - 1]], end, [PARIS, APPLES])
    # valid widths, but start and end cut differently
    width0 = int(f.attention_mask[0].sum())
    assert width0 < t
    with pytest.raises(ValueError, match="same shape"):
        postprocess(f, [start[:1, :width0], start[1:]], [end], [PARIS, APPLES])


# ------------------------------------------------------------------ 4. example records
def test_malformed_examples_are_refused(two):
    f, start, end = two
    with pytest.raises(ValueError, match="needs a string 'context'"):
        postprocess(f, start, end, [{"id": "q1"}, {"id": "q2"}])
    with pytest.raises(
        ValueError, match=r"examples\[1\].*string 'context', got NoneType"
    ):
        postprocess(f, start, end, [PARIS, {**APPLES, "context": None}])
    with pytest.raises(TypeError, match="wrap a single record in a list"):
        postprocess(f, start, end, PARIS)
    with pytest.raises(TypeError, match="examples must be the list"):
        postprocess(f, start, end, None)
    with pytest.raises(TypeError, match=r"examples\[1\] must be a dict"):
        postprocess(f, start, end, [PARIS, "q2"])


# ------------------------------------------------------------ 5. references_from_examples
def test_references_from_examples_refuses_bad_answers():
    with pytest.raises(TypeError, match=r"answers\['text'\] must be a list"):
        references_from_examples([{"id": "q", "answers": {"text": "Paris"}}])
    with pytest.raises(ValueError, match="'text' list"):
        references_from_examples([{"id": "q", "answers": {"answer_start": [0]}}])
    with pytest.raises(ValueError, match="repeats the id 'q'"):
        references_from_examples(
            [
                {"id": "q", "answers": {"text": ["a"]}},
                {"id": "q", "answers": {"text": ["b"]}},
            ]
        )
    with pytest.raises(TypeError, match="wrap a single record in a list"):
        references_from_examples({"id": "q", "answers": {"text": ["a"]}})
    # tuples and arrays of answer strings still work, as before
    assert references_from_examples(
        [
            {"id": 1, "answers": {"text": ("a", "b")}},
            {"id": "2", "answers": {"text": np.array(["c"])}},
        ]
    ) == {"1": ["a", "b"], "2": ["c"]}


# ----------------------------------------------------------------- 6. squad_metrics ids
def test_squad_metrics_refuses_predictions_for_no_reference():
    with pytest.raises(ValueError, match="no id of predictions"):
        squad_metrics({"1": "a"}, {1: ["a"]})
    with pytest.raises(ValueError, match="no id of predictions"):
        squad_metrics({"x": "Paris"}, {"q": ["Paris"]})
    # a partial match keeps its documented behaviour: 0 for the missing, with a warning
    with pytest.warns(UserWarning, match="unanswered"):
        scores = squad_metrics({"a": "Paris"}, {"a": ["Paris"], "b": ["Rome"]})
    assert scores == {"exact_match": 50.0, "f1": 50.0}


# --------------------------------------------------------------- 7. answer normalization
def test_normalize_answer_names_its_argument():
    with pytest.raises(TypeError, match="s must be a string, got None"):
        normalize_answer(None)
    with pytest.raises(TypeError, match="prediction must be a string"):
        exact_match_score(None, "a")
    with pytest.raises(TypeError, match="ground_truth must be a string"):
        f1_score("Paris", ["Paris"])


# -------------------------------------------------------------------- 8. classification
def test_accuracy_refuses_labels_that_cannot_match():
    with pytest.raises(TypeError, match="mix class names"):
        accuracy(["1", "0"], [1, 0])
    with pytest.raises(TypeError, match="y_pred must hold integer class ids"):
        accuracy([1, 0], [[0.1, 0.9], [0.8, 0.2]])
    with pytest.raises(ValueError, match="y_true must be 1-D"):
        accuracy(torch.tensor([[1, 0]]), torch.tensor([[1, 0]]))
    with pytest.raises(TypeError, match="y_true must hold integer class ids"):
        accuracy(torch.tensor([1.0, 0.0]), [1, 0])
    with pytest.raises(TypeError, match="y_true must be a list of labels"):
        accuracy("10", "10")
    with pytest.raises(ValueError, match="equally many"):
        accuracy(torch.tensor([], dtype=torch.long), np.array([], dtype=np.int64))


def test_accuracy_and_classification_metrics_accept_tensors_and_arrays():
    assert accuracy([1, 0, 1, 1], [1, 1, 1, 0]) == 0.5
    for y in (torch.tensor([1, 0, 1, 1]), np.array([1, 0, 1, 1]), (1, 0, 1, 1)):
        result = accuracy(y, [1, 1, 1, 0])
        assert result == 0.5 and type(result) is float
    m = classification_metrics(np.array([0, 1]), torch.tensor([0, 1]), 2)
    assert m == {"accuracy": 1.0, "macro_f1": 1.0, "confusion": [[1, 0], [0, 1]]}
    with pytest.raises(TypeError, match="y_true must hold integer class ids"):
        classification_metrics(["a", "b"], ["a", "b"], 2)


def test_impossible_counts_are_refused():
    with pytest.raises(ValueError, match="correct=5 cannot exceed predicted=2"):
        precision_recall_f1(5, 2, 3)
    with pytest.raises(ValueError, match="cannot exceed"):
        precision_recall_f1(3, 4, 2)
    with pytest.raises(ValueError, match="correct must be an integer >= 0"):
        precision_recall_f1(-1, 2, 3)
    with pytest.raises(TypeError, match="correct must be an integer"):
        precision_recall_f1(float("nan"), 2, 3)
    with pytest.raises(TypeError, match="predicted must be an integer"):
        precision_recall_f1(1, 2.0, 3)
    assert precision_recall_f1(np.int64(3), 4, 6) == pytest.approx(
        {"precision": 0.75, "recall": 0.5, "f1": 0.6}
    )
    with pytest.raises(
        ValueError, match=r"confusion\[0\]\[1\] must be an integer >= 0"
    ):
        macro_f1([[1, -1], [0, 1]])
    with pytest.raises(TypeError, match=r"confusion\[0\]\[0\] must be an integer"):
        macro_f1([[float("nan"), 0], [0, 1]])
    with pytest.raises(TypeError, match="confusion must be a list of rows"):
        macro_f1("ab")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert macro_f1(np.array([[1, 0], [0, 1]])) == 1.0
        assert macro_f1(torch.tensor([[1, 0], [0, 1]])) == 1.0
