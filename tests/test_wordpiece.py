"""The teaching WordPiece (bertmini.wordpiece) gives exactly the tokens of `tokenizers`
(bertmini.Tokenizer).

Tricky inputs: unknown characters, words over max_chars, accents, punctuation and
symbols, numbers, Chinese characters, odd whitespace and control characters; then the
chapter's exercises.
"""

from __future__ import annotations

import math

import pytest

from bertmini import Tokenizer
from bertmini import exercises as ex
from bertmini.exercises.ch04_tokenization import char_span_to_token_span, count_windows
from bertmini.wordpiece import basic_tokenize, tokenize, wordpiece_tokenize

TRICKY = [
    "Hello, world!",
    "unaffable tokenization huggingface",
    # accents are stripped (uncased)
    "Ünïcödé naïve café — déjà vu; Ångström, façade, jalapeño",
    "e\u0301 vs \u00e9",  # decomposed and composed é
    "İstanbul ΣΟΦΟΣ ΑΣ. straße ﬁne ﬀ",  # lower-casing one character at a time
    "3.14159 1,000,000 2nd 42% -7 +3 1e-5 ½ ² ①",  # numbers and number-like symbols
    # ASCII symbols split like punctuation
    "$5^2 a|b ~c `d` <tag> {x} \\ @user #hash & * = _under_score",
    "«quotes» „low“ ‘single’ ¿qué? ¡sí! 、。・",  # Unicode punctuation
    "北京大学 is in 北京. 東京タワー; ひらがな 한국어 ﾊﾝｶｸ",  # CJK characters become words
    "\U0002b820 \U0002b920 \uf900 \u4e00\u9fff",  # CJK range boundaries
    # odd spaces, control characters
    "x\u00a0y\u2003z\u200bw\x1cq\u0085r\ufffds\x00t the\u3000end",
    "\tnew\nline\r\n  many   spaces  ",
    "😀 emoji 🤗 ✓ → ∑ ∞ ☃",  # characters missing from the vocabulary
    "supercalifragilisticexpialidocious pneumonoultramicroscopicsilicovolcanoconiosis",
    "a" * 100 + " " + "a" * 101 + " " + "é" * 101,  # max_chars counts characters
    "",
]


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.from_pretrained("all-MiniLM-L6-v2")


@pytest.mark.parametrize("text", TRICKY)
def test_teaching_tokenize_equals_tokenizers(tok, text):
    assert tokenize(text, tok.vocab) == tok.tokenize(text)


def test_basic_tokenize_equals_the_rust_pre_tokenizer(tok):
    """Words *before* WordPiece: the Rust normalizer + pre-tokenizer on the same texts."""
    for text in TRICKY:
        normalized = tok.backend.normalizer.normalize_str(text)
        expected = [
            w for w, _ in tok.backend.pre_tokenizer.pre_tokenize_str(normalized)
        ]
        assert basic_tokenize(text) == expected, text


def test_unknown_character_makes_the_whole_word_unknown(tok):
    assert wordpiece_tokenize("token😀", tok.vocab) == ["[UNK]"]
    assert (
        tokenize("token😀 ok", tok.vocab)
        == tok.tokenize("token😀 ok")
        == ["[UNK]", "ok"]
    )


def test_max_chars(tok):
    word = "ab" * 50  # 100 characters: still split into pieces
    assert wordpiece_tokenize(word, tok.vocab) == tok.tokenize(word) != ["[UNK]"]
    assert (
        wordpiece_tokenize(word + "a", tok.vocab)
        == tok.tokenize(word + "a")
        == ["[UNK]"]
    )
    assert wordpiece_tokenize("unaffable", tok.vocab, max_chars=8) == ["[UNK]"]


def test_greedy_longest_match_with_toy_vocabulary():
    vocab = {"[UNK]", "un", "u", "##n", "##aff", "##a", "##f", "##able", "##ab", "##le"}
    assert wordpiece_tokenize("unaffable", vocab) == ["un", "##aff", "##able"]
    # "a" without "##" is not in the vocabulary
    assert wordpiece_tokenize("affable", vocab) == ["[UNK]"]
    assert wordpiece_tokenize("", vocab) == []
    assert wordpiece_tokenize("unx", vocab, unk="<unk>") == ["<unk>"]


def test_cased_vocabulary_keeps_accents_and_case(tok):
    cased = Tokenizer.from_vocab(tok.vocab, lowercase=False)
    for text in ["Café DÉJÀ Vu", "İstanbul ΣΟΦΟΣ", "Hello, World!"]:
        assert tokenize(text, cased.vocab, lowercase=False) == cased.tokenize(text), (
            text
        )


def test_trained_vocabulary():
    texts = [
        "the unaffable lobster moulted",
        "lobsters moult in the summer",
        "the summer of the lobster",
    ] * 5
    trained = Tokenizer.train(texts, vocab_size=60, min_frequency=1)
    for text in texts[:3] + ["unseen words: zebra, lobstering!"]:
        assert tokenize(text, trained.vocab) == trained.tokenize(text), text


def test_bad_inputs():
    with pytest.raises(TypeError, match="string"):
        basic_tokenize(None)
    with pytest.raises(TypeError, match="one word"):
        wordpiece_tokenize(["un", "aff"], {"[UNK]"})
    with pytest.raises(ValueError, match="unknown token"):
        tokenize("hello", {"hello"})


# ------------------------------------------------------------------ exercise references
def test_char_span_to_token_span_matches_text(tok):
    question, context = (
        "Where is the Eiffel Tower?",
        "The Eiffel Tower stands in Paris, France.",
    )
    enc = tok(question, context, return_offsets_mapping=True)
    offsets, seq = enc["offset_mapping"][0].tolist(), enc.sequence_ids(0)
    for answer in ["Paris", "Eiffel Tower", "France", "The"]:
        start = context.index(answer)
        first, last = char_span_to_token_span(offsets, seq, start, start + len(answer))
        assert seq[first] == seq[last] == 1
        assert context[offsets[first][0] : offsets[last][1]] == answer


@pytest.mark.parametrize(
    "max_length,stride", [(6, 0), (6, 2), (8, 1), (16, 4), (32, 29)]
)
def test_count_windows_matches_the_tokenizer(tok, max_length, stride):
    for n_words in [1, 3, 4, 5, 9, 30, 61]:
        text = " ".join(["lobster"] * n_words)  # one token per word
        windows = tok(
            text, max_length=max_length, stride=stride, return_overflowing_tokens=True
        )
        assert windows["input_ids"].shape[0] == count_windows(
            n_words, max_length, stride
        )
    assert count_windows(1000, 384, 128) == 1 + math.ceil((1000 - 382) / (382 - 128))


NAMES = ["wordpiece_tokenize", "char_span_to_token_span", "count_windows"]


@pytest.fixture(scope="module")
def registered():
    return ex.EXERCISES


@pytest.mark.parametrize("name", NAMES)
def test_exercise_reference_passes_and_mistakes_get_their_hint(
    registered, name, capsys
):
    exercise = registered[name]
    assert ex.check(name, exercise.reference) is True
    assert exercise.mistakes
    for mistake in exercise.mistakes:
        capsys.readouterr()
        assert ex.check(name, mistake.wrong) is False
        assert mistake.hint in capsys.readouterr().out, mistake.hint


@pytest.mark.parametrize("name", NAMES)
def test_exercise_not_attempted_is_friendly(registered, name, capsys):
    def unfinished(*args):
        raise NotImplementedError

    assert ex.check(name, None) is False
    assert ex.check(name, unfinished) is False
    assert "not attempted" in capsys.readouterr().out
