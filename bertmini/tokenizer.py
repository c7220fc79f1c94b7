"""WordPiece tokenization on Hugging Face `tokenizers` (Rust, fast), with BERT's input
format.

A sentence becomes `[CLS] tokens [SEP]`, a pair `[CLS] A [SEP] B [SEP]` with token type
(segment) ids 0 for A and 1 for B. Words outside the vocabulary are split greedily into
the longest known pieces, continuation pieces marked `##` ("tokenization" -> "token",
"##ization").
"""

from __future__ import annotations

import json
import numbers
import os
from pathlib import Path
from typing import Iterable, Sequence

import torch
from numpy import bool_ as np_bool

from ._validate import (
    as_path,
    check_bool,
    check_int,
    read_text,
    target_dir,
    write_dir,
)
from .device import get_device

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# The largest vocabulary `train` accepts. BERT's is 30,522 and the largest multilingual
# WordPiece vocabularies are ~250,000; a much larger request is a typo, and the Rust
# trainer would try to allocate for it and abort the whole Python process.
MAX_VOCAB_SIZE = 1_000_000
TRUNCATION = {
    True: "longest_first",
    "longest_first": "longest_first",
    "only_first": "only_first",
    "only_second": "only_second",
}


class Encoding(dict):
    """A dict of LongTensors (`input_ids`, `attention_mask`, `token_type_ids`, ...), one
    row per window.

    `encodings` keeps the underlying `tokenizers.Encoding` of each row for offsets and
    word ids.
    """

    def __init__(self, data: dict, encodings: list):
        super().__init__(data)
        self.encodings = encodings

    def sequence_ids(self, i: int = 0) -> list[int | None]:
        """For each token of row i: None for special tokens and padding, 0 for text A,
        1 for text B.
        """
        i = check_int("i", i)
        rows = len(self.encodings)
        if not -rows <= i < rows:
            raise ValueError(f"i={i} is out of range for an encoding of {rows} rows")
        ids = list(self.encodings[i].sequence_ids)
        return ids + [None] * (self["input_ids"].shape[1] - len(ids))

    def to(self, device) -> "Encoding":
        """Every tensor moved to `device`: a torch.device, a name such as "cpu" or
        "cuda:0" (checked by `get_device`, which says when that device is missing), or
        a GPU index.
        """
        if isinstance(device, numbers.Integral) and not isinstance(device, bool):
            device = f"cuda:{check_int('device', device, minimum=0)}"
        if device is None or device == "":
            # get_device would pick one itself: moving needs a device named
            raise TypeError(f"device must be a device such as 'cpu', got {device!r}")
        device = get_device(device)
        return Encoding({k: v.to(device) for k, v in self.items()}, self.encodings)

    def model_inputs(self) -> dict[str, torch.Tensor]:
        """Only what a BERT forward takes, e.g. `model(**enc.model_inputs())`."""
        return {k: self[k] for k in ("input_ids", "attention_mask", "token_type_ids")}

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Tokenizer:
    """BERT's WordPiece tokenizer. Build it with `from_pretrained` or `train`."""

    def __init__(self, backend):
        from tokenizers import Tokenizer as _Backend

        if not isinstance(backend, _Backend):
            raise TypeError(
                f"Tokenizer wraps a tokenizers.Tokenizer, got {type(backend).__name__}"
            )
        backend.no_truncation()
        backend.no_padding()
        missing = [t for t in SPECIAL_TOKENS if backend.token_to_id(t) is None]
        if missing:
            raise ValueError(f"the vocabulary lacks BERT's special tokens {missing}")
        self.backend = backend
        self.vocab: dict[str, int] = backend.get_vocab(with_added_tokens=True)
        self.pad_token_id = backend.token_to_id("[PAD]")
        self.unk_token_id = backend.token_to_id("[UNK]")
        self.cls_token_id = backend.token_to_id("[CLS]")
        self.sep_token_id = backend.token_to_id("[SEP]")
        self.mask_token_id = backend.token_to_id("[MASK]")
        self.special_token_ids = {
            self.pad_token_id,
            self.unk_token_id,
            self.cls_token_id,
            self.sep_token_id,
            self.mask_token_id,
        }

    # --------------------------------------------------------------------- construction
    @classmethod
    def from_vocab(
        cls, vocab: dict[str, int] | str | Path, lowercase: bool = True
    ) -> "Tokenizer":
        """BERT's pipeline around a WordPiece vocabulary (a dict, or a vocab.txt with
        one token per line).

        The ids must be 0..n-1, one token each: a repeated line in vocab.txt would
        silently shift every later id, so the model would read other embeddings than it
        was trained with.
        """
        from tokenizers import (
            Tokenizer as _Backend,
        )
        from tokenizers import (
            decoders,
            models,
            normalizers,
            pre_tokenizers,
            processors,
        )

        check_bool("lowercase", lowercase)
        if isinstance(vocab, dict):
            vocab = _check_vocab_dict(vocab)
        else:
            path = as_path("vocab", vocab)
            lines = read_text(path, "vocabulary file").split("\n")
            if lines and lines[-1] in ("", "\r"):
                lines.pop()  # the newline that ends the last line
            # A file written on Windows ends its lines with "\r\n"
            lines = [line.removesuffix("\r") for line in lines]
            seen: dict[str, int] = {}
            for i, line in enumerate(lines):
                if line in seen:
                    raise ValueError(
                        f"vocabulary file {path} lists {line!r} twice (lines "
                        f"{seen[line] + 1} and {i + 1}); each token must appear once, "
                        "its line number being its id"
                    )
                seen[line] = i
            vocab = seen
        missing = [t for t in SPECIAL_TOKENS if t not in vocab]
        if missing:
            raise ValueError(f"the vocabulary lacks BERT's special tokens {missing}")
        backend = _Backend(
            models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100)
        )
        backend.normalizer = normalizers.BertNormalizer(
            clean_text=True,
            handle_chinese_chars=True,
            strip_accents=None,
            lowercase=lowercase,
        )
        backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        cls_id, sep_id = vocab["[CLS]"], vocab["[SEP]"]
        backend.post_processor = processors.TemplateProcessing(
            single="[CLS]:0 $A:0 [SEP]:0",
            pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
            special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
        )
        backend.decoder = decoders.WordPiece(prefix="##")
        return cls(backend)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike) -> "Tokenizer":
        """A named model ("all-MiniLM-L6-v2"), a directory, a tokenizer.json or a
        vocab.txt.
        """
        from tokenizers import Tokenizer as _Backend

        from .pretrained import resolve

        path = resolve(name_or_path)
        if path.is_dir():
            if (path / "tokenizer.json").exists():
                path = path / "tokenizer.json"
            elif (path / "vocab.txt").exists():
                path = path / "vocab.txt"
            else:
                raise FileNotFoundError(
                    f"{path} has neither tokenizer.json nor vocab.txt"
                )
        if path.suffix == ".json":
            text = read_text(path, "tokenizer file")
            try:
                backend = _Backend.from_str(text)
            except Exception as e:  # not JSON, or JSON that is not a tokenizer
                raise ValueError(
                    f"tokenizer file {path} is corrupt or not a tokenizers JSON file "
                    f"({str(e)[:200]}); re-save or re-download it"
                ) from None
            return cls(backend)
        lowercase = True
        config = path.parent / "tokenizer_config.json"
        if config.exists():
            try:
                settings = json.loads(read_text(config, "tokenizer config"))
            except json.JSONDecodeError as e:
                raise ValueError(
                    f"tokenizer config {config} is not valid JSON: {e}"
                ) from None
            lowercase = (
                settings.get("do_lower_case", True)
                if isinstance(settings, dict)
                else True
            )
            if not isinstance(lowercase, bool):
                raise ValueError(
                    f"tokenizer config {config}: do_lower_case must be true or false, "
                    f"got {lowercase!r} ({type(lowercase).__name__})"
                )
        return cls.from_vocab(path, lowercase=lowercase)

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        vocab_size: int = 30522,
        min_frequency: int = 2,
        lowercase: bool = True,
        show_progress: bool = False,
    ) -> "Tokenizer":
        """Learn a WordPiece vocabulary of `vocab_size` pieces from raw texts.

        `vocab_size` is a target, not a hard cap: the trainer always keeps the special
        tokens and every character of the texts (else some words could not be spelled
        at all), so a `vocab_size` below that gives a larger vocabulary than asked; the
        merges stop at `vocab_size`. It must be in [6, MAX_VOCAB_SIZE].
        """
        from tokenizers import (
            Tokenizer as _Backend,
        )
        from tokenizers import (
            models,
            normalizers,
            pre_tokenizers,
            trainers,
        )

        vocab_size = check_int("vocab_size", vocab_size)
        min_frequency = check_int("min_frequency", min_frequency, minimum=0)
        check_bool("lowercase", lowercase)
        check_bool("show_progress", show_progress)
        if isinstance(texts, str):
            raise TypeError(
                "texts must be an iterable of strings, got one string (wrap it in a "
                "list)"
            )
        if not isinstance(texts, Iterable):
            raise TypeError(
                f"texts must be an iterable of strings, got {type(texts).__name__}"
            )
        if not len(SPECIAL_TOKENS) < vocab_size <= MAX_VOCAB_SIZE:
            raise ValueError(
                f"vocab_size must be in [{len(SPECIAL_TOKENS) + 1}, {MAX_VOCAB_SIZE:_}] "
                f"(more than the {len(SPECIAL_TOKENS)} special tokens; BERT's is "
                f"30_522), got {vocab_size}"
            )
        vocab_size = int(vocab_size)  # a NumPy int is not a Rust usize
        backend = _Backend(models.WordPiece(unk_token="[UNK]"))
        backend.normalizer = normalizers.BertNormalizer(
            lowercase=lowercase, strip_accents=None
        )
        backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=SPECIAL_TOKENS,
            show_progress=show_progress,
            continuing_subword_prefix="##",
        )
        texts = [_check_text(t, "each text") for t in texts]
        if not any(t.strip() for t in texts):
            raise ValueError("cannot train a tokenizer on empty texts")
        backend.train_from_iterator(texts, trainer=trainer)
        # The trainer breaks ties between equally frequent pieces in hash-map order,
        # which changes from run to run: the same pieces get different ids, and a model
        # trained on them differs. Ids are arbitrary for a new vocabulary (greedy
        # longest-match does not look at them), so number the pieces in a fixed order:
        # the special tokens first, then alphabetically. (Ties at the size cutoff can
        # still change which pieces are kept; that is the trainer's doing.)
        learned = sorted(t for t in backend.get_vocab() if t not in SPECIAL_TOKENS)
        vocab = {t: i for i, t in enumerate(list(SPECIAL_TOKENS) + learned)}
        return cls.from_vocab(vocab, lowercase=lowercase)

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write tokenizer.json and vocab.txt (the format BertTokenizer(Fast) reads).

        Named as in transformers, so `tokenizer.save_pretrained(folder)` works on
        either. Atomic, like a model's `save_pretrained`: the directory is rebuilt in a
        temporary sibling and swapped in whole; its other files (a model's weights) are
        kept.
        """
        return write_dir(target_dir("directory", directory), self.write_files)

    def write_files(self, directory: Path) -> None:
        """Write this tokenizer's files into an existing directory (no atomicity of its
        own).
        """
        self.backend.save(str(directory / "tokenizer.json"))
        by_id = sorted(self.vocab.items(), key=lambda kv: kv[1])
        (directory / "vocab.txt").write_text(
            "".join(t + "\n" for t, _ in by_id), encoding="utf-8"
        )

    # ------------------------------------------------------------------------- encoding
    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    def __len__(self) -> int:
        return self.vocab_size

    def tokenize(self, text: str) -> list[str]:
        """The WordPiece tokens of `text`, without [CLS]/[SEP]."""
        return self.backend.encode(
            _check_text(text, "text"), add_special_tokens=False
        ).tokens

    def encode(
        self, text: str, text_pair: str | None = None, add_special_tokens: bool = True
    ) -> list[int]:
        pair = None if text_pair is None else _check_text(text_pair, "text_pair")
        check_bool("add_special_tokens", add_special_tokens)
        return self.backend.encode(
            _check_text(text, "text"), pair, add_special_tokens=add_special_tokens
        ).ids

    def decode(
        self, ids: Sequence[int] | torch.Tensor, skip_special_tokens: bool = True
    ) -> str:
        check_bool("skip_special_tokens", skip_special_tokens)
        return self.backend.decode(
            self._check_ids(ids), skip_special_tokens=bool(skip_special_tokens)
        )

    def _check_ids(self, ids) -> list[int]:
        """A flat list of valid token ids, or an error naming the first bad one."""
        if isinstance(ids, torch.Tensor):
            if not _is_int_dtype(ids.dtype) or ids.dim() > 1:
                raise TypeError(
                    f"ids must be a 1-d tensor of integer token ids, got dtype "
                    f"{ids.dtype} and shape {tuple(ids.shape)}"
                )
            ids = ids.tolist()
        if isinstance(ids, (str, bytes)) or not isinstance(ids, (list, tuple, range)):
            raise TypeError(
                f"ids must be a list of integer token ids, got {type(ids).__name__}"
            )
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, numbers.Integral):
                raise TypeError(f"ids must be integers, got {i!r} ({type(i).__name__})")
            if not 0 <= i < self.vocab_size:
                raise ValueError(
                    f"id {i} is outside the vocabulary [0, {self.vocab_size})"
                )
        return [int(i) for i in ids]

    def convert_ids_to_tokens(
        self, ids: int | Sequence[int] | torch.Tensor
    ) -> str | list[str]:
        if isinstance(ids, torch.Tensor) and ids.dim() == 0:
            if not _is_int_dtype(ids.dtype):  # int(tensor(1.7)) would be id 1
                raise TypeError(
                    f"ids must be integer token ids, got a {ids.dtype} tensor {ids.item()!r}"
                )
            ids = int(ids)
        if isinstance(ids, numbers.Integral) and not isinstance(ids, bool):
            return self.backend.id_to_token(self._check_ids([ids])[0])
        return [self.backend.id_to_token(i) for i in self._check_ids(ids)]

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | list[int]:
        if isinstance(tokens, str):
            return self.vocab.get(tokens, self.unk_token_id)
        if not isinstance(tokens, (list, tuple)):
            raise TypeError(
                "tokens must be a token (string) or a list of tokens, got "
                f"{type(tokens).__name__}"
            )
        return [
            self.vocab.get(_check_text(t, "token"), self.unk_token_id) for t in tokens
        ]

    def __call__(
        self,
        text: str | Sequence[str],
        text_pair: str | Sequence[str] | None = None,
        max_length: int = 512,
        truncation: bool | str = True,
        padding: bool = True,
        stride: int = 0,
        return_offsets_mapping: bool = False,
        return_overflowing_tokens: bool = False,
    ) -> Encoding:
        """Encode one text (or pair) or a batch into padded LongTensors of shape (B, T).

        With `return_overflowing_tokens`, a text too long for `max_length` becomes
        several windows that overlap by `stride` tokens; `overflow_to_sample_mapping`
        says which input each window came from. This is how question answering reads
        contexts longer than the model's limit.

        `padding=True` pads every row to the longest one (transformers' "longest");
        `False` requires rows of one length. There is no "max_length" padding: rows
        longer than needed would only cost compute.
        """
        single = isinstance(text, str)
        if not single and not isinstance(text, (list, tuple)):
            raise TypeError(
                f"text must be a string or a list of strings, got {type(text).__name__}"
            )
        texts = [text] if single else list(text)
        if not texts:
            raise ValueError("nothing to tokenize: got an empty batch")
        for t in texts:
            _check_text(t, "text")
        pairs = None
        if text_pair is not None:
            if not isinstance(text_pair, (str, list, tuple)):
                raise TypeError(
                    f"text_pair must be a string or a list of strings, got {type(text_pair).__name__}"
                )
            pairs = [text_pair] if isinstance(text_pair, str) else list(text_pair)
            if len(pairs) != len(texts):
                raise ValueError(f"got {len(texts)} texts but {len(pairs)} text pairs")
            for t in pairs:
                _check_text(t, "text_pair")
        if (
            isinstance(max_length, bool)
            or not isinstance(max_length, numbers.Integral)
            or max_length < 3
        ):
            raise ValueError(
                f"max_length must be an integer >= 3 ([CLS] x [SEP]), got {max_length!r}"
            )
        max_length = int(max_length)  # a NumPy int is not a Rust usize
        stride = check_int("stride", stride, minimum=0)
        stride = int(stride)
        if not isinstance(padding, (bool, np_bool)):
            raise TypeError(
                f"padding must be True (pad to the longest row) or False, got "
                f"{padding!r}; 'max_length' padding is not supported"
            )
        check_bool("return_offsets_mapping", return_offsets_mapping)
        check_bool("return_overflowing_tokens", return_overflowing_tokens)
        if not (
            isinstance(truncation, (bool, np_bool))
            or (isinstance(truncation, str) and truncation in TRUNCATION)
        ):
            raise ValueError(
                f"truncation must be True, False or one of "
                f"{sorted(set(TRUNCATION.values()))}, got {truncation!r}"
            )
        specials = 2 if pairs is None else 3
        if truncation and stride >= max_length - specials:
            raise ValueError(
                f"stride must be smaller than the {max_length - specials} text tokens a "
                f"window of max_length={max_length} holds, got stride={stride}"
            )
        if truncation:
            self.backend.enable_truncation(
                max_length, stride=stride, strategy=TRUNCATION[truncation]
            )
        try:
            inputs = texts if pairs is None else list(zip(texts, pairs))
            encodings = self.backend.encode_batch(inputs)
        except Exception as e:
            # E.g. the question alone is longer than max_length with only_second
            raise ValueError(
                f"could not encode to max_length={max_length} with truncation="
                f"{truncation!r}: {e}"
            ) from None
        except BaseException as e:
            # The Rust library panics (pyo3's PanicException) on some strides
            if type(e).__name__ != "PanicException":
                raise
            raise ValueError(
                f"stride={stride} is too large for the pair: the truncated text keeps "
                f"fewer tokens than the stride at max_length={max_length}; lower stride "
                "or raise max_length"
            ) from None
        finally:
            self.backend.no_truncation()
        rows, sample = [], []
        for i, enc in enumerate(encodings):
            rows.append(enc)
            sample.append(i)
            if return_overflowing_tokens:
                for extra in enc.overflowing:
                    rows.append(extra)
                    sample.append(i)
        T = max(len(e.ids) for e in rows) if padding else None
        if not padding and len({len(e.ids) for e in rows}) > 1:
            raise ValueError(
                "texts have different lengths; use padding=True to batch them"
            )
        T = T or len(rows[0].ids)

        def pad(values, fill):
            return [list(v) + [fill] * (T - len(v)) for v in values]

        out = {
            "input_ids": torch.tensor(
                pad([e.ids for e in rows], self.pad_token_id), dtype=torch.long
            ),
            "attention_mask": torch.tensor(
                pad([e.attention_mask for e in rows], 0), dtype=torch.long
            ),
            "token_type_ids": torch.tensor(
                pad([e.type_ids for e in rows], 0), dtype=torch.long
            ),
        }
        if return_offsets_mapping:
            out["offset_mapping"] = torch.tensor(
                pad([e.offsets for e in rows], (0, 0)), dtype=torch.long
            )
        if return_overflowing_tokens:
            out["overflow_to_sample_mapping"] = torch.tensor(sample, dtype=torch.long)
        return Encoding(out, rows)

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size})"


def _is_int_dtype(dtype: torch.dtype) -> bool:
    """Token ids are integers: a float or bool tensor is a mistake, not ids."""
    return not (dtype.is_floating_point or dtype.is_complex or dtype == torch.bool)


def _check_vocab_dict(vocab: dict) -> dict[str, int]:
    """A {token: id} dict whose ids are 0..n-1, one token each.

    Two tokens with one id, or a gap, would make encode produce ids that decode and the
    embedding table disagree about.
    """
    by_id: dict[int, str] = {}
    for token, i in vocab.items():
        if not isinstance(token, str):
            raise TypeError(f"vocab keys must be tokens (strings), got {token!r}")
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            raise TypeError(f"vocab[{token!r}] must be an integer id, got {i!r}")
        if i in by_id:
            raise ValueError(
                f"vocab gives id {i} to both {by_id[i]!r} and {token!r}; each id must "
                "belong to one token"
            )
        by_id[int(i)] = token
    if sorted(by_id) != list(range(len(by_id))):
        missing = sorted(set(range(len(by_id))) - set(by_id))[:5]
        raise ValueError(
            f"vocab ids must be 0..{len(by_id) - 1} without gaps; missing ids {missing}"
        )
    return {t: int(i) for t, i in vocab.items()}


def _check_text(text, name: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a string, got {type(text).__name__}")
    return text
