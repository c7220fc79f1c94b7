"""The same encoder, computed on the real tokens where it can be: BERT's layers without
most of the work on padding.

Everything in a BERT layer except attention treats tokens one by one: the linear maps,
the LayerNorms and the feed-forward block. So they can run on the N real tokens of a
padded (B, T) batch, stacked as (N, H), and skip the padding; only attention needs the
(B, T) layout back, to know which tokens share a sentence. There the padding query rows
are still computed (SDPA runs over every position of the layout) and then thrown away.
The embeddings, too, are computed on the padded batch (less its columns that are padding
in every row) before it is cut down to (N, H).
With SST-2-like sentences padded to 128, N is about a fifth of B*T. This module computes
exactly what `EncoderLayer` computes, at every real token, with the layer's own weights;
outputs at padding positions are zeros (they mean nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .attention import MultiHeadSelfAttention, padding_mask_to_bias
from .encoder import BertEncoder, EncoderLayer, PreLNEncoderLayer


@dataclass
class TokenIndex:
    """Where the N real tokens of a padded (B, T) batch live.

    Everything in a BERT layer except attention treats tokens one by one, so the linear
    layers, LayerNorms and the feed-forward block can run on the (N, H) real tokens
    alone and skip the padding. Only attention needs the (B, T) layout back, to know
    which tokens share a sentence. With SST-2-like sentences padded to 128, N is about a
    fifth of B*T.
    """

    index: torch.Tensor  # (N,): flat positions b*T + t of the real tokens
    batch: int
    length: int

    @classmethod
    def from_mask(cls, attention_mask: torch.Tensor) -> "TokenIndex":
        B, T = attention_mask.shape
        return cls(attention_mask.reshape(-1).nonzero().squeeze(1), B, T)

    def unpad(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, ...) -> (N, ...)"""
        return x.reshape(self.batch * self.length, *x.shape[2:]).index_select(
            0, self.index
        )

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """(N, ...) -> (B, T, ...), zeros at the padding."""
        out = x.new_zeros(self.batch * self.length, *x.shape[1:])
        return out.index_copy(0, self.index, x).view(
            self.batch, self.length, *x.shape[1:]
        )


def attention(
    attn: MultiHeadSelfAttention,
    x: torch.Tensor,
    bias: torch.Tensor,
    tokens: TokenIndex,
) -> torch.Tensor:
    """`MultiHeadSelfAttention.forward` for x of shape (N, H): back to (B, T) only to
    attend. Every query row of the layout is attended, padding included; `unpad` then
    drops the padding rows.
    """
    q = attn.split_heads(tokens.pad(attn.query(x)))  # (B, heads, T, d_k)
    k = attn.split_heads(tokens.pad(attn.key(x)))  # (B, heads, T, d_k)
    v = attn.split_heads(tokens.pad(attn.value(x)))  # (B, heads, T, d_k)
    context, _ = attn.attend(q, k, v, bias, output_attentions=False)
    return attn.out(tokens.unpad(attn.merge_heads(context)))  # (N, H)


def encoder_layer(
    block: EncoderLayer, x: torch.Tensor, bias: torch.Tensor, tokens: TokenIndex
) -> torch.Tensor:
    """`EncoderLayer.forward` (or `PreLNEncoderLayer.forward`) for x of shape (N, H):
    the same two add & norm steps."""
    if isinstance(block, PreLNEncoderLayer):
        a = attention(block.attention, block.attention_norm(x), bias, tokens)
        h = x + block.attention_dropout(a)
        return h + block.ffn(block.ffn_norm(h))
    a = attention(block.attention, x, bias, tokens)
    h = block.attention_norm(x + block.attention_dropout(a))
    return block.ffn_norm(h + block.ffn(h))


def encode(
    embeddings: torch.nn.Module,
    encoder: BertEncoder,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    token_type_ids: torch.Tensor,
    output_hidden_states: bool = False,
    position_bias: torch.Tensor | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
    """Every layer on the real tokens; (B, T, H) outputs with zeros at padding.
    `position_bias` (1, heads, T, T), if given, is added to every layer's scores as in
    the padded path (ALiBi).

    Columns that are padding in every row are cut off first (a batch padded to a fixed
    length often has many). The embeddings run on what is left, padding included, and
    are then unpadded; from there the layers' projections, LayerNorms and feed-forward
    blocks see only the real tokens, and attention pads back to compute (and discard)
    the remaining padding rows.
    """
    T = input_ids.size(1)
    # Last column with a real token
    used = int(attention_mask.any(dim=0).nonzero().max()) + 1
    ids, mask, types = (
        input_ids[:, :used],
        attention_mask[:, :used],
        token_type_ids[:, :used],
    )
    tokens = TokenIndex.from_mask(mask)
    x = tokens.unpad(embeddings(ids, types))  # (N, H)
    bias = padding_mask_to_bias(mask, x.dtype)  # (B, 1, 1, used)
    if position_bias is not None:
        bias = bias + position_bias[:, :, :used, :used]  # (B, heads, used, used)
    hidden_states = [x] if output_hidden_states else None
    for block in encoder.layer:
        x = encoder_layer(block, x, bias, tokens)
        if output_hidden_states:
            hidden_states.append(x)
    if encoder.final_norm is not None:
        x = encoder.final_norm(x)

    def restore(h: torch.Tensor) -> torch.Tensor:  # (N, H) -> (B, T, H)
        h = tokens.pad(h)  # (B, used, H)
        return F.pad(h, (0, 0, 0, T - used)) if used < T else h

    return restore(x), [
        restore(h) for h in hidden_states
    ] if hidden_states is not None else None
