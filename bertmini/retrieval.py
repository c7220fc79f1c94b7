"""Finding the right document: exact cosine search, BM25, their fusion, and how to score
them.

Dense retrieval embeds queries and documents (`bertmini.sentence_embeddings.encode`) and
ranks documents by cosine similarity; `cosine_topk` does it exactly, by one matrix
product. BM25 (Robertson and Zaragoza, 2009) ranks by shared words, weighted by how rare
they are: the baseline every dense retriever must beat. `recall_at_k` and
`mean_reciprocal_rank` score a ranking against the one relevant document of each query.

Every function takes torch tensors: a NumPy array or a list is refused with a TypeError
(convert it with `torch.from_numpy` or `torch.as_tensor`), so that a score matrix is never
reinterpreted on the way in. NaN is refused everywhere: it compares false with every
number, so a NaN score would silently rank first, last or nowhere. An infinite score is
allowed where a ranking still means something (-inf marks a document as excluded) and
refused where it cannot (an embedding, a mean and standard deviation).
"""

from __future__ import annotations

import math
import numbers
import re
from collections import Counter
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from ._validate import check_int, check_number, check_str


def _check_matrix(name: str, x: Any, shape: str, allow_inf: bool = False) -> None:
    """A real 2-D tensor without NaN (nor inf unless `allow_inf`); `shape` names its
    axes in the message, e.g. "(Q, N)"."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor {shape}, got {type(x).__name__} (convert "
            "it with torch.from_numpy or torch.as_tensor)"
        )
    if x.dim() != 2:
        raise ValueError(f"{name} must be a 2-D tensor {shape}, got {tuple(x.shape)}")
    if x.dtype == torch.bool or x.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    bad = x.isnan() if allow_inf else ~x.isfinite()
    if bad.any():
        row, col = bad.nonzero()[0].tolist()
        allowed = "free of NaN" if allow_inf else "finite"
        raise ValueError(
            f"{name} must be {allowed}, got {x[row, col].item()} at [{row}, {col}]"
        )


def _check_embeddings(queries: Any, documents: Any) -> None:
    """(Q, H) and (N, H) finite vectors: a NaN or inf vector has no cosine."""
    _check_matrix("queries", queries, "(Q, H)")
    _check_matrix("documents", documents, "(N, H)")
    if queries.shape[1] != documents.shape[1]:
        raise ValueError(
            f"queries and documents must be (Q, H) and (N, H) with the same H, got "
            f"{tuple(queries.shape)} and {tuple(documents.shape)}"
        )


def _check_score_list(scores: Any, allow_inf: bool) -> None:
    """A non-empty list of (Q, N) score matrices of one shape (no broadcasting)."""
    if not isinstance(scores, (list, tuple)):
        raise TypeError(
            "scores must be a list of (Q, N) score matrices, one per retriever, e.g. "
            f"[bm25_scores, dense_scores], got {type(scores).__name__}"
        )
    if not scores:
        raise ValueError("scores is empty: pass at least one (Q, N) score matrix")
    for i, s in enumerate(scores):
        _check_matrix(f"scores[{i}]", s, "(Q, N)", allow_inf)
        if s.shape != scores[0].shape:
            raise ValueError(
                f"score matrices differ in shape: {tuple(s.shape)} vs "
                f"{tuple(scores[0].shape)}"
            )


def cosine_topk(
    queries: torch.Tensor, documents: torch.Tensor, k: int = 10, chunk_size: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k documents most similar to each query, best first:
    (scores (Q, k), indices (Q, k)).

    Exact search: every query against every document. Queries go in chunks, so memory is
    chunk_size x N scores however many queries there are. Q = 0 queries give (0, k)
    results; the vectors must be finite (a NaN vector would rank first).
    """
    _check_embeddings(queries, documents)
    N = documents.shape[0]
    if N == 0:
        raise ValueError("documents is empty (N = 0): there is nothing to search")
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= N:
        raise ValueError(
            f"k must be an integer in [1, {N}] (the number of documents), got {k!r}"
        )
    chunk_size = check_int("chunk_size", chunk_size, 1)
    k = int(k)  # a NumPy integer too
    documents = F.normalize(documents.float(), dim=-1)  # (N, H)
    # The empty first pieces make Q = 0 give (0, k) rather than fail in torch.cat.
    scores = [documents.new_empty(0, k)]
    indices = [torch.empty(0, k, dtype=torch.long, device=documents.device)]
    for begin in range(0, queries.shape[0], chunk_size):
        q = F.normalize(queries[begin : begin + chunk_size].float(), dim=-1)  # (C, H)
        top = (q @ documents.T).topk(k, dim=1)  # cosines (C, N) -> (C, k)
        scores.append(top.values)
        indices.append(top.indices)
    return torch.cat(scores), torch.cat(indices)


def cosine_scores(queries: torch.Tensor, documents: torch.Tensor) -> torch.Tensor:
    """Every query against every document: (Q, N) cosine similarities of (Q, H) and
    (N, H) finite vectors."""
    _check_embeddings(queries, documents)
    return (
        F.normalize(queries.float(), dim=-1) @ F.normalize(documents.float(), dim=-1).T
    )


def words(text: str) -> list[str]:
    """BM25's tokens: lower-cased runs of letters and digits (no stemming)."""
    check_str("text", text)
    return re.findall(r"\w+", text.lower())


class BM25:
    """Okapi BM25 over a fixed list of documents.

    score(q, d) = sum over query words w of
                  idf(w) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * |d| / avgdl))

    tf is how often w occurs in d; the fraction saturates (a word's 10th occurrence adds
    little) and longer-than-average documents need more occurrences (b). idf is
    Lucene's, log(1 + (N - n + 0.5) / (n + 0.5)) for a word in n of the N documents:
    never negative.

    k1 must be finite and >= 0 (k1 = 0: only whether a word occurs counts; an infinite
    k1 would make every score inf / inf = NaN) and 0 <= b <= 1 (b = 0: no length
    normalisation, b = 1: full).
    """

    def __init__(self, documents: Sequence[str], k1: float = 1.5, b: float = 0.75):
        _check_bm25_arguments(documents, k1, b)
        self.k1, self.b = k1, b
        tfs = [Counter(words(d)) for d in documents]  # word -> count, per document
        lengths = [sum(tf.values()) for tf in tfs]
        self.lengths = torch.tensor(lengths, dtype=torch.float64)  # (N,)
        self.avgdl = float(self.lengths.mean())
        # An inverted index: for each word, the documents holding it and how often.
        postings: dict[str, list[tuple[int, int]]] = {}
        for i, tf in enumerate(tfs):
            for w, count in tf.items():
                postings.setdefault(w, []).append((i, count))
        self.postings = {
            w: (
                torch.tensor([i for i, _ in p]),
                torch.tensor([c for _, c in p], dtype=torch.float64),
            )
            for w, p in postings.items()
        }
        N = len(documents)
        self.idf = {
            w: math.log(1 + (N - len(p) + 0.5) / (len(p) + 0.5))
            for w, p in postings.items()
        }

    def scores(self, query: str) -> torch.Tensor:
        """(N,) float64: the BM25 score of every document for `query` (a string)."""
        check_str("query", query)
        norm = self.k1 * (1 - self.b + self.b * self.lengths / self.avgdl)  # (N,)
        total = torch.zeros(len(self.lengths), dtype=torch.float64)
        # A word repeated in the query counts each time, as in rank_bm25.
        for w in words(query):
            if w not in self.postings:
                continue  # in no document: adds nothing anywhere
            docs, tf = self.postings[w]  # (n,), (n,)
            term = self.idf[w] * tf * (self.k1 + 1) / (tf + norm[docs])  # (n,)
            total.index_add_(0, docs, term)
        return total

    def score_matrix(self, queries: Sequence[str]) -> torch.Tensor:
        """(Q, N): every query of a list of strings against every document; (0, N) for
        an empty list. A single string is refused: it would be scored letter by letter
        (use `scores`)."""
        _check_queries(queries)
        if len(queries) == 0:
            return torch.empty(0, len(self.lengths), dtype=torch.float64)
        return torch.stack([self.scores(q) for q in queries])


def _check_bm25_arguments(documents: Any, k1: Any, b: Any) -> None:
    """A non-empty list of strings (one string would be read letter by letter), k1 and
    b finite numbers in range."""
    if isinstance(documents, str) or (
        isinstance(documents, Sequence) and len(documents) == 0
    ):
        raise ValueError("documents must be a non-empty list of strings")
    if not isinstance(documents, Sequence):
        raise TypeError(
            "documents must be a non-empty list of strings, got "
            f"{type(documents).__name__}"
        )
    for i, d in enumerate(documents):
        check_str(f"documents[{i}]", d)
    check_number("k1", k1)
    check_number("b", b)
    if not k1 >= 0 or not 0 <= b <= 1:
        raise ValueError(f"need k1 >= 0 and 0 <= b <= 1, got k1={k1!r}, b={b!r}")


def _check_queries(queries: Any) -> None:
    if isinstance(queries, str) or not isinstance(queries, Sequence):
        raise TypeError(
            "queries must be a list of strings (for one query, use scores(query)), "
            f"got {type(queries).__name__}"
        )
    for i, q in enumerate(queries):
        check_str(f"queries[{i}]", q)


def _gold_ids(gold: Any, Q: int, N: int) -> torch.Tensor:
    """(Q,) long: one integer document id in [0, N) per query (never a float, which
    would be truncated, nor a bool)."""
    if isinstance(gold, (list, tuple)) and any(isinstance(g, bool) for g in gold):
        raise TypeError(f"gold must hold integer document ids, got bools: {gold!r:.80}")
    try:
        ids = torch.as_tensor(gold)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(
            f"gold must be integer document ids (a list or tensor), got {gold!r:.80}"
        ) from None
    if ids.numel() == 0:
        ids = ids.long()  # torch.as_tensor([]) is float: no query, no id to check
    if ids.dtype == torch.bool or ids.is_floating_point() or ids.is_complex():
        raise TypeError(f"gold must hold integer document ids, got dtype {ids.dtype}")
    if tuple(ids.shape) != (Q,):
        raise ValueError(
            f"scores must be (Q, N) and gold (Q,), one id per query row, got ({Q}, {N}) "
            f"and {tuple(ids.shape)}"
        )
    outside = (ids < 0) | (ids >= N)
    if outside.any():
        i = int(outside.nonzero()[0])
        raise ValueError(
            f"gold holds document indices outside [0, {N}): gold[{i}] = {int(ids[i])}"
        )
    return ids.long()


def gold_ranks(
    scores: torch.Tensor, gold: torch.Tensor | Sequence[int]
) -> torch.Tensor:
    """(Q,) the rank (1 = first) of each query's relevant document in its row of (Q, N)
    scores; gold holds one integer document id in [0, N) per row.

    Ties count against the gold document: a document scoring exactly as much is ranked
    first, so a retriever that gives everything the same score earns no credit. A score
    of -inf (a document left out) ranks last; NaN is refused (it would rank nowhere).
    """
    _check_matrix("scores", scores, "(Q, N)", allow_inf=True)
    gold = _gold_ids(gold, *scores.shape).to(scores.device)
    own = scores.gather(1, gold[:, None])  # (Q, 1)
    return (scores >= own).sum(dim=1)  # (Q,)


def _check_ranks(ranks: Any) -> None:
    """(Q,) integer ranks, 1 = first (as `gold_ranks` gives them), Q >= 1."""
    if not isinstance(ranks, torch.Tensor):
        raise TypeError(
            f"ranks must be a torch.Tensor (Q,) of ranks, got {type(ranks).__name__}"
        )
    if ranks.dim() != 1 or ranks.numel() == 0:
        raise ValueError(
            f"ranks must be a non-empty 1-D tensor (Q,), got shape {tuple(ranks.shape)}"
        )
    if ranks.dtype == torch.bool or ranks.is_floating_point() or ranks.is_complex():
        raise TypeError(f"ranks must hold integer ranks, got dtype {ranks.dtype}")
    if int(ranks.min()) < 1:
        raise ValueError(
            f"ranks are 1-based (1 = first, as gold_ranks gives them), got a rank of "
            f"{int(ranks.min())}"
        )


def recall_at_k(ranks: torch.Tensor, k: int) -> float:
    """Share of queries whose relevant document is among the first k (k >= 1; ranks
    are 1-based, as `gold_ranks` gives them)."""
    _check_ranks(ranks)
    k = check_int("k", k, 1)
    return float((ranks <= k).double().mean())


def mean_reciprocal_rank(ranks: torch.Tensor) -> float:
    """Mean of 1 / rank over queries, over the whole ranking (no cutoff); ranks are
    1-based, as `gold_ranks` gives them."""
    _check_ranks(ranks)
    return float((1.0 / ranks.double()).mean())


def retrieval_metrics(
    scores: torch.Tensor, gold, ks: Sequence[int] = (1, 5, 20)
) -> dict[str, float]:
    """{"recall@1": ..., "recall@5": ..., "recall@20": ..., "mrr": ...} of (Q, N)
    scores, Q >= 1 (see `gold_ranks` for `gold`).
    """
    if isinstance(ks, str) or not isinstance(ks, Sequence):
        raise TypeError(f"ks must be a list of integers >= 1, got {ks!r}")
    ks = [check_int(f"ks[{i}]", k, 1) for i, k in enumerate(ks)]
    ranks = gold_ranks(scores, gold)
    if ranks.numel() == 0:
        raise ValueError("scores has no rows (Q = 0): there are no queries to score")
    metrics = {f"recall@{k}": recall_at_k(ranks, k) for k in ks}
    metrics["mrr"] = mean_reciprocal_rank(ranks)
    return metrics


def zscore_fusion(
    scores: Sequence[torch.Tensor], weights: Sequence[float] | None = None
) -> torch.Tensor:
    """Hybrid scores: each (Q, N) matrix standardised per query (mean 0, std 1), then
    summed with finite weights >= 0 (default 1 each).

    BM25 scores run from 0 to several tens (up to about 90 for SQuAD dev questions
    against its paragraphs) and cosines from -1 to 1: added raw, BM25 would drown the
    dense scores. Standardising each row puts them on one scale (how many
    standard deviations above that query's average document) before the weighted sum.
    A row whose documents all score the same (always so with N = 1 document) has no
    spread to standardise and adds 0: it prefers no document. Scores must be finite:
    one inf makes its row's mean and std meaningless.
    """
    _check_score_list(scores, allow_inf=False)
    weights = [1.0] * len(scores) if weights is None else weights
    if not isinstance(weights, (list, tuple)):
        raise TypeError(
            f"weights must be a list of numbers, got {type(weights).__name__}"
        )
    if len(weights) != len(scores):
        raise ValueError(
            f"need one weight per score matrix, got {len(weights)} for {len(scores)}"
        )
    for i, w in enumerate(weights):
        check_number(f"weights[{i}]", w, low=0)
    total = torch.zeros_like(scores[0], dtype=torch.float64)
    for s, w in zip(scores, weights):
        s = s.double()
        centred = s - s.mean(dim=1, keepdim=True)
        # One document: std is undefined (NaN), but the row is constant all the same.
        spread = s.std(dim=1, keepdim=True) if s.shape[1] > 1 else torch.ones_like(s)
        total += w * centred / spread.clamp(min=1e-12)
    return total


def reciprocal_rank_fusion(
    scores: Sequence[torch.Tensor], k: float = 60
) -> torch.Tensor:
    """Hybrid scores from ranks alone: sum over retrievers of 1 / (k + rank) (Cormack et
    al., 2009), for a list of (Q, N) score matrices of one shape.

    No scale to match at all; k = 60 is the constant of the paper (any finite k >= 0).
    Only the order of each row counts, so -inf scores are allowed (ranked last); NaN is
    refused.
    """
    _check_score_list(scores, allow_inf=True)
    check_number("k", k, low=0)
    total = torch.zeros_like(scores[0], dtype=torch.float64)
    for s in scores:
        ranks = s.argsort(dim=1, descending=True).argsort(dim=1) + 1  # (Q, N), 1 = best
        total += 1.0 / (k + ranks.double())
    return total
