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


def _float_array(x: Any, name: str) -> np.ndarray:
    """A float64 array from a floating-point tensor or array.

    Integer or bool "logits" are refused: they are labels or masks passed by mistake,
    and their ties would pick an arbitrary span.
    """
    if isinstance(x, torch.Tensor):
        if x.is_floating_point():
            return x.detach().float().cpu().numpy().astype(np.float64)
        dtype = x.dtype
    else:
        try:
            array = np.asarray(x)
        except ValueError:  # ragged nested lists
            array = np.asarray(None)
        if array.dtype.kind == "f":
            return array.astype(np.float64)
        dtype = array.dtype
    raise TypeError(
        f"{name} must be floating-point logits (a float tensor or array), got "
        f"{type(x).__name__} of dtype {dtype}"
    )


def _to_numpy_logits(
    logits: Any, features: QAFeatures, name: str
) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """(N, T) float64 logits from an (N, T') tensor/array or a list of per-batch
    (B_i, T_i) pieces in feature order, and the shapes it was given (to compare start
    with end).

    Each piece must cover the real tokens of its windows (what the model returns for a
    trimmed batch of `features.batches()` or `model_inputs`) and be no wider than the
    features: narrower logits would drop context tokens and answer "" without a word.
    Pieces are right-padded with -inf, a position that can never win; -inf and +inf are
    valid logits, NaN is not (it cannot be ranked, and means the model is broken).
    """
    pieces = list(logits) if isinstance(logits, (list, tuple)) else [logits]
    arrays = [_float_array(p, name) for p in pieces]
    if any(a.ndim != 2 for a in arrays):
        raise ValueError(
            f"{name}: expected (N, T) logits or a list of per-batch (B, T) pieces, got "
            f"shapes {[a.shape for a in arrays]}"
        )
    n, width = len(features), features.input_ids.shape[1]
    shapes = [a.shape for a in arrays]
    if sum(a.shape[0] for a in arrays) != n:
        given = shapes[0] if len(shapes) == 1 else shapes
        raise ValueError(
            f"{name} has shape {given}, expected ({n}, T): one row of logits per "
            f"window in features, in the same order (do not shuffle evaluation batches)"
        )
    real = features.attention_mask.sum(dim=1).tolist()  # (N,) real tokens per window
    row = 0
    for a in arrays:
        b, t = a.shape
        need = max(real[row : row + b], default=0)
        if not need <= t <= width:
            where = "" if len(arrays) == 1 else f" (windows {row}..{row + b - 1})"
            raise ValueError(
                f"{name} has shape {a.shape}{where}, expected ({b}, T) with "
                f"{need} <= T <= {width}: a column for every token of the windows, as "
                "the model returns them for these features"
            )
        if np.isnan(a).any():
            raise ValueError(
                f"{name} contains NaN: the model's output is broken (a NaN loss, "
                "too high a learning rate?); NaN logits cannot be ranked"
            )
        row += b
    if not arrays:
        return np.zeros((0, width)), shapes
    array = np.concatenate(
        [
            np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=-np.inf)
            for a in arrays
        ]
    )
    return array, shapes


def _check_examples(features: QAFeatures, examples: Any) -> None:
    """`examples` must be the list that made `features`: records with a string
    'context', unique ids, each where the features' windows expect it.

    Why: windows point to their example by position (`example_index`), so a list in
    another order would answer each question from another question's context, and two
    records with one id would share (and lose) one entry of the result.
    """
    if isinstance(examples, (str, Mapping)) or not isinstance(examples, Sequence):
        raise TypeError(
            "examples must be the list of records given to prepare_features, got "
            f"{type(examples).__name__} (wrap a single record in a list)"
        )
    seen: set[str] = set()
    for i, ex in enumerate(examples):
        if not isinstance(ex, Mapping):
            raise TypeError(
                f"examples[{i}] must be a dict with a 'context', got {type(ex).__name__}"
            )
        if not isinstance(ex.get("context"), str):
            raise ValueError(
                f"examples[{i}] (id {ex.get('id')!r}) needs a string 'context', got "
                f"{type(ex.get('context')).__name__}"
            )
        qid = str(ex.get("id", i))
        if qid in seen:
            raise ValueError(
                f"examples[{i}] repeats the id {qid!r}: each question needs its own id "
                "to get its own answer"
            )
        seen.add(qid)
    if len(features.example_ids) != len(features):
        raise ValueError(
            f"features has {len(features)} windows but {len(features.example_ids)} "
            "example_ids; build it with prepare_features"
        )
    for row, (ex_i, qid) in enumerate(
        zip(features.example_index.tolist(), features.example_ids)
    ):
        if ex_i >= len(examples):
            raise ValueError(
                f"features refer to example {ex_i} but only {len(examples)} examples "
                "were given; pass the same examples list that prepare_features received"
            )
        given = str(examples[ex_i].get("id", ex_i))
        if given != qid:
            raise ValueError(
                f"window {row} of features was made from example {ex_i} (id {qid!r}), "
                f"but examples[{ex_i}] has id {given!r}; pass the same examples list, "
                "in the same order, that prepare_features received"
            )


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

    start_logits, end_logits: float (N, T) for the N windows of `features`, or lists of
        per-batch (B_i, T_i) pieces in feature order, start and end of the same shapes.
        T may be trimmed (`features.batches()`) but must cover every real token of its
        windows; NaN is refused, -inf never wins.
    examples: the list given to `prepare_features`, in the same order (each window
        knows its example's position and id); ids must be unique.
    """
    n_best = check_int("n_best", n_best, minimum=1)
    max_answer_length = check_int("max_answer_length", max_answer_length, minimum=1)
    if not isinstance(features, QAFeatures):
        raise TypeError(
            "features must be the QAFeatures of prepare_features, "
            f"got {type(features).__name__}"
        )
    _check_examples(features, examples)
    start, start_shapes = _to_numpy_logits(start_logits, features, "start_logits")
    end, end_shapes = _to_numpy_logits(end_logits, features, "end_logits")
    if start_shapes != end_shapes:
        raise ValueError(
            "start_logits and end_logits must have the same shape(s), got "
            f"{start_shapes} and {end_shapes}"
        )
    offsets = features.offset_mapping.numpy()  # (N, T, 2)
    example_index = features.example_index.tolist()

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
