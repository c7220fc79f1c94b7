"""Token + position + segment embeddings: how BERT turns ids into vectors.

Self-attention by itself ignores order (permute the tokens and the outputs permute with
them), so BERT adds a learned vector for each position 0..511. A second learned table,
the token type (segment) embedding, tells sentence A from sentence B in a pair. The sum
is normalised with LayerNorm and passed through dropout.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import BertConfig


class BertEmbeddings(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(
            config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id
        )
        self.position_embeddings = nn.Embedding(
            config.max_position_embeddings, config.hidden_size
        )
        self.token_type_embeddings = nn.Embedding(
            config.type_vocab_size, config.hidden_size
        )
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self, input_ids: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        T = input_ids.size(1)
        positions = torch.arange(T, device=input_ids.device)  # (T,): 0, 1, ..., T-1
        # (B, T, H)
        x = (
            self.word_embeddings(input_ids)  # (B, T, H)
            + self.position_embeddings(positions)  # (T, H), broadcast over the batch
            + self.token_type_embeddings(token_type_ids)
        )
        return self.dropout(self.norm(x))  # (B, T, H)
