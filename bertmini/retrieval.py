"""Finding the right document: exact cosine search, BM25, their fusion, and how to score
them.

Dense retrieval embeds queries and documents (`bertmini.sentence_embeddings.encode`) and
ranks documents by cosine similarity; `cosine_topk` does it exactly, by one matrix
product. BM25 (Robertson and Zaragoza, 2009) ranks by shared words, weighted by how rare
they are: the baseline every dense retriever must beat. `recall_at_k` and
`mean_reciprocal_rank` score a ranking against the one relevant document of each query.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Sequence

import torch
import torch.nn.functional as F


def cosine_topk(
    queries: torch.Tensor, documents: torch.Tensor, k: int = 10, chunk_size: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k documents most similar to each query, best first:
    (scores (Q, k), indices (Q, k)).

    Exact search: every query against every document. Queries go in chunks, so memory is
    chunk_size x N scores however many queries there are.
    """
    if (
        queries.dim() != 2
        or documents.dim() != 2
        or queries.shape[1] != documents.shape[1]
    ):
        raise ValueError(
            f"queries and documents must be (Q, H) and (N, H) with the same H, got "
            f"{tuple(queries.shape)} and {tuple(documents.shape)}"
        )
    if type(k) is not int or not 1 <= k <= documents.shape[0]:
        raise ValueError(
            f"k must be an integer in [1, {documents.shape[0]}] (the number of "
            f"documents), got {k!r}"
        )
    documents = F.normalize(documents.float(), dim=-1)  # (N, H)
    scores, indices = [], []
    for begin in range(0, queries.shape[0], chunk_size):
        q = F.normalize(queries[begin : begin + chunk_size].float(), dim=-1)  # (C, H)
        top = (q @ documents.T).topk(k, dim=1)  # cosine similarities (C, N) -> (C, k)
        scores.append(top.values)
        indices.append(top.indices)
    return torch.cat(scores), torch.cat(indices)


def cosine_scores(queries: torch.Tensor, documents: torch.Tensor) -> torch.Tensor:
    """Every query against every document: (Q, N) cosine similarities."""
    return (
        F.normalize(queries.float(), dim=-1) @ F.normalize(documents.float(), dim=-1).T
    )


def words(text: str) -> list[str]:
    """BM25's tokens: lower-cased runs of letters and digits (no stemming)."""
    return re.findall(r"\w+", text.lower())


class BM25:
    """Okapi BM25 over a fixed list of documents.

    score(q, d) = sum over query words w of
                  idf(w) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * |d| / avgdl))

    tf is how often w occurs in d; the fraction saturates (a word's 10th occurrence adds
    little) and longer-than-average documents need more occurrences (b). idf is
    Lucene's, log(1 + (N - n + 0.5) / (n + 0.5)) for a word in n of the N documents:
    never negative.
    """

    def __init__(self, documents: Sequence[str], k1: float = 1.5, b: float = 0.75):
        if isinstance(documents, str) or len(documents) == 0:
            raise ValueError("documents must be a non-empty list of strings")
        if not k1 >= 0 or not 0 <= b <= 1:
            raise ValueError(f"need k1 >= 0 and 0 <= b <= 1, got k1={k1!r}, b={b!r}")
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
        """(N,) float64: the BM25 score of every document for `query`."""
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
        """(Q, N): every query against every document."""
        return torch.stack([self.scores(q) for q in queries])


def gold_ranks(
    scores: torch.Tensor, gold: torch.Tensor | Sequence[int]
) -> torch.Tensor:
    """(Q,) the rank (1 = first) of each query's relevant document in its row of (Q, N)
    scores.

    Ties count against the gold document: a document scoring exactly as much is ranked
    first, so a retriever that gives everything the same score earns no credit.
    """
    gold = torch.as_tensor(gold, dtype=torch.long)
    if scores.dim() != 2 or tuple(gold.shape) != (scores.shape[0],):
        raise ValueError(
            f"scores must be (Q, N) and gold (Q,), got {tuple(scores.shape)} and "
            f"{tuple(gold.shape)}"
        )
    if gold.numel() and not (
        0 <= int(gold.min()) and int(gold.max()) < scores.shape[1]
    ):
        raise ValueError(f"gold holds document indices outside [0, {scores.shape[1]})")
    own = scores.gather(1, gold[:, None])  # (Q, 1)
    return (scores >= own).sum(dim=1)  # (Q,)


def recall_at_k(ranks: torch.Tensor, k: int) -> float:
    """Share of queries whose relevant document is among the first k."""
    return float((ranks <= k).double().mean())


def mean_reciprocal_rank(ranks: torch.Tensor) -> float:
    """Mean of 1 / rank over queries, over the whole ranking (no cutoff)."""
    return float((1.0 / ranks.double()).mean())


def retrieval_metrics(
    scores: torch.Tensor, gold, ks: Sequence[int] = (1, 5, 20)
) -> dict[str, float]:
    """{"recall@1": ..., "recall@5": ..., "recall@20": ..., "mrr": ...} of (Q, N)
    scores.
    """
    ranks = gold_ranks(scores, gold)
    metrics = {f"recall@{k}": recall_at_k(ranks, k) for k in ks}
    metrics["mrr"] = mean_reciprocal_rank(ranks)
    return metrics


def zscore_fusion(
    scores: Sequence[torch.Tensor], weights: Sequence[float] | None = None
) -> torch.Tensor:
    """Hybrid scores: each (Q, N) matrix standardised per query (mean 0, std 1), then
    summed.

    BM25 scores run from 0 to several tens (up to about 90 for SQuAD dev questions
    against its paragraphs) and cosines from -1 to 1: added raw, BM25 would drown the
    dense scores. Standardising each row puts them on one scale (how many
    standard deviations above that query's average document) before the weighted sum.
    """
    weights = [1.0] * len(scores) if weights is None else list(weights)
    if len(weights) != len(scores) or not scores:
        raise ValueError(
            f"need one weight per score matrix, got {len(weights)} for {len(scores)}"
        )
    total = torch.zeros_like(scores[0], dtype=torch.float64)
    for s, w in zip(scores, weights):
        if s.shape != scores[0].shape:
            raise ValueError(
                f"score matrices differ in shape: {tuple(s.shape)} vs "
                f"{tuple(scores[0].shape)}"
            )
        s = s.double()
        total += (
            w
            * (s - s.mean(dim=1, keepdim=True))
            / s.std(dim=1, keepdim=True).clamp(min=1e-12)
        )
    return total


def reciprocal_rank_fusion(scores: Sequence[torch.Tensor], k: int = 60) -> torch.Tensor:
    """Hybrid scores from ranks alone: sum over retrievers of 1 / (k + rank) (Cormack et
    al., 2009).

    No scale to match at all; k = 60 is the constant of the paper.
    """
    total = torch.zeros_like(scores[0], dtype=torch.float64)
    for s in scores:
        ranks = s.argsort(dim=1, descending=True).argsort(dim=1) + 1  # (Q, N), 1 = best
        total += 1.0 / (k + ranks.double())
    return total
