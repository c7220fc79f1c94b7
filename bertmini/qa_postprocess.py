"""Start/end logits -> answer text: the best span over all windows of a question.

Three rules keep the span search correct (`_best_span_in_window`): only context tokens
are candidates, the end may not come before the start nor the span exceed
`max_answer_length` tokens, and windows are compared by score (start logit + end
logit). The winning tokens are mapped back to characters of the *original* context
through the windows' `offset_mapping`, so the answer keeps its spacing and accents.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ._validate import check_int
from .qa_features import NO_OFFSET, QAFeatures

__all__ = ["postprocess", "postprocess_with_scores"]


def _to_numpy_logits(logits: Any, n_features: int, name: str) -> np.ndarray:
    """(N, T) float64 array from a tensor/array or a list of per-batch (B_i, T_i)
    pieces.

    Per-batch pieces may have different widths (trimmed batches); they are right-padded
    with -inf, a position that can never win.
    """

    def as_array(x: Any) -> np.ndarray:
        if isinstance(x, torch.Tensor):
            x = x.detach().float().cpu().numpy()
        return np.asarray(x, dtype=np.float64)

    if isinstance(logits, (list, tuple)):
        pieces = [as_array(p) for p in logits]
        if any(p.ndim != 2 for p in pieces):
            raise ValueError(f"{name}: every per-batch piece must be 2-D (B, T)")
        width = max((p.shape[1] for p in pieces), default=0)
        pieces = [
            np.pad(p, ((0, 0), (0, width - p.shape[1])), constant_values=-np.inf)
            for p in pieces
        ]
        array = np.concatenate(pieces, axis=0) if pieces else np.zeros((0, 0))
    else:
        array = as_array(logits)
    if array.ndim != 2 or array.shape[0] != n_features:
        raise ValueError(
            f"{name} has shape {array.shape}, expected ({n_features}, T): one row of logits per "
            f"window in features, in the same order (do not shuffle evaluation batches)"
        )
    return np.where(np.isnan(array), -np.inf, array)  # a NaN logit must never be chosen


def _best_span_in_window(
    start: np.ndarray,
    end: np.ndarray,
    offsets: np.ndarray,
    n_best: int,
    max_answer_length: int,
) -> tuple[float, int, int] | None:
    """Best (score, char_start, char_end) in one window, or None if no span is valid.

    start, end: (T,) logits; offsets: (T, 2). Candidates are the `n_best` highest start
    and end logits among *context* tokens; a span is valid if end >= start and it is at
    most `max_answer_length` tokens long. Its score is start_logit + end_logit.
    """
    width = min(len(start), len(end), len(offsets))
    context_tokens = np.nonzero(offsets[:width, 0] != NO_OFFSET)[0]  # (C,)
    if len(context_tokens) == 0:
        return None
    # (K,) each: the n_best highest logits among context tokens
    top_start = context_tokens[
        np.argsort(-start[context_tokens], kind="stable")[:n_best]
    ]
    top_end = context_tokens[np.argsort(-end[context_tokens], kind="stable")[:n_best]]
    length = top_end[None, :] - top_start[:, None] + 1  # (K, K) tokens in span
    with np.errstate(invalid="ignore"):  # +inf + -inf = NaN: treated as invalid below
        score = start[top_start][:, None] + end[top_end][None, :]  # (K, K)
    valid = (length >= 1) & (length <= max_answer_length) & ~np.isnan(score)
    if not valid.any():
        return None
    score = np.where(valid, score, -np.inf)
    flat = int(np.argmax(score))  # first maximum: deterministic on ties
    # Every valid score is -inf but argmax picked an invalid one
    if not valid.flat[flat]:
        flat = int(np.flatnonzero(valid)[0])
    i, j = np.unravel_index(flat, score.shape)
    return (
        float(score[i, j]),
        int(offsets[top_start[i], 0]),
        int(offsets[top_end[j], 1]),
    )


def postprocess_with_scores(
    features: QAFeatures,
    start_logits: Any,
    end_logits: Any,
    examples: Sequence[Mapping[str, Any]],
    n_best: int = 20,
    max_answer_length: int = 30,
) -> dict[str, dict[str, Any]]:
    """Best answer per example with its score and character span.

    Returns `{id: {"text", "score", "start", "end"}}` where
    `context[start:end] == text`. An example with no valid span in any window (or no
    window at all) gets `{"text": "", "score": -inf, "start": 0, "end": 0}`.

    start_logits, end_logits: (N, T) for the N windows of `features`, or a list of
    per-batch (B_i, T_i) pieces in feature order.
    """
    check_int("n_best", n_best, minimum=1)
    check_int("max_answer_length", max_answer_length, minimum=1)
    if not isinstance(features, QAFeatures):
        raise TypeError(
            "features must be the QAFeatures of prepare_features, "
            f"got {type(features).__name__}"
        )
    start = _to_numpy_logits(start_logits, len(features), "start_logits")  # (N, T)
    end = _to_numpy_logits(end_logits, len(features), "end_logits")  # (N, T)
    offsets = features.offset_mapping.numpy()  # (N, T, 2)
    example_index = features.example_index.tolist()
    if example_index and max(example_index) >= len(examples):
        raise ValueError(
            f"features refer to example {max(example_index)} but only {len(examples)} examples "
            f"were given; pass the same examples list that prepare_features received"
        )

    best: dict[int, tuple[float, int, int]] = {}
    for row, ex_i in enumerate(example_index):
        candidate = _best_span_in_window(
            start[row], end[row], offsets[row], n_best, max_answer_length
        )
        if candidate is not None and (ex_i not in best or candidate[0] > best[ex_i][0]):
            best[ex_i] = candidate

    predictions = {}
    for ex_i, ex in enumerate(examples):
        context = ex["context"]
        if ex_i in best:
            score, char_start, char_end = best[ex_i]
            # Defensive: stay inside context
            char_start = min(max(char_start, 0), len(context))
            char_end = min(max(char_end, char_start), len(context))
            predictions[str(ex.get("id", ex_i))] = {
                "text": context[char_start:char_end],
                "score": score,
                "start": char_start,
                "end": char_end,
            }
        else:
            predictions[str(ex.get("id", ex_i))] = {
                "text": "",
                "score": float("-inf"),
                "start": 0,
                "end": 0,
            }
    return predictions


def postprocess(
    features: QAFeatures,
    start_logits: Any,
    end_logits: Any,
    examples: Sequence[Mapping[str, Any]],
    n_best: int = 20,
    max_answer_length: int = 30,
) -> dict[str, str]:
    """`{id: answer text}`: the highest scoring valid span over all windows of each
    example.
    """
    rich = postprocess_with_scores(
        features, start_logits, end_logits, examples, n_best, max_answer_length
    )
    return {qid: pred["text"] for qid, pred in rich.items()}
