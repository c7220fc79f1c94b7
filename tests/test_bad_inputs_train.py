"""Bad arguments to fit, TrainConfig and the device helpers: refused up front, by name."""

from __future__ import annotations

import pytest
import torch

import bertmini
from bertmini import BertForSequenceClassification
from bertmini.device import autocast, get_device
from bertmini.train import TrainConfig, fit, latest_checkpoint


def tiny_model() -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = bertmini.BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    return BertForSequenceClassification(config, num_labels=2)


DATA = [
    {"input_ids": torch.tensor([2, 5 + i, 7]), "labels": torch.tensor(i % 2)}
    for i in range(4)
]


def quiet(**kwargs) -> TrainConfig:
    return TrainConfig(
        **{**dict(lr=1e-3, batch_size=2, max_steps=1, progress=False), **kwargs}
    )


def snapshot(root) -> dict:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_resume_string_refused_and_earlier_run_untouched(tmp_path):
    ck = tmp_path / "ck"
    fit(tiny_model(), DATA, quiet(checkpoint_dir=str(ck)))
    before = snapshot(ck)
    assert latest_checkpoint(ck) is not None
    with pytest.raises(TypeError, match="resume must be True or False.*'no'"):
        fit(tiny_model(), DATA, quiet(checkpoint_dir=str(ck), max_steps=2), resume="no")
    assert snapshot(ck) == before


@pytest.mark.parametrize(
    "kwargs, error, phrase",
    [
        (dict(callbacks=lambda s, logs: None), TypeError, "callbacks must be a list"),
        (dict(callbacks=["x"]), TypeError, "callbacks must be a list"),
        (dict(eval_fn="x"), TypeError, "eval_fn must be callable"),
        (dict(eval_data=[]), ValueError, "eval_data is empty"),
        (dict(eval_data={"a": 1}), TypeError, "eval_data must be a sequence"),
    ],
)
def test_fit_arguments_checked_before_training(kwargs, error, phrase):
    steps = []
    cb = [lambda step, logs: steps.append(step)]
    kwargs = {"callbacks": cb, **kwargs}
    with pytest.raises(error, match=phrase):
        fit(tiny_model(), DATA, quiet(), **kwargs)
    assert steps == []  # not one step was trained


@pytest.mark.parametrize("result", [0.5, None, {"a": torch.tensor([1.0, 2.0])}])
def test_eval_fn_result_must_be_a_dict_of_numbers(tmp_path, result):
    ck = tmp_path / "ck"
    config = quiet(
        max_steps=2, eval_steps=[2], checkpoint_dir=str(ck), checkpoint_every=1
    )
    with pytest.raises(TypeError, match=r"eval_fn must return a dict \{name: number\}"):
        fit(tiny_model(), DATA, config, eval_fn=lambda m: result)
    assert latest_checkpoint(ck).name == "step-00000001"  # the step-1 checkpoint stays


def test_train_data_mapping_refused():
    with pytest.raises(TypeError, match="train_data must be a sequence.*dict"):
        fit(tiny_model(), {"a": 1}, quiet())


@pytest.mark.parametrize(
    "kwargs, error, phrase",
    [
        (dict(shuffle="no"), TypeError, "TrainConfig.shuffle must be True or False"),
        (dict(shuffle=None), TypeError, "TrainConfig.shuffle must be True or False"),
        (dict(progress="no"), TypeError, "TrainConfig.progress must be True or False"),
        (dict(seed=2**70), ValueError, r"TrainConfig.seed must be an integer in \[0"),
    ],
)
def test_train_config_fields(kwargs, error, phrase):
    with pytest.raises(error, match=phrase):
        quiet(**kwargs)


def test_warmup_longer_than_run_refused():
    with pytest.raises(ValueError, match="warmup_steps=1000 is more than this run's 3"):
        fit(tiny_model(), DATA, quiet(max_steps=3, warmup_steps=1000))
    fit(tiny_model(), DATA, quiet(max_steps=3, warmup_steps=3))  # the boundary trains


@pytest.mark.parametrize("name", ["meta", "xpu", "vulkan", "cpu:5", "gpu"])
def test_unknown_devices_refused(name):
    with pytest.raises(ValueError, match=f"unknown device '{name}'.*'cuda:N'"):
        get_device(name)


def test_bad_device_env_named(monkeypatch):
    monkeypatch.setenv("BERTMINI_DEVICE", "meta")
    with pytest.raises(ValueError, match="BERTMINI_DEVICE"):
        get_device()
    monkeypatch.setenv("BERTMINI_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")


def test_valid_devices_still_accepted():
    assert get_device("cpu") == torch.device("cpu")
    assert get_device(torch.device("cpu")) == torch.device("cpu")


def test_autocast_unknown_dtype():
    with pytest.raises(ValueError, match="'bf16', 'fp16', 'fp32', 'auto'.*'fp8'"):
        autocast("cpu", "fp8")


@pytest.mark.parametrize("call", ["evaluate_loss", "predict", "fit"])
def test_collate_fn_must_be_a_function(call):
    from bertmini import train

    with pytest.raises(TypeError, match="collate_fn must be a function"):
        if call == "fit":
            fit(tiny_model(), DATA, quiet(), collate_fn="pad")
        else:
            getattr(train, call)(tiny_model(), DATA, collate_fn="pad")


def test_collate_fn_must_return_a_dict_and_raw_text_needs_one():
    from bertmini.train import evaluate_loss, predict

    with pytest.raises(TypeError, match="collate_fn must return a dict"):
        evaluate_loss(tiny_model(), DATA, lambda rows: [r["input_ids"] for r in rows])
    text = [{"sentence": "a good film", "label": 1}] * 2
    with pytest.raises(TypeError, match="'sentence' holds strings.*collate_fn"):
        predict(tiny_model(), text)
    with pytest.raises(TypeError, match="'sentence' holds strings.*collate_fn"):
        fit(tiny_model(), text, quiet())
    assert set(predict(tiny_model(), DATA)) >= {"logits"}
