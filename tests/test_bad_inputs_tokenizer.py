"""Bad arguments to the tokenizers, the label maps and checkpoint heads: each raises a
TypeError/ValueError that names the argument, never a Rust error or a silently wrong
result."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bertmini import (
    BertConfig,
    BertForSequenceClassification,
    BertModel,
    Tokenizer,
    wordpiece,
)
from bertmini.checkpoint import CheckpointError
from bertmini.tokenizer import SPECIAL_TOKENS

TINY = dict(
    vocab_size=99,
    hidden_size=32,
    num_hidden_layers=1,
    num_attention_heads=4,
    intermediate_size=64,
)


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.from_pretrained("all-MiniLM-L6-v2")


def vocab_file(tmp_path, lines, newline="\n"):
    path = tmp_path / "vocab.txt"
    path.write_bytes("".join(t + newline for t in lines).encode())
    return path


# ------------------------------------------------------------------ 1. vocab_size
@pytest.mark.parametrize("size", [2**70, 1_000_001])
def test_train_refuses_huge_vocab_size(size):
    with pytest.raises(ValueError, match="vocab_size must be in"):
        Tokenizer.train(["hello world"], vocab_size=size)


def test_train_keeps_every_character_below_vocab_size():
    tok = Tokenizer.train(["hello world"], vocab_size=6, min_frequency=0)
    assert tok.vocab_size > 6  # documented: the alphabet is always kept
    assert "larger vocabulary than asked" in Tokenizer.train.__doc__


# ------------------------------------------------------------------ 2. ids
@pytest.mark.parametrize("ids", [torch.tensor(1.7), torch.tensor(True)])
def test_scalar_non_integer_ids_refused(tok, ids):
    with pytest.raises(TypeError, match="integer token ids"):
        tok.convert_ids_to_tokens(ids)


def test_bool_tensor_ids_refused_in_decode(tok):
    with pytest.raises(TypeError, match="integer token ids"):
        tok.decode(torch.tensor([True, False]))


def test_numpy_ids_accepted(tok):
    assert tok.convert_ids_to_tokens(np.int64(100)) == tok.convert_ids_to_tokens(100)


def test_convert_tokens_to_ids_none(tok):
    with pytest.raises(TypeError, match="tokens must be a token"):
        tok.convert_tokens_to_ids(None)


# ------------------------------------------------------------------ 3. vocabularies
def test_vocab_txt_repeated_line(tmp_path):
    path = vocab_file(tmp_path, SPECIAL_TOKENS + ["a", "a", "b"])
    with pytest.raises(ValueError, match=r"vocab.txt lists 'a' twice"):
        Tokenizer.from_vocab(path)


def test_vocab_dict_shared_id():
    vocab = {t: i for i, t in enumerate(SPECIAL_TOKENS)} | {"[PAD]": 0, "x": 0}
    with pytest.raises(ValueError, match="gives id 0 to both"):
        Tokenizer.from_vocab(vocab)


def test_vocab_dict_gap():
    vocab = {t: i for i, t in enumerate(SPECIAL_TOKENS)} | {"x": 9}
    with pytest.raises(ValueError, match="without gaps"):
        Tokenizer.from_vocab(vocab)


def test_vocab_txt_crlf(tmp_path):
    lines = SPECIAL_TOKENS + ["hello", "world"]
    crlf = Tokenizer.from_vocab(vocab_file(tmp_path, lines, "\r\n"))
    assert crlf.tokenize("Hello world") == ["hello", "world"]
    assert crlf.vocab_size == len(lines)


# ------------------------------------------------------------------ 4. flags
@pytest.mark.parametrize(
    "call, name",
    [
        (lambda t: t("a b", padding="no"), "padding"),
        (lambda t: t("a b", padding="max_length"), "padding"),
        (lambda t: t("a b", return_offsets_mapping="no"), "return_offsets_mapping"),
        (lambda t: t("a b", return_overflowing_tokens="no"), "return_overflowing"),
        (lambda t: t.encode("a b", add_special_tokens="no"), "add_special_tokens"),
        (lambda t: t.decode([1, 2], skip_special_tokens="no"), "skip_special_tokens"),
    ],
)
def test_flags_must_be_bool(tok, call, name):
    with pytest.raises(TypeError, match=f"{name}.* must be True"):
        call(tok)


def test_numpy_max_length(tok):
    assert tok("a b", max_length=np.int64(8))["input_ids"].shape == (1, 4)


def test_tokenizer_config_wrong_type(tmp_path):
    vocab_file(tmp_path, SPECIAL_TOKENS + ["a"])
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"do_lower_case": "false"})
    )
    with pytest.raises(ValueError, match="tokenizer_config.json: do_lower_case"):
        Tokenizer.from_pretrained(tmp_path)


# ------------------------------------------------------------------ 5. wordpiece.py
def test_wordpiece_string_vocab():
    with pytest.raises(TypeError, match="vocab must be a collection"):
        wordpiece.tokenize("ell", "[UNK] hello")
    with pytest.raises(TypeError, match="vocab must be a collection"):
        wordpiece.wordpiece_tokenize("ell", "[UNK] hello")


@pytest.mark.parametrize("ch", ["", ",-", "!?"])
def test_is_punctuation_one_character(ch):
    with pytest.raises(ValueError, match="exactly one character"):
        wordpiece.is_punctuation(ch)


def test_wordpiece_lowercase_flag():
    with pytest.raises(TypeError, match="lowercase must be True or False"):
        wordpiece.tokenize("Hi", {"[UNK]", "hi"}, lowercase="no")


# ------------------------------------------------------------------ 6. label maps
def test_float_label_ids_refused():
    with pytest.raises(ValueError, match="id2label keys must be class ids"):
        BertConfig(**TINY, id2label={0.9: "a", 1.2: "b"})


def test_repeated_label_names_refused():
    with pytest.raises(ValueError, match="names must be unique"):
        BertConfig(**TINY, id2label=["a", "a"])


def test_label2id_must_match_id2label():
    with pytest.raises(ValueError, match="disagrees with id2label"):
        BertConfig(**TINY, id2label=["a", "b"], label2id={"x": 7})


def test_json_label_maps_still_load():
    cfg = BertConfig.from_dict(
        {**TINY, "id2label": {"0": "neg", "1": "pos"}, "label2id": {"neg": 0, "pos": 1}}
    )
    assert cfg.id2label == {0: "neg", 1: "pos"} and cfg.label2id == {"neg": 0, "pos": 1}


# ------------------------------------------------------------------ 7. checkpoints
def test_num_labels_disagrees_with_checkpoint(tmp_path):
    BertForSequenceClassification(BertConfig(**TINY), num_labels=2).save_pretrained(
        tmp_path / "clf"
    )
    with pytest.raises(CheckpointError, match="num_labels=3 .*checkpoint's 2 classes"):
        BertForSequenceClassification.from_pretrained(tmp_path / "clf", num_labels=3)
    # The way the message names: a new 3-class head on the trained encoder
    new = BertForSequenceClassification(BertConfig(**TINY), num_labels=3)
    new.bert.load_state_dict(BertModel.from_pretrained(tmp_path / "clf").state_dict())
