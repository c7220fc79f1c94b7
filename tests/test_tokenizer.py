"""The WordPiece tokenizer gives the same ids as transformers' BertTokenizerFast on the same vocabulary."""

from __future__ import annotations

import pytest
import torch

from bertmini import Tokenizer
from bertmini.pretrained import named_model_dir

transformers = pytest.importorskip("transformers")

TEXTS = [
    "Hello, world!",
    "Tokenization splits unaffable words into pieces.",
    "Ünïcödé naïve café — déjà vu",
    "   spaces\tand\nnewlines  ",
    "42 is 6×7; 3.14159",
    "",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
]


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.from_pretrained("all-MiniLM-L6-v2")


def reference_from_vocab_txt(vocab_txt, tmp_path):
    """transformers' BertTokenizerFast built from nothing but a vocab.txt (no tokenizer.json)."""
    import shutil

    d = tmp_path / "vocab-only"
    d.mkdir(exist_ok=True)
    shutil.copy(vocab_txt, d / "vocab.txt")
    return transformers.BertTokenizerFast.from_pretrained(str(d))


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    return reference_from_vocab_txt(
        named_model_dir("all-MiniLM-L6-v2") / "vocab.txt",
        tmp_path_factory.mktemp("ref"),
    )


def test_ids_equal_bert_tokenizer_fast(tok, ref):
    for text in TEXTS:
        assert tok.encode(text) == ref(text)["input_ids"], text
        assert tok.tokenize(text) == ref.tokenize(text), text


def test_pairs_truncation_and_padding_equal_reference(tok, ref):
    a = ["What is BERT?", "Who?"]
    b = ["BERT is an encoder that reads text in both directions " * 5, "Devlin et al."]
    mine = tok(a, b, max_length=24, truncation="only_second")
    theirs = ref(
        a, b, max_length=24, truncation="only_second", padding=True, return_tensors="pt"
    )
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        assert torch.equal(mine[key], theirs[key]), key


def test_overflowing_windows_equal_reference(tok, ref):
    q = "Where does the river flow?"
    ctx = " ".join(
        f"Sentence {i} talks about the river and its banks." for i in range(40)
    )
    mine = tok(
        q,
        ctx,
        max_length=64,
        stride=16,
        truncation="only_second",
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    theirs = ref(
        q,
        ctx,
        max_length=64,
        stride=16,
        truncation="only_second",
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=True,
        return_tensors="pt",
    )
    assert mine["input_ids"].shape[0] > 3
    for key in (
        "input_ids",
        "attention_mask",
        "token_type_ids",
        "offset_mapping",
        "overflow_to_sample_mapping",
    ):
        assert torch.equal(mine[key], theirs[key]), key
    for i in range(mine["input_ids"].shape[0]):
        assert mine.sequence_ids(i) == theirs.sequence_ids(i)


def test_vocab_txt_and_trained_tokenizers(tmp_path, tok):
    from_vocab = Tokenizer.from_pretrained(
        named_model_dir("all-MiniLM-L6-v2") / "vocab.txt"
    )
    for text in TEXTS:
        assert from_vocab.encode(text) == tok.encode(text)
    texts = ["the cat sat on the mat", "the dog sat on the log", "cats and dogs"] * 20
    small = Tokenizer.train(texts, vocab_size=60, min_frequency=1)
    assert small.vocab_size <= 60
    assert small.convert_ids_to_tokens(small.encode("the cat")) == [
        "[CLS]",
        "the",
        "cat",
        "[SEP]",
    ]
    small.save_pretrained(tmp_path / "tok")
    again = Tokenizer.from_pretrained(tmp_path / "tok")
    assert again.encode("cats sat") == small.encode("cats sat")
    hf = reference_from_vocab_txt(tmp_path / "tok" / "vocab.txt", tmp_path)
    assert hf("the dogs sat")["input_ids"] == small.encode("the dogs sat")


def test_special_ids_decode_and_continuations(tok):
    assert (
        tok.pad_token_id,
        tok.unk_token_id,
        tok.cls_token_id,
        tok.sep_token_id,
        tok.mask_token_id,
    ) == (0, 100, 101, 102, 103)
    pieces = tok.tokenize("tokenization")
    assert pieces[0] == "token" and all(p.startswith("##") for p in pieces[1:])
    assert tok.decode(tok.encode("the quick brown fox")) == "the quick brown fox"


@pytest.mark.parametrize(
    "call,error,words",
    [
        (lambda t: t(None), TypeError, r"text must be a string .*got NoneType"),
        (lambda t: t([]), ValueError, "nothing to tokenize: got an empty batch"),
        (lambda t: t(["a", 3]), TypeError, "text must be a string, got int"),
        (lambda t: t(["a", "b"], ["c"]), ValueError, "got 2 texts but 1 text pairs"),
        (
            lambda t: t("a", max_length=2),
            ValueError,
            r"max_length must be an integer >= 3 .*got 2",
        ),
        (
            lambda t: t("a", truncation="sideways"),
            ValueError,
            r"truncation must be .*got 'sideways'",
        ),
        (
            lambda t: t(
                "a very long question " * 20,
                "ctx",
                max_length=16,
                truncation="only_second",
            ),
            ValueError,
            r"could not encode to max_length=16 with truncation='only_second'",
        ),
        (
            lambda t: Tokenizer.train([""], vocab_size=100),
            ValueError,
            "cannot train a tokenizer on empty texts",
        ),
        (
            lambda t: Tokenizer.train(["a b"], vocab_size=3),
            ValueError,
            r"vocab_size must be in \[6, 1_000_000\].*got 3",
        ),
    ],
)
def test_bad_inputs_raise_clear_errors(tok, call, error, words):
    """The right exception type, and a message that names the argument and value."""
    with pytest.raises(error, match=words):
        call(tok)


def test_trained_vocabulary_is_numbered_in_a_fixed_order():
    """The trainer's ties come out in hash-map order; the ids must not depend on it:
    special tokens first, then the learned pieces alphabetically. (Ties at the size
    cutoff can still change which pieces are learned: the trainer itself is not
    deterministic.)
    """
    import random

    rng = random.Random(0)
    words = [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "zeta",
        "theta",
        "iota",
        "kappa",
        "lambda",
    ]
    texts = [
        " ".join(
            rng.choice(words) + rng.choice(["", "s", "ed", "ing"]) for _ in range(12)
        )
        for _ in range(300)
    ]
    tok = Tokenizer.train(texts, vocab_size=120)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    expected = specials + sorted(set(tok.vocab) - set(specials))
    assert [tok.convert_ids_to_tokens(i) for i in range(len(expected))] == expected
