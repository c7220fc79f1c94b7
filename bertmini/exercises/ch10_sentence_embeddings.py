"""The exercises of Chapter 10: sentence embeddings and retrieval: reference solutions,
hidden cases, and the usual mistakes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .checker import Case, Exercise, Mistake


def mean_pooling_reference(
    hidden: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """The average of each row's real token vectors: (B, T, H) -> (B, H)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


def _pooling_args(B: int, T: int, H: int, lengths: list[int], seed: int):
    def make():
        g = torch.Generator().manual_seed(seed)
        hidden = torch.randn(B, T, H, generator=g)
        # (B, T)
        mask = (torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]).long()
        return hidden, mask

    return make


def _pooling_no_mask(hidden, attention_mask):
    return hidden.mean(dim=1)


def _pooling_divided_by_t(hidden, attention_mask):
    return (hidden * attention_mask.unsqueeze(-1)).sum(dim=1) / hidden.size(1)


def _pooling_cls(hidden, attention_mask):
    return hidden[:, 0]


MEAN_POOLING = Exercise(
    name="mean_pooling",
    title="Exercise 10.1: mean pooling with a padding mask",
    kind="function",
    signature="mean_pooling(hidden, attention_mask) -> (B, H)",
    reference=mean_pooling_reference,
    cases=[
        Case(
            "B=2, T=5, H=4, lengths 5 and 2", _pooling_args(2, 5, 4, [5, 2], seed=1000)
        ),
        Case(
            "B=3, T=9, H=8, lengths 3, 9 and 1",
            _pooling_args(3, 9, 8, [3, 9, 1], seed=1001),
        ),
    ],
    mistakes=[
        Mistake(
            _pooling_no_mask,
            "the average includes the padding positions: a sentence's vector then "
            "depends on the longest sentence of its batch. Multiply by the mask before "
            "summing.",
        ),
        Mistake(
            _pooling_divided_by_t,
            "the sum over real tokens is divided by T, the padded length: "
            "divide by the number of real tokens of each row (the sum of its mask).",
        ),
        Mistake(
            _pooling_cls,
            "that is the [CLS] vector (position 0), not the mean of the tokens.",
        ),
    ],
)


def cosine_topk_reference(queries: torch.Tensor, documents: torch.Tensor, k: int):
    """(scores, indices), each (Q, k): the k most similar documents, best first."""
    q = F.normalize(queries, dim=-1)  # (Q, H)
    d = F.normalize(documents, dim=-1)  # (N, H)
    top = (q @ d.T).topk(k, dim=1)  # (Q, N) -> (Q, k)
    return top.values, top.indices


def _topk_args(Q: int, N: int, H: int, k: int, seed: int):
    def make():
        g = torch.Generator().manual_seed(seed)
        queries = torch.randn(Q, H, generator=g)
        norms = torch.linspace(0.2, 5.0, N)[:, None]  # documents of unequal lengths
        documents = torch.randn(N, H, generator=g) * norms
        return queries, documents, k

    return make


def _topk_dot_product(queries, documents, k):
    top = (queries @ documents.T).topk(k, dim=1)
    return top.values, top.indices


def _topk_only_queries(queries, documents, k):
    top = (F.normalize(queries, dim=-1) @ documents.T).topk(k, dim=1)
    return top.values, top.indices


def _topk_smallest(queries, documents, k):
    top = (F.normalize(queries, dim=-1) @ F.normalize(documents, dim=-1).T).topk(
        k, dim=1, largest=False
    )
    return top.values, top.indices


def _topk_wrong_axis(queries, documents, k):
    top = (F.normalize(queries, dim=-1) @ F.normalize(documents, dim=-1).T).topk(
        k, dim=0
    )
    return top.values.T, top.indices.T


COSINE_TOPK = Exercise(
    name="cosine_topk",
    title="Exercise 10.2: cosine top-k",
    kind="function",
    signature="cosine_topk(queries, documents, k) -> (scores (Q, k), indices (Q, k))",
    reference=cosine_topk_reference,
    cases=[
        Case(
            "Q=3 queries, N=10 documents, H=4, k=3", _topk_args(3, 10, 4, 3, seed=1010)
        ),
        Case(
            "Q=5 queries, N=40 documents, H=16, k=5",
            _topk_args(5, 40, 16, 5, seed=1011),
        ),
    ],
    mistakes=[
        Mistake(
            _topk_dot_product,
            "that ranks by the dot product, so long document vectors win: divide "
            "queries and documents by their norms first (F.normalize).",
        ),
        Mistake(
            _topk_only_queries,
            "only the queries are normalised: a document's norm still scales its "
            "score and changes the ranking. Normalise the documents too.",
        ),
        Mistake(
            _topk_smallest,
            "those are the k *least* similar documents: topk(..., largest=True).",
        ),
        Mistake(
            _topk_wrong_axis,
            "topk over dim 0 picks queries for each document; take the top k of "
            "each query's row (dim=1).",
        ),
    ],
)


def in_batch_loss_reference(
    queries: torch.Tensor, documents: torch.Tensor, scale: float = 20.0
):
    """Mean cross-entropy of each query over the batch's documents, its own right."""
    q, d = F.normalize(queries, dim=-1), F.normalize(documents, dim=-1)  # (B, H) each
    scores = scale * q @ d.T  # (B, B)
    return F.cross_entropy(scores, torch.arange(queries.size(0)))


def _loss_args(B: int, H: int, seed: int, scale: float = 20.0):
    def make():
        g = torch.Generator().manual_seed(seed)
        queries = torch.randn(B, H, generator=g)
        noise = 1.5 * torch.randn(B, H, generator=g)
        documents = queries + noise  # each nearer its own query than the others
        return queries, documents * torch.linspace(0.5, 3.0, B)[:, None], scale

    return make


def _loss_dot_product(queries, documents, scale=20.0):
    return F.cross_entropy(scale * queries @ documents.T, torch.arange(queries.size(0)))


def _loss_no_scale(queries, documents, scale=20.0):
    return in_batch_loss_reference(queries, documents, 1.0)


def _loss_only_positive(queries, documents, scale=20.0):
    return -(scale * F.cosine_similarity(queries, documents, dim=-1)).mean()


def _loss_sigmoid(queries, documents, scale=20.0):
    scores = scale * F.normalize(queries, dim=-1) @ F.normalize(documents, dim=-1).T
    return F.binary_cross_entropy_with_logits(scores, torch.eye(queries.size(0)))


IN_BATCH_CONTRASTIVE_LOSS = Exercise(
    name="in_batch_contrastive_loss",
    title="Exercise 10.3: the in-batch contrastive loss",
    kind="function",
    signature="in_batch_contrastive_loss(queries, documents, scale=20.0) -> scalar",
    reference=in_batch_loss_reference,
    cases=[
        Case("B=4 pairs, H=8, scale 20", _loss_args(4, 8, seed=1020)),
        Case("B=16 pairs, H=32, scale 20", _loss_args(16, 32, seed=1021)),
        Case("B=6 pairs, H=8, scale 5", _loss_args(6, 8, seed=1022, scale=5.0)),
    ],
    mistakes=[
        Mistake(
            _loss_dot_product,
            "the scores are dot products: use cosine similarities (normalise both "
            "sides), times the scale.",
        ),
        Mistake(
            _loss_no_scale,
            "the cosines are not multiplied by the scale: in [-1, 1] a softmax can "
            "never be confident, so the loss stays near log(B).",
        ),
        Mistake(
            _loss_only_positive,
            "that only pulls each query towards its own document; the negatives "
            "(the other documents of the batch) must be pushed away: a cross-entropy "
            "over the row.",
        ),
        Mistake(
            _loss_sigmoid,
            "independent sigmoids per pair are another loss; this one is a softmax "
            "over each query's row, its own document being the right class.",
        ),
    ],
)


EXERCISES = [MEAN_POOLING, COSINE_TOPK, IN_BATCH_CONTRASTIVE_LOSS]
