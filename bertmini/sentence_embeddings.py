"""Sentence embeddings: one vector per text, and the contrastive loss that makes them
useful.

A BERT encoder gives one vector per *token*. A sentence vector pools them into one (H,)
vector:

- `"mean"`: the average of the token vectors, padding excluded. all-MiniLM-L6-v2 was
  trained with this pooling and a contrastive loss, so its mean-pooled, L2-normalised
  vectors are what sentence-transformers returns for it (equal to 1e-5, tested).
- `"cls"`: the vector of the first token, `[CLS]`.
- `"pooler"`: tanh(W h_[CLS] + b), the layer next-sentence prediction trained in BERT.

The contrastive loss with in-batch negatives (`in_batch_negatives_loss`,
sentence-transformers' MultipleNegativesRankingLoss) is how such a model is trained:
each query must score its own document above every other document of the batch
(all-MiniLM-L6-v2 was trained with its symmetric form, which also scores each document
against every query, on its pair data sets; on its triplet data sets, with the one-way
form and a hard negative).
`BiEncoder` wraps an encoder so that `bertmini.train.fit` can minimise it, and
`PairCollator` makes its batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._validate import check_bool, check_int, check_number, check_tokenizer
from .device import evaluating
from .model import BertModel
from .outputs import ModelOutput
from .tokenizer import Tokenizer

POOLINGS = ("mean", "cls", "pooler")


def _check_tensor(name: str, x: Any, shape: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor {shape}, got {type(x).__name__}"
        )


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The average of the real tokens' vectors: padding must not count, or a sentence's
    vector would depend on how long the longest sentence of its batch was.

    hidden: (B, T, H); attention_mask: (B, T), 1 for real tokens. Returns (B, H). The
    shapes must match exactly: a (T,) or (1, T) mask would broadcast, and a (T, H)
    hidden would be averaged over its hidden units.
    """
    _check_hidden_and_mask(hidden, attention_mask)
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    total = (hidden * mask).sum(dim=1)  # (B, H)
    count = mask.sum(dim=1).clamp(min=1e-9)  # (B, 1): as sentence-transformers, never 0
    return total / count


def pool(output: Any, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """One (B, H) vector per row of a BertModel output, by `pooling` (see POOLINGS)."""
    if not hasattr(output, "last_hidden_state"):
        raise TypeError(
            "output must be a BertModel output (with last_hidden_state), got "
            f"{type(output).__name__}"
        )
    if pooling == "mean":
        return mean_pool(output.last_hidden_state, attention_mask)
    if pooling == "cls":
        return output.last_hidden_state[:, 0]  # (B, H)
    if pooling == "pooler":
        if output.pooler_output is None:
            raise ValueError(
                "pooling='pooler' needs a model with a pooler "
                "(BertModel(config, add_pooling_layer=True))"
            )
        return output.pooler_output  # (B, H)
    raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")


def _check_poolings(pooling: str | Sequence[str]) -> tuple[str, ...]:
    if not isinstance(pooling, (str, list, tuple)):
        raise TypeError(
            f"pooling must be one of {POOLINGS} (or a tuple of them), got {pooling!r}"
        )
    names = (pooling,) if isinstance(pooling, str) else tuple(pooling)
    bad = [p for p in names if p not in POOLINGS]
    if not names or bad:
        raise ValueError(
            f"pooling must be one of {POOLINGS} (or a tuple of them), got {pooling!r}"
        )
    return names


def encode(
    model: BertModel,
    tokenizer: Tokenizer,
    texts: Sequence[str],
    pooling: str | Sequence[str] = "mean",
    normalize: bool = True,
    batch_size: int = 64,
    max_length: int = 256,
    progress: bool | None = None,
) -> torch.Tensor | dict[str, torch.Tensor]:
    """Encode `texts` into an (N, H) float tensor on the CPU, row i for texts[i].

    Texts are sorted by length and batched so that each batch is padded only to its own
    longest text (a batch costs as much as its widest row), then put back in the
    original order.

    Args:
        model: a BertModel (for a task model, pass its encoder, e.g. `qa_model.bert`).
        pooling: "mean", "cls" or "pooler"; a tuple of them returns a dict of (N, H)
            tensors from one pass over the texts.
        normalize: divide every vector by its L2 norm, so a dot product is a cosine
            similarity.
        max_length: tokens per text, [CLS] and [SEP] included; longer texts are
            truncated. 256 is what sentence-transformers uses for all-MiniLM-L6-v2 (it
            was trained on 128).
        progress: show a progress bar; None shows one for more than 1,000 texts.
    """
    if not isinstance(model, BertModel):
        raise TypeError(
            f"model must be a bertmini.BertModel, got {type(model).__name__} "
            "(for a task model, pass its encoder, e.g. model.bert)"
        )
    check_tokenizer(tokenizer)
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(f"texts must be a list of strings, got {type(texts).__name__}")
    if len(texts) == 0:
        raise ValueError("texts is empty: nothing to encode")
    batch_size = check_int("batch_size", batch_size, 1)
    check_bool("normalize", normalize)
    check_bool("progress", progress, optional=True)
    names = _check_poolings(pooling)
    from tqdm.auto import tqdm

    # (N, T): every text padded to the longest; each batch is cut to its own width
    enc = tokenizer(list(texts), max_length=max_length, truncation=True, padding=True)
    lengths = enc["attention_mask"].sum(dim=1)  # (N,)
    order = torch.sort(lengths, descending=True, stable=True).indices  # longest first
    device = next(model.parameters()).device
    H = model.config.hidden_size
    out = {p: torch.empty(len(texts), H) for p in names}  # (N, H) each
    show = len(texts) > 1000 if progress is None else progress
    # No dropout, no gradients; the model's mode is restored afterwards.
    with evaluating(model):
        for begin in tqdm(
            range(0, len(texts), batch_size),
            desc="encode",
            disable=not show,
            mininterval=1.0,
        ):
            rows = order[begin : begin + batch_size]
            width = int(lengths[rows].max())  # dynamic padding: the batch's longest
            ids = enc["input_ids"][rows, :width].to(device)  # (B, width)
            mask = enc["attention_mask"][rows, :width].to(device)
            output = model(ids, attention_mask=mask)
            for p in names:
                vectors = pool(output, mask, p).float()  # (B, H)
                if normalize:
                    vectors = F.normalize(vectors, p=2, dim=-1)
                out[p][rows] = vectors.cpu()
    return out[names[0]] if isinstance(pooling, str) else out


def in_batch_negatives_loss(
    queries: torch.Tensor,
    documents: torch.Tensor,
    scale: float = 20.0,
    document_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy of each query over all the batch's documents, its own being the
    right one.

    The other B - 1 documents of the batch are the negatives: free, and the larger the
    batch the harder the task. This one-way form (queries against documents) is
    sentence-transformers' MultipleNegativesRankingLoss; all-MiniLM-L6-v2 was trained
    with its symmetric form on its pair data sets, the average of this loss and the same
    loss with queries and documents swapped. Scores are cosine similarities times
    `scale` (20 in both the loss class and the model's training): a cosine lives in
    [-1, 1], too narrow a range for a softmax to be confident.

    queries, documents: (B, H) float vectors, B >= 1, row i of each a matching pair
        (B = 1 gives 0: there are no negatives). A NaN vector gives a NaN loss, which
        `fit` reports as a diverged run.
    scale: a finite number > 0; a negative scale would reward ranking the right
        document last, and 0 would make every document equally likely.
    document_ids: (B,), optional. Two questions about the same paragraph in one batch
        would otherwise make each other's positive a negative; documents with the
        query's own id (other than its own column) are left out of its softmax.
    """
    _check_pairs(queries, documents, scale, document_ids)
    q, d = F.normalize(queries, dim=-1), F.normalize(documents, dim=-1)  # (B, H) each
    scores = scale * q @ d.T  # (B, B)
    B = scores.size(0)
    target = torch.arange(B, device=scores.device)  # (B,): query i goes with document i
    if document_ids is not None:
        same = document_ids[:, None] == document_ids[None, :]  # (B, B)
        duplicate = same & ~torch.eye(B, dtype=torch.bool, device=scores.device)
        scores = scores.masked_fill(duplicate, float("-inf"))
    return F.cross_entropy(scores.float(), target)


def _check_hidden_and_mask(hidden: Any, attention_mask: Any) -> None:
    _check_tensor("hidden", hidden, "(B, T, H)")
    _check_tensor("attention_mask", attention_mask, "(B, T)")
    if hidden.dim() != 3 or attention_mask.shape != hidden.shape[:2]:
        raise ValueError(
            "hidden must be (B, T, H) and attention_mask (B, T) with the same B and T, "
            f"got {tuple(hidden.shape)} and {tuple(attention_mask.shape)}"
        )


def _check_pairs(
    queries: Any, documents: Any, scale: Any, document_ids: torch.Tensor | None
) -> None:
    """What the loss needs: (B, H) float tensors of one shape, B >= 1, a finite scale
    > 0, ids (B,)."""
    check_number("scale", scale, low=0, low_open=True)
    _check_tensor("queries", queries, "(B, H)")
    _check_tensor("documents", documents, "(B, H)")
    if queries.dim() != 2 or queries.shape != documents.shape:
        raise ValueError(
            f"queries and documents must both be (B, H) with the same shape, got "
            f"{tuple(queries.shape)} and {tuple(documents.shape)}"
        )
    if queries.shape[0] == 0:
        raise ValueError("queries and documents are empty (B = 0): need >= 1 pair")
    if not (queries.is_floating_point() and documents.is_floating_point()):
        raise TypeError(
            "queries and documents must be float tensors, got "
            f"{queries.dtype} and {documents.dtype}"
        )
    if document_ids is not None:
        _check_tensor("document_ids", document_ids, "(B,)")
        if tuple(document_ids.shape) != (queries.shape[0],):
            raise ValueError(
                f"document_ids must have shape ({queries.shape[0]},), got "
                f"{tuple(document_ids.shape)}"
            )


@dataclass
class BiEncoderOutput(ModelOutput):
    loss: torch.Tensor | None
    query_embeddings: torch.Tensor  # (B, H), not normalised
    document_embeddings: torch.Tensor  # (B, H)


class BiEncoder(nn.Module):
    """One encoder for queries and documents alike, trained with in-batch negatives.

    Queries and documents are encoded separately (no attention between them), so the
    documents can be encoded once ahead of time and searched by a dot product: that is
    what makes this a retrieval model, unlike a cross-encoder that reads both texts
    together.

    A batch may bring `document_embeddings` (B, H) instead of document tokens: the
    documents' vectors, computed once by a frozen encoder. Then only the query side
    learns, the index of document vectors stays valid (nothing to re-encode), and a step
    costs only the queries.
    """

    def __init__(self, encoder: BertModel, pooling: str = "mean", scale: float = 20.0):
        super().__init__()
        if not isinstance(encoder, BertModel):
            raise TypeError(
                f"encoder must be a bertmini.BertModel, got {type(encoder).__name__}"
            )
        _check_poolings(pooling)
        if not isinstance(pooling, str):
            raise ValueError(f"BiEncoder takes one pooling, got {pooling!r}")
        check_number("scale", scale, low=0, low_open=True)
        self.encoder, self.pooling, self.scale = encoder, pooling, scale

    def embed(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        output = self.encoder(input_ids, attention_mask=attention_mask)
        return pool(output, attention_mask, self.pooling)  # (B, H)

    def forward(
        self,
        query_input_ids,
        query_attention_mask,
        document_input_ids=None,
        document_attention_mask=None,
        document_embeddings=None,
        document_ids=None,
    ) -> BiEncoderOutput:
        if (document_embeddings is None) == (document_input_ids is None):
            raise ValueError(
                "pass either document_input_ids (and document_attention_mask) or "
                "document_embeddings, not both and not neither"
            )
        q = self.embed(query_input_ids, query_attention_mask)  # (B, H)
        if document_embeddings is None:
            d = self.embed(document_input_ids, document_attention_mask)  # (B, H)
        else:
            _check_tensor("document_embeddings", document_embeddings, "(B, H)")
            if not torch.isfinite(document_embeddings).all():
                raise ValueError("document_embeddings must be finite, got NaN or inf")
            d = document_embeddings.to(q.device, q.dtype)  # (B, H), fixed: no gradient
        loss = in_batch_negatives_loss(q, d, self.scale, document_ids)
        return BiEncoderOutput(loss, q, d)


@dataclass
class PairCollator:
    """Records `{"query": str, "document": str, "document_id": int}` -> one BiEncoder
    batch.

    Queries and documents are padded separately, each to its own longest text. With
    `document_vectors` (D, H), documents are not tokenized: each record's row
    `document_vectors[document_id]` is sent as `document_embeddings` instead, so a
    document_id must then be an integer in [0, D) (a negative one would silently take a
    row from the end). Every record has a `document_id`, or none does.
    """

    tokenizer: Tokenizer
    max_query_length: int = 64
    max_document_length: int = 256
    document_vectors: torch.Tensor | None = None

    def __post_init__(self) -> None:
        check_tokenizer(self.tokenizer)
        for name in ("max_query_length", "max_document_length"):
            setattr(self, name, check_int(name, getattr(self, name), minimum=3))
        vectors = self.document_vectors
        if vectors is not None:
            _check_tensor("document_vectors", vectors, "(D, H)")
            if vectors.dim() != 2 or not vectors.is_floating_point():
                raise ValueError(
                    "document_vectors must be a (D, H) float tensor, got "
                    f"{tuple(vectors.shape)} {vectors.dtype}"
                )
            if not torch.isfinite(vectors).all():
                raise ValueError("document_vectors must be finite, got NaN or inf")

    def __call__(self, records: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if not isinstance(records, Sequence):
            raise TypeError(
                f"records must be a list of dicts, got {type(records).__name__}"
            )
        if len(records) == 0:
            raise ValueError("cannot collate an empty batch")
        need = (
            ("query", "document_id")
            if self.document_vectors is not None
            else ("query", "document")
        )
        for r in records:
            if not isinstance(r, dict) or any(key not in r for key in need):
                raise KeyError(
                    f"each record must be a dict with {' and '.join(map(repr, need))}, "
                    f"got {r!r:.80}"
                )
        ids = self._document_ids(records)  # checked before any tokenizing
        q = self.tokenizer(
            [r["query"] for r in records], max_length=self.max_query_length
        )
        batch = {
            "query_input_ids": q["input_ids"],
            "query_attention_mask": q["attention_mask"],
        }
        if ids is not None:
            batch["document_ids"] = ids
        if self.document_vectors is not None:
            rows = batch["document_ids"]
            batch["document_embeddings"] = self.document_vectors[rows]  # (B, H)
        else:
            d = self.tokenizer(
                [r["document"] for r in records], max_length=self.max_document_length
            )
            batch["document_input_ids"] = d["input_ids"]
            batch["document_attention_mask"] = d["attention_mask"]
        return batch

    def _document_ids(self, records: Sequence[dict[str, Any]]) -> torch.Tensor | None:
        """(B,) the records' integer document ids, in [0, D) with `document_vectors`;
        None when no record has one."""
        has_id = ["document_id" in r for r in records]
        if not any(has_id):
            return None
        if not all(has_id):
            raise ValueError(
                f"record {has_id.index(False)} has no 'document_id' but record "
                f"{has_id.index(True)} has one: give every record one, or none"
            )
        vectors = self.document_vectors
        ids = []
        for i, value in enumerate(r["document_id"] for r in records):
            if isinstance(value, torch.Tensor) and value.dim() == 0:
                if not (value.is_floating_point() or value.dtype == torch.bool):
                    value = value.item()  # a 0-d integer tensor, as datasets give
            where = f"records[{i}]['document_id']"
            check_int(where, value)
            if vectors is not None and not 0 <= value < len(vectors):
                raise ValueError(
                    f"{where} = {value} is not a row of document_vectors: need an "
                    f"integer in [0, {len(vectors)})"
                )
            ids.append(int(value))
        return torch.tensor(ids)
