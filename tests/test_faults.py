"""Fault injection: a crash at any step of overwriting a checkpoint leaves a loadable
checkpoint (the old one or the new one, whole), and a second run never removes the first
run's files."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import safetensors.torch
import torch

from bertmini import (
    BertConfig,
    BertForSequenceClassification,
    BertModel,
    Tokenizer,
    _validate,
)
from bertmini.train import TrainConfig, fit, latest_checkpoint

REPO = Path(__file__).resolve().parents[1]
TINY = dict(
    vocab_size=50,
    hidden_size=16,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=20,
    max_position_embeddings=12,
    type_vocab_size=2,
)


def model_filled(value: float) -> BertModel:
    model = BertModel(BertConfig(**TINY))
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)
    return model


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# Every call that writes, syncs, links or renames on the way to a new checkpoint
# directory.
WRITE_STEPS = [
    (tempfile, "mkdtemp"),
    (json, "dump"),
    (safetensors.torch, "save_file"),
    (os, "fsync"),
    (os, "link"),
    (shutil, "copy2"),
    (os, "replace"),
    (_validate, "_exchange"),
    (Tokenizer, "write_files"),
]


class Counter:
    """Wraps every WRITE_STEPS function; the `fail_at`-th call (0-based) raises
    OSError."""

    def __init__(self, monkeypatch, fail_at: int | None):
        self.calls, self.fail_at = [], fail_at
        for owner, name in WRITE_STEPS:
            monkeypatch.setattr(owner, name, self.wrap(getattr(owner, name), f"{name}"))

    def wrap(self, fn, label):
        def wrapped(*args, **kwargs):
            self.calls.append(label)
            if self.fail_at is not None and len(self.calls) - 1 == self.fail_at:
                raise OSError(f"simulated failure in {label}")
            return fn(*args, **kwargs)

        return wrapped


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.from_pretrained("all-MiniLM-L6-v2")


def test_a_failure_at_every_write_step_leaves_a_loadable_checkpoint(
    tmp_path, monkeypatch, tok
):
    target = tmp_path / "model"
    model_filled(1.0).save_pretrained(target, tokenizer=tok)
    (target / "README.md").write_text("the user's notes\n", encoding="utf-8")
    old = tree(target)

    with monkeypatch.context() as m:  # how many write steps does one overwrite take?
        counter = Counter(m, fail_at=None)
        model_filled(2.0).save_pretrained(target, tokenizer=tok)
    steps = list(counter.calls)
    assert {"save_file", "fsync"} <= set(steps) and len(steps) > 6
    new = tree(target)
    assert new != old and new["README.md"] == old["README.md"]

    # Each failure point, then again after the saves that succeeded.
    for value in (3.0, 4.0):
        for k, label in enumerate(steps):
            before = tree(target)
            with monkeypatch.context() as m:
                Counter(m, fail_at=k)
                try:
                    model_filled(value).save_pretrained(target, tokenizer=tok)
                    failed = False
                except OSError as e:
                    assert "simulated failure" in str(e)
                    failed = True
            after = tree(target)
            # Either nothing changed, or the whole new checkpoint is in place.
            loaded = BertModel.from_pretrained(target)
            weights = {float(p.detach().flatten()[0]) for p in loaded.parameters()}
            assert Tokenizer.from_pretrained(target).vocab_size == tok.vocab_size
            assert after["README.md"] == b"the user's notes\n"
            if failed:
                assert after == before, (
                    f"failure at step {k} ({label}) changed the checkpoint"
                )
            else:
                assert weights == {value}
            assert [p.name for p in tmp_path.iterdir()] == ["model"], (
                f"step {k} left a temp dir"
            )


CHILD = """
import sys, torch
from bertmini import BertConfig, BertModel, Tokenizer
tok = Tokenizer.from_pretrained("all-MiniLM-L6-v2")
model = BertModel(BertConfig(vocab_size=512, hidden_size=256, num_hidden_layers=4,
                             num_attention_heads=4, intermediate_size=1024))
step = 0
while True:
    step += 1
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(step)
    model.save_pretrained(sys.argv[1], tokenizer=tok)
    print(step, flush=True)
"""


def test_a_process_killed_while_overwriting_leaves_a_loadable_checkpoint(tmp_path):
    target = tmp_path / "model"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(target)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    killed_mid_write = False
    try:
        # A first complete checkpoint exists
        assert child.stdout.readline().strip() == "1"
        deadline = time.time() + 60
        while time.time() < deadline and not killed_mid_write:
            tmp = [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
            if tmp and any(
                f.exists() and f.stat().st_size > 0 for t in tmp for f in t.glob("*")
            ):
                child.send_signal(signal.SIGKILL)
                killed_mid_write = True
            time.sleep(0.001)
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert killed_mid_write
    loaded = BertModel.from_pretrained(target)
    values = {float(p.detach().flatten()[0]) for p in loaded.parameters()}
    assert len(values) == 1  # one whole checkpoint, not a mix of two
    Tokenizer.from_pretrained(target)


def tiny_classifier():
    torch.manual_seed(0)
    return BertForSequenceClassification(BertConfig(**TINY), num_labels=2)


DATA = [
    {"input_ids": torch.tensor([1, 2, 3]), "labels": torch.tensor(i % 2)}
    for i in range(8)
]


def test_a_second_fit_into_the_same_folder_keeps_the_first_runs_files(tmp_path):
    folder = tmp_path / "runs"
    config = TrainConfig(
        lr=1e-3,
        max_steps=2,
        batch_size=4,
        progress=False,
        checkpoint_dir=str(folder),
        device="cpu",
    )
    fit(tiny_classifier(), DATA, config)
    first = tree(folder)
    assert latest_checkpoint(folder).name == "step-00000002"

    with pytest.raises(FileExistsError, match="earlier run"):
        fit(tiny_classifier(), DATA, config)
    assert tree(folder) == first

    # Asked to, it resumes that run instead, and a user's file in the folder survives.
    (folder / "notes.txt").write_text("keep me\n", encoding="utf-8")
    more = TrainConfig(**{**config.__dict__, "max_steps": 4})
    history = fit(tiny_classifier(), DATA, more, resume=True)
    assert history.step == [1, 2, 3, 4]
    assert (folder / "notes.txt").read_text(encoding="utf-8") == "keep me\n"
    assert latest_checkpoint(folder).name == "step-00000004"


def test_building_models_never_changes_the_config():
    config = BertConfig(**TINY)
    before = config.to_dict()
    three = BertForSequenceClassification(config, num_labels=3)
    named = BertForSequenceClassification(config, id2label=["neg", "pos"])
    BertModel(config)
    assert config.to_dict() == before
    assert three.config.num_labels == 3 and named.config.id2label == {
        0: "neg",
        1: "pos",
    }
    # And a later change to it does not reach the models
    config.hidden_dropout_prob = 0.5
    assert three.config.hidden_dropout_prob == 0.1


def test_label_fields_survive_a_save_and_load(tmp_path):
    model = BertForSequenceClassification(
        BertConfig(**TINY), id2label=["neg", "neu", "pos"]
    )
    model.save_pretrained(tmp_path / "clf")
    saved = json.loads((tmp_path / "clf" / "config.json").read_text())
    assert (
        saved["id2label"] == {"0": "neg", "1": "neu", "2": "pos"}
        and "num_labels" not in saved
    )
    loaded = BertForSequenceClassification.from_pretrained(tmp_path / "clf")
    assert loaded.config.num_labels == 3 and loaded.config.label2id == {
        "neg": 0,
        "neu": 1,
        "pos": 2,
    }
    two = BertForSequenceClassification.from_pretrained(tmp_path / "clf", num_labels=3)
    assert two.config.id2label == {0: "neg", 1: "neu", 2: "pos"}


def test_a_batch_without_a_masked_token_has_zero_loss_not_nan():
    from bertmini import BertForMaskedLM

    model = BertForMaskedLM(BertConfig(**TINY))
    ids = torch.tensor([[1, 2, 3]])
    for all_logits in (False, True):
        out = model(ids, labels=torch.full_like(ids, -100), all_logits=all_logits)
        assert out.loss.item() == 0.0
        out.loss.backward()  # still part of the graph
