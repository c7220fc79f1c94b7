"""The recipe that leaves the plateau, its long run, and the model shipped from it."""

from __future__ import annotations

import json
import os
import random
import sys
import types

import pytest
import torch

from bertmini import BertForMaskedLM, Tokenizer
from bertmini.files import sha256_file
from bertmini.pretraining import (
    IGNORE_INDEX,
    RECIPES,
    SHIPPED_DIR,
    load_measurements,
    load_run,
    make_mlm_windows,
    recipe,
    record_steps,
    run_long,
    shuffle_visible_tokens,
    small_bert,
)


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.from_pretrained("all-MiniLM-L6-v2")


def test_shuffle_moves_only_the_visible_ordinary_tokens(tok):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, tok.vocab_size, (4, 30), generator=g)
    ids[:, 0], ids[:, -1], ids[1, 20:] = tok.cls_token_id, tok.sep_token_id, 0
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[:, 5] = ids[:, 5]
    ids[:, 5] = tok.mask_token_id
    out = shuffle_visible_tokens(ids, labels, tok, torch.Generator().manual_seed(1))
    fixed = (labels != IGNORE_INDEX) | torch.isin(
        ids, torch.tensor(sorted(tok.special_token_ids))
    )
    assert torch.equal(out[fixed], ids[fixed])  # masks, specials, padding stay
    for row in range(4):  # the same words, in another order
        assert sorted(out[row].tolist()) == sorted(ids[row].tolist())
    assert not torch.equal(out, ids)


def test_mlm_windows_cover_each_article_without_crossing_it(tok):
    docs = [
        {"title": "a", "paragraphs": ["one two three " * 40]},
        {"title": "b", "paragraphs": ["four five " * 30, "six seven"]},
    ]
    windows = make_mlm_windows(docs, tok, max_length=32)
    assert all(len(w["input_ids"]) <= 32 for w in windows)
    assert all(
        w["input_ids"][0] == tok.cls_token_id and w["input_ids"][-1] == tok.sep_token_id
        for w in windows
    )
    words = [tok.convert_ids_to_tokens(w["input_ids"][1:-1]) for w in windows]
    assert not any({"three", "four"} <= set(w) for w in words)  # one article each
    assert sum(len(w) for w in words) >= 120 + 60 - 30 // 4


def test_recipes_and_record_points():
    alibi = recipe("alibi")
    assert (
        alibi["config"].alibi and not alibi["nsp"] and alibi["mlm_probability"] == 0.4
    )
    bert = recipe("bert", steps=10)
    assert not bert["config"].alibi and bert["nsp"] and bert["steps"] == 10
    assert set(RECIPES) == {"bert", "alibi"}
    with pytest.raises(ValueError, match="recipe"):
        recipe("roberta")
    points = record_steps(6000)
    assert 7 <= len(points) <= 9 and points[-1] == 6000 and points == sorted(points)
    with pytest.raises(ValueError, match="steps"):
        record_steps(0)


def fake_wikitext(monkeypatch):
    rng = random.Random(0)
    words = "the a game war city river music film team song king album army".split()
    records = [
        {
            "title": f"t{d}",
            "paragraphs": [
                " ".join(rng.choices(words, k=14))
                + " . "
                + " ".join(rng.choices(words, k=9))
                + " ."
                for _ in range(5)
            ],
        }
        for d in range(12)
    ]
    monkeypatch.setitem(
        sys.modules,
        "bertmini.data",
        types.SimpleNamespace(load_wikitext2=lambda s: records),
    )


def test_run_long_writes_a_complete_folder_and_never_overwrites(tmp_path, monkeypatch):
    fake_wikitext(monkeypatch)
    import bertmini.pretraining as pt

    small = {**pt.RECIPES["alibi"]["config_changes"], "hidden_size": 32}
    small["intermediate_size"] = 64
    monkeypatch.setitem(
        pt.RECIPES, "alibi", {**pt.RECIPES["alibi"], "config_changes": small}
    )
    out = tmp_path / "run"
    folder = run_long(out, "alibi", steps=6, progress=False)
    names = {p.name for p in folder.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "vocab.txt",
        "history.json",
        "records.json",
        "manifest.json",
    } <= names
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temporary left
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["steps"] == 6 and manifest["threads"] == 1
    assert manifest["machine"]["processor"] and manifest["machine"]["cpus"] >= 1
    assert manifest["sha256"]["model.safetensors"] == sha256_file(
        folder / "model.safetensors"
    )
    records = json.loads((folder / "records.json").read_text())
    assert [r["step"] for r in records] == record_steps(6)
    r = records[-1]
    assert r["context_gap"] == pytest.approx(r["mlm_accuracy"] - r["shuffled_accuracy"])
    assert len(r["probes"]) == 4 and len(r["probes"][0]["top5"]) == 5
    assert len(r["heads"]["prev"]) == 2  # layers
    model, tokenizer, history = load_run(folder)
    assert model.config.alibi and history.step[-1] == 6
    assert load_measurements(folder) == (records, manifest)
    before = (folder / "model.safetensors").read_bytes()
    with pytest.raises(FileExistsError, match="already exists"):
        run_long(out, "alibi", steps=6, progress=False)
    assert (folder / "model.safetensors").read_bytes() == before

    # Bad settings are refused before any data is read or file written
    def no_reading(*args, **kwargs):
        raise AssertionError("the data was read before the settings were checked")

    monkeypatch.setattr(pt, "load_documents", no_reading)
    for bad in (dict(steps=0), dict(steps="6"), dict(seed=-1), dict(threads=0)):
        with pytest.raises((TypeError, ValueError), match=next(iter(bad))):
            run_long(tmp_path / "bad", "alibi", progress=False, **{"steps": 6, **bad})
        assert not (tmp_path / "bad").exists()
    with pytest.raises(ValueError, match="recipe"):
        run_long(tmp_path / "bad", "roberta", steps=6, progress=False)


# ---------------------------------------------------------------- the shipped model
def test_shipped_model_is_complete_and_loads_both_ways():
    manifest = json.loads((SHIPPED_DIR / "manifest.json").read_text())
    assert manifest["sha256"]["model.safetensors"] == sha256_file(
        SHIPPED_DIR / "model.safetensors"
    )
    model, tokenizer, history = small_bert(pretrained="long")
    assert model.config.alibi and history.step[-1] == manifest["steps"]
    mlm = BertForMaskedLM.from_pretrained(SHIPPED_DIR)
    ids = torch.tensor([tokenizer.encode("the war ended in [MASK] .")])
    torch.testing.assert_close(mlm(ids).logits, model(ids).prediction_logits)
    with pytest.raises(ValueError, match="pretrained"):
        small_bert(pretrained="short")


def test_shipped_model_meets_the_targets():
    """Strict accuracy >= 2x the baseline and a context gap >= 5 points, as recorded."""
    last = json.loads((SHIPPED_DIR / "records.json").read_text())[-1]
    assert last["mlm_accuracy"] >= 2 * last["baseline_accuracy"]
    assert last["context_gap"] >= 0.05


REPRODUCE_STEPS = 150


@pytest.mark.skipif(
    os.environ.get("BERTMINI_DATA_MIRROR") is None, reason="needs WikiText-2"
)
def test_the_long_run_reproduces(monkeypatch):
    """Re-run the first steps of the shipped run and compare the losses.

    With one thread, the same seed, data order and masks, the arithmetic is the same
    sequence of float32 operations on every machine; what can differ is how a CPU
    rounds inside fused or vectorized kernels (AVX2 vs AVX-512, FMA, the BLAS build).
    Such differences start at ~1e-7 relative and grow through the updates, but over
    150 steps they stay far below the step-to-step noise of the loss (each batch has
    new masks): we ask for each 25-step mean of the loss to agree within 1%, and the
    whole curve's mean within 0.5%.
    """
    import bertmini.pretraining as pt

    shipped = json.loads((SHIPPED_DIR / "history.json").read_text())
    manifest = json.loads((SHIPPED_DIR / "manifest.json").read_text())
    settings = recipe("alibi", seed=0, steps=manifest["steps"])
    docs = pt.load_documents(pt.OFFLINE_TRAIN_SPLIT)
    tokenizer = pt.train_tokenizer(docs, settings["config"].vocab_size)
    assert tokenizer.vocab == Tokenizer.from_pretrained(SHIPPED_DIR).vocab
    config = settings.pop("config")
    _, history = pt.pretrain(
        pt.new_small_bert(config, 0),
        docs,
        tokenizer,
        stop_after=REPRODUCE_STEPS,
        threads=1,
        progress=False,
        **settings,
    )
    ours = torch.tensor(history.loss)
    theirs = torch.tensor(shipped["loss"][:REPRODUCE_STEPS])
    assert len(ours) == REPRODUCE_STEPS
    windows = ours.view(-1, 25).mean(1), theirs.view(-1, 25).mean(1)
    torch.testing.assert_close(windows[0], windows[1], rtol=0.01, atol=0)
    assert abs(ours.mean() / theirs.mean() - 1) < 0.005


def test_shuffled_context_changes_nothing_for_a_model_that_ignores_it(tok):
    from bertmini.pretraining import evaluate_pretraining

    words = "the a game war city river music film team song king album army".split()
    rng = random.Random(0)
    docs = [
        {
            "title": str(d),
            "paragraphs": [
                " . ".join(" ".join(rng.choices(words, k=9)) for _ in range(8)) + " ."
            ],
        }
        for d in range(6)
    ]

    class Constant(torch.nn.Module):
        """Always predicts the id of "the", whatever it reads."""

        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids, labels=None, next_sentence_label=None, **kw):
            n = int((labels != IGNORE_INDEX).sum())
            logits = torch.zeros(n, tok.vocab_size)
            logits[:, tok.convert_tokens_to_ids("the")] = 1.0
            return types.SimpleNamespace(
                prediction_logits=logits,
                mlm_loss=torch.tensor(1.0),
                seq_relationship_logits=torch.zeros(len(input_ids), 2),
            )

    real = evaluate_pretraining(Constant(), tok, docs, max_length=64)
    shuffled = evaluate_pretraining(
        Constant(), tok, docs, max_length=64, shuffle_context=True
    )
    assert real["mlm_accuracy"] == shuffled["mlm_accuracy"] > 0
    assert real["n_masked"] == shuffled["n_masked"]


def test_load_measurements_reads_the_shipped_run_and_names_a_wrong_folder(tmp_path):
    records, manifest = load_measurements()
    assert [r["step"] for r in records] == record_steps(manifest["steps"])
    with pytest.raises(FileNotFoundError, match="records.json or manifest.json"):
        load_measurements(tmp_path)
