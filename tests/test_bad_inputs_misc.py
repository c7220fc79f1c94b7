"""Bad inputs at the smaller boundaries: encode's flags, the cache path, sha256 of a
path with ~, and a NumPy num_labels that must still be saved as JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import bertmini
from bertmini.files import cache_dir, sha256_file
from bertmini.sentence_embeddings import encode

TINY = dict(
    vocab_size=30522,
    hidden_size=16,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=32,
)


@pytest.fixture(scope="module")
def tokenizer():
    return bertmini.Tokenizer.from_pretrained("all-MiniLM-L6-v2")


@pytest.mark.parametrize("flag", ["normalize", "progress"])
def test_encode_flags_must_be_bools(tokenizer, flag):
    torch.manual_seed(0)
    model = bertmini.BertModel(bertmini.BertConfig(**TINY))
    with pytest.raises(TypeError, match=f"{flag} must be True or False"):
        encode(model, tokenizer, ["a cat"], **{flag: "no"})
    vectors = encode(model, tokenizer, ["a cat"], normalize=False, progress=False)
    assert vectors.shape == (1, 16)


def test_the_cache_directory_must_be_a_path(tmp_path):
    with pytest.raises(TypeError, match="cache directory must be a path"):
        cache_dir(5)
    assert cache_dir(tmp_path) == tmp_path


def test_sha256_file_expands_the_home_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "x.bin").write_bytes(b"abc")
    assert sha256_file("~/x.bin") == sha256_file(tmp_path / "x.bin")


def test_a_numpy_num_labels_is_saved_as_a_plain_integer(tmp_path):
    model = bertmini.BertForSequenceClassification(
        bertmini.BertConfig(**TINY), num_labels=np.int64(3)
    )
    model.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert len(config["id2label"]) == 3


def test_numpy_integers_reach_the_code_that_needs_python_ints(tokenizer, tmp_path):
    """check_int accepts NumPy integers, so everything behind it must take them:
    random.Random, torch.Generator.manual_seed and a weights_only checkpoint refuse
    them (each raised a TypeError from inside before check_int returned a Python int).
    """
    from bertmini._validate import check_int
    from bertmini.pretraining import MLMCollator, make_nsp_pairs
    from bertmini.train import TrainConfig, fit
    from tests.test_train import tiny_data, tiny_model

    seven = check_int("x", np.int64(7))
    assert (
        seven == 7
        and type(seven) is int
        and check_int("x", None, optional=True) is None
    )
    bertmini.seed_everything(np.int64(1))
    batch = MLMCollator(tokenizer, seed=np.int64(1))([{"input_ids": [101, 7, 8, 102]}])
    assert batch["input_ids"].shape == (1, 4)
    pairs = make_nsp_pairs(
        ["A b. C d. E f.", "G h. I j. K l."], tokenizer, max_length=16, seed=np.int32(3)
    )
    assert pairs
    config = TrainConfig(
        lr=1e-3,
        batch_size=np.int64(8),
        epochs=np.int64(1),
        seed=np.int64(3),
        threads=np.int64(1),
        warmup_steps=np.int64(1),
        eval_steps=[np.int64(2)],
        progress=False,
        checkpoint_dir=str(tmp_path),
        checkpoint_every=1,
    )
    assert all(
        type(getattr(config, name)) is int
        for name in ("batch_size", "epochs", "seed", "threads", "warmup_steps")
    )
    assert config.eval_steps == (2,) and type(config.eval_steps[0]) is int
    data = tiny_data(16)
    fit(tiny_model(), data, config, eval_data=data[:4])
    # weights_only load of a checkpoint holding the config
    resumed = fit(tiny_model(), data, config, eval_data=data[:4], resume=True)
    assert resumed.step == [1, 2]
