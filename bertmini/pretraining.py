"""BERT's two self-supervised tasks, as data and as training: masked language
modelling and next-sentence pairs, and the small BERT the course pretrains with them.

- `mask_tokens` hides 15% of the tokens the way the paper does (80% [MASK], 10% a
  random token, 10% unchanged) and returns the labels the MLM loss needs (-100
  everywhere else).
- `make_nsp_pairs` cuts documents into "[CLS] A [SEP] B [SEP]" examples, B being the
  true continuation half of the time and a segment of another document otherwise.
- `MLMCollator` / `PretrainingCollator` turn examples into padded, masked batches for
  `fit`.
- `evaluate_pretraining` scores a model on held-out text (strict masked accuracy
  against the most-frequent-piece baseline, NSP accuracy with its interval).
- `pretrain`, `small_bert` and `recipe` train (or load from the cache) a small BERT on
  WikiText-2; `run_long` and `python -m bertmini.pretraining` make the shipped model
  (`load_run`).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import random
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Sequence

import torch

from . import files
from ._validate import (
    as_path,
    check_bool,
    check_finite_logits,
    check_int,
    check_number,
    check_str,
    check_tokenizer,
    read_text,
)
from .data import DATASETS
from .device import cpu_name, evaluating
from .heads import IGNORE_INDEX, BertForMaskedLM, BertForPreTraining
from .model import BertPreTrainedModel
from .tokenizer import Tokenizer

IS_NEXT, NOT_NEXT = 0, 1  # Hugging Face's convention for next_sentence_label


# ------------------------------------------------------------------ masked language
# modelling
def mask_tokens(
    input_ids: torch.Tensor,
    special_tokens_mask_or_tokenizer,
    mlm_probability: float = 0.15,
    generator: torch.Generator | None = None,
    *,
    mask_token_id: int | None = None,
    vocab_size: int | None = None,
    special_token_ids: set[int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Choose `mlm_probability` of the ordinary tokens; replace 80% of those by [MASK],
    10% by a random ordinary token, leave 10% unchanged. Returns (masked_input_ids,
    labels), both (B, T).

    Why not always [MASK]? [MASK] never occurs when the model is fine-tuned; sometimes
    keeping or swapping the token forces the model to build a good representation of
    *every* input token.

    The second argument is a Tokenizer (its special tokens, padding included, are never
    chosen) or a bool (B, T) mask of positions that must not be chosen; the latter needs
    `mask_token_id` and `vocab_size` (and `special_token_ids`, never used as random
    replacements).
    """
    if not isinstance(input_ids, torch.Tensor) or input_ids.dtype != torch.long:
        raise TypeError("input_ids must be a LongTensor of token ids")
    check_number(
        "mlm_probability", mlm_probability, 0.0, 1.0, low_open=True, high_open=True
    )
    if isinstance(special_tokens_mask_or_tokenizer, torch.Tensor):
        special = special_tokens_mask_or_tokenizer.bool()
        if special.shape != input_ids.shape:
            raise ValueError(
                f"special_tokens_mask has shape {tuple(special.shape)}, input_ids "
                f"{tuple(input_ids.shape)}"
            )
        if mask_token_id is None or vocab_size is None:
            raise ValueError(
                "with a special_tokens_mask, pass mask_token_id= and vocab_size= too "
                "(or pass the tokenizer instead)"
            )
        vocab_size = check_int("vocab_size", vocab_size, minimum=1)
        mask_token_id = check_int("mask_token_id", mask_token_id, minimum=0)
        if special_token_ids is None:
            special_token_ids = set(input_ids[special].tolist()) | {mask_token_id}
    else:
        tok = special_tokens_mask_or_tokenizer
        if not hasattr(tok, "special_token_ids") or not hasattr(tok, "mask_token_id"):
            raise TypeError(
                "the second argument must be a Tokenizer or a bool special_tokens_mask "
                f"tensor, got {type(tok).__name__}"
            )
        special_token_ids = set(tok.special_token_ids)
        mask_token_id, vocab_size = tok.mask_token_id, tok.vocab_size
        special = torch.isin(input_ids, torch.tensor(sorted(special_token_ids)))
    ordinary_ids = torch.tensor(
        [i for i in range(vocab_size) if i not in special_token_ids]
    )
    if len(ordinary_ids) == 0:
        raise ValueError(
            "the vocabulary has no ordinary (non-special) token to draw replacements "
            "from"
        )

    probability = torch.full(input_ids.shape, mlm_probability).masked_fill_(
        special, 0.0
    )
    chosen = torch.bernoulli(probability, generator=generator).bool()  # (B, T)
    to_mask = (
        torch.bernoulli(torch.full(input_ids.shape, 0.8), generator=generator).bool()
        & chosen
    )
    to_random = (
        torch.bernoulli(torch.full(input_ids.shape, 0.5), generator=generator).bool()
        & chosen
        & ~to_mask
    )  # half of the other 20%
    random_ids = ordinary_ids[
        torch.randint(len(ordinary_ids), input_ids.shape, generator=generator)
    ]

    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    masked = input_ids.clone()
    masked[to_mask] = mask_token_id
    masked[to_random] = random_ids[to_random]
    return masked, labels


def pad_rows(rows: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    """Pad to the longest row of this batch (not a fixed max_length): less compute on
    padding.
    """
    T = max(len(r) for r in rows)
    return torch.tensor(
        [list(r) + [value] * (T - len(r)) for r in rows], dtype=torch.long
    )  # (B, T)


class MLMCollator:
    """Texts (or dicts with `input_ids` [, `token_type_ids`]) -> a padded batch with
    masked inputs.

    Masking happens here, at batch time, so every epoch sees a different mask of the
    same text (RoBERTa's "dynamic masking"). With a `seed` the masks come from a private
    generator whose state `fit` checkpoints (`state_dict`), so a resumed run masks
    exactly as the original did; without one they come from torch's global RNG. (With
    DataLoader workers each worker masks with its own copy of the generator; use
    num_workers=0 where exact resumption matters.)
    """

    def __init__(
        self,
        tokenizer,
        mlm_probability: float = 0.15,
        max_length: int = 128,
        seed: int | None = None,
    ):
        check_number(
            "mlm_probability", mlm_probability, 0.0, 1.0, low_open=True, high_open=True
        )
        max_length = check_int("max_length", max_length, minimum=3)
        seed = check_int("seed", seed, minimum=0, optional=True)
        check_tokenizer(tokenizer)  # its special ids are read at every batch
        self.tokenizer, self.mlm_probability, self.max_length = (
            tokenizer,
            mlm_probability,
            max_length,
        )
        self.generator = (
            torch.Generator().manual_seed(seed) if seed is not None else None
        )

    def encode(self, example) -> dict:
        if isinstance(example, str):
            ids = self.tokenizer.encode(example)[: self.max_length]
            if len(ids) == self.max_length:
                ids[-1] = (
                    self.tokenizer.sep_token_id
                )  # truncated: keep the closing [SEP]
            return {"input_ids": ids, "token_type_ids": [0] * len(ids)}
        if isinstance(example, dict) and "input_ids" in example:
            ids = list(map(int, example["input_ids"]))
            types = example.get("token_type_ids", [0] * len(ids))
            if len(types) != len(ids):
                raise ValueError(
                    f"token_type_ids has {len(types)} entries but input_ids {len(ids)}"
                )
            return {"input_ids": ids, "token_type_ids": list(map(int, types))}
        raise TypeError(
            f"an MLM example is a string or a dict with input_ids, got {type(example).__name__}"
        )

    def __call__(self, examples: Sequence) -> dict[str, torch.Tensor]:
        if len(examples) == 0:
            raise ValueError("cannot collate an empty batch")
        rows = [self.encode(e) for e in examples]
        input_ids = pad_rows(
            [r["input_ids"] for r in rows], self.tokenizer.pad_token_id
        )  # (B, T)
        masked, labels = mask_tokens(
            input_ids, self.tokenizer, self.mlm_probability, self.generator
        )
        return {
            "input_ids": masked,
            "attention_mask": pad_rows([[1] * len(r["input_ids"]) for r in rows], 0),
            "token_type_ids": pad_rows([r["token_type_ids"] for r in rows], 0),
            "labels": labels,
        }

    def state_dict(self) -> dict:
        return (
            {"generator": self.generator.get_state()}
            if self.generator is not None
            else {}
        )

    def load_state_dict(self, state: dict) -> None:
        """Restore the mask generator saved by `state_dict` (a checkpoint's
        collator state); a collator without a seed has nothing to restore."""
        if not isinstance(state, dict):
            raise TypeError(
                "state must be the dict returned by state_dict(), got "
                f"{type(state).__name__}"
            )
        saved = state.get("generator")
        if saved is not None and (
            not isinstance(saved, torch.Tensor) or saved.dtype != torch.uint8
        ):
            raise TypeError(
                "state['generator'] must be the uint8 tensor of "
                f"torch.Generator.get_state(), got {type(saved).__name__}"
            )
        if self.generator is not None and saved is not None:
            try:
                self.generator.set_state(saved)
            except RuntimeError:  # a state of the wrong size, e.g. from a CUDA one
                raise ValueError(
                    f"state['generator'] holds {saved.numel()} bytes, not the state of "
                    "a CPU torch.Generator; pass what state_dict() returned"
                ) from None


class PretrainingCollator(MLMCollator):
    """NSP examples (from `make_nsp_pairs`) -> the inputs of `BertForPreTraining`, both
    losses' labels.
    """

    def __call__(self, examples: Sequence[dict]) -> dict[str, torch.Tensor]:
        batch = super().__call__(examples)
        batch["next_sentence_label"] = torch.tensor(
            [int(e["next_sentence_label"]) for e in examples]
        )
        return batch


# ------------------------------------------------------------------ next-sentence
# prediction
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")


def split_sentences(text: str) -> list[str]:
    """A deliberately simple splitter: break after . ! or ? followed by a space."""
    check_str("text", text)
    return [s.strip() for s in SENTENCE_END.split(text) if s.strip()]


def document_list(documents: Any) -> list:
    """`documents` as a list: never a lone document, never empty."""
    if isinstance(documents, (str, dict)):
        raise TypeError(
            "documents must be a list of documents, got a single "
            f"{type(documents).__name__} (wrap it in a list)"
        )
    if not isinstance(documents, Iterable):
        raise TypeError(
            f"documents must be a list of documents, got {type(documents).__name__}"
        )
    documents = list(documents)
    if not documents:
        raise ValueError("documents is empty: pass at least one document")
    return documents


def record_paragraphs(document: Any, name: str = "document") -> list[str]:
    """The paragraphs of a {"paragraphs": [str, ...]} record (`load_documents`'s
    format), checked: a string there would be read one character at a time."""
    if not isinstance(document, dict):
        raise TypeError(
            f"{name} must be a {{'paragraphs': [...]}} record, got "
            f"{type(document).__name__}"
        )
    if "paragraphs" not in document:
        raise ValueError(
            f"{name} needs a 'paragraphs' list, got keys {sorted(document)}"
        )
    ps = document["paragraphs"]
    if not isinstance(ps, (list, tuple)):
        raise TypeError(
            f"{name}['paragraphs'] must be a list of paragraph strings, got "
            f"{type(ps).__name__}"
        )
    return [check_str(f"{name}['paragraphs'][{j}]", p) for j, p in enumerate(ps)]


def document_sentences(document, name: str = "document") -> list[str]:
    """A document as a list of sentences: from a list of sentences, a text, or a
    {"paragraphs": [...]} record. `name` is what an error calls it.
    """
    if isinstance(document, str):
        return split_sentences(document)
    if isinstance(document, dict):
        return [
            s for p in record_paragraphs(document, name) for s in split_sentences(p)
        ]
    if not isinstance(document, (list, tuple)):
        raise TypeError(
            f"{name} must be a text, a list of sentences or a {{'paragraphs': [...]}} "
            f"record, got {type(document).__name__}"
        )
    return [s for j, s in enumerate(document) if check_str(f"{name}[{j}]", s).strip()]


def make_nsp_pairs(
    documents: Sequence,
    tokenizer,
    max_length: int = 128,
    seed: int = 0,
    short_seq_prob: float = 0.1,
) -> list[dict]:
    """Sentence-pair examples for next-sentence prediction, built like the original BERT
    data.

    Sentences of a document are packed greedily into a chunk of about max_length - 3
    tokens (sometimes shorter, with `short_seq_prob`, so the model also sees short
    inputs); the chunk is split at a random sentence boundary into A and B. With
    probability 1/2, B is replaced by text from a random *other* document (label 1 =
    NotNext) and the unused sentences are put back. Each example: input_ids ([CLS] A
    [SEP] B [SEP]), token_type_ids (0 ... 0 1 ... 1), next_sentence_label, and doc_a /
    doc_b (the documents the segments came from).

    A document is a text, a list of sentences or a {"paragraphs": [str, ...]} record
    (what `load_documents` returns); at least two must have text.
    """
    max_length = check_int("max_length", max_length)
    if max_length < 8:
        raise ValueError(
            f"max_length must be at least 8 to hold two segments, got {max_length}"
        )
    seed = check_int("seed", seed)
    check_number("short_seq_prob", short_seq_prob, 0.0, 1.0)
    check_tokenizer(tokenizer)
    docs = [
        document_sentences(d, f"documents[{i}]")
        for i, d in enumerate(document_list(documents))
    ]
    encoded = tokenizer.backend.encode_batch(
        [s for d in docs for s in d], add_special_tokens=False
    )
    tokens, k = [], 0
    for d in (
        docs
    ):  # (doc, sentence) -> token ids; sentences that tokenize to nothing are dropped
        tokens.append([e.ids for e in encoded[k : k + len(d)] if e.ids])
        k += len(d)
    usable = [i for i, d in enumerate(tokens) if d]
    if len(usable) < 2:
        raise ValueError(
            "make_nsp_pairs needs at least 2 non-empty documents: NotNext segments "
            "come from a different document"
        )
    rng = random.Random(seed)
    budget = max_length - 3  # room left by [CLS], [SEP], [SEP]
    examples = []
    for doc_index in usable:
        doc = tokens[doc_index]
        target = rng.randint(2, budget) if rng.random() < short_seq_prob else budget
        chunk, length, i = [], 0, 0
        while i < len(doc):
            chunk.append(doc[i])
            length += len(doc[i])
            if i == len(doc) - 1 or length >= target:
                a_end = rng.randint(1, len(chunk) - 1) if len(chunk) > 1 else 1
                a = [t for s in chunk[:a_end] for t in s]
                if rng.random() < 0.5:
                    label, b_doc = (
                        NOT_NEXT,
                        rng.choice([j for j in usable if j != doc_index]),
                    )
                    b = random_segment(tokens[b_doc], max(1, target - len(a)), rng)
                    i -= (
                        len(chunk) - a_end
                    )  # the sentences not used as B start the next chunk
                else:
                    label, b_doc = IS_NEXT, doc_index
                    b = [t for s in chunk[a_end:] for t in s]
                    if (
                        not b
                    ):  # a one-sentence chunk: its continuation is its own second half
                        if len(a) < 2:
                            chunk, length, i = [], 0, i + 1
                            continue
                        cut = rng.randint(1, len(a) - 1)
                        a, b = a[:cut], a[cut:]
                a, b = truncate_pair(a, b, budget, rng)
                examples.append(
                    {
                        "input_ids": [
                            tokenizer.cls_token_id,
                            *a,
                            tokenizer.sep_token_id,
                            *b,
                            tokenizer.sep_token_id,
                        ],
                        "token_type_ids": [0] * (len(a) + 2) + [1] * (len(b) + 1),
                        "next_sentence_label": label,
                        "doc_a": doc_index,
                        "doc_b": b_doc,
                    }
                )
                chunk, length = [], 0
                target = (
                    rng.randint(2, budget) if rng.random() < short_seq_prob else budget
                )
            i += 1
    return examples


def random_segment(
    sentences: list[list[int]], target: int, rng: random.Random
) -> list[int]:
    """Consecutive sentences from a random start until `target` tokens are reached."""
    start = rng.randrange(len(sentences))
    out: list[int] = []
    for s in sentences[start:]:
        out += s
        if len(out) >= target:
            break
    return out


def truncate_pair(
    a: list[int], b: list[int], budget: int, rng: random.Random
) -> tuple[list[int], list[int]]:
    """Trim the longer segment, from its front or back at random, until both fit in
    `budget`.
    """
    a, b = list(a), list(b)
    while len(a) + len(b) > budget:
        longer = a if len(a) > len(b) else b
        del longer[0 if rng.random() < 0.5 else -1]
    return a, b


# ------------------------------------------------------------------ which articles to
# train on
# WikiText-2's train split is not in the offline mirror, so offline the recipe trains on
# the
# validation articles plus the test articles minus the last six, which are held out for
# evaluation. Online, split="train" gives the official training split (test[-6:] stays
# held out).
OFFLINE_TRAIN_SPLIT = "valid+test[:-6]"
HELD_OUT_SPLIT = "test[-6:]"
SPLIT_PART = re.compile(
    r"(?P<name>[a-z]+)(?:\[(?P<start>(?:-?\d+)?):(?P<stop>(?:-?\d+)?)\])?"
)
WIKITEXT_SPLITS = tuple(
    DATASETS["wikitext2"].files
)  # the registry's: train, valid, test


def parse_split(split: str | Sequence[str]) -> list[tuple[str, slice]]:
    """ "valid+test[:-6]" (or ["valid", "test[:-6]"]) -> [("valid", slice(None)),
    ("test", slice(None, -6))].

    The slices count *articles*, like Python slices, so "test[-6:]" is the last six
    articles. A misspelt name or a slice that can select nothing ("valid[5:2]") is
    refused here, before a cache key or a training run is built from it.
    """
    if isinstance(split, str):
        parts = split.split("+")
    elif isinstance(split, (list, tuple)):
        parts = list(split)
    else:
        raise TypeError(
            "split must be a name like 'valid', 'valid+test[:-6]' or a list of them, "
            f"got {split!r} ({type(split).__name__})"
        )
    if not parts or not all(isinstance(p, str) and p.strip() for p in parts):
        raise ValueError(
            f"split must be a name like 'valid', 'valid+test[:-6]' or a list of them, got {split!r}"
        )
    out = []
    for part in parts:
        m = SPLIT_PART.fullmatch(part.strip())
        if m is None:
            raise ValueError(
                f"cannot read the split {part!r}: write a split name with an optional article "
                "slice, e.g. 'valid', 'test[:-6]' or 'test[-6:]'"
            )
        if m["name"] not in WIKITEXT_SPLITS:
            raise ValueError(
                f"unknown split name {m['name']!r} in split={split!r}; choose from "
                f"{list(WIKITEXT_SPLITS)}"
            )
        start, stop = (int(x) if x else None for x in (m["start"], m["stop"]))
        if start is not None and stop is not None and (start < 0) == (stop < 0):
            if start >= stop:
                raise ValueError(
                    f"the split {part!r} selects no articles: its slice start must be "
                    "below its stop"
                )
        out.append((m["name"], slice(start, stop)))
    return out


def canonical_split(split: str | Sequence[str]) -> str:
    """One spelling per selection of articles (for the cache key): ["valid",
    "test[:-6]"] -> "valid+test[:-6]".
    """

    def fmt(s: slice) -> str:
        if s.start is None and s.stop is None:
            return ""
        return (
            f"[{'' if s.start is None else s.start}:{'' if s.stop is None else s.stop}]"
        )

    return "+".join(name + fmt(s) for name, s in parse_split(split))


WIKITEXT_ESCAPES = [(" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."), ("<unk>", "[UNK]")]


def clean_wikitext(text: str) -> str:
    """Undo WikiText's tokenization escapes ("1 @,@ 000" -> "1,000") and write its
    rare-word marker <unk> as BERT's [UNK] (one special token, never masked) instead of
    three pieces "<", "unk",
    ">" that would be the easiest tokens to predict and inflate the masked-token accuracy."""
    for escaped, plain in WIKITEXT_ESCAPES:
        text = text.replace(escaped, plain)
    return text


def load_documents(
    split: str | Sequence[str] = OFFLINE_TRAIN_SPLIT, data: str = "wikitext2"
) -> list[dict]:
    """WikiText-2 articles ({"title", "paragraphs"}) of one or more splits, each
    optionally sliced,
    their text cleaned with `clean_wikitext`."""
    if data != "wikitext2":
        raise ValueError(f"only data='wikitext2' is known, got {data!r}")
    from .data import load_wikitext2

    documents = []
    for name, articles in parse_split(split):
        documents += [
            {
                "title": clean_wikitext(d["title"]),
                "paragraphs": [clean_wikitext(p) for p in d["paragraphs"]],
            }
            for d in load_wikitext2(name)[articles]
        ]
    if not documents:
        raise ValueError(f"the split {split!r} selects no articles")
    return documents


# ------------------------------------------------------------------ measuring what was
# learned
def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% for z=1.96).

    Better than p ± z·sqrt(p(1-p)/n) for small n or p near 0 or 1: it never leaves [0,
    1] and its coverage is close to the nominal 95%. An accuracy "above chance" needs
    low > 0.5.
    """
    correct = check_int("correct", correct)
    n = check_int("n", n)
    check_number("z", z, 0.0, low_open=True)
    if n <= 0 or not 0 <= correct <= n:
        raise ValueError(
            f"need 0 <= correct <= n and n > 0, got correct={correct}, n={n}"
        )
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def shuffle_visible_tokens(
    input_ids: torch.Tensor,
    labels: torch.Tensor,
    tokenizer,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Permute, within each row of (B, T) ids, the tokens that are neither masked
    (label != -100) nor special: a bag of the same words in a random order."""
    fixed = (labels != IGNORE_INDEX) | torch.isin(
        input_ids, torch.tensor(sorted(tokenizer.special_token_ids))
    )
    out = input_ids.clone()
    for row in range(len(out)):
        free = (~fixed[row]).nonzero().squeeze(1)  # (n,) positions to permute
        order = free[torch.randperm(len(free), generator=generator)]
        out[row, free] = input_ids[row, order]
    return out


def check_mlm_model(model: Any, tokenizer) -> None:
    """A model that predicts the tokenizer's tokens: BertForPreTraining, BertForMaskedLM,
    or any module whose output has `prediction_logits` or `logits` over the
    vocabulary (that part is checked on the output, by `vocab_logits`)."""
    if not isinstance(model, torch.nn.Module) or (
        isinstance(model, BertPreTrainedModel)
        and not isinstance(model, (BertForPreTraining, BertForMaskedLM))
    ):
        raise TypeError(
            "model must be a masked language model such as BertForPreTraining or "
            f"BertForMaskedLM, got {type(model).__name__}"
        )
    vocab_size = getattr(getattr(model, "config", None), "vocab_size", None)
    if vocab_size is not None and vocab_size != tokenizer.vocab_size:
        raise ValueError(
            f"the model has a vocabulary of {vocab_size} tokens but the tokenizer has "
            f"{tokenizer.vocab_size}: pass the tokenizer the model was trained with"
        )


def vocab_logits(out, tokenizer) -> torch.Tensor:
    """The MLM logits (..., V) of a model's output, checked: over the tokenizer's
    vocabulary, and finite."""
    logits = getattr(out, "prediction_logits", None)
    if logits is None:
        logits = getattr(out, "logits", None)
    if not isinstance(logits, torch.Tensor) or logits.dim() < 2:
        raise TypeError(
            f"the model's output ({type(out).__name__}) has no prediction_logits or "
            "logits: pass a masked language model such as BertForPreTraining"
        )
    if logits.size(-1) != tokenizer.vocab_size:
        raise ValueError(
            f"the model scores {logits.size(-1)} classes per position, but the "
            f"tokenizer has {tokenizer.vocab_size} tokens: pass a masked language model "
            "trained with this tokenizer"
        )
    check_finite_logits(logits)
    return logits


@torch.no_grad()
def evaluate_pretraining(
    model,
    tokenizer,
    documents: Sequence,
    max_length: int = 128,
    batch_size: int = 64,
    seed: int = 0,
    mlm_probability: float = 0.15,
    only_mask: bool = True,
    shuffle_context: bool = False,
) -> dict:
    """Held-out masked-token accuracy (with its baseline) and next-sentence accuracy
    (with a 95% interval).

    The pairs and the masks are a pure function of `seed`, so two models are scored on
    exactly the same masked tokens. The baseline always predicts the most frequent token
    among the masked targets: a model that only learned "the" reaches it, so accuracy
    is judged against it, not 0.

    With `only_mask` (the default) every chosen token is replaced by [MASK], instead of
    the 80/10/10 of training: the 10% left unchanged would let a model score by copying
    its input (about 10 points of accuracy for free), which is not what "predicting a
    hidden word" means.

    With `shuffle_context` the visible tokens of each example are put in a random
    order (the masked positions and the special tokens stay where they are): the same
    words, no word order. Accuracy with the real context minus accuracy with it
    shuffled is the *context-ablation gap*: what the model gains from word order. A
    model that only learned word frequencies, or only which words occur together,
    has a gap of about 0.

    A model without an NSP head (`BertForMaskedLM`: its forward takes no
    `next_sentence_label`) is scored on MLM only: its "nsp_accuracy" and "nsp_ci95" are
    None and "n_nsp" is 0. A model whose logits are NaN or infinite is refused
    (ValueError), as is one that does not predict the tokenizer's tokens.
    """
    batch_size = check_int("batch_size", batch_size, minimum=1)
    for name, flag in (("only_mask", only_mask), ("shuffle_context", shuffle_context)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    check_tokenizer(tokenizer)
    check_mlm_model(model, tokenizer)
    takes_nsp = "next_sentence_label" in inspect.signature(model.forward).parameters
    examples = make_nsp_pairs(documents, tokenizer, max_length=max_length, seed=seed)
    if not examples:
        raise ValueError(
            "the documents gave no next-sentence pairs to evaluate on (each needs at "
            "least two sentences)"
        )
    collate = PretrainingCollator(
        tokenizer, mlm_probability=mlm_probability, max_length=max_length, seed=seed
    )
    device = next(model.parameters()).device
    shuffler = torch.Generator().manual_seed(seed)
    targets, hits, nsp_hits, nsp_n, mlm_loss_sum = [], 0, 0, 0, 0.0
    with evaluating(model):
        for i in range(0, len(examples), batch_size):
            batch = {
                k: v.to(device)
                for k, v in collate(examples[i : i + batch_size]).items()
            }
            if (
                only_mask
            ):  # every chosen token shown as [MASK]: predicted from its context alone
                batch["input_ids"] = batch["input_ids"].masked_fill(
                    batch["labels"] != IGNORE_INDEX, tokenizer.mask_token_id
                )
            if shuffle_context:
                batch["input_ids"] = shuffle_visible_tokens(
                    batch["input_ids"], batch["labels"], tokenizer, shuffler
                )
            nsp = batch["next_sentence_label"]  # (B,)
            if not takes_nsp:
                del batch["next_sentence_label"]
            out = model(**batch)
            # with labels: logits at the N masked positions only, (N, V)
            logits = vocab_logits(out, tokenizer)
            labels = batch["labels"][batch["labels"] != IGNORE_INDEX]  # (N,)
            hits += int((logits.argmax(-1) == labels).sum())
            mlm_loss = getattr(out, "mlm_loss", None)  # BertForMaskedLM: its loss
            mlm_loss_sum += float(out.loss if mlm_loss is None else mlm_loss) * len(
                labels
            )
            targets.append(labels.cpu())
            nsp_logits = getattr(out, "seq_relationship_logits", None)  # (B, 2)
            if nsp_logits is not None:
                check_finite_logits(nsp_logits)
                nsp_hits += int((nsp_logits.argmax(-1) == nsp).sum())
                nsp_n += len(nsp)
    targets = torch.cat(targets)
    n = len(targets)
    if n == 0:
        raise ValueError(
            "no token was masked in these documents: there is no MLM accuracy to report "
            "(use more text or a higher mlm_probability)"
        )
    counts = torch.bincount(targets)
    return {
        "mlm_accuracy": hits / n,
        "baseline_accuracy": float(counts.max()) / n,
        "baseline_token": tokenizer.convert_ids_to_tokens(int(counts.argmax())),
        "n_masked": n,
        "mlm_loss": mlm_loss_sum / n,
        "nsp_accuracy": nsp_hits / nsp_n if nsp_n else None,
        "nsp_ci95": wilson_interval(nsp_hits, nsp_n) if nsp_n else None,
        "n_nsp": nsp_n,
    }


@torch.no_grad()
def fill_mask(model, tokenizer, text: str, k: int = 5) -> list[list[tuple[str, float]]]:
    """The top-k tokens (with probabilities) the model predicts at each [MASK] of
    `text`.

    The model must predict the tokenizer's tokens (BertForPreTraining, BertForMaskedLM);
    a classifier is refused, and so are NaN or infinite logits (ValueError).
    """
    check_str("text", text)
    k = check_int("k", k, minimum=1)
    check_tokenizer(tokenizer)
    check_mlm_model(model, tokenizer)
    k = min(k, tokenizer.vocab_size)
    pieces = text.split(
        "[MASK]"
    )  # encoded around the [MASK]s, whatever the tokenizer makes of "[MASK]"
    if len(pieces) < 2:
        raise ValueError(f"the text has no [MASK] token: {text!r}")
    ids = [tokenizer.cls_token_id]
    for i, piece in enumerate(pieces):
        ids += (
            tokenizer.encode(piece, add_special_tokens=False) if piece.strip() else []
        )
        ids += (
            [tokenizer.mask_token_id]
            if i < len(pieces) - 1
            else [tokenizer.sep_token_id]
        )
    positions = [i for i, t in enumerate(ids) if t == tokenizer.mask_token_id]
    device = next(model.parameters()).device
    with evaluating(model):
        out = model(
            torch.tensor([ids], device=device)
        )  # no labels: logits at every position
    logits = vocab_logits(out, tokenizer)  # (1, T, V)
    probs = logits[0, positions].float().softmax(-1)  # (M, V)
    top = probs.topk(k, dim=-1)
    return [
        [(tokenizer.convert_ids_to_tokens(int(i)), float(p)) for p, i in zip(ps, ix)]
        for ps, ix in zip(top.values, top.indices)
    ]


# ------------------------------------------------------------------------------------
# A small pretrained BERT

# Bump when the data preparation changes, so that old cached models are not reused
RECIPE_VERSION = 5

# Held-out sentences with one word hidden, (text, the hidden word): chapter 5 and the
# long run's records ask the model about the same four.
PROBES = [
    (
        "The Commission is also responsible for commemorating Commonwealth civilians "
        "who died as a result of enemy action during World [MASK] II .",
        "war",
    ),
    (
        "20 boats were constructed , most of which went into [MASK] with the German "
        "Imperial Navy .",
        "service",
    ),
    ("The film was shot on location in New York [MASK] .", "city"),
    ("On the same day , [UNK] was declared [MASK] by the Roman Senate .", "emperor"),
]


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where trained small BERTs are kept (see `bertmini.files.cache_dir`)."""
    return files.cache_dir(cache_dir)


def train_tokenizer(documents: Sequence[dict], vocab_size: int = 2000):
    """A WordPiece vocabulary learned from the articles' paragraphs, that reads "[UNK]"
    (and the other special tokens) in a text as the special token."""
    # [UNK] is a marker, not a word: left out of the counts
    texts = [
        p.replace("[UNK]", " ")
        for i, d in enumerate(document_list(documents))
        for p in record_paragraphs(d, f"documents[{i}]")
    ]
    tokenizer = Tokenizer.train(texts, vocab_size=vocab_size)
    recognise_special_tokens(tokenizer)
    return tokenizer


def recognise_special_tokens(tokenizer) -> None:
    """Make "[UNK]" or "[MASK]" written in a text encode as the special token, not as
    "[", "mask", "]" (a tokenizer loaded from a tokenizer.json already does this; one
    built from a vocabulary may not)."""
    from tokenizers import AddedToken

    names = [
        tokenizer.convert_ids_to_tokens(i) for i in sorted(tokenizer.special_token_ids)
    ]
    tokenizer.backend.add_special_tokens(
        [AddedToken(t, normalized=False, special=True) for t in names]
    )


def make_mlm_windows(
    documents: Sequence[dict], tokenizer, max_length: int = 128
) -> list[dict]:
    """Each article's text cut into consecutive windows "[CLS] ... [SEP]" of
    `max_length` tokens (the last one of an article shorter): masked-language
    training examples without next-sentence pairs, as RoBERTa trains (its
    "doc-sentences", one article per window). Every visible token is real context.

    `documents` are {"paragraphs": [str, ...]} records, as `load_documents` returns.
    """
    max_length = check_int("max_length", max_length, minimum=3)
    check_tokenizer(tokenizer)
    texts = [
        " ".join(record_paragraphs(d, f"documents[{i}]"))
        for i, d in enumerate(document_list(documents))
    ]
    encoded = tokenizer.backend.encode_batch(texts, add_special_tokens=False)
    n = max_length - 2  # room left by [CLS] and [SEP]
    windows = []
    for e in encoded:
        ids = e.ids
        for i in range(0, len(ids), n):
            if len(ids[i : i + n]) >= n // 4:  # a scrap at an article's end: dropped
                windows.append(
                    {
                        "input_ids": [
                            tokenizer.cls_token_id,
                            *ids[i : i + n],
                            tokenizer.sep_token_id,
                        ]
                    }
                )
    return windows


def small_bert_config(vocab_size: int = 2000, max_length: int = 128, **changes):
    """2 layers, hidden 128, 2 heads: small enough to learn something in minutes on a
    CPU. `changes` replace fields (e.g. alibi=True, num_attention_heads=4).

    Why a 2,000-piece vocabulary? Time: the output layer scores every piece at each
    masked position, so with fewer pieces a step is cheaper; and a piece's output score
    is rewarded only where that piece is the masked target, so with fewer pieces each
    one is a target more often. A larger vocabulary is not worse per step, though. The
    "alibi" recipe for 1,000 steps (benchmarks/pretraining_recipes.py, results in
    pretraining_recipes/vocab*.json; one run each, 2 threads, 2026-12-03), scored by the
    strict masked accuracy on the held-out articles as a multiple of the
    most-frequent-piece baseline, and by the points it loses when the visible tokens are
    shuffled:

        2,000 pieces  1.75x   4.8 points   102 s
        4,000 pieces  1.81x   5.6 points   108 s
        8,000 pieces  1.90x   6.9 points   185 s

    Each vocabulary cuts the held-out text into different pieces, so the comparison is
    rough. 2,000 stays the default: chapter 5's measurements and the shipped model use
    it. (The first version of this docstring favoured 2,000 with BERT's recipe on the
    80/10/10 metric, which counts the tenth of the chosen tokens left unchanged, where
    a model can score by copying.)
    """
    from .config import BertConfig

    sizes = dict(
        vocab_size=vocab_size,
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=512,
        max_position_embeddings=max_length,
    )
    return BertConfig(**{**sizes, **changes})


# Two recipes for `small_bert`, by name. "bert" is the paper's recipe made small: MLM
# (15%) + NSP, learned positions only; in minutes it stays on the "frequencies only"
# plateau. "alibi" is what left the plateau in chapter 5's comparison: ALiBi distance
# biases (so a head can find a token's neighbours from the first step), 4 heads,
# 40% masking (Wettig et al. 2022), no dropout and no NSP (RoBERTa; Geiping &
# Goldstein 2022), lr 1e-3. The shipped model is "alibi" for 6,000 steps.
RECIPES: dict[str, dict] = {
    "bert": dict(
        config_changes={},
        steps=1000,
        lr=2e-3,
        mlm_probability=0.15,
        nsp=True,
    ),
    "alibi": dict(
        config_changes=dict(
            alibi=True,
            num_attention_heads=4,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
        ),
        steps=6000,
        lr=1e-3,
        mlm_probability=0.4,
        nsp=False,
    ),
}


def fit_vocabulary(config, tokenizer):
    """The config with `vocab_size` set to the tokenizer's: a small corpus can give
    fewer pieces than asked for, and rows the tokenizer can never produce would only
    be predicted, never seen."""
    import dataclasses

    if config.vocab_size == tokenizer.vocab_size:
        return config
    return dataclasses.replace(config, vocab_size=tokenizer.vocab_size)


def new_small_bert(config, seed: int = 0):
    """`BertForPreTraining` with random weights drawn from `seed`."""
    # torch.manual_seed would read "3" or 2.5 as a seed, and fail on inf deep inside
    torch.manual_seed(check_int("seed", seed))
    return BertForPreTraining(config)


def pretrain(
    model,
    documents: Sequence[dict],
    tokenizer,
    *,
    steps: int,
    seed: int = 0,
    max_length: int = 128,
    batch_size: int = 32,
    lr: float = 2e-3,
    warmup_ratio: float = 0.06,
    mlm_probability: float = 0.15,
    nsp: bool = True,
    stop_after: int | None = None,
    threads: int | None = None,
    callbacks: Sequence = (),
    progress: bool = True,
):
    """Train a `BertForPreTraining` (e.g. `new_small_bert(config, seed)`) on
    `documents`: MLM, plus NSP if `nsp`. Returns (model, history).

    The learning rate warms up over `warmup_ratio` of `steps`, then decays linearly to
    0 at `steps`. `stop_after` ends the run earlier on that same schedule, so its
    steps are exactly the first steps of the full run (how chapter 5 shows the start
    of the long run live). Masks come fresh at every batch from a generator seeded by
    `seed`: the whole run is a function of its arguments (and, in its last bits, of
    the machine: see `tests/test_pretraining.py`).
    """
    from .train import StopTraining, TrainConfig, fit

    steps = check_int("steps", steps, minimum=1)
    stop_after = check_int("stop_after", stop_after, minimum=1, optional=True)
    check_bool("nsp", nsp)  # "no" would train with NSP
    if isinstance(callbacks, (str, dict)) or not isinstance(callbacks, Sequence):
        raise TypeError(
            "callbacks must be a list of functions cb(step, logs), got "
            f"{type(callbacks).__name__}"
        )
    if nsp:
        examples = make_nsp_pairs(
            documents, tokenizer, max_length=max_length, seed=seed
        )
        for e in examples:
            del e["doc_a"], e["doc_b"]
        collate = PretrainingCollator(
            tokenizer, mlm_probability, max_length=max_length, seed=seed
        )
    else:
        examples = make_mlm_windows(documents, tokenizer, max_length)
        collate = MLMCollator(
            tokenizer, mlm_probability, max_length=max_length, seed=seed
        )

    def stop(step: int, logs: dict) -> None:
        if stop_after is not None and step >= stop_after:
            raise StopTraining

    train_config = TrainConfig(
        lr=lr,
        max_steps=steps,
        batch_size=batch_size,
        warmup_ratio=warmup_ratio,
        seed=seed,
        threads=threads,
        progress=progress,
    )
    history = fit(
        model, examples, train_config, collate_fn=collate, callbacks=[*callbacks, stop]
    )
    return model.eval(), history


def small_bert(
    config=None,
    *,
    data: str = "wikitext2",
    split: str | Sequence[str] = OFFLINE_TRAIN_SPLIT,
    steps: int = 1000,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    force: bool = False,
    vocab_size: int = 2000,
    max_length: int = 128,
    batch_size: int = 32,
    lr: float = 2e-3,
    warmup_ratio: float = 0.06,
    mlm_probability: float = 0.15,
    nsp: bool = True,
    stop_after: int | None = None,
    progress: bool = True,
    pretrained: str | None = None,
):
    """Pretrain a small BERT on WikiText-2, or load the one trained before with the
    same settings. Returns (model, tokenizer, history).

    The defaults are `RECIPES["bert"]`; `small_bert(**recipe("alibi"))` is the recipe
    that leaves the plateau. Offline the default `split` is every mirrored article
    except the held-out HELD_OUT_SPLIT; pass split="train" online for the official
    training split. The cache key hashes every setting that changes the result, so
    changing any of them trains a new model instead of returning a stale one.

    `pretrained="long"` trains nothing: it loads the model shipped inside the package,
    the "alibi" recipe run for 6,000 steps by `python -m bertmini.pretraining`.
    """
    if pretrained is not None:
        if pretrained != "long":
            raise ValueError(f"pretrained must be 'long' or None, got {pretrained!r}")
        return load_run(SHIPPED_DIR)
    config = config or small_bert_config(vocab_size, max_length)
    settings = {
        "recipe": RECIPE_VERSION,
        "config": config.to_dict(),
        "data": data,
        "split": canonical_split(split),
        "steps": steps,
        "stop_after": stop_after,
        "seed": seed,
        "lr": lr,
        "warmup_ratio": warmup_ratio,
        "mlm_probability": mlm_probability,
        "nsp": nsp,
        "vocab_size": config.vocab_size,
        "max_length": max_length,
        "batch_size": batch_size,
    }
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    directory = cache_root(cache_dir) / f"small_bert-{key}"
    if (directory / "history.json").exists() and not force:
        history = read_history(directory / "history.json")
        return (
            BertForPreTraining.from_pretrained(directory),
            Tokenizer.from_pretrained(directory),
            history,
        )

    documents = load_documents(split, data)  # 1. raw text
    tokenizer = train_tokenizer(documents, config.vocab_size)  # 2. its vocabulary
    config = fit_vocabulary(config, tokenizer)
    model, history = pretrain(  # 3. MLM (+ NSP) from random weights
        new_small_bert(config, seed),
        documents,
        tokenizer,
        steps=steps,
        seed=seed,
        max_length=max_length,
        batch_size=batch_size,
        lr=lr,
        warmup_ratio=warmup_ratio,
        mlm_probability=mlm_probability,
        nsp=nsp,
        stop_after=stop_after,
        progress=progress,
    )
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    # Written last: marks "complete"
    (directory / "history.json").write_text(json.dumps(history.to_dict()))
    return model, tokenizer, history


def recipe(name: str, **changes) -> dict:
    """The keyword arguments of `small_bert` for a named recipe of `RECIPES`, with
    `changes` on top: `small_bert(**recipe("alibi", stop_after=600))`."""
    if name not in RECIPES:
        raise ValueError(f"recipe must be one of {sorted(RECIPES)}, got {name!r}")
    r = dict(RECIPES[name])
    config_changes = r.pop("config_changes")
    vocab_size = changes.get("vocab_size", 2000)
    max_length = changes.get("max_length", 128)
    r["config"] = small_bert_config(vocab_size, max_length, **config_changes)
    return {**r, **changes}


# ------------------------------------------------------------------------------------
# The long run: one command, recorded as it learns, shipped in the package

SHIPPED_DIR = Path(__file__).parent / "small_bert_long"


def record_steps(steps: int) -> list[int]:
    """About eight points, denser at the start where things change fastest."""
    steps = check_int("steps", steps, minimum=1)
    fractions = (1 / 24, 1 / 12, 1 / 6, 1 / 4, 1 / 3, 1 / 2, 3 / 4, 1)
    return sorted({max(1, round(steps * f)) for f in fractions})


def measure_checkpoint(model, tokenizer, held_out: Sequence[dict]) -> dict:
    """What chapter 5 shows at a point of the run: strict accuracy and its baseline,
    the same with the context shuffled, the probes' top-5, and per-head attention
    statistics (share on the previous and next token, mean distance, entropy)."""
    from .viz import measure_heads

    real = evaluate_pretraining(model, tokenizer, held_out)
    shuffled = evaluate_pretraining(model, tokenizer, held_out, shuffle_context=True)
    sentences = [
        s for d in held_out for p in d["paragraphs"] for s in split_sentences(p)
    ]
    heads = measure_heads(model.bert, tokenizer, sentences[:256], batch_size=32)
    return {
        "mlm_accuracy": real["mlm_accuracy"],
        "baseline_accuracy": real["baseline_accuracy"],
        "shuffled_accuracy": shuffled["mlm_accuracy"],
        "context_gap": real["mlm_accuracy"] - shuffled["mlm_accuracy"],
        "mlm_loss": real["mlm_loss"],
        "n_masked": real["n_masked"],
        "probes": [
            {
                "text": text,
                "answer": answer,
                "top5": fill_mask(model, tokenizer, text)[0],
            }
            for text, answer in PROBES
        ],
        "heads": {
            name: heads[name].tolist()
            for name in ("prev", "next", "self", "distance", "entropy")
        },
    }


def run_long(
    out: str | os.PathLike,
    recipe_name: str = "alibi",
    steps: int | None = None,
    seed: int = 0,
    threads: int | None = 1,
    progress: bool = True,
) -> Path:
    """Train a recipe from scratch, measure it at `record_steps`, and write a Hugging
    Face-format folder: config.json, model.safetensors, the tokenizer files,
    history.json (every step's losses), records.json (the measurements) and
    manifest.json (settings, machine, times, sha256 of the weights).

    The folder is written to a temporary sibling and renamed into place at the end: a
    crash leaves no half-written model. An existing `out` is never overwritten.
    `threads=1` by default: the same single-threaded arithmetic on every machine makes
    the run's first steps comparable across machines (see the reproducibility test).
    """
    import platform
    import shutil
    import tempfile
    import time

    from ._validate import as_path
    from .files import sha256_file

    out = as_path("out", out)
    if out.exists():
        raise FileExistsError(f"out: {out} already exists; choose a new folder")
    # Checked before the data is read and a vocabulary trained, not minutes later
    steps = check_int("steps", steps, minimum=1, optional=True)
    seed = check_int("seed", seed, minimum=0)
    threads = check_int("threads", threads, minimum=1, optional=True)
    settings = recipe(recipe_name, seed=seed)
    if steps is not None:
        settings["steps"] = steps
    documents = load_documents(OFFLINE_TRAIN_SPLIT)
    held_out = load_documents(HELD_OUT_SPLIT)
    tokenizer = train_tokenizer(documents, settings["config"].vocab_size)
    points = record_steps(settings["steps"])
    records: list[dict] = []
    measuring = [0.0]  # seconds spent measuring, kept out of the training time

    def record(step: int, logs: dict) -> None:
        if step in points:
            t = time.perf_counter()
            with torch.random.fork_rng():  # measuring must not change the run
                records.append(
                    {"step": step, **measure_checkpoint(model, tokenizer, held_out)}
                )
            measuring[0] += time.perf_counter() - t

    config = fit_vocabulary(settings.pop("config"), tokenizer)
    model = new_small_bert(config, seed)
    start = time.perf_counter()
    model, history = pretrain(
        model,
        documents,
        tokenizer,
        threads=threads,
        callbacks=[record],
        progress=progress,
        **settings,
    )
    wall = time.perf_counter() - start
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        model.save_pretrained(tmp / "model")
        tokenizer.save_pretrained(tmp / "model")
        folder = tmp / "model"
        (folder / "history.json").write_text(json.dumps(history.to_dict()))
        (folder / "records.json").write_text(json.dumps(records, indent=1))
        manifest = {
            "command": f"python -m bertmini.pretraining --recipe {recipe_name} "
            f"--steps {settings['steps']} --seed {seed} --threads {threads} --out DIR",
            "recipe": recipe_name,
            "settings": {**settings, "config": config.to_dict()},
            "train_split": OFFLINE_TRAIN_SPLIT,
            "held_out_split": HELD_OUT_SPLIT,
            "steps": history.step[-1],
            "train_seconds": wall - measuring[0],
            "measure_seconds": measuring[0],
            "threads": threads,
            "machine": {
                "platform": platform.platform(),
                "processor": cpu_name(),
                "cpus": os.cpu_count(),
                "torch": torch.__version__,
                "device": str(next(model.parameters()).device),
            },
            "sha256": {"model.safetensors": sha256_file(folder / "model.safetensors")},
        }
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
        os.replace(folder, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def read_json(path: Path, what: str, expected: type, keys: Sequence[str] = ()) -> Any:
    """The JSON object (`expected=dict`) or list in `path`, with `keys`; else an error
    that names the file and what it should hold."""
    try:
        value = json.loads(read_text(path, what))
    except json.JSONDecodeError as e:
        raise ValueError(
            f"{what} {path} is not valid JSON ({e.msg} at line {e.lineno} column "
            f"{e.colno}); is it corrupt, or the wrong file?"
        ) from None
    if not isinstance(value, expected):
        raise ValueError(
            f"{what} {path} must hold a JSON {'object' if expected is dict else 'list'}"
            f", got a {type(value).__name__}"
        )
    missing = [k for k in keys if k not in value]
    if missing:
        raise ValueError(f"{what} {path} has no {', '.join(missing)}")
    return value


def read_history(path: Path):
    """A `History` saved as JSON by `run_long` or `small_bert`."""
    import dataclasses

    from .train import History

    keys = [f.name for f in dataclasses.fields(History)]
    return History.from_dict(read_json(path, "history file", dict, keys))


def run_folder(folder: str | os.PathLike, needs: Sequence[str]) -> Path:
    """`folder` as a Path, checked to be a directory holding the files `needs`."""
    folder = as_path("folder", folder)
    if not folder.exists():
        raise FileNotFoundError(
            f"folder {folder} does not exist: pass a folder written by run_long"
        )
    if not folder.is_dir():
        raise NotADirectoryError(
            f"folder {folder} is a file: pass the folder run_long wrote"
        )
    missing = [n for n in needs if not (folder / n).exists()]
    if missing:
        raise FileNotFoundError(
            f"{folder} holds no {' or '.join(missing)}: not a run_long folder"
        )
    return folder


def load_run(folder: str | os.PathLike = SHIPPED_DIR):
    """A folder written by `run_long` -> (model, tokenizer, history); its records and
    manifest: `load_measurements(folder)`. A missing or unreadable history.json is
    named in the error."""
    folder = run_folder(folder, ["history.json"])
    history = read_history(folder / "history.json")
    return (
        BertForPreTraining.from_pretrained(folder),
        Tokenizer.from_pretrained(folder),
        history,
    )


def load_measurements(
    folder: str | os.PathLike = SHIPPED_DIR,
) -> tuple[list[dict], dict]:
    """A folder written by `run_long` -> (records, manifest): the measurements taken at
    the recorded steps (`measure_checkpoint`'s dicts, with "step") and the run's
    settings, machine and times. Reading them needs no model: they are plain JSON.

    records.json must be a list of objects with a "step", manifest.json an object with
    "steps"; a missing, corrupt or other file is named in the error."""
    folder = run_folder(folder, ["records.json", "manifest.json"])
    path = folder / "records.json"
    records = read_json(path, "records file", list)
    for i, r in enumerate(records):
        if not isinstance(r, dict) or "step" not in r:
            raise ValueError(
                f"records file {path}: record {i} must be an object with a 'step', "
                f"got {r!r:.60}"
            )
    manifest = read_json(folder / "manifest.json", "manifest file", dict, ["steps"])
    return records, manifest


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m bertmini.pretraining --recipe alibi --steps 6000 --out DIR`"""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m bertmini.pretraining", description=run_long.__doc__
    )
    parser.add_argument("--recipe", default="alibi", choices=sorted(RECIPES))
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    folder = run_long(args.out, args.recipe, args.steps, args.seed, args.threads)
    print(f"wrote {folder}")


if __name__ == "__main__":
    main()
