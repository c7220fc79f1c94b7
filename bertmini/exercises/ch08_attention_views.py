"""The exercises of chapter 8: statistics of one head, and attention rollout by hand.

The references are `bertmini.viz`'s own functions, so a student's answer is held to the
code that drew the chapter's plots. Cases are seeded random maps plus maps with a known
answer (a one-hot previous-token head, the identity).
"""

from __future__ import annotations

import torch

from .checker import Case, Exercise, Mistake


def random_map(T: int, seed: int, sharp: float = 1.0) -> torch.Tensor:
    """A (T, T) attention map whose rows sum to 1; `sharp` makes the rows peakier."""
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(sharp * torch.randn(T, T, generator=g), dim=-1)


def previous_token_map(T: int) -> torch.Tensor:
    """Row i one-hot at i - 1 (row 0 attends to itself): a perfect previous-token
    head.
    """
    a = torch.zeros(T, T)
    a[0, 0] = 1.0
    a[torch.arange(1, T), torch.arange(0, T - 1)] = 1.0
    return a


def padded(attn: torch.Tensor, T: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Embed an (n, n) map in a (T, T) one: padding rows hold garbage, padding keys get
    0.
    """
    n = attn.shape[0]
    big = torch.full((T, T), 1.0 / T)
    big[:n] = 0.0
    big[:n, :n] = attn
    return big, torch.tensor([1] * n + [0] * (T - n))


# ------------------------------------------------------------- 8.1 previous-token share
def prev_token_share_reference(attn: torch.Tensor) -> float:
    from ..viz import head_statistics

    return head_statistics((attn[None, None],))["prev"].item()


def _prev_over_all_rows(attn):
    return (torch.diagonal(attn, offset=-1).sum() / attn.shape[0]).item()


def _prev_next_token(attn):
    return torch.diagonal(attn, offset=1).mean().item()


PREV_TOKEN_SHARE = Exercise(
    name="prev_token_share",
    title="Exercise 8.1: the previous-token share",
    kind="function",
    signature="prev_token_share(attn) -> float",
    reference=prev_token_share_reference,
    cases=[
        Case("a random 7x7 map", lambda: (random_map(7, 1),), atol=1e-4),
        Case(
            "a peaky random 5x5 map", lambda: (random_map(5, 2, sharp=4.0),), atol=1e-4
        ),
        Case(
            "a perfect previous-token head (answer 1)",
            lambda: (previous_token_map(6),),
            atol=1e-4,
        ),
        Case("the identity (answer 0)", lambda: (torch.eye(5),), atol=1e-4),
    ],
    mistakes=[
        Mistake(
            _prev_over_all_rows,
            "only queries i >= 1 have a previous token: average over the "
            "T - 1 rows that do, not over all T rows.",
        ),
        Mistake(
            _prev_next_token,
            "attn[i, i - 1] is below the diagonal (offset=-1); you took the "
            "next token, attn[i, i + 1].",
        ),
    ],
)


# ------------------------------------------------------------- 8.2 entropy with padding
def mean_entropy_reference(attn: torch.Tensor, mask: torch.Tensor) -> float:
    from ..viz import head_statistics

    return head_statistics((attn[None, None],), mask[None])["entropy"].item()


def _entropy_all_queries(attn, mask):
    per_query = -torch.special.xlogy(attn, attn).sum(-1)  # (T,)
    return per_query.mean().item()


def _entropy_log2(attn, mask):
    m = mask.float()
    per_query = -(torch.special.xlogy(attn, attn) * m[None, :]).sum(-1) / torch.log(
        torch.tensor(2.0)
    )
    return ((per_query * m).sum() / m.sum()).item()


MEAN_ENTROPY = Exercise(
    name="mean_entropy",
    title="Exercise 8.2: entropy with padding",
    kind="function",
    signature="mean_entropy(attn, mask) -> float",
    reference=mean_entropy_reference,
    cases=[
        Case(
            "a 5-token map padded to 9", lambda: padded(random_map(5, 3), 9), atol=1e-4
        ),
        Case(
            "a peaky 6-token map, no padding",
            lambda: padded(random_map(6, 4, sharp=3.0), 6),
            atol=1e-4,
        ),
        Case(
            "the identity padded to 7 (answer 0)",
            lambda: padded(torch.eye(4), 7),
            atol=1e-4,
        ),
        Case(
            "a 10-token map padded to 12",
            lambda: padded(random_map(10, 6), 12),
            atol=1e-4,
        ),
    ],
    mistakes=[
        Mistake(
            _entropy_all_queries,
            "padding queries must not count: average only over the rows "
            "whose mask is 1 (and sum only over real keys).",
        ),
        Mistake(
            _entropy_log2,
            "the chapter measures entropy in nats: use the natural log, not log2.",
        ),
    ],
)


# ---------------------------------------------------------------- 8.3 attention rollout
def rollout_reference(layer_maps: list[torch.Tensor]) -> torch.Tensor:
    from ..viz import attention_rollout

    return attention_rollout(tuple(m[None, None] for m in layer_maps))[0]


def _rollout_no_identity(layer_maps):
    R = torch.eye(layer_maps[0].shape[0])
    for a in layer_maps:
        R = a @ R
    return R


def _rollout_wrong_order(layer_maps):
    T = layer_maps[0].shape[0]
    R = torch.eye(T)
    for a in layer_maps:
        a_hat = a + torch.eye(T)
        R = R @ (a_hat / a_hat.sum(-1, keepdim=True))
    return R


def _rollout_no_renormalise(layer_maps):
    T = layer_maps[0].shape[0]
    R = torch.eye(T)
    for a in layer_maps:
        R = (a + torch.eye(T)) @ R
    return R


ROLLOUT = Exercise(
    name="rollout",
    title="Exercise 8.3: attention rollout by hand",
    kind="function",
    signature="rollout(layer_maps) -> (T, T) tensor",
    reference=rollout_reference,
    cases=[
        Case("one layer, 5 tokens", lambda: ([random_map(5, 5)],), atol=1e-4),
        Case(
            "three layers, 6 tokens",
            lambda: ([random_map(6, s) for s in range(3)],),
            atol=1e-4,
        ),
        Case(
            "six peaky layers, 8 tokens",
            lambda: ([random_map(8, 10 + s, sharp=3.0) for s in range(6)],),
            atol=1e-4,
        ),
    ],
    mistakes=[
        Mistake(
            _rollout_no_identity,
            "add the identity to each layer's map before multiplying: the "
            "residual connection lets every token keep its own vector.",
        ),
        Mistake(
            _rollout_wrong_order,
            "the first layer is applied first: R = Â_L ··· Â_1, so each new "
            "layer multiplies from the left (R = Â @ R).",
        ),
        Mistake(
            _rollout_no_renormalise,
            "after adding the identity, divide each row by its sum so "
            "the rows are distributions again.",
        ),
    ],
)


EXERCISES = [PREV_TOKEN_SHARE, MEAN_ENTROPY, ROLLOUT]
