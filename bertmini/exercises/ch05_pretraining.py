"""The exercises of Chapter 5: pretraining: reference solutions, hidden cases, and the
usual mistakes.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from .checker import IGNORE_INDEX, Case, Exercise, Mistake


def _logits_labels_args(B: int, T: int, V: int, seed: int, rate: float = 0.15):
    """Logits (B, T, V) and MLM labels (B, T): the original id at ~rate of the
    positions, -100 elsewhere.
    """

    def make():
        g = torch.Generator().manual_seed(seed)
        logits = torch.randn(B, T, V, generator=g) * 3
        ids = torch.randint(V, (B, T), generator=g)
        ids[ids % 3 == 0] = 7  # one frequent token, like "the"
        chosen = torch.rand(B, T, generator=g) < rate
        chosen[0, 1] = True
        logits[..., 7] += 1.0  # the model has learned it a little
        return logits, torch.where(chosen, ids, torch.full_like(ids, IGNORE_INDEX))

    return make


def mlm_loss_labels_reference(
    logits: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy of logits (B, T, V) against labels (B, T), averaged over positions
    with a label.
    """
    keep = labels != IGNORE_INDEX  # (B, T)
    return F.cross_entropy(logits[keep], labels[keep])  # (N, V) vs (N,)


def _mlm_labels_every_position(logits, labels):
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten().clamp(min=0))


def _mlm_labels_over_all_tokens(logits, labels):
    return (
        F.cross_entropy(
            logits.flatten(0, 1),
            labels.flatten(),
            ignore_index=IGNORE_INDEX,
            reduction="sum",
        )
        / labels.numel()
    )


def _mlm_labels_sum(logits, labels):
    return F.cross_entropy(
        logits.flatten(0, 1),
        labels.flatten(),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )


MLM_LOSS_LABELS = Exercise(
    name="mlm_loss_labels",
    title="Exercise 5.1: the MLM loss from -100 labels",
    kind="function",
    signature="mlm_loss_labels(logits, labels) -> scalar tensor",
    reference=mlm_loss_labels_reference,
    cases=[
        Case("B=2, T=8, V=13", _logits_labels_args(2, 8, 13, seed=500)),
        Case("B=4, T=32, V=50", _logits_labels_args(4, 32, 50, seed=501)),
    ],
    mistakes=[
        Mistake(
            _mlm_labels_every_position,
            "the loss includes the positions labelled -100 (as if their "
            "target were token 0): only the masked positions have a target.",
        ),
        Mistake(
            _mlm_labels_over_all_tokens,
            "the sum over masked positions is divided by the number of "
            "all positions (B*T): divide by the number of masked positions, or the "
            "loss shrinks "
            "whenever fewer tokens happen to be masked.",
        ),
        Mistake(
            _mlm_labels_sum,
            "that is the sum over masked positions, not the mean: it grows with the "
            "batch size and the learning rate would have to follow it.",
        ),
    ],
)


def masked_accuracy_reference(
    logits: torch.Tensor, labels: torch.Tensor
) -> tuple[float, float]:
    """(accuracy of the argmax at labelled positions, accuracy of always predicting the
    most
    frequent labelled token)."""
    keep = labels != IGNORE_INDEX
    targets = labels[keep]  # (N,)
    accuracy = (logits[keep].argmax(-1) == targets).float().mean().item()
    baseline = torch.bincount(targets).max().item() / len(targets)
    return accuracy, baseline


def _accuracy_every_position(logits, labels):
    keep = labels != IGNORE_INDEX
    return (
        (logits.argmax(-1) == labels).float().mean().item(),
        torch.bincount(labels[keep]).max().item() / int(keep.sum()),
    )


def _baseline_uniform(logits, labels):
    return masked_accuracy_reference(logits, labels)[0], 1 / logits.size(-1)


def _baseline_from_predictions(logits, labels):
    keep = labels != IGNORE_INDEX
    predicted = logits[keep].argmax(-1)
    accuracy = (predicted == labels[keep]).float().mean().item()
    most = torch.bincount(predicted).argmax()
    return accuracy, (predicted == most).float().mean().item()


MASKED_ACCURACY = Exercise(
    name="masked_accuracy",
    title="Exercise 5.2: masked-token accuracy and its baseline",
    kind="function",
    signature="masked_accuracy(logits, labels) -> (accuracy, baseline)",
    reference=masked_accuracy_reference,
    cases=[
        Case("B=2, T=16, V=13", _logits_labels_args(2, 16, 13, seed=510, rate=0.3)),
        Case("B=8, T=64, V=40", _logits_labels_args(8, 64, 40, seed=511)),
    ],
    mistakes=[
        Mistake(
            _accuracy_every_position,
            "the accuracy counts every position, including those labelled "
            "-100 (which never match): divide by the number of masked positions only.",
        ),
        Mistake(
            _baseline_uniform,
            "1/V is the accuracy of guessing uniformly at random; the baseline "
            "always predicts the most frequent *target* token, which is far better on real text.",
        ),
        Mistake(
            _baseline_from_predictions,
            "the baseline counts the model's own predictions; it must "
            "count the targets (labels): how often is the single most common target right?",
        ),
    ],
)


def nsp_interval_reference(correct: int, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval of an accuracy of correct / n."""
    z = 1.96
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def _interval_wald(correct, n):
    p = correct / n
    half = 1.96 * math.sqrt(p * (1 - p) / n)
    return p - half, p + half


def _interval_90(correct, n):
    z = 1.645
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def _interval_no_sqrt(correct, n):
    z = 1.96
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * (p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def _interval_value(correct: int, n: int) -> Callable[[], tuple[int, int]]:
    return lambda: (correct, n)


NSP_INTERVAL = Exercise(
    name="nsp_interval",
    title="Exercise 5.3: a 95% interval for NSP accuracy",
    kind="function",
    signature="nsp_interval(correct, n) -> (low, high)",
    reference=nsp_interval_reference,
    cases=[
        Case("140 of 232 pairs right", _interval_value(140, 232), atol=1e-4, rtol=0),
        Case("12 of 20 pairs right", _interval_value(12, 20), atol=1e-4, rtol=0),
        Case("0 of 8 pairs right", _interval_value(0, 8), atol=1e-4, rtol=0),
    ],
    mistakes=[
        Mistake(
            _interval_wald,
            "that is the normal-approximation (Wald) interval p ± 1.96·sqrt(p(1-p)/n): "
            "at 0 of 8 it is [0, 0], as if there were no doubt. Use Wilson's formula from the chapter.",
        ),
        Mistake(
            _interval_90,
            "z = 1.645 gives a 90% interval; a 95% interval uses z = 1.96.",
        ),
        Mistake(
            _interval_no_sqrt,
            "the half-width needs the square root of p(1-p)/n + z²/(4n²).",
        ),
    ],
)


EXERCISES = [MLM_LOSS_LABELS, MASKED_ACCURACY, NSP_INTERVAL]
