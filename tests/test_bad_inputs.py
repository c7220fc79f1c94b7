"""A catalogue of beginner mistakes: each raises a specific error that says what was
wrong and what to do, and none leaves a half-loaded model or a half-written file behind.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest
import torch

from bertmini import (
    BertConfig,
    BertForSequenceClassification,
    BertModel,
    Tokenizer,
    data,
    qa,
    viz,
)
from bertmini.checkpoint import CheckpointError
from bertmini.classification import ClassificationCollator
from bertmini.pretrained import (
    IntegrityError,
    PretrainedNotFoundError,
    named_model_dir,
    verify_sha256,
)
from bertmini.train import TrainConfig, fit

TINY = dict(
    vocab_size=50,
    hidden_size=16,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=20,
    max_position_embeddings=12,
    type_vocab_size=2,
)


@pytest.fixture(scope="module")
def model():
    return BertModel(BertConfig(**TINY)).eval()


ids = torch.tensor([[1, 2, 3, 4]])

MODEL_CASES = {
    "list instead of tensor": (dict(input_ids=[[1, 2]]), TypeError, "torch.Tensor"),
    "float ids": (dict(input_ids=ids.float()), TypeError, "integer token ids"),
    "1-d ids": (dict(input_ids=ids[0]), ValueError, "unsqueeze"),
    "empty batch": (
        dict(input_ids=torch.zeros(0, 4, dtype=torch.long)),
        ValueError,
        "empty",
    ),
    "id >= vocab": (
        dict(input_ids=torch.tensor([[1, 50]])),
        ValueError,
        "outside the vocabulary",
    ),
    "negative id": (
        dict(input_ids=torch.tensor([[1, -1]])),
        ValueError,
        "outside the vocabulary",
    ),
    "too long": (
        dict(input_ids=torch.ones(1, 13, dtype=torch.long)),
        ValueError,
        "max_position_embeddings",
    ),
    "mask shape": (
        dict(input_ids=ids, attention_mask=torch.ones(1, 3)),
        ValueError,
        "attention_mask has shape",
    ),
    "mask values": (
        dict(input_ids=ids, attention_mask=torch.full((1, 4), 2)),
        ValueError,
        "only 1",
    ),
    "token types shape": (
        dict(input_ids=ids, token_type_ids=torch.zeros(2, 4, dtype=torch.long)),
        ValueError,
        "token_type_ids has shape",
    ),
    "token type >= type_vocab": (
        dict(input_ids=ids, token_type_ids=torch.full((1, 4), 2)),
        ValueError,
        "segment ids",
    ),
}


@pytest.mark.parametrize("case", MODEL_CASES, ids=list(MODEL_CASES))
def test_model_input_errors(model, case):
    kwargs, error, message = MODEL_CASES[case]
    with pytest.raises(error, match=message):
        model(**kwargs)


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("hidden_size", 17, "divisible"),
        ("num_hidden_layers", 0, "positive"),
        ("vocab_size", -5, "positive"),
        ("hidden_act", "tanhh", "unknown"),
        ("hidden_dropout_prob", 1.5, r"\[0, 1\)"),
        ("pad_token_id", 99, "pad_token_id"),
    ],
)
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
    with pytest.raises(
        CheckpointError, match=r"intermediate\.dense\.\w+ has shape \(20.*expects \(24"
    ):
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
    with pytest.raises(TypeError, match=r"name_or_path must be .*got None"):
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


# --------------------------------------------------------------------------------------
# Beyond the model: the tokenizer, the data loaders, the training loop, QA and
# visualization. Each entry: a call a beginner might write, the exception it must raise,
# and words of the message that say what was wrong or what to do.
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer.from_pretrained("all-MiniLM-L6-v2")


def _tiny_classifier():
    return BertForSequenceClassification(BertConfig(**TINY), num_labels=2)


def _fit(**overrides):
    settings = dict(lr=1e-3, max_steps=1, batch_size=2, progress=False)
    settings.update(overrides.pop("config", {}))
    data = overrides.pop(
        "data",
        [{"input_ids": [1, 2, 3], "label": 0}, {"input_ids": [1, 2], "label": 1}],
    )
    return fit(_tiny_classifier(), data, TrainConfig(**settings))


def _squad_record(text="Paris", start=0, question="Where?"):
    return {
        "id": "q1",
        "question": question,
        "context": "Paris is the capital of France.",
        "answers": {"text": [text], "answer_start": [start]},
    }


def _attentions(T=5):
    return (torch.softmax(torch.randn(1, 2, T, T), -1),)


PACKAGE_CASES = {
    # tokenizer
    "tokenize None": (lambda tok: tok(None), TypeError, "string or a list of strings"),
    "tokenize a number": (lambda tok: tok(5), TypeError, "string or a list of strings"),
    "tokenize an empty batch": (lambda tok: tok([]), ValueError, "empty batch"),
    "None inside a batch": (
        lambda tok: tok(["fine", None]),
        TypeError,
        "must be a string",
    ),
    "pairs of another length": (
        lambda tok: tok(["a", "b"], ["c"]),
        ValueError,
        "2 texts but 1 text pairs",
    ),
    "max_length below 3": (
        lambda tok: tok("hello world", max_length=1),
        ValueError,
        ">= 3",
    ),
    # data loaders
    "unknown data set": (
        lambda tok: data.fetch("imdb", "train"),
        KeyError,
        "choose one of",
    ),
    "unknown split": (lambda tok: data.load_sst2("test"), KeyError, "choose one of"),
    "negative limit": (lambda tok: data.load_sst2("dev", limit=-1), ValueError, ">= 0"),
    # training loop
    "learning rate 0": (
        lambda tok: _fit(config=dict(lr=0)),
        ValueError,
        "weights never change",
    ),
    "learning rate NaN": (
        lambda tok: _fit(config=dict(lr=float("nan"))),
        ValueError,
        "positive number",
    ),
    "batch size 0": (
        lambda tok: _fit(config=dict(batch_size=0)),
        ValueError,
        "batch_size",
    ),
    "negative max_steps": (
        lambda tok: _fit(config=dict(max_steps=-3)),
        ValueError,
        "max_steps",
    ),
    "no training data": (lambda tok: _fit(data=[]), ValueError, "empty"),
    "text labels": (
        lambda tok: ClassificationCollator(tok)(
            [{"sentence": "good", "label": "positive"}]
        ),
        TypeError,
        "integer class ids",
    ),
    # question answering
    "empty question": (
        lambda tok: qa.answer("", "Some context.", None, tok),
        ValueError,
        "non-empty question",
    ),
    "answer_start off": (
        lambda tok: qa.prepare_features([_squad_record(start=3)], tok),
        ValueError,
        "fix answer_start",
    ),
    "answer outside the context": (
        lambda tok: qa.prepare_features([_squad_record(start=500)], tok),
        ValueError,
        "outside its context",
    ),
    "negative stride": (
        lambda tok: qa.prepare_features([_squad_record()], tok, stride=-1),
        ValueError,
        "stride must be >= 0",
    ),
    "no references": (
        lambda tok: qa.squad_metrics({}, {}),
        ValueError,
        "references is empty",
    ),
    # visualization
    "no attention maps": (
        lambda tok: viz.stack_attentions(None),
        ValueError,
        "output_attentions=True",
    ),
    "too many tokens for bertviz": (
        lambda tok: viz.head_view(_attentions(300), ["a"] * 300),
        ValueError,
        "too many",
    ),
    "fewer tokens than positions": (
        lambda tok: viz.head_view(_attentions(5), ["a"] * 4),
        ValueError,
        "one token per position",
    ),
    "layer out of range": (
        lambda tok: viz.plot_head(_attentions(5), ["a"] * 5, layer=3, head=0),
        IndexError,
        "out of range",
    ),
}


@pytest.mark.parametrize("case", PACKAGE_CASES, ids=list(PACKAGE_CASES))
def test_package_input_errors(tokenizer, case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written where the user runs it
    call, error, message = PACKAGE_CASES[case]
    with pytest.raises(error, match=message):
        call(tokenizer)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------
# The rest of the public API (issue 17): config values and files, checkpoint and
# tokenizer files, paths, training settings, labels and targets, metrics, pretraining,
# QA. Each case runs in a workspace of prepared files; the test checks the error, the
# words of its message, and that no file in the workspace was created, changed or
# removed.
# --------------------------------------------------------------------------------------
from types import SimpleNamespace  # noqa: E402

import bertmini  # noqa: E402
from bertmini import BertForQuestionAnswering, classification, pretraining  # noqa: E402
from bertmini.train import evaluate_loss, load_checkpoint, predict, save_checkpoint  # noqa: E402

NO_CUDA = not torch.cuda.is_available()


def _config(**overrides):
    return BertConfig(**{**TINY, **overrides})


@pytest.fixture()
def workspace(tmp_path, tokenizer):
    """Files a student might have lying around: a checkpoint, an earlier run, broken files."""
    ws = SimpleNamespace(root=tmp_path)
    torch.manual_seed(0)
    ws.ckpt = BertModel(BertConfig(**TINY)).save_pretrained(tmp_path / "ckpt")
    ws.bad_json = tmp_path / "bad_json"
    shutil.copytree(ws.ckpt, ws.bad_json)
    (ws.bad_json / "config.json").write_text("{not json", encoding="utf-8")
    ws.latin1 = tmp_path / "latin1"
    shutil.copytree(ws.ckpt, ws.latin1)
    (ws.latin1 / "config.json").write_bytes('{"hidden_act": "gélu"}'.encode("latin-1"))
    ws.list_json = tmp_path / "list.json"
    ws.list_json.write_text("[1, 2]", encoding="utf-8")
    ws.tok_corrupt = tmp_path / "tok_corrupt"
    ws.tok_corrupt.mkdir()
    (ws.tok_corrupt / "tokenizer.json").write_text(
        '{"version": "1.0", "model": 3}', encoding="utf-8"
    )
    ws.tok_latin1 = tmp_path / "tok_latin1" / "tokenizer.json"
    ws.tok_latin1.parent.mkdir()
    ws.tok_latin1.write_bytes(b'{"model": "\xe9"}')
    ws.vocab = tmp_path / "vocab.txt"
    ws.vocab.write_text("hello\nworld\n", encoding="utf-8")
    ws.a_file = tmp_path / "notes.txt"
    ws.a_file.write_text("my notes\n", encoding="utf-8")
    ws.runs = tmp_path / "runs"  # an earlier run's checkpoint
    save_checkpoint(ws.runs, 1, BertModel(BertConfig(**TINY)), {"step": 1})
    return ws


def _snapshot(root):
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
        for p in root.rglob("*")
    }


def _records(n=2):
    return [
        {"sentence": "good movie", "label": 1},
        {"sentence": "bad movie", "label": 0},
    ][:n]


def _evaluate_empty(tok):
    clf = _tiny_classifier()
    return classification.evaluate(clf, [], ClassificationCollator(tok, max_length=12))


RELIABILITY_CASES = {
    # configs: finite numbers, real label fields, readable files
    "config dropout NaN": (
        lambda tok, ws: _config(hidden_dropout_prob=float("nan")),
        ValueError,
        "hidden_dropout_prob must be a finite number",
    ),
    "config eps inf": (
        lambda tok, ws: _config(layer_norm_eps=float("inf")),
        ValueError,
        "layer_norm_eps must be a finite number",
    ),
    "config init range as a string": (
        lambda tok, ws: _config(initializer_range="0.02"),
        TypeError,
        "initializer_range must be a number",
    ),
    "config dropout as a string": (
        lambda tok, ws: _config(attention_probs_dropout_prob="0.1"),
        TypeError,
        "attention_probs_dropout_prob must be a number",
    ),
    "config num_labels 0": (
        lambda tok, ws: _config(num_labels=0),
        ValueError,
        "num_labels must be an integer >= 1",
    ),
    "config id2label with a gap": (
        lambda tok, ws: _config(id2label={0: "a", 2: "b"}),
        ValueError,
        "classes 0..n-1",
    ),
    "config id2label vs num_labels": (
        lambda tok, ws: _config(num_labels=3, id2label=["a", "b"]),
        ValueError,
        "names 2 classes but num_labels is 3",
    ),
    "config problem type typo": (
        lambda tok, ws: _config(problem_type="regresion"),
        ValueError,
        "problem_type must be one of",
    ),
    "config from a list": (
        lambda tok, ws: BertConfig.from_dict([1, 2]),
        TypeError,
        "expects a dict",
    ),
    "config file missing": (
        lambda tok, ws: BertConfig.from_json_file(ws.root / "nope.json"),
        FileNotFoundError,
        "nope.json does not exist",
    ),
    "config file not JSON": (
        lambda tok, ws: BertConfig.from_json_file(ws.bad_json / "config.json"),
        ValueError,
        "is not valid JSON",
    ),
    "config file not UTF-8": (
        lambda tok, ws: BertConfig.from_json_file(ws.latin1 / "config.json"),
        ValueError,
        "is not UTF-8",
    ),
    "config file holds a list": (
        lambda tok, ws: BertConfig.from_json_file(ws.list_json),
        ValueError,
        "expected an object",
    ),
    # checkpoints: paths, corrupt files, refused targets
    "missing local dir": (
        lambda tok, ws: BertModel.from_pretrained("./no-such-model"),
        PretrainedNotFoundError,
        "does not exist: no such local directory",
    ),
    "missing Path object": (
        lambda tok, ws: BertModel.from_pretrained(ws.root / "gone"),
        PretrainedNotFoundError,
        "does not exist",
    ),
    "missing ~ path": (
        lambda tok, ws: BertModel.from_pretrained("~/no-such-bertmini-model"),
        PretrainedNotFoundError,
        "does not exist",
    ),
    "checkpoint config not JSON": (
        lambda tok, ws: BertModel.from_pretrained(ws.bad_json),
        CheckpointError,
        "not valid JSON",
    ),
    "checkpoint config not UTF-8": (
        lambda tok, ws: BertModel.from_pretrained(ws.latin1),
        CheckpointError,
        "not UTF-8",
    ),
    "save into .": (
        lambda tok, ws: BertModel(BertConfig(**TINY)).save_pretrained("."),
        ValueError,
        "current, home or root directory",
    ),
    "save into ''": (
        lambda tok, ws: BertModel(BertConfig(**TINY)).save_pretrained(""),
        ValueError,
        "empty path",
    ),
    "save onto a file": (
        lambda tok, ws: BertModel(BertConfig(**TINY)).save_pretrained(ws.a_file),
        NotADirectoryError,
        "is a file",
    ),
    "save to None": (
        lambda tok, ws: BertModel(BertConfig(**TINY)).save_pretrained(None),
        TypeError,
        "must be a path",
    ),
    # tokenizer files and arguments
    "corrupt tokenizer.json": (
        lambda tok, ws: Tokenizer.from_pretrained(ws.tok_corrupt),
        ValueError,
        "corrupt or not a tokenizers JSON",
    ),
    "tokenizer.json not UTF-8": (
        lambda tok, ws: Tokenizer.from_pretrained(ws.tok_latin1),
        ValueError,
        "is not UTF-8",
    ),
    "vocab.txt without specials": (
        lambda tok, ws: Tokenizer.from_pretrained(ws.vocab),
        ValueError,
        "special tokens",
    ),
    "missing tokenizer file": (
        lambda tok, ws: Tokenizer.from_pretrained("./nope/tokenizer.json"),
        PretrainedNotFoundError,
        "does not exist",
    ),
    "stride as large as a window": (
        lambda tok, ws: tok(
            "a b c d e f", max_length=6, stride=4, return_overflowing_tokens=True
        ),
        ValueError,
        "stride must be smaller",
    ),
    "negative tokenizer stride": (
        lambda tok, ws: tok("a b", stride=-1),
        ValueError,
        "stride must be an integer >= 0",
    ),
    "stride as a string": (
        lambda tok, ws: tok("a b", stride="2"),
        TypeError,
        "stride must be an integer",
    ),
    "max_length True": (
        lambda tok, ws: tok("a b", max_length=True),
        ValueError,
        "max_length",
    ),
    "decode float ids": (
        lambda tok, ws: tok.decode(torch.tensor([1.0, 2.0])),
        TypeError,
        "integer token ids",
    ),
    "decode an unknown id": (
        lambda tok, ws: tok.decode([101, 10**6]),
        ValueError,
        "outside the vocabulary",
    ),
    "tokenizer save into .": (
        lambda tok, ws: tok.save_pretrained("."),
        ValueError,
        "current, home or root",
    ),
    "train on one string": (
        lambda tok, ws: Tokenizer.train("some text", vocab_size=50),
        TypeError,
        "got one string",
    ),
    # heads: labels and targets
    "negative class label": (
        lambda tok, ws: _tiny_classifier()(ids, labels=torch.tensor([-3])),
        ValueError,
        r"outside \[0, 2\)",
    ),
    "regression target shape": (
        lambda tok, ws: BertForSequenceClassification(BertConfig(**TINY), num_labels=1)(
            ids.repeat(2, 1), labels=torch.zeros(2, 2)
        ),
        ValueError,
        "regression labels have shape",
    ),
    "regression target NaN": (
        lambda tok, ws: BertForSequenceClassification(BertConfig(**TINY), num_labels=1)(
            ids, labels=torch.tensor([float("nan")])
        ),
        ValueError,
        "NaN or inf",
    ),
    "QA positions shape": (
        lambda tok, ws: BertForQuestionAnswering(BertConfig(**TINY))(
            ids,
            start_positions=torch.tensor([1, 2]),
            end_positions=torch.tensor([1, 2]),
        ),
        ValueError,
        "start_positions has shape",
    ),
    "classifier from a dict": (
        lambda tok, ws: BertForSequenceClassification(TINY),
        TypeError,
        "expects a BertConfig",
    ),
    # training settings and files
    "weight decay NaN": (
        lambda tok, ws: TrainConfig(weight_decay=float("nan")),
        ValueError,
        "weight_decay must be a finite number",
    ),
    "lr as a string": (
        lambda tok, ws: TrainConfig(lr="1e-3"),
        TypeError,
        "lr .*must be a number",
    ),
    "warmup ratio inf": (
        lambda tok, ws: TrainConfig(warmup_ratio=float("inf")),
        ValueError,
        "warmup_ratio must be a finite number",
    ),
    "grad norm NaN": (
        lambda tok, ws: TrainConfig(max_grad_norm=float("nan")),
        ValueError,
        "max_grad_norm",
    ),
    "checkpoint_dir .": (
        lambda tok, ws: TrainConfig(checkpoint_dir="."),
        ValueError,
        "current, home or root",
    ),
    "evaluate_loss of nothing": (
        lambda tok, ws: evaluate_loss(_tiny_classifier(), []),
        ValueError,
        "data is empty",
    ),
    "predict nothing": (
        lambda tok, ws: predict(_tiny_classifier(), []),
        ValueError,
        "data is empty",
    ),
    "resume from a missing dir": (
        lambda tok, ws: fit(
            _tiny_classifier(),
            [{"input_ids": [1]}],
            TrainConfig(progress=False),
            resume_from=ws.root / "nothing",
        ),
        FileNotFoundError,
        "does not exist",
    ),
    "fresh fit into an earlier run": (
        lambda tok, ws: _fit(config=dict(checkpoint_dir=str(ws.runs))),
        FileExistsError,
        "earlier run.*resume=True",
    ),
    "load a missing checkpoint": (
        lambda tok, ws: load_checkpoint(ws.root / "none", _tiny_classifier()),
        FileNotFoundError,
        "does not exist",
    ),
    # classification metrics and helpers
    "metrics with label -1": (
        lambda tok, ws: classification.classification_metrics([0, -1], [0, 1], 2),
        ValueError,
        r"y_true contains -1, outside \[0, 2\)",
    ),
    "metrics with label 2": (
        lambda tok, ws: classification.classification_metrics([0, 1], [0, 2], 2),
        ValueError,
        r"y_pred contains 2",
    ),
    "macro F1 of nothing": (
        lambda tok, ws: classification.macro_f1([]),
        ValueError,
        "non-empty square matrix",
    ),
    "evaluate no records": (
        lambda tok, ws: _evaluate_empty(tok),
        ValueError,
        "at least one",
    ),
    "pairs of another length": (
        lambda tok, ws: classification.predict(
            _tiny_classifier(), tok, ["a", "b"], ["c"]
        ),
        ValueError,
        "2 texts but 1 text_pairs",
    ),
    "collator max_length string": (
        lambda tok, ws: ClassificationCollator(tok, max_length="128"),
        TypeError,
        "max_length must be an integer",
    ),
    # pretraining
    "mlm probability NaN": (
        lambda tok, ws: pretraining.mask_tokens(
            torch.tensor([[101, 2000, 102]]), tok, float("nan")
        ),
        ValueError,
        "mlm_probability must be a finite number",
    ),
    "mlm probability string": (
        lambda tok, ws: pretraining.MLMCollator(tok, "0.15"),
        TypeError,
        "mlm_probability must be a number",
    ),
    "fill_mask k=0": (
        lambda tok, ws: pretraining.fill_mask(None, tok, "a [MASK]", k=0),
        ValueError,
        "k must be an integer >= 1",
    ),
    "fill_mask of None": (
        lambda tok, ws: pretraining.fill_mask(None, tok, None),
        TypeError,
        "text must be a string",
    ),
    "nsp pairs of one text": (
        lambda tok, ws: pretraining.make_nsp_pairs("One. Two.", tok),
        TypeError,
        "wrap it in a list",
    ),
    "mlm collate nothing": (
        lambda tok, ws: pretraining.MLMCollator(tok)([]),
        ValueError,
        "empty batch",
    ),
    # question answering
    "question None": (
        lambda tok, ws: qa.answer(None, "Some context.", None, tok),
        TypeError,
        "question must be a string",
    ),
    "scored predictions": (
        lambda tok, ws: qa.squad_metrics({"q": {"text": "a"}}, {"q": ["a"]}),
        TypeError,
        "must be the answer text",
    ),
    "references as a list": (
        lambda tok, ws: qa.squad_metrics({"q": "a"}, [["a"]]),
        TypeError,
        "dicts keyed by question id",
    ),
    "one record, not a list": (
        lambda tok, ws: qa.prepare_features(_squad_record(), tok),
        TypeError,
        "wrap a single record in a list",
    ),
    "n_best 0": (
        lambda tok, ws: qa.postprocess(
            qa.prepare_features([_squad_record()], tok),
            [[0.0]],
            [[0.0]],
            [_squad_record()],
            n_best=0,
        ),
        ValueError,
        "n_best must be an integer >= 1",
    ),
    "QA stride as a string": (
        lambda tok, ws: qa.prepare_features([_squad_record()], tok, stride="8"),
        TypeError,
        "stride must be an integer",
    ),
    # devices
    "device 'gpu'": (
        lambda tok, ws: bertmini.get_device("gpu"),
        ValueError,
        "unknown device 'gpu'",
    ),
    "device as a number": (
        lambda tok, ws: bertmini.get_device(0),
        TypeError,
        "device must be a string",
    ),
}
if NO_CUDA:
    RELIABILITY_CASES["device cuda without a GPU"] = (
        lambda tok, ws: _fit(config=dict(device="cuda")),
        RuntimeError,
        "no CUDA GPU is available",
    )


@pytest.mark.parametrize("case", RELIABILITY_CASES, ids=list(RELIABILITY_CASES))
def test_reliability_errors(tokenizer, workspace, case, monkeypatch):
    monkeypatch.chdir(workspace.root)
    before = _snapshot(workspace.root)
    call, error, message = RELIABILITY_CASES[case]
    with pytest.raises(error, match=message):
        call(tokenizer, workspace)
    assert _snapshot(workspace.root) == before, "a refused call changed files on disk"


# --------------------------------------------------------------------------------------
# The exercise checker never raises because of the answer: whatever a student passes
# ends in ✗ (or ⏸) with a reason, and the notebook keeps running.
# --------------------------------------------------------------------------------------
class WeirdEquality:
    def __eq__(self, other):
        raise RuntimeError("no comparing me")

    __hash__ = object.__hash__


def _numpy_attention(q, k, v, mask=None):
    import numpy as np

    scores = q.numpy() @ k.numpy().swapaxes(-1, -2) / np.sqrt(q.shape[-1])
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    return (weights / weights.sum(-1, keepdims=True)) @ v.numpy()


def _raise(exc):
    def answer(*args, **kwargs):
        raise exc

    return answer


CHECKER_ANSWERS = {
    "a numpy array for a value": (
        "attention_by_hand",
        __import__("numpy").array([0.2, 0.3, 0.5]),
        "✗",
    ),
    "a list of strings": ("attention_by_hand", ["a", "b", "c"], "✗"),
    "a number for a function": ("attention", 3.0, "expected a function"),
    "an answer that raises": (
        "attention",
        _raise(ZeroDivisionError("oops")),
        "raised ZeroDivisionError",
    ),
    "an answer that calls exit()": ("attention", _raise(SystemExit(1)), "called exit"),
    "a value that raises": (
        "qa_f1_by_hand",
        _raise(ValueError("bad")),
        "raised ValueError",
    ),
    "an unfinished value": (
        "qa_f1_by_hand",
        _raise(NotImplementedError),
        "not attempted",
    ),
    "a numpy result that ignores the mask": ("attention", _numpy_attention, "✗"),
    "a right numpy number": (
        "mha_parameters",
        lambda h: __import__("numpy").int64(
            __import__("bertmini.exercises", fromlist=["EXERCISES"])
            .EXERCISES["mha_parameters"]
            .reference(h)
        ),
        "✓",
    ),
    "the wrong shape": ("attention", lambda q, k, v, mask=None: v[..., :1], "✗"),
    "an object that cannot be compared": (
        "attention",
        lambda q, k, v, mask=None: WeirdEquality(),
        "✗",
    ),
    "a complex tensor": (
        "attention",
        lambda q, k, v, mask=None: v.to(torch.complex64),
        "✗",
    ),
    "a ragged list": ("mean_entropy", lambda attn, mask: [[1.0], [1.0, 2.0]], "✗"),
    "a generator": ("normalize_answer", lambda text: (c for c in text), "✗"),
}


@pytest.mark.parametrize("case", CHECKER_ANSWERS, ids=list(CHECKER_ANSWERS))
def test_checker_never_raises_because_of_the_answer(case, capsys):
    from bertmini.exercises import check

    name, answer, words = CHECKER_ANSWERS[case]
    result = check(name, answer)
    out = capsys.readouterr().out
    assert words in out
    assert result is (words == "✓")


def test_numpy_numbers_count_as_numbers_and_bools_do_not():
    """A value from a NumPy array (np.int64, np.float32) is a number a student really
    passes; a bool, NumPy's included, is not an integer."""
    import numpy as np

    from bertmini._validate import check_int, check_number

    check_int("k", np.int64(3), minimum=1)
    check_number("lr", np.float32(1e-4), 0.0, low_open=True)
    for flag in (True, np.bool_(True)):
        with pytest.raises(TypeError, match="k must be an integer"):
            check_int("k", flag)
        with pytest.raises(TypeError, match="lr must be a number"):
            check_number("lr", flag)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        check_int("k", np.int64(0), minimum=1)
    with pytest.raises(ValueError, match="finite"):
        check_number("lr", np.float64("nan"))


def test_a_flag_must_be_a_bool_not_a_truthy_string():
    import numpy as np

    from bertmini._validate import check_bool

    check_bool("shuffle", True)
    check_bool("shuffle", np.bool_(False))
    check_bool("shuffle", None, optional=True)
    for wrong in ("no", "false", 0, 1.0, None):
        with pytest.raises(TypeError, match="shuffle must be True or False"):
            check_bool("shuffle", wrong)
