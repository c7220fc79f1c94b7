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
