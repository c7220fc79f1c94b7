"""bertmini.qa: answer(), predict_logits, evaluate_qa and train_qa around a model."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from bertmini import baselines, metrics, qa, qa_features, qa_postprocess
from bertmini.qa import answer, evaluate_qa, predict_logits, train_qa
from bertmini.qa_features import prepare_features
from tests.qa_helpers import (
    KeywordPointer,
    tiny_qa_model,
    toy_example,
    toy_set,
)


@pytest.fixture(scope="module")
def tokenizer():
    from bertmini import Tokenizer  # noqa: PLC0415

    return Tokenizer.from_pretrained("all-MiniLM-L6-v2")


# --------------------------------------------------------------------------- answer()


def test_answer_finds_span_in_a_late_window(tokenizer):
    ex = toy_example(prefix_sentences=80)  # ~1,600 tokens: many windows of 128
    backend = getattr(tokenizer, "backend", tokenizer)
    model = KeywordPointer(backend.token_to_id("paris")).train()
    result = answer(
        ex["question"], ex["context"], model, tokenizer, max_length=128, stride=32
    )
    assert result["text"] == "Paris"
    assert ex["context"][result["start"] : result["end"]] == "Paris"
    assert result["start"] == ex["answers"]["answer_start"][0]
    assert result["score"] == pytest.approx(14.0)
    assert model.training  # mode restored
    with pytest.raises(ValueError, match="non-empty"):
        answer("", ex["context"], model, tokenizer)


def test_answer_with_a_real_qa_head(tokenizer):
    from bertmini import BertConfig, BertForQuestionAnswering  # noqa: PLC0415

    torch.manual_seed(0)
    config = BertConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    model = BertForQuestionAnswering(config)
    ex = toy_example(prefix_sentences=30)
    result = answer(
        ex["question"], ex["context"], model, tokenizer, max_length=128, stride=32
    )
    assert result["text"] == ex["context"][result["start"] : result["end"]]
    assert math.isfinite(result["score"])


# --------------------------------------------------------- evaluation and fine-tuning


def test_predict_logits_matches_one_window_at_a_time(tokenizer):
    model = tiny_qa_model().train()
    examples = toy_set()
    f = prepare_features(
        examples, tokenizer, max_length=96, stride=24, with_labels=False
    )
    lengths = f.attention_mask.sum(1)
    assert lengths.min() < lengths.max()  # padded windows are part of the test
    start, end = predict_logits(model, f, batch_size=4)
    assert start.shape == end.shape == f.input_ids.shape
    assert model.training  # mode restored
    model.eval()
    with torch.no_grad():
        for row in range(len(f)):
            n = int(lengths[row])
            inputs = {k: v[:, :n] for k, v in f.model_inputs([row], trim=False).items()}
            out = model(**inputs)
            torch.testing.assert_close(
                start[row, :n], out.start_logits[0], atol=1e-5, rtol=1e-4
            )
            torch.testing.assert_close(
                end[row, :n], out.end_logits[0], atol=1e-5, rtol=1e-4
            )
    # beyond its batch's width a window holds -inf: never a candidate
    assert bool(torch.isneginf(start[lengths.argmin(), -1]))


def test_evaluate_qa_scores_a_perfect_pointer(tokenizer):
    examples = toy_set()
    model = KeywordPointer(
        getattr(tokenizer, "backend", tokenizer).token_to_id("paris")
    )
    result = evaluate_qa(
        model, tokenizer, examples, max_length=64, stride=16, batch_size=3
    )
    assert result["exact_match"] == 100.0 and result["f1"] == 100.0
    assert result["predictions"] == {ex["id"]: "Paris" for ex in examples}
    features = prepare_features(
        examples, tokenizer, max_length=64, stride=16, with_labels=False
    )
    assert evaluate_qa(model, tokenizer, examples, features=features) == result
    # a pointer to another word scores 0
    wrong = KeywordPointer(
        getattr(tokenizer, "backend", tokenizer).token_to_id("france")
    )
    assert (
        evaluate_qa(wrong, tokenizer, examples, max_length=64, stride=16)["exact_match"]
        == 0.0
    )
    with pytest.raises(ValueError, match="at least one"):
        evaluate_qa(model, tokenizer, [])
    # features built from a shorter list would score the rest as "" (EM 0): refused
    fewer = prepare_features(
        examples[:-1], tokenizer, max_length=64, stride=16, with_labels=False
    )
    with pytest.raises(
        ValueError,
        match=r"no window for 1 of the 6 examples \(the first: examples\[5\]\)",
    ):
        evaluate_qa(model, tokenizer, examples, features=fewer)


def test_train_qa_learns_and_times_training_alone(tokenizer):
    import time  # noqa: PLC0415

    from bertmini.train import TrainConfig  # noqa: PLC0415

    examples = toy_set(8)
    f = prepare_features(examples, tokenizer, max_length=64, stride=16)
    n_answerable = int(f.answerable().sum())
    assert n_answerable < len(f)
    model = tiny_qa_model()

    def loss_on_answerable(m) -> float:
        batch = f.model_inputs(f.answerable().nonzero().flatten())
        with torch.no_grad():
            return float(m(**batch).loss)

    before = loss_on_answerable(model.eval())
    pause = 1.0  # long enough that a slow step on a loaded machine cannot pass for it

    def slow_eval(m):
        assert not m.training  # evaluated without dropout
        time.sleep(pause)
        return {"loss": loss_on_answerable(m)}

    config = TrainConfig(
        lr=3e-3,
        batch_size=4,
        epochs=6,
        warmup_ratio=0.1,
        eval_steps=[3, 6],
        progress=False,
        device="cpu",
    )
    history = train_qa(model, f, config, eval_fn=slow_eval)
    steps_per_epoch = math.ceil(n_answerable / 4)  # answerable windows only
    assert history.step == list(range(1, 6 * steps_per_epoch + 1))
    assert history.eval_step == [3, 6] and len(history.eval["loss"]) == 2
    assert model.training
    after = loss_on_answerable(model.eval())
    assert after < 0.7 * before, (before, after)  # measured: 4.15 -> 2.44
    # evaluation time is not training time: the step after an evaluation is not
    # `pause` s later
    gaps = np.diff(history.time)  # gaps[k]: from step k + 1 to step k + 2
    assert gaps[2] < pause and gaps[5] < pause  # steps 4 and 7 follow the evaluations
    assert np.all(gaps >= 0)


def test_train_qa_input_errors(tokenizer):
    from bertmini.train import TrainConfig  # noqa: PLC0415

    model = tiny_qa_model()
    f = prepare_features(toy_set(2), tokenizer, max_length=64, stride=16)
    with pytest.raises(TypeError, match="TrainConfig"):
        train_qa(model, f, {"lr": 1e-3})
    config = TrainConfig(progress=False, device="cpu")
    with pytest.raises(ValueError, match="labelled"):
        train_qa(
            model, prepare_features(toy_set(2), tokenizer, with_labels=False), config
        )
    with pytest.raises(ValueError, match="eval_fn"):
        train_qa(model, f, replace(config, eval_steps=[1]))


def test_qa_still_exports_what_moved():
    """`from bertmini.qa import X` keeps working for every name that moved out of qa.py
    (the chapters import them from there)."""
    homes = {
        qa_features: ["QAFeatures", "prepare_features", "length_grouped_batches"],
        qa_postprocess: ["postprocess", "postprocess_with_scores"],
        metrics: [
            "normalize_answer",
            "exact_match_score",
            "f1_score",
            "squad_metrics",
            "references_from_examples",
        ],
        baselines: ["sentence_overlap_baseline"],
    }
    for module, names in homes.items():
        for name in names:
            assert name in qa.__all__ and getattr(qa, name) is getattr(module, name)
