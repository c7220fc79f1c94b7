"""WordPiece in plain Python, for teaching: what `tokenizers` does in Rust, in a few
readable lines.

BERT tokenizes in two steps:

1. `basic_tokenize` cuts the text into *words*: clean it, lower-case it, strip accents,
   then split on whitespace and around every punctuation mark and Chinese character.
2. `wordpiece_tokenize` cuts each word into *pieces* of a fixed vocabulary, greedily
   taking the longest piece that matches at the current position. Pieces after the first
   carry a `##` prefix, so "tokenization" -> ["token", "##ization"] and the words can be
   glued back together.

A word that cannot be covered by pieces (a character missing from the vocabulary), or
one longer than `max_chars`, becomes a single unknown token. `bertmini.Tokenizer`
(Hugging Face `tokenizers`) gives exactly the same tokens; the tests check it. Use it
for real work: it is much faster and also returns character offsets.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Container

from ._validate import check_bool

# Marks a piece that continues the previous one inside the same word
CONTINUATION = "##"

# Code points that BERT treats as Chinese (CJK) characters: each becomes a word of its
# own, since Chinese is written without spaces. Same ranges as the Rust BertNormalizer.
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B920, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def is_chinese_char(ch: str) -> bool:
    return any(lo <= ord(ch) <= hi for lo, hi in CJK_RANGES)


def is_punctuation(ch: str) -> bool:
    """ASCII symbols like `$` and `^` count too, not only Unicode punctuation
    (categories P*).
    """
    _check_char(ch)
    return ch in string.punctuation or unicodedata.category(ch).startswith("P")


def is_control(ch: str) -> bool:
    """Invisible characters (categories C*: control, format, unassigned) that BERT
    deletes.
    """
    return ch not in "\t\n\r" and unicodedata.category(ch).startswith("C")


def basic_tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Split a text into BERT's words: clean, lower-case, strip accents, split on spaces
    and punctuation.

    The order matters and follows the Rust `BertNormalizer` and `BertPreTokenizer`:
    "Héllo, wörld!" -> ["hello", ",", "world", "!"]. Accents are stripped only when
    lower-casing (as the uncased BERT models were trained): decompose each letter (NFD)
    and drop the marks.

    Two things `tokenizers` does that this sketch leaves out: it keeps special tokens
    written in the text ("[MASK]") whole, and its Unicode tables may be newer than
    Python's `unicodedata` (a character unassigned in one and assigned in the other is
    treated differently).
    """
    if not isinstance(text, str):
        raise TypeError(f"basic_tokenize takes a string, got {type(text).__name__}")
    check_bool("lowercase", lowercase)
    text = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch not in "\x00\ufffd" and not is_control(ch)
    )
    text = "".join(f" {ch} " if is_chinese_char(ch) else ch for ch in text)
    if lowercase:
        text = "".join(
            ch
            for ch in unicodedata.normalize("NFD", text)
            if unicodedata.category(ch) != "Mn"
        )
        # One character at a time, like Rust: "ΟΣ" -> "οσ", not "ος"
        text = "".join(ch.lower() for ch in text)
    words = []
    for chunk in text.split():
        word = ""
        for ch in chunk:
            if is_punctuation(ch):  # a punctuation mark is a word of its own
                words += [word, ch] if word else [ch]
                word = ""
            else:
                word += ch
        if word:
            words.append(word)
    return words


def wordpiece_tokenize(
    word: str, vocab: Container[str], unk: str = "[UNK]", max_chars: int = 100
) -> list[str]:
    """Split one word into the longest vocabulary pieces, left to right; `##` marks
    continuations.

    Greedy longest-match-first: at each position try the whole rest of the word, then
    one character shorter, and so on, until a piece is in the vocabulary. If no piece
    matches at some position, the *whole word* becomes `unk` (not just the bad
    character): BERT never mixes known pieces with an unknown one inside a word. Words
    longer than `max_chars` are `unk` straight away (the search is quadratic in the
    word's length).
    """
    if not isinstance(word, str):
        raise TypeError(
            f"wordpiece_tokenize takes one word (a string), got {type(word).__name__}"
        )
    _check_vocab(vocab)
    if len(word) > max_chars:
        return [unk]
    pieces, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):  # longest candidate first
            piece = word[start:end] if start == 0 else CONTINUATION + word[start:end]
            if piece in vocab:
                break
        else:  # no piece of the vocabulary starts here
            return [unk]
        pieces.append(piece)
        start = end
    return pieces


def tokenize(
    text: str,
    vocab: Container[str],
    unk: str = "[UNK]",
    max_chars: int = 100,
    lowercase: bool = True,
) -> list[str]:
    """BERT's tokens of a text (without [CLS]/[SEP]): `basic_tokenize`, then
    `wordpiece_tokenize` per word.
    """
    _check_vocab(vocab)
    if unk not in vocab:
        raise ValueError(
            f"the unknown token {unk!r} is not in the vocabulary; pass the "
            "vocabulary's own unknown token as unk=..."
        )
    return [
        piece
        for word in basic_tokenize(text, lowercase)
        for piece in wordpiece_tokenize(word, vocab, unk, max_chars)
    ]


# ---------------------------------------------------------------- argument checks
def _check_char(ch) -> None:
    """The character tests classify one character: "" or ",-" has no category."""
    if not isinstance(ch, str):
        raise TypeError(f"ch must be one character (a str), got {type(ch).__name__}")
    if len(ch) != 1:
        raise ValueError(f"ch must be exactly one character, got {ch!r}")


def _check_vocab(vocab) -> None:
    """A collection of pieces (set, dict, list). Not a string: `"ell" in "hello"` is
    True, so a text passed as the vocabulary would match any of its substrings."""
    if isinstance(vocab, (str, bytes)) or not isinstance(vocab, Container):
        raise TypeError(
            "vocab must be a collection of pieces (a set, dict or list of strings), "
            f"got {type(vocab).__name__}"
        )
