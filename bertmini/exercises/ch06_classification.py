"""The exercises of Chapter 6: classification: reference solutions, hidden cases, and
the usual mistakes.
"""

from __future__ import annotations

from typing import Callable

import torch

from .checker import Case, Exercise, Mistake


def warmup_linear_lr_reference(
    step: int, total_steps: int, warmup_steps: int, peak_lr: float
) -> float:
    """The learning rate of `bertmini.train.linear_schedule` at optimizer step `step`
    (from 0).
    """
    if step < warmup_steps:
        return peak_lr * step / max(1, warmup_steps)
    return peak_lr * max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def _lr_no_warmup(step, total_steps, warmup_steps, peak_lr):
    return peak_lr * max(0.0, (total_steps - step) / total_steps)


def _lr_no_decay(step, total_steps, warmup_steps, peak_lr):
    return peak_lr * min(1.0, step / max(1, warmup_steps))


def _lr_decay_over_all_steps(step, total_steps, warmup_steps, peak_lr):
    if step < warmup_steps:
        return peak_lr * step / max(1, warmup_steps)
    return peak_lr * max(0.0, (total_steps - step) / total_steps)


def _lr_warmup_off_by_one(step, total_steps, warmup_steps, peak_lr):
    if step < warmup_steps:
        return peak_lr * (step + 1) / max(1, warmup_steps)
    return peak_lr * max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


LR_CASES = [
    (0, 100, 10, 1e-4),
    (5, 100, 10, 1e-4),
    (10, 100, 10, 1e-4),
    (55, 100, 10, 1e-4),
    (99, 100, 10, 1e-4),
    (100, 100, 10, 1e-4),
    (3, 50, 0, 1e-3),
    (7, 40, 8, 3e-4),
]

WARMUP_LINEAR_LR = Exercise(
    name="warmup_linear_lr",
    title="Exercise 6.1: the learning-rate schedule",
    kind="function",
    signature="warmup_linear_lr(step, total_steps, warmup_steps, peak_lr) -> float",
    reference=warmup_linear_lr_reference,
    cases=[
        Case(
            f"step {s} of {t}, warm-up {w}, peak {p:g}",
            (lambda a=(s, t, w, p): a),
            atol=1e-12,
            rtol=1e-6,
        )
        for s, t, w, p in LR_CASES
    ],
    mistakes=[
        Mistake(
            _lr_no_warmup,
            "there is no warm-up in your schedule: for step < warmup_steps the rate "
            "grows linearly from 0 (peak_lr * step / warmup_steps).",
        ),
        Mistake(
            _lr_no_decay,
            "after the warm-up the rate must decay linearly, reaching 0 at step "
            "total_steps, not stay at the peak.",
        ),
        Mistake(
            _lr_decay_over_all_steps,
            "the decay starts at the end of the warm-up, from the peak: divide "
            "(total_steps - step) by (total_steps - warmup_steps), not by total_steps.",
        ),
        Mistake(
            _lr_warmup_off_by_one,
            "step 0 has a learning rate of exactly 0: the warm-up factor is "
            "step / warmup_steps, not (step + 1) / warmup_steps.",
        ),
    ],
)


def classify_from_hidden_reference(
    hidden: torch.Tensor,
    W_p: torch.Tensor,
    b_p: torch.Tensor,
    W_c: torch.Tensor,
    b_c: torch.Tensor,
) -> torch.Tensor:
    """Logits of BertForSequenceClassification in eval mode, from the encoder's output
    (B, T, H).
    """
    cls = hidden[:, 0]  # (B, H): the [CLS] token
    pooled = torch.tanh(cls @ W_p.T + b_p)  # (B, H): the pooler
    return pooled @ W_c.T + b_c  # (B, C)


def _head_case(B: int, T: int, H: int, C: int, seed: int) -> Callable[[], tuple]:
    def make():
        g = torch.Generator().manual_seed(seed)
        return (
            torch.randn(B, T, H, generator=g),
            torch.randn(H, H, generator=g) / H**0.5,
            torch.randn(H, generator=g) * 0.1,
            torch.randn(C, H, generator=g),
            torch.randn(C, generator=g),
        )

    return make


CLASSIFY_FROM_HIDDEN = Exercise(
    name="classify_from_hidden",
    title="Exercise 6.2: the classification head by hand",
    kind="function",
    signature="classify_from_hidden(hidden, W_p, b_p, W_c, b_c) -> logits (B, C)",
    reference=classify_from_hidden_reference,
    cases=[
        Case("B=2, T=5, H=8, C=2", _head_case(2, 5, 8, 2, 0)),
        Case("B=3, T=7, H=16, C=3", _head_case(3, 7, 16, 3, 1)),
    ],
    mistakes=[
        Mistake(
            lambda h, Wp, bp, Wc, bc: (h[:, 0] @ Wp.T + bp) @ Wc.T + bc,
            "the pooler ends with a tanh: pooled = tanh([CLS] W_pᵀ + b_p).",
        ),
        Mistake(
            lambda h, Wp, bp, Wc, bc: torch.tanh(h.mean(1) @ Wp.T + bp) @ Wc.T + bc,
            "BERT's classifier reads the [CLS] vector (position 0), not the mean over tokens.",
        ),
        Mistake(
            lambda h, Wp, bp, Wc, bc: torch.tanh(h[:, -1] @ Wp.T + bp) @ Wc.T + bc,
            "[CLS] is the first token (hidden[:, 0]), not the last.",
        ),
        Mistake(
            lambda h, Wp, bp, Wc, bc: h[:, 0] @ Wc.T + bc,
            "the pooler (a dense layer with tanh) sits between [CLS] and the classifier.",
        ),
        Mistake(
            lambda h, Wp, bp, Wc, bc: torch.tanh(h[:, 0] @ Wp + bp) @ Wc.T + bc,
            "nn.Linear computes x Wᵀ + b: transpose W_p (it is square, so the shapes did not warn you).",
        ),
    ],
)


def macro_f1_from_confusion_reference(confusion: list[list[int]]) -> float:
    """The package's own macro-F1 (what `evaluate` reports) is the reference."""
    from ..metrics import macro_f1

    return macro_f1(confusion)


def _per_class_f1(confusion):
    C = len(confusion)
    out = []
    for c in range(C):
        tp = confusion[c][c]
        fp = sum(confusion[t][c] for t in range(C)) - tp
        fn = sum(confusion[c]) - tp
        out.append((tp, fp, fn, 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0))
    return out


def _f1_accuracy(confusion):
    return sum(confusion[c][c] for c in range(len(confusion))) / sum(
        map(sum, confusion)
    )


def _f1_weighted(confusion):
    support = [sum(row) for row in confusion]
    return sum(s * f for s, (*_, f) in zip(support, _per_class_f1(confusion))) / sum(
        support
    )


def _f1_last_class_only(confusion):
    return _per_class_f1(confusion)[-1][3]


def _f1_arithmetic_mean(confusion):
    scores = []
    for tp, fp, fn, _ in _per_class_f1(confusion):
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append((precision + recall) / 2)
    return sum(scores) / len(scores)


def _f1_skip_absent_classes(confusion):
    present = [f for tp, fp, fn, f in _per_class_f1(confusion) if tp + fp + fn]
    return sum(present) / len(present)


CONFUSION_CASES = [
    [[40, 10], [5, 45]],
    [[50, 3, 2], [10, 5, 0], [4, 1, 0]],
    [[5, 1, 0], [0, 3, 0], [0, 0, 0]],
    [[9, 1], [6, 2]],
]

MACRO_F1_FROM_CONFUSION = Exercise(
    name="macro_f1_from_confusion",
    title="Exercise 6.3: macro-F1 from a confusion matrix",
    kind="function",
    signature="macro_f1_from_confusion(confusion) -> float",
    reference=macro_f1_from_confusion_reference,
    cases=[
        Case(
            f"confusion {c}",
            (lambda c=c: ([list(row) for row in c],)),
            atol=1e-9,
            rtol=1e-9,
        )
        for c in CONFUSION_CASES
    ],
    mistakes=[
        Mistake(
            _f1_accuracy,
            "that is the accuracy (the diagonal over the total); macro-F1 averages one F1 "
            "score per class.",
        ),
        Mistake(
            _f1_weighted,
            "macro-F1 gives every class the same weight; you weighted each class's F1 by its "
            "support (that is sklearn's average='weighted').",
        ),
        Mistake(
            _f1_last_class_only,
            "average the F1 of *every* class, not only the last (the 'positive') one.",
        ),
        Mistake(
            _f1_arithmetic_mean,
            "F1 is the harmonic mean of precision and recall, 2PR / (P + R), not "
            "their arithmetic mean.",
        ),
        Mistake(
            _f1_skip_absent_classes,
            "divide by the number of classes C: a class that is never true nor "
            "predicted counts with F1 = 0 (the convention of bertmini.classification and sklearn).",
        ),
    ],
)


EXERCISES = [WARMUP_LINEAR_LR, CLASSIFY_FROM_HIDDEN, MACRO_F1_FROM_CONFUSION]
