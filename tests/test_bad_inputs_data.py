"""Bad arguments to the data loaders and the baselines: each is refused with a message
that names the argument, instead of a wrong result or an error from deep inside.

Each test pins one defect an audit found; valid inputs are checked to give what they
gave before.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from bertmini import baselines, data
from tests.test_data import MIRROR


@pytest.fixture
def mirror(monkeypatch):
    if MIRROR is None:
        pytest.skip("data mirror not found: set BERTMINI_DATA_MIRROR")
    monkeypatch.setenv("BERTMINI_DATA_MIRROR", str(MIRROR))
    return MIRROR


# ----------------------------------------------------------------- 1. tensor labels
@pytest.mark.parametrize(
    "labels", [torch.tensor([1, 1, 1, 0]), np.array([1, 1, 1, 0]), [1, 1, 1, 0]]
)
def test_majority_class_of_a_tensor_or_array_is_the_real_majority(labels):
    guess = baselines.majority_class(labels)
    assert guess == 1 and type(guess) is int


def test_majority_accuracy_and_bag_of_words_accept_tensor_labels():
    assert (
        baselines.majority_accuracy(torch.tensor([1, 1, 0]), torch.tensor([1, 0]))
        == 0.5
    )
    texts = ["good fun", "great film", "dull mess", "awful plot"] * 3
    labels = [1, 1, 0, 0] * 3
    a = baselines.fit_bag_of_words(texts, labels)
    b = baselines.fit_bag_of_words(texts, torch.tensor(labels))
    assert (a.predict_proba(texts) == b.predict_proba(texts)).all()
    result = baselines.evaluate_bag_of_words(a, texts, np.array(labels))
    assert result["accuracy"] == 1.0


@pytest.mark.parametrize(
    "labels, error, phrase",
    [
        (torch.tensor([1.0, 0.0]), TypeError, "integer class ids"),
        (torch.tensor([[1, 0]]), ValueError, "one-dimensional"),
        ("1100", TypeError, "labels must be a list"),
    ],
)
def test_majority_class_refuses_non_integer_labels(labels, error, phrase):
    with pytest.raises(error, match=phrase):
        baselines.majority_class(labels)


# ------------------------------------------------------------- 2. article selection
@pytest.mark.parametrize("articles", [slice(100, 200), [], slice(5, 5)])
def test_an_empty_article_selection_is_refused(mirror, articles):
    with pytest.raises(ValueError, match="selects no article.*48 articles"):
        data.load_squad("dev", articles=articles)


def test_numpy_article_indices_are_accepted(mirror):
    by_numpy = data.load_squad("dev", articles=[np.int64(1)], limit=3)
    assert by_numpy == data.load_squad("dev", articles=[1], limit=3)
    by_slice = data.load_squad("dev", articles=slice(np.int64(47), None))
    assert by_slice == data.load_squad("dev", articles=[47])


@pytest.mark.parametrize(
    "articles, error, phrase",
    [
        (slice("a", None), TypeError, "start must be an integer or None"),
        (slice(0, 2.5), TypeError, "stop must be an integer or None"),
        (slice(0, 2, 0), ValueError, "step cannot be 0"),
        ([True], TypeError, "integer article indices"),
    ],
)
def test_bad_article_selections_name_the_problem(mirror, articles, error, phrase):
    with pytest.raises(error, match=phrase):
        data.load_squad("dev", articles=articles)


# ------------------------------------------------------ 3. a str where lines go, a Path
def test_split_wikitext_documents_refuses_a_str():
    with pytest.raises(TypeError, match=r"lines must be a list of lines.*splitlines"):
        data.split_wikitext_documents(" = Title = \nhello\n")
    with pytest.raises(TypeError, match="lines must"):
        data.split_wikitext_documents(None)
    with pytest.raises(TypeError, match="lines must hold strings"):
        data.split_wikitext_documents([" = T = ", None])
    lines = [" = T = ", " hello "]
    assert data.split_wikitext_documents(lines) == [
        {"title": "T", "paragraphs": ["hello"]}
    ]


def test_read_conll_reads_a_path_and_refuses_other_types(tmp_path):
    path = tmp_path / "x.conll"
    path.write_text("a\tO\nb\tB-person\n\nc\tO\n", encoding="utf-8")
    expected = [
        {"tokens": ["a", "b"], "tags": ["O", "B-person"]},
        {"tokens": ["c"], "tags": ["O"]},
    ]
    assert data.read_conll(path) == expected == data.read_conll(path.read_text())
    path.write_text("a O\n", encoding="utf-8")
    with pytest.raises(data.DataError, match=r"x\.conll, line 1"):
        data.read_conll(path)
    with pytest.raises(data.DataError, match=r"pass Path\(text\)"):
        data.read_conll(str(path))
    with pytest.raises(TypeError, match="text must be"):
        data.read_conll(b"a\tO\n")


# -------------------------------------------------------------------- 4. sst2 seed
@pytest.mark.parametrize(
    "seed, error",
    [
        ("a", TypeError),
        (1.5, TypeError),
        (True, TypeError),
        (None, TypeError),
        (-1, ValueError),
    ],
)
def test_sst2_seed_must_be_an_int(mirror, seed, error):
    with pytest.raises(error, match="seed must be an integer"):
        data.load_sst2("dev", limit=3, seed=seed)


def test_sst2_numpy_seed_and_limit_give_the_same_sample(mirror):
    same = data.load_sst2("dev", limit=np.int64(5), seed=np.int64(3))
    assert same == data.load_sst2("dev", limit=5, seed=3)


def test_split_names_must_be_strings():
    with pytest.raises(TypeError, match="split must be a string"):
        data.load_sst2(["dev"])
    with pytest.raises(TypeError, match="progress must be True or False"):
        data.fetch("sst2", "dev", progress="no")


# --------------------------------------------------------------- 5. bag-of-words flags
def test_fit_bag_of_words_refuses_non_bool_tfidf():
    texts, labels = ["good", "bad"], [1, 0]
    with pytest.raises(TypeError, match="tfidf must be True or False"):
        baselines.fit_bag_of_words(texts, labels, tfidf="no")
    with pytest.raises(ValueError, match="ngram_range"):
        baselines.fit_bag_of_words(texts, labels, ngram_range=(2, 1))
    with pytest.raises(ValueError, match="C must be"):
        baselines.fit_bag_of_words(texts, labels, C=0)
    with pytest.raises(ValueError, match="k must be"):
        baselines.top_features(baselines.fit_bag_of_words(texts, labels), k=0)


# ------------------------------------------------------------------ 6. ~ in a path
def test_sha256_file_expands_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "f").write_bytes(b"abc")
    assert data.sha256_file("~/f") == hashlib.sha256(b"abc").hexdigest()
    assert data.git_blob_sha1_file("~/f") == data.git_blob_sha1(b"abc")
    with pytest.raises(TypeError, match="path must be a path"):
        data.sha256_file(5)
    with pytest.raises(TypeError, match="data must be bytes"):
        data.git_blob_sha1("abc")
