"""A catalogue of beginner mistakes: each raises a specific error that says what was wrong and what to do,
and none leaves a half-loaded model or a half-written file behind."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import torch

from bertmini import BertConfig, BertForSequenceClassification, BertModel, Tokenizer, data, qa, viz
from bertmini.classification import ClassificationCollator
from bertmini.checkpoint import CheckpointError
from bertmini.pretrained import IntegrityError, PretrainedNotFoundError, named_model_dir, verify_sha256
from bertmini.train import TrainConfig, fit

TINY = dict(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=20, max_position_embeddings=12, type_vocab_size=2)


@pytest.fixture(scope="module")
def model():
    return BertModel(BertConfig(**TINY)).eval()


ids = torch.tensor([[1, 2, 3, 4]])

MODEL_CASES = {
    "list instead of tensor": (dict(input_ids=[[1, 2]]), TypeError, "torch.Tensor"),
    "float ids": (dict(input_ids=ids.float()), TypeError, "integer token ids"),
    "1-d ids": (dict(input_ids=ids[0]), ValueError, "unsqueeze"),
    "empty batch": (dict(input_ids=torch.zeros(0, 4, dtype=torch.long)), ValueError, "empty"),
    "id >= vocab": (dict(input_ids=torch.tensor([[1, 50]])), ValueError, "outside the vocabulary"),
    "negative id": (dict(input_ids=torch.tensor([[1, -1]])), ValueError, "outside the vocabulary"),
    "too long": (dict(input_ids=torch.ones(1, 13, dtype=torch.long)), ValueError, "max_position_embeddings"),
    "mask shape": (dict(input_ids=ids, attention_mask=torch.ones(1, 3)), ValueError, "attention_mask has shape"),
    "mask values": (dict(input_ids=ids, attention_mask=torch.full((1, 4), 2)), ValueError, "only 1"),
    "token types shape": (dict(input_ids=ids, token_type_ids=torch.zeros(2, 4, dtype=torch.long)), ValueError, "token_type_ids has shape"),
    "token type >= type_vocab": (dict(input_ids=ids, token_type_ids=torch.full((1, 4), 2)), ValueError, "segment ids"),
}


@pytest.mark.parametrize("case", MODEL_CASES, ids=list(MODEL_CASES))
def test_model_input_errors(model, case):
    kwargs, error, message = MODEL_CASES[case]
    with pytest.raises(error, match=message):
        model(**kwargs)


@pytest.mark.parametrize("field,value,message", [
    ("hidden_size", 17, "divisible"),
    ("num_hidden_layers", 0, "positive"),
    ("vocab_size", -5, "positive"),
    ("hidden_act", "tanhh", "unknown"),
    ("hidden_dropout_prob", 1.5, r"\[0, 1\)"),
    ("pad_token_id", 99, "pad_token_id"),
])
def test_impossible_configs_name_the_field(field, value, message):
    with pytest.raises(ValueError, match=field) as err:
        BertConfig(**{**TINY, field: value})
    assert re.search(message, str(err.value))


def test_labels_out_of_range_and_float_labels():
    clf = BertForSequenceClassification(BertConfig(**TINY), num_labels=2)
    with pytest.raises(ValueError, match=r"outside \[0, 2\)"):
        clf(ids, labels=torch.tensor([2]))
    with pytest.raises(TypeError, match="integer class ids"):
        clf(ids, labels=torch.tensor([1.0]))
    with pytest.raises(ValueError, match="num_labels"):
        BertForSequenceClassification(BertConfig(**TINY), num_labels=0)


class Payload:
    """Any non-tensor object: unpickling it could run code, so weights_only loading refuses it."""


@pytest.fixture()
def saved(tmp_path):
    torch.manual_seed(0)
    return BertModel(BertConfig(**TINY)).save_pretrained(tmp_path / "m")


def test_directory_without_config_or_weights(tmp_path, saved):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        BertModel.from_pretrained(tmp_path / "empty")
    (saved / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        BertModel.from_pretrained(saved)


def test_truncated_and_corrupt_safetensors(saved):
    data = (saved / "model.safetensors").read_bytes()
    (saved / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        BertModel.from_pretrained(saved)
    (saved / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        BertModel.from_pretrained(saved)


def test_config_that_does_not_match_the_weights(saved):
    cfg = json.loads((saved / "config.json").read_text())
    cfg["intermediate_size"] = 24
    (saved / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"intermediate\.dense\.\w+ has shape \(20.*expects \(24"):
        BertModel.from_pretrained(saved)


def test_pickled_bin_is_loaded_weights_only(tmp_path, saved):
    """A pytorch_model.bin holding an arbitrary object is refused, not unpickled."""
    d = tmp_path / "evil"
    d.mkdir()
    shutil.copy(saved / "config.json", d / "config.json")
    torch.save({"x": Payload()}, d / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="weights_only"):
        BertModel.from_pretrained(d)


def test_incomplete_checkpoint_is_refused(tmp_path, saved):
    from safetensors.torch import load_file, save_file
    weights = load_file(str(saved / "model.safetensors"))
    weights.pop("encoder.layer.0.output.dense.weight")
    save_file(weights, str(saved / "model.safetensors"))
    with pytest.raises(CheckpointError, match="lacks 1 encoder weights"):
        BertModel.from_pretrained(saved)


def test_wrong_sha256_is_refused_with_both_hashes(tmp_path):
    src = named_model_dir("all-MiniLM-L6-v2") / "model.safetensors"
    tampered = tmp_path / "model.safetensors"
    data = bytearray(src.read_bytes()[:4096])
    data[100] ^= 0xFF
    tampered.write_bytes(bytes(data))
    expected = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    with pytest.raises(IntegrityError, match=expected) as err:
        verify_sha256(tampered, expected)
    assert "got " in str(err.value)


def test_unknown_pretrained_name_names_the_offline_alternatives():
    with pytest.raises(PretrainedNotFoundError, match="all-MiniLM-L6-v2"):
        BertModel.from_pretrained("definitely-not-a-model")
    with pytest.raises(TypeError):
        BertModel.from_pretrained(None)


def test_save_pretrained_is_atomic(tmp_path, monkeypatch, saved):
    """A crash while writing leaves the previous checkpoint loadable and no stray temp directory."""
    import safetensors.torch

    before = (saved / "model.safetensors").read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("simulated crash mid-save")

    monkeypatch.setattr(safetensors.torch, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        BertModel(BertConfig(**TINY)).save_pretrained(saved)
    assert (saved / "model.safetensors").read_bytes() == before
    assert [p.name for p in saved.parent.iterdir()] == ["m"]
    BertModel.from_pretrained(saved)


# ---------------------------------------------------------------------------------------------
# Beyond the model: the tokenizer, the data loaders, the training loop, QA and visualization.
# Each entry: a call a beginner might write, the exception it must raise, and words of the
# message that say what was wrong or what to do.
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer.from_pretrained("all-MiniLM-L6-v2")


def _tiny_classifier():
    return BertForSequenceClassification(BertConfig(**TINY), num_labels=2)


def _fit(**overrides):
    settings = dict(lr=1e-3, max_steps=1, batch_size=2, progress=False)
    settings.update(overrides.pop("config", {}))
    data = overrides.pop("data", [{"input_ids": [1, 2, 3], "label": 0}, {"input_ids": [1, 2], "label": 1}])
    return fit(_tiny_classifier(), data, TrainConfig(**settings))


def _squad_record(text="Paris", start=0, question="Where?"):
    return {"id": "q1", "question": question, "context": "Paris is the capital of France.",
            "answers": {"text": [text], "answer_start": [start]}}


def _attentions(T=5):
    return (torch.softmax(torch.randn(1, 2, T, T), -1),)


PACKAGE_CASES = {
    # tokenizer
    "tokenize None": (lambda tok: tok(None), TypeError, "string or a list of strings"),
    "tokenize a number": (lambda tok: tok(5), TypeError, "string or a list of strings"),
    "tokenize an empty batch": (lambda tok: tok([]), ValueError, "empty batch"),
    "None inside a batch": (lambda tok: tok(["fine", None]), TypeError, "must be a string"),
    "pairs of another length": (lambda tok: tok(["a", "b"], ["c"]), ValueError, "2 texts but 1 text pairs"),
    "max_length below 3": (lambda tok: tok("hello world", max_length=1), ValueError, ">= 3"),
    # data loaders
    "unknown data set": (lambda tok: data.fetch("imdb", "train"), KeyError, "choose one of"),
    "unknown split": (lambda tok: data.load_sst2("test"), KeyError, "choose one of"),
    "negative limit": (lambda tok: data.load_sst2("dev", limit=-1), ValueError, ">= 0"),
    # training loop
    "learning rate 0": (lambda tok: _fit(config=dict(lr=0)), ValueError, "weights never change"),
    "learning rate NaN": (lambda tok: _fit(config=dict(lr=float("nan"))), ValueError, "positive number"),
    "batch size 0": (lambda tok: _fit(config=dict(batch_size=0)), ValueError, "batch_size"),
    "negative max_steps": (lambda tok: _fit(config=dict(max_steps=-3)), ValueError, "max_steps"),
    "no training data": (lambda tok: _fit(data=[]), ValueError, "empty"),
    "text labels": (lambda tok: ClassificationCollator(tok)(
        [{"sentence": "good", "label": "positive"}]), TypeError, "integer class ids"),
    # question answering
    "empty question": (lambda tok: qa.answer("", "Some context.", None, tok),
                       ValueError, "non-empty question"),
    "answer_start off": (lambda tok: qa.prepare_features([_squad_record(start=3)], tok),
                         ValueError, "fix answer_start"),
    "answer outside the context": (lambda tok: qa.prepare_features(
        [_squad_record(start=500)], tok), ValueError, "outside its context"),
    "negative stride": (lambda tok: qa.prepare_features([_squad_record()], tok, stride=-1),
                        ValueError, "stride must be >= 0"),
    "no references": (lambda tok: qa.squad_metrics({}, {}), ValueError, "references is empty"),
    # visualization
    "no attention maps": (lambda tok: viz.stack_attentions(None), ValueError,
                          "output_attentions=True"),
    "too many tokens for bertviz": (lambda tok: viz.head_view(_attentions(300), ["a"] * 300),
                                    ValueError, "too many"),
    "fewer tokens than positions": (lambda tok: viz.head_view(_attentions(5), ["a"] * 4),
                                    ValueError, "one token per position"),
    "layer out of range": (lambda tok: viz.plot_head(_attentions(5), ["a"] * 5, layer=3, head=0),
                           IndexError, "out of range"),
}


@pytest.mark.parametrize("case", PACKAGE_CASES, ids=list(PACKAGE_CASES))
def test_package_input_errors(tokenizer, case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written where the user runs it
    call, error, message = PACKAGE_CASES[case]
    with pytest.raises(error, match=message):
        call(tokenizer)
    assert list(tmp_path.iterdir()) == []
