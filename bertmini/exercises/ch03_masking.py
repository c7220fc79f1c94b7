"""The exercises of Chapter 3: masks and the MLM loss: reference solutions, hidden
cases, and the usual mistakes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .checker import IGNORE_INDEX, Case, Exercise, Mistake


def masked_softmax_reference(
    scores: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """Attention probabilities with padding keys hidden from every query.

    scores (B, heads, T, T); attention_mask (B, T) with 1 = real token, 0 = padding.
    """
    bias = (1.0 - attention_mask[:, None, None, :].to(scores.dtype)) * torch.finfo(
        scores.dtype
    ).min
    return (scores + bias).softmax(dim=-1)  # (B, heads, T, T)


def _masked_softmax_args(B: int, heads: int, T: int, seed: int):
    def make():
        g = torch.Generator().manual_seed(seed)
        scores = torch.randn(B, heads, T, T, generator=g) * 2
        lengths = torch.randint(2, T + 1, (B,), generator=g)
        lengths[0] = T - 2
        lengths[-1] = T
        mask = (torch.arange(T)[None, :] < lengths[:, None]).long()  # (B, T)
        return scores, mask

    return make


def _masked_softmax_query_axis(scores, attention_mask):
    bias = (1.0 - attention_mask[:, None, :, None].float()) * torch.finfo(
        scores.dtype
    ).min
    return (scores + bias).softmax(dim=-1)


def _masked_softmax_after(scores, attention_mask):
    return scores.softmax(dim=-1) * attention_mask[:, None, None, :]


def _masked_softmax_causal(scores, attention_mask):
    T = scores.size(-1)
    causal = torch.ones(T, T).tril().bool()
    keep = causal[None, None] & attention_mask[:, None, None, :].bool()
    return scores.masked_fill(~keep, torch.finfo(scores.dtype).min).softmax(dim=-1)


MASKED_SOFTMAX = Exercise(
    name="masked_softmax",
    title="Exercise 3.1: a padding mask for attention scores",
    kind="function",
    signature="masked_softmax(scores, attention_mask) -> (B, heads, T, T)",
    reference=masked_softmax_reference,
    cases=[
        Case("B=2, heads=1, T=5", _masked_softmax_args(2, 1, 5, seed=30), atol=1e-6),
        Case("B=3, heads=4, T=8", _masked_softmax_args(3, 4, 8, seed=31), atol=1e-6),
    ],
    mistakes=[
        Mistake(
            _masked_softmax_query_axis,
            "the mask hides the wrong axis: padding is hidden as a "
            "*key* (the last axis, columns), so the bias has shape (B, 1, 1, T), not "
            "(B, 1, T, 1).",
        ),
        Mistake(
            _masked_softmax_after,
            "the mask is applied after the softmax: the rows no longer "
            "sum to 1. Add a very negative bias to the scores before the softmax.",
        ),
        Mistake(
            _masked_softmax_causal,
            "that is a causal (GPT) mask: BERT is bidirectional and only "
            "hides padding; every real token sees every other real token, before and after it.",
        ),
    ],
)


def mlm_loss_reference(
    logits: torch.Tensor, original_ids: torch.Tensor, masked: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy averaged over the masked positions only.

    logits (B, T, V); original_ids (B, T) the uncorrupted tokens; masked (B, T) bool,
    True where a token was chosen for prediction (replaced by [MASK], a random token, or
    kept).
    """
    # (N, V) vs (N,): mean over N
    return F.cross_entropy(logits[masked], original_ids[masked])


def _mlm_args(B: int, T: int, V: int, seed: int):
    def make():
        g = torch.Generator().manual_seed(seed)
        logits = torch.randn(B, T, V, generator=g) * 2
        original = torch.randint(V, (B, T), generator=g)
        masked = torch.rand(B, T, generator=g) < 0.3
        masked[0, 1] = True
        return logits, original, masked

    return make


def _mlm_loss_every_position(logits, original_ids, masked):
    return F.cross_entropy(
        logits.reshape(-1, logits.size(-1)), original_ids.reshape(-1)
    )


def _mlm_loss_divided_by_all(logits, original_ids, masked):
    return (
        F.cross_entropy(logits[masked], original_ids[masked], reduction="sum")
        / original_ids.numel()
    )


def _mlm_loss_unmasked(logits, original_ids, masked):
    return F.cross_entropy(logits[~masked], original_ids[~masked])


MLM_LOSS = Exercise(
    name="mlm_loss",
    title="Exercise 3.2: the masked-language-model loss",
    kind="function",
    signature="mlm_loss(logits, original_ids, masked) -> scalar tensor",
    reference=mlm_loss_reference,
    cases=[
        Case("B=2, T=6, V=11", _mlm_args(2, 6, 11, seed=40)),
        Case("B=4, T=10, V=50", _mlm_args(4, 10, 50, seed=41)),
    ],
    mistakes=[
        Mistake(
            _mlm_loss_every_position,
            "the loss is averaged over every position: only the masked "
            "positions count (logits[masked], original_ids[masked]). Over every position the "
            "model could score well by copying its input.",
        ),
        Mistake(
            _mlm_loss_divided_by_all,
            "the sum over masked positions is divided by the number of "
            "*all* tokens; take the mean over the masked tokens only.",
        ),
        Mistake(
            _mlm_loss_unmasked,
            "the mask is inverted: the loss must be over the positions that "
            "*were* masked (masked == True).",
        ),
    ],
)


def _mask_tokens_args(seed: int):
    def make():
        g = torch.Generator().manual_seed(seed)
        B, T = 64, 128
        ids = torch.randint(1000, 30000, (B, T), generator=g)
        lengths = torch.randint(T // 2, T + 1, (B,), generator=g)
        ids[:, 0] = 101  # [CLS]
        ids[torch.arange(B), lengths - 1] = 102  # [SEP]
        ids[torch.arange(T)[None, :] >= lengths[:, None]] = 0  # [PAD]
        special = (ids == 0) | (ids == 101) | (ids == 102)
        return ids, special, torch.Generator().manual_seed(seed + 1)

    return make


MASK_ID, MLM_VOCAB = 103, 30522


def mask_tokens_reference(
    input_ids: torch.Tensor,
    special_tokens_mask: torch.Tensor,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking with [MASK] = 103 and a 30522-token vocabulary: returns
    (masked_ids, labels).
    """
    chosen = (
        torch.rand(input_ids.shape, generator=generator) < 0.15
    ) & ~special_tokens_mask
    action = torch.rand(input_ids.shape, generator=generator)
    to_mask = chosen & (action < 0.8)
    to_random = chosen & (action >= 0.8) & (action < 0.9)
    # Ordinary tokens
    random_ids = torch.randint(999, MLM_VOCAB, input_ids.shape, generator=generator)
    masked = input_ids.clone()
    masked[to_mask] = MASK_ID
    masked[to_random] = random_ids[to_random]
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    return masked, labels


HINT_SPECIAL = "special tokens ([CLS], [SEP], [PAD]) were chosen: they must never be masked or get a label."
HINT_ALL_MASK = (
    "every chosen token became [MASK]: BERT replaces 80% by [MASK], 10% by a random token "
    "and leaves 10% unchanged, so the model cannot rely on seeing [MASK]."
)
HINT_LABELS = "labels must be -100 at every position that was not chosen, and the original id where it was."
HINT_RATE = "about 15% of the ordinary (non-special) tokens should be chosen."


def verify_masking(result, expected, args) -> str | None:
    """Check the statistics, not the exact random draw: any correct sampler passes."""
    ids, special, _ = args
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        return "return a pair (masked_input_ids, labels)"
    masked, labels = result
    if not (
        isinstance(masked, torch.Tensor)
        and isinstance(labels, torch.Tensor)
        and masked.shape == ids.shape
        and labels.shape == ids.shape
    ):
        return f"masked_input_ids and labels must both have shape {tuple(ids.shape)}"
    chosen = labels != IGNORE_INDEX
    # A label (almost) everywhere: the loss would be over every token
    if chosen.float().mean().item() > 0.5:
        return HINT_LABELS
    if bool((chosen & special).any()) or bool((masked[special] != ids[special]).any()):
        return HINT_SPECIAL
    if not bool((labels[chosen] == ids[chosen]).all()) or bool(
        (masked[~chosen] != ids[~chosen]).any()
    ):
        return HINT_LABELS
    rate = chosen.sum().item() / (~special).sum().item()
    if abs(rate - 0.15) > 0.015:
        return f"{HINT_RATE} You chose {rate:.1%}."
    n = chosen.sum().item()
    frac_mask = (masked[chosen] == MASK_ID).sum().item() / n
    frac_same = (masked[chosen] == ids[chosen]).sum().item() / n
    frac_random = 1 - frac_mask - frac_same
    if frac_mask > 0.95:
        return HINT_ALL_MASK
    if (
        abs(frac_mask - 0.8) > 0.04
        or abs(frac_same - 0.1) > 0.03
        or abs(frac_random - 0.1) > 0.03
    ):
        return (
            f"the chosen tokens should be 80% [MASK] / 10% random / 10% unchanged; yours are "
            f"{frac_mask:.0%} / {frac_random:.0%} / {frac_same:.0%}."
        )
    return None


def _mask_all_with_mask(input_ids, special_tokens_mask, generator):
    chosen = (
        torch.rand(input_ids.shape, generator=generator) < 0.15
    ) & ~special_tokens_mask
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    return input_ids.masked_fill(chosen, MASK_ID), labels


def _mask_specials_too(input_ids, special_tokens_mask, generator):
    return mask_tokens_reference(
        input_ids, torch.zeros_like(special_tokens_mask), generator
    )


def _mask_labels_everywhere(input_ids, special_tokens_mask, generator):
    masked, _ = mask_tokens_reference(input_ids, special_tokens_mask, generator)
    return masked, input_ids.clone()


MASK_TOKENS = Exercise(
    name="mask_tokens",
    title="Exercise 3.3: BERT's 80/10/10 masking",
    kind="function",
    signature="mask_tokens(input_ids, special_tokens_mask, generator) -> (masked_ids, labels)",
    reference=mask_tokens_reference,
    cases=[
        Case(
            "64 sequences of up to 128 tokens",
            _mask_tokens_args(50),
            verify=verify_masking,
        ),
        Case("another draw", _mask_tokens_args(51), verify=verify_masking),
    ],
    mistakes=[
        Mistake(_mask_all_with_mask, HINT_ALL_MASK),
        Mistake(_mask_specials_too, HINT_SPECIAL),
        Mistake(_mask_labels_everywhere, HINT_LABELS),
    ],
)


EXERCISES = [MASKED_SOFTMAX, MLM_LOSS, MASK_TOKENS]
