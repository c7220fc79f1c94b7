"""Bad inputs to the pretraining functions: each is refused with an error that names the
argument or file, what was expected and what was given, never an internal error or a
silently wrong result (NaN scores, examples made of single characters)."""

from __future__ import annotations

import json
import shutil
import types

import pytest
import torch

from bertmini import (
    BertConfig,
    BertForMaskedLM,
    BertForPreTraining,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    Tokenizer,
)
from bertmini.pretraining import (
    SHIPPED_DIR,
    evaluate_pretraining,
    fill_mask,
    load_measurements,
    load_run,
    make_mlm_windows,
    make_nsp_pairs,
)

DOCS = [
    {
        "title": "cats",
        "paragraphs": [
            "The cat sat on the mat . It was happy . Then it left the house .",
            "The dog came in . It barked at the door .",
        ],
    },
    {
        "title": "birds",
        "paragraphs": [
            "Dogs bark loudly . They run fast . Birds sing in the morning .",
            "Fish swim in the river . The river is cold .",
        ],
    },
]
EVAL = dict(max_length=32, mlm_probability=0.5)


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.from_pretrained("all-MiniLM-L6-v2")


def tiny_config(vocab_size: int) -> BertConfig:
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )


@pytest.fixture(scope="module")
def model(tok):
    torch.manual_seed(0)
    return BertForPreTraining(tiny_config(tok.vocab_size))


# ---------------------------------------------------------------- 1. documents
def test_paragraphs_as_one_string_are_refused_not_read_by_character(tok):
    docs = [{"paragraphs": "A b. C d."}, {"paragraphs": "E f. G h."}]
    with pytest.raises(
        TypeError, match=r"documents\[0\]\['paragraphs'\] must be a list"
    ):
        make_nsp_pairs(docs, tok)
    with pytest.raises(
        TypeError, match=r"documents\[0\]\['paragraphs'\] must be a list"
    ):
        make_mlm_windows(docs, tok, max_length=8)
    with pytest.raises(TypeError, match=r"documents\[1\]\['paragraphs'\]\[1\] must be"):
        make_nsp_pairs([DOCS[0], {"paragraphs": ["One . Two .", 3]}], tok)


def test_mlm_windows_need_a_non_empty_list_of_records(tok):
    with pytest.raises(TypeError, match=r"documents\[0\] must be a \{'paragraphs'"):
        make_mlm_windows(["The cat sat on the mat."], tok)
    with pytest.raises(TypeError, match="wrap it in a list"):
        make_mlm_windows(DOCS[0], tok)
    with pytest.raises(ValueError, match="documents is empty"):
        make_mlm_windows([], tok)
    with pytest.raises(ValueError, match=r"documents\[1\] needs a 'paragraphs'"):
        make_mlm_windows([DOCS[0], {"text": "x"}], tok)
    assert make_mlm_windows(DOCS, tok, max_length=8)  # records still work


def test_nsp_pairs_still_take_texts_and_sentence_lists(tok):
    texts = [" ".join(d["paragraphs"]) for d in DOCS]
    sentences = [t.split(" . ") for t in texts]
    assert make_nsp_pairs(texts, tok, max_length=16)
    assert make_nsp_pairs(sentences, tok, max_length=16)
    with pytest.raises(TypeError, match=r"documents\[1\] must be a text"):
        make_nsp_pairs([texts[0], 7], tok)


# ---------------------------------------------------------------- 2. non-finite logits
def test_nan_model_is_refused_not_scored(tok):
    torch.manual_seed(0)
    broken = BertForPreTraining(tiny_config(tok.vocab_size))
    with torch.no_grad():
        broken.bert.embeddings.word_embeddings.weight.fill_(float("nan"))
    with pytest.raises(ValueError, match="NaN or infinite logits"):
        evaluate_pretraining(broken, tok, DOCS, **EVAL)
    with pytest.raises(ValueError, match="NaN or infinite logits"):
        fill_mask(broken, tok, "The [MASK] sat on the mat .")


def test_nan_next_sentence_logits_are_refused(tok):
    class NaNSentences(torch.nn.Module):
        """Finite token logits, NaN next-sentence logits (argmax would say IsNext)."""

        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids, labels=None, next_sentence_label=None, **kw):
            n = int((labels != -100).sum())
            return types.SimpleNamespace(
                prediction_logits=torch.zeros(n, tok.vocab_size),
                mlm_loss=torch.tensor(1.0),
                seq_relationship_logits=torch.full((len(input_ids), 2), float("nan")),
            )

    with pytest.raises(ValueError, match="NaN or infinite logits"):
        evaluate_pretraining(NaNSentences(), tok, DOCS, **EVAL)


# ---------------------------------------------------------------- 3. not an MLM model
@pytest.mark.parametrize(
    "make",
    [
        lambda c: BertForTokenClassification(c, num_labels=3),
        lambda c: BertForSequenceClassification(c, num_labels=2),
        lambda c: BertModel(c),
    ],
    ids=["token classifier", "sequence classifier", "encoder"],
)
def test_fill_mask_and_evaluate_refuse_a_model_without_an_mlm_head(tok, make):
    other = make(tiny_config(tok.vocab_size))
    with pytest.raises(
        TypeError, match="masked language model.*got " + type(other).__name__
    ):
        fill_mask(other, tok, "The [MASK] sat .", k=2)
    with pytest.raises(TypeError, match="masked language model"):
        evaluate_pretraining(other, tok, DOCS, **EVAL)


def test_outputs_that_are_not_vocabulary_logits_are_refused(tok, model):
    class Labels(torch.nn.Module):
        """A module whose logits score 3 labels, not the vocabulary."""

        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids):
            return types.SimpleNamespace(logits=torch.zeros(*input_ids.shape, 3))

    with pytest.raises(ValueError, match="scores 3 classes per position"):
        fill_mask(Labels(), tok, "The [MASK] sat .")
    small = BertForPreTraining(tiny_config(100))
    with pytest.raises(ValueError, match="vocabulary of 100 tokens"):
        fill_mask(small, tok, "The [MASK] sat .")
    with pytest.raises(ValueError, match="vocabulary of 100 tokens"):
        evaluate_pretraining(small, tok, DOCS, **EVAL)


def test_evaluate_scores_an_mlm_only_model_on_mlm_alone(tok, model):
    """BertForMaskedLM with the same encoder and MLM head scores the same masked tokens
    exactly as the BertForPreTraining does; it has no NSP to report."""
    mlm = BertForMaskedLM(tiny_config(tok.vocab_size))
    mlm.load_state_dict(model.state_dict(), strict=False)  # all but pooler and NSP
    full = evaluate_pretraining(model, tok, DOCS, **EVAL)
    alone = evaluate_pretraining(mlm, tok, DOCS, **EVAL)
    for key in ("mlm_accuracy", "baseline_accuracy", "baseline_token", "n_masked"):
        assert alone[key] == full[key]
    assert alone["mlm_loss"] == pytest.approx(full["mlm_loss"])
    assert alone["nsp_accuracy"] is None and alone["nsp_ci95"] is None
    assert alone["n_nsp"] == 0 and full["n_nsp"] > 0


# ---------------------------------------------------------------- 4. run folders
@pytest.fixture
def run_dir(tmp_path):
    """A copy of the shipped run's JSON files (no weights)."""
    folder = tmp_path / "run"
    folder.mkdir()
    for name in ("records.json", "manifest.json", "history.json"):
        shutil.copy(SHIPPED_DIR / name, folder / name)
    return folder


def test_load_measurements_names_a_corrupt_or_wrong_file(run_dir):
    (run_dir / "records.json").write_text("{'step': 1}")
    with pytest.raises(ValueError, match=r"records\.json is not valid JSON"):
        load_measurements(run_dir)
    (run_dir / "records.json").write_text('{"x": 1}')
    with pytest.raises(ValueError, match=r"records\.json must hold a JSON list"):
        load_measurements(run_dir)
    (run_dir / "records.json").write_text("[1]")
    with pytest.raises(ValueError, match="record 0 must be an object with a 'step'"):
        load_measurements(run_dir)
    shutil.copy(SHIPPED_DIR / "records.json", run_dir / "records.json")
    (run_dir / "manifest.json").write_bytes('{"a": "é"}'.encode("latin-1"))
    with pytest.raises(ValueError, match=r"manifest\.json is not UTF-8"):
        load_measurements(run_dir)
    (run_dir / "manifest.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"manifest\.json must hold a JSON object"):
        load_measurements(run_dir)
    (run_dir / "records.json").unlink()
    (run_dir / "records.json").mkdir()
    with pytest.raises(IsADirectoryError, match=r"records\.json is a directory"):
        load_measurements(run_dir)


def test_load_run_names_an_incomplete_history(run_dir):
    (run_dir / "history.json").write_text("{}")
    with pytest.raises(ValueError, match=r"history\.json has no step, loss"):
        load_run(run_dir)
    (run_dir / "history.json").write_text("not json")
    with pytest.raises(ValueError, match=r"history\.json is not valid JSON"):
        load_run(run_dir)


def test_missing_folders_are_named_and_home_paths_still_work(
    run_dir, tmp_path, monkeypatch
):
    for load in (load_run, load_measurements):
        with pytest.raises(FileNotFoundError, match="nope does not exist"):
            load(tmp_path / "nope")
        with pytest.raises(NotADirectoryError, match=r"records\.json is a file"):
            load(run_dir / "records.json")
    monkeypatch.setenv("HOME", str(tmp_path))
    records, manifest = load_measurements("~/run")
    assert records == json.loads((SHIPPED_DIR / "records.json").read_text())
    assert (
        manifest["steps"]
        == json.loads((SHIPPED_DIR / "manifest.json").read_text())["steps"]
    )


# ---------------------------------------------------------------- 5. None arguments
def test_none_model_or_tokenizer_is_named(tok, model):
    cases = [
        (lambda: make_nsp_pairs(DOCS, None), "tokenizer must be a bertmini Tokenizer"),
        (
            lambda: make_mlm_windows(DOCS, None),
            "tokenizer must be a bertmini Tokenizer",
        ),
        (lambda: fill_mask(None, tok, "a [MASK] ."), "model must be a masked language"),
        (lambda: fill_mask(model, None, "a [MASK] ."), "tokenizer must be a bertmini"),
        (lambda: evaluate_pretraining(None, tok, DOCS), "model must be a masked"),
        (
            lambda: evaluate_pretraining(model, None, DOCS),
            "tokenizer must be a bertmini",
        ),
    ]
    for call, phrase in cases:
        with pytest.raises(TypeError, match=phrase):
            call()
