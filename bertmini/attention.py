"""Multi-head self-attention: every token looks at every other token, in several
subspaces at once.

    Attention(Q, K, V) = softmax(Q Kᵀ / √d_k + mask) V

BERT's mask only hides padding: attention is bidirectional, never causal. With
`BertConfig(alibi=True)` a distance bias is added to the scores as well (`alibi_bias`). Two
implementations of the same formula live here. `attention_probs` spells it out and
returns the probabilities (the chapters plot them, bertviz draws them); the fused path
calls PyTorch's `scaled_dot_product_attention`, which computes the same numbers without
storing the (T, T) matrix.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import BertConfig


def padding_mask_to_bias(
    attention_mask: torch.Tensor, dtype: torch.dtype
) -> torch.Tensor:
    """Turn a (B, T) mask of 1 = real token / 0 = padding into an additive bias of shape
    (B, 1, 1, T).

    Adding a very negative number to a score before the softmax makes its probability 0,
    so no query attends to a padding key. The bias broadcasts over heads and over query
    positions: the same keys are hidden from every query (that is what makes it a
    padding mask, not a causal one).
    """
    bias = (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min
    return bias  # (B, 1, 1, T)


def alibi_slopes(num_heads: int) -> list[float]:
    """ALiBi's per-head slopes (Press et al. 2022): for n heads, n a power of two, the
    geometric sequence 2^(-8/n), 2^(-16/n), ..., 2^(-8). Otherwise the slopes of the
    largest power of two below n, then every other slope of the next one up, as the
    paper's code does. Steep heads look at close neighbours, shallow ones far away.
    """
    n = 2 ** math.floor(math.log2(num_heads))
    slopes = [2 ** (-8 * (i + 1) / n) for i in range(n)]
    if n < num_heads:
        slopes += alibi_slopes(2 * n)[0::2][: num_heads - n]
    return slopes


def alibi_bias(
    num_heads: int, length: int, dtype: torch.dtype, device=None
) -> torch.Tensor:
    """-m_h · |i - j| for query i, key j and head h: shape (1, heads, T, T).

    ALiBi (Press et al. 2022) adds it to the scores, so a head prefers nearby tokens
    from the first step instead of having to discover, through learned position
    vectors, where a token's neighbours are. For an encoder the distance is
    symmetric (MosaicBERT, Portes et al. 2023, does the same).
    """
    positions = torch.arange(length, device=device)
    distance = (positions[None, :] - positions[:, None]).abs()  # (T, T)
    slopes = torch.tensor(alibi_slopes(num_heads), device=device, dtype=dtype)
    return (-slopes[:, None, None] * distance.to(dtype))[None]  # (1, heads, T, T)


def attention_probs(
    q: torch.Tensor, k: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """softmax(Q Kᵀ / √d_k + bias) over the keys: one probability distribution per
    query.

    Dividing by √d_k keeps the scores' spread independent of the head size: a dot
    product of two d_k-dimensional random vectors has variance d_k, and without the
    scaling the softmax would saturate to a one-hot and pass almost no gradient.
    """
    d_k = q.size(-1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (B, H, T, T)
    if bias is not None:
        scores = scores + bias
    return scores.softmax(dim=-1)  # (B, H, T, T): each row sums to 1


class MultiHeadSelfAttention(nn.Module):
    """Project to queries, keys and values, attend in `num_attention_heads` heads,
    project back.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_size = config.head_size
        h = config.hidden_size
        self.query = nn.Linear(h, h)
        self.key = nn.Linear(h, h)
        self.value = nn.Linear(h, h)
        # Mixes the heads' outputs back into one vector per token
        self.out = nn.Linear(h, h)
        self.dropout_p = config.attention_probs_dropout_prob
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, H) -> (B, heads, T, d_k): each head sees its own slice of the hidden
        vector.
        """
        B, T, _ = x.shape
        return x.view(B, T, self.num_heads, self.head_size).transpose(1, 2)

    def merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, heads, T, d_k) -> (B, T, H): concatenate the heads again."""
        B, _, T, _ = x.shape
        return x.transpose(1, 2).reshape(B, T, self.num_heads * self.head_size)

    def forward(
        self,
        x: torch.Tensor,
        bias: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: (B, T, H); bias: (B, 1, 1, T) from `padding_mask_to_bias`, or None (no
        padding).
        """
        q = self.split_heads(self.query(x))  # (B, heads, T, d_k)
        k = self.split_heads(self.key(x))  # (B, heads, T, d_k)
        v = self.split_heads(self.value(x))  # (B, heads, T, d_k)
        context, probs = self.attend(q, k, v, bias, output_attentions)
        # (B, T, H), (B, heads, T, T) or None
        return self.out(self.merge_heads(context)), probs

    def attend(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        bias: torch.Tensor | None,
        output_attentions: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """softmax(Q Kᵀ / √d_k + bias) V per head: (B, heads, T, d_k), and the
        probabilities if asked.

        The fused kernel gives the same numbers without storing the (T, T) matrix; only
        a caller who wants to look at the probabilities pays for them.
        """
        # autocast: scores are in bf16/fp16
        if bias is not None and bias.dtype != q.dtype:
            bias = bias.to(q.dtype)
        if output_attentions:
            probs = attention_probs(q, k, bias)  # (B, heads, T, T)
            return self.dropout(probs) @ v, probs  # (B, heads, T, d_k)
        dropout_p = self.dropout_p if self.training else 0.0
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias, dropout_p=dropout_p
        ), None
