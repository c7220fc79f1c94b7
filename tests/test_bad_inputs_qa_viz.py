"""Bad inputs to question answering (qa, qa_features) and to the attention tools (viz):
each is refused with a TypeError or ValueError that names the argument and what was
expected, never an internal error or a silently wrong result.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

import bertmini
from bertmini import qa, viz
from bertmini.qa_features import length_grouped_batches, prepare_features
from bertmini.train import TrainConfig

matplotlib.use("Agg")

PARIS = {
    "id": "q1",
    "question": "Where?",
    "context": "Paris is the capital of France.",
    "answers": {"text": ["Paris"], "answer_start": [0]},
}


def _config(**kw):
    return bertmini.BertConfig(
        vocab_size=30522,
        hidden_size=16,
        num_hidden_layers=kw.pop("layers", 1),
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        **kw,
    )


@pytest.fixture(scope="module")
def tok():
    return bertmini.Tokenizer.from_pretrained("all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def qa_model():
    torch.manual_seed(0)
    return bertmini.BertForQuestionAnswering(_config())


@pytest.fixture(scope="module")
def features(tok):
    return prepare_features([PARIS], tok, max_length=32, stride=4)


def _rec(answers):
    return {**PARIS, "answers": answers}


# ------------------------------------------------------------------ qa_features
@pytest.mark.parametrize(
    "answers, error, phrase",
    [
        ({"text": "Paris", "answer_start": 0}, TypeError, "must be a list"),
        ([{"text": "Paris", "answer_start": 0}], TypeError, "SQuAD format"),
        ({"text": ["Paris"], "answer_start": [0.9]}, TypeError, "integer character"),
        ({"text": ["Paris"], "answer_start": ["0"]}, TypeError, "integer character"),
        ({"text": ["Paris"], "answer_start": [True]}, TypeError, "integer character"),
        ({"text": [None], "answer_start": [0]}, TypeError, "must be strings"),
        ({"text": ["Paris"], "answer_start": [0, 1]}, ValueError, "equal length"),
    ],
)
def test_answers_must_be_squad_format(tok, answers, error, phrase):
    with pytest.raises(error, match=phrase) as info:
        prepare_features([_rec(answers)], tok, max_length=32, stride=4)
    assert "example 0 (id 'q1')" in str(info.value)


def test_squad_answers_still_label(tok, features):
    assert features.has_labels and int(features.start_positions[0]) > 0
    numpy_starts = _rec({"text": ["Paris"], "answer_start": [np.int64(0)]})
    same = prepare_features([numpy_starts], tok, max_length=32, stride=4)
    assert torch.equal(same.start_positions, features.start_positions)
    none = prepare_features([_rec(None)], tok, max_length=32, stride=4)
    assert int(none.start_positions[0]) == 0


def test_with_labels_must_be_bool(tok):
    with pytest.raises(TypeError, match="with_labels must be True or False"):
        prepare_features([PARIS], tok, max_length=32, stride=4, with_labels="no")


def test_features_must_be_qafeatures(features):
    for bad in (None, [PARIS]):
        with pytest.raises(TypeError, match="features must be the QAFeatures"):
            length_grouped_batches(bad, 2)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        list(features.batches(batch_size="2"))


# ------------------------------------------------------------------ qa
@pytest.mark.parametrize("kind", [None, "classifier", "mlm"])
def test_qa_needs_a_question_answering_model(tok, features, kind):
    model = {
        None: None,
        "classifier": bertmini.BertForSequenceClassification(_config()),
        "mlm": bertmini.BertForMaskedLM(_config()),
    }[kind]
    phrase = "question-answering model"
    with pytest.raises(TypeError, match=phrase):
        qa.answer("Where?", "Paris is nice.", model, tok, max_length=32, stride=4)
    with pytest.raises(TypeError, match=phrase):
        qa.predict_logits(model, features)
    with pytest.raises(TypeError, match=phrase):
        qa.evaluate_qa(model, tok, [PARIS], max_length=32, stride=4)


def test_qa_features_and_examples(tok, qa_model, features):
    for bad in (None, [PARIS]):
        with pytest.raises(TypeError, match="features must be the QAFeatures"):
            qa.predict_logits(qa_model, bad)
    with pytest.raises(TypeError, match="features must be the QAFeatures"):
        qa.evaluate_qa(qa_model, tok, [PARIS], features=[1, 2])
    with pytest.raises(TypeError, match="examples must be a list"):
        qa.evaluate_qa(qa_model, tok, None)
    assert 0 <= qa.evaluate_qa(qa_model, tok, [PARIS], features=features)["f1"] <= 100


def test_train_qa_answerable_only_must_be_bool(qa_model, features):
    config = TrainConfig(lr=1e-3, max_steps=1, batch_size=2, progress=False)
    with pytest.raises(TypeError, match="answerable_only must be True or False"):
        qa.train_qa(qa_model, features, config, answerable_only="no")


# ------------------------------------------------------------------ viz
def _att(B=2, L=2, T=5):
    torch.manual_seed(0)
    return tuple(torch.softmax(torch.randn(B, 2, T, T), -1) for _ in range(L))


def test_one_example_index_must_be_int():
    for bad in (True, 0.5, "0"):
        with pytest.raises(TypeError, match="index must be an integer"):
            viz.one_example(_att(), bad)
    assert viz.one_example(_att(), 1).shape == (2, 2, 5, 5)


@pytest.mark.parametrize("value", [2, 0.5])
def test_attention_mask_must_be_zeros_and_ones(value):
    mask = torch.full((2, 5), value)
    with pytest.raises(ValueError, match="only 0 .* and 1"):
        viz.head_statistics(_att(), mask)
    with pytest.raises(ValueError, match="only 0 .* and 1"):
        viz.attention_rollout(_att(), mask)
    ones = torch.ones(2, 5, dtype=torch.long)
    assert torch.equal(
        viz.head_statistics(_att(), ones)["entropy"],
        viz.head_statistics(_att())["entropy"],
    )


def test_non_finite_attention_is_refused():
    nan = (torch.full((1, 2, 3, 3), float("nan")),)
    with pytest.raises(ValueError, match="NaN or inf"):
        viz.head_statistics(nan)
    with pytest.raises(ValueError, match="NaN or inf"):
        viz.top_heads(torch.tensor([[float("nan"), 1.0], [0.5, 0.2]]), k=2)


def test_plot_head_refuses_one_layer_tensor_as_layers():
    att = _att()
    with pytest.raises(ValueError, match=r"\(layers, heads, T, T\)"):
        viz.plot_head(att[0], ["t"] * 5, 1, 0, index=0)
    with pytest.raises(ValueError, match=r"\(layers, heads, T, T\)"):
        viz.plot_head(att[0][0], ["t"] * 5, 1, 0)


def test_measure_heads_batch_size(tok):
    model = bertmini.BertModel(_config())
    for bad, error in ((-1, ValueError), (0, ValueError), ("2", TypeError)):
        with pytest.raises(error, match="batch_size must be an integer"):
            viz.measure_heads(model, tok, ["hello", "world"], batch_size=bad)


def test_plot_layer_arguments():
    att, toks = _att(), ["t"] * 5
    with pytest.raises(ValueError, match="ncols must be an integer >= 1"):
        viz.plot_layer(att, toks, 0, index=0, ncols=0)
    for bad in (["a", "b"], ["a"] * 20):
        with pytest.raises(ValueError, match="one token per position"):
            viz.plot_layer(att, bad, 0, index=0)
    att17 = _att(T=17)
    with pytest.raises(ValueError, match="one token per position"):
        viz.plot_layer(att17, ["a"] * 20, 0, index=0)


def test_top_heads_arguments():
    stats = viz.head_statistics(_att())
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        viz.top_heads(stats, "entropy", k=-1)
    with pytest.raises(ValueError, match="one of the statistics .*'entropy'"):
        viz.top_heads(stats, "entropi")
    with pytest.raises(ValueError, match="one of the statistics"):
        viz.plot_head_stats(stats, "entropi")


def test_layers_of_different_length_and_rollout_layers():
    mixed = (torch.rand(1, 2, 3, 3), torch.rand(1, 2, 4, 4))
    with pytest.raises(ValueError, match="layer 1 has shape"):
        viz.stack_attentions(mixed)
    with pytest.raises(TypeError, match="layers must be an integer"):
        viz.attention_rollout(_att(), layers="2")


def test_explorer_use_mask_must_be_bool(tok):
    model = bertmini.BertModel(_config())
    with pytest.raises(TypeError, match="use_mask must be True or False"):
        viz.explorer_attention(model, tok, "The cat sat.", pad_to=10, use_mask="no")
