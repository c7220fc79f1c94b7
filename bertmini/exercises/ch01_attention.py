"""The exercises of Chapter 1: attention: reference solutions, hidden cases, and the
usual mistakes.
"""

from __future__ import annotations

import math

import torch

from .checker import Case, Exercise, Mistake

BY_HAND_Q = [1.0, 2.0]
BY_HAND_K = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]


def attention_by_hand_reference() -> list[float]:
    """The weights of query q = [1, 2] over keys [1, 0], [0, 1], [1, 1] (d_k = 2)."""
    scores = torch.tensor(BY_HAND_K) @ torch.tensor(BY_HAND_Q)  # (3,): 1, 2, 3
    return (scores / math.sqrt(2)).softmax(dim=-1).tolist()


ATTENTION_BY_HAND = Exercise(
    name="attention_by_hand",
    title="Exercise 1.1: attention weights by hand",
    kind="value",
    signature="weights = [w1, w2, w3]",
    reference=attention_by_hand_reference,
    cases=[Case("the three weights", atol=2e-3, rtol=0)],
    mistakes=[
        Mistake(
            lambda: torch.tensor([1.0, 2.0, 3.0]).softmax(-1).tolist(),
            "you forgot to divide the scores by √d_k = √2 before the softmax.",
        ),
        Mistake(
            lambda: (torch.tensor([1.0, 2.0, 3.0]) / 6).tolist(),
            "dividing the scores by their sum is not a softmax: exponentiate first, "
            "softmax(s)_i = exp(s_i) / Σ_j exp(s_j).",
        ),
        Mistake(
            lambda: (torch.tensor([1.0, 2.0, 3.0]) / 2).softmax(-1).tolist(),
            "divide by √d_k = √2 ≈ 1.414, not by d_k = 2.",
        ),
    ],
)


def attention_reference(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """softmax(Q Kᵀ / √d_k) V; `mask` (…, T_k) or broadcastable to the scores, 1 = may
    attend.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (…, T_q, T_k)
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))  # before the softmax
    return scores.softmax(dim=-1) @ v  # (…, T_q, d_v)


def _attention_no_scaling(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    return scores.softmax(dim=-1) @ v


def _attention_wrong_axis(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    return scores.softmax(dim=-2) @ v


def _attention_mask_after_softmax(q, k, v, mask=None):
    probs = (q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))).softmax(dim=-1)
    if mask is not None:
        probs = probs * mask  # the weights no longer sum to 1
    return probs @ v


def _attention_mask_added_after_softmax(q, k, v, mask=None):
    probs = (q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))).softmax(dim=-1)
    if mask is not None:
        # Too late: the softmax already ran
        probs = probs.masked_fill(mask == 0, float("-inf"))
    return probs @ v


def _attention_ignores_mask(q, k, v, mask=None):
    return attention_reference(q, k, v)


def _attention_args(
    B: int,
    T: int,
    d_k: int,
    d_v: int,
    seed: int,
    scale: float = 1.0,
    masked: bool = False,
):
    def make():
        g = torch.Generator().manual_seed(seed)
        q = torch.randn(B, T, d_k, generator=g) * scale
        k = torch.randn(B, T, d_k, generator=g) * scale
        v = torch.randn(B, T, d_v, generator=g)
        if not masked:
            return q, k, v
        lengths = torch.randint(1, T + 1, (B,), generator=g)
        lengths[0] = T - 2  # at least one row with padding
        # (B, 1, T): keys
        mask = (torch.arange(T)[None, :] < lengths[:, None]).long()[:, None, :]
        return q, k, v, mask

    return make


ATTENTION = Exercise(
    name="attention",
    title="Exercise 1.2: scaled dot-product attention",
    kind="function",
    signature="attention(q, k, v, mask=None) -> (..., T, d_v)",
    reference=attention_reference,
    cases=[
        Case("one sentence, d_k = 4", _attention_args(1, 5, 4, 3, seed=1)),
        Case(
            "a batch of 3, d_k = 16, large scores",
            _attention_args(3, 6, 16, 8, seed=2, scale=2.0),
        ),
        Case(
            "a padded batch (mask of shape (B, 1, T))",
            _attention_args(4, 7, 8, 8, seed=3, masked=True),
        ),
    ],
    mistakes=[
        Mistake(
            _attention_no_scaling,
            "the scores are not divided by √d_k: use "
            "q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)).",
        ),
        Mistake(
            _attention_wrong_axis,
            "the softmax runs over the wrong axis: each *query* (row) "
            "needs a distribution over the keys, so use softmax(dim=-1).",
        ),
        Mistake(
            _attention_mask_after_softmax,
            "the mask is applied after the softmax: the weights "
            "then no longer sum to 1. Put -inf (or a very negative number) in the "
            "masked scores *before* the softmax.",
        ),
        Mistake(
            _attention_mask_added_after_softmax,
            "the mask is added after the softmax: -inf "
            "must go into the *scores*, before the softmax turns them into probabilities "
            "(exp(-inf) = 0); added to the probabilities it only produces inf and nan.",
        ),
        Mistake(
            _attention_ignores_mask,
            "the mask is ignored: padding keys must get probability 0.",
        ),
    ],
)


def mha_parameters_reference(hidden_size: int) -> int:
    """Q, K, V and output projections, each an (H, H) matrix plus an H bias."""
    return 4 * (hidden_size * hidden_size + hidden_size)


MHA_PARAMETERS = Exercise(
    name="mha_parameters",
    title="Exercise 1.3: parameters of a multi-head attention block",
    kind="function",
    signature="mha_parameters(hidden_size) -> int",
    reference=mha_parameters_reference,
    cases=[
        Case(f"hidden_size = {h}", (lambda h=h: (h,)), atol=0, rtol=0)
        for h in (384, 768, 1024)
    ],
    mistakes=[
        Mistake(
            lambda h: 4 * h * h,
            "you forgot the biases: each of the 4 linear maps has H of them.",
        ),
        Mistake(
            lambda h: 3 * (h * h + h),
            "you forgot the output projection that mixes the heads "
            "back together: Q, K, V *and* O.",
        ),
        Mistake(
            lambda h: 4 * (h * h // 12 + h),
            "the number of heads does not change the parameter "
            "count: the heads split the H columns, they don't each get an (H, H) matrix of their "
            "own and they don't shrink it.",
        ),
    ],
)


def head_shape_reference(
    batch: int, seq_len: int, hidden_size: int, num_heads: int
) -> tuple:
    """The shape of Q after split_heads: (B, heads, T, H / heads)."""
    if hidden_size % num_heads:
        raise ValueError("hidden_size must be divisible by num_heads")
    return (batch, num_heads, seq_len, hidden_size // num_heads)


HEAD_SHAPE = Exercise(
    name="head_shape",
    title="Exercise 1.4: the shape of one layer's queries after splitting into heads",
    kind="function",
    signature="head_shape(batch, seq_len, hidden_size, num_heads) -> tuple",
    reference=head_shape_reference,
    cases=[
        Case(
            f"B={b}, T={t}, H={h}, heads={n}",
            (lambda b=b, t=t, h=h, n=n: (b, t, h, n)),
            atol=0,
            rtol=0,
        )
        for b, t, h, n in ((2, 9, 384, 12), (8, 128, 768, 12), (1, 512, 1024, 16))
    ],
    mistakes=[
        Mistake(
            lambda b, t, h, n: (b, t, n, h // n),
            "that is the shape *before* the transpose: "
            "attention needs (B, heads, T, d_k) so that each head's (T, d_k) matrix is contiguous "
            "in the last two axes.",
        ),
        Mistake(
            lambda b, t, h, n: (b, n, t, h),
            "each head gets d_k = H / heads columns, not all H.",
        ),
    ],
)


EXERCISES = [ATTENTION_BY_HAND, ATTENTION, MHA_PARAMETERS, HEAD_SHAPE]
