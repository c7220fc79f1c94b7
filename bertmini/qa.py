"""Extractive question answering (SQuAD-style) with `BertForQuestionAnswering`.

The model only ever sees fixed-size windows of token ids and predicts, for every token,
a "this is where the answer starts" logit and a "this is where it ends" logit. The
steps from strings to windows and from logits back to strings each have their module:

1. `bertmini.qa_features` - `prepare_features`: `[CLS] question [SEP] context-window
   [SEP]` windows that slide over long contexts, with the character offset of every
   context token and start/end token labels for training.
2. `bertmini.qa_postprocess` - `postprocess`: the best answer span over all windows of
   a question, mapped back to characters of the original context.
3. `bertmini.metrics` - `squad_metrics`: exact match and F1 exactly as the official
   SQuAD v1.1 script computes them.

This module puts them together around a model: `answer` (one question, one context:
the interactive demo), `predict_logits` and `evaluate_qa` (the official score of a
model), and `train_qa` (fine-tuning with `bertmini.train.fit`). The names above, and
the lexical `sentence_overlap_baseline` of `bertmini.baselines`, can be imported from
here too.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Mapping, Sequence

import torch

from ._validate import check_bool, check_int, check_module, check_str
from .baselines import sentence_overlap_baseline
from .device import evaluating
from .metrics import (
    exact_match_score,
    f1_score,
    normalize_answer,
    references_from_examples,
    squad_metrics,
)
from .qa_features import (
    QAFeatures,
    _length_order,
    check_features,
    length_grouped_batches,
    prepare_features,
)
from .qa_postprocess import postprocess, postprocess_with_scores
from .train import History, TrainConfig, fit

__all__ = [
    "QAFeatures",
    "prepare_features",
    "postprocess",
    "postprocess_with_scores",
    "normalize_answer",
    "exact_match_score",
    "f1_score",
    "squad_metrics",
    "references_from_examples",
    "answer",
    "sentence_overlap_baseline",
    "length_grouped_batches",
    "predict_logits",
    "evaluate_qa",
    "train_qa",
]


def _check_model(model: Any) -> None:
    """A question-answering model: an nn.Module (its device and eval mode are used)."""
    check_module(model, "a question-answering model (BertForQuestionAnswering)")


def _check_qa_output(model: torch.nn.Module, out: Any) -> None:
    """Checked on the first batch: a classifier or a masked LM runs on the same inputs,
    but has no start and end logits to read answers from."""
    if not (hasattr(out, "start_logits") and hasattr(out, "end_logits")):
        raise TypeError(
            "model must be a question-answering model (BertForQuestionAnswering) that "
            f"returns start_logits and end_logits, got {type(model).__name__}"
        )


@torch.no_grad()
def answer(
    question: str,
    context: str,
    model: torch.nn.Module,
    tokenizer: Any,
    max_length: int = 384,
    stride: int = 128,
    n_best: int = 20,
    max_answer_length: int = 30,
    batch_size: int = 16,
) -> dict[str, Any]:
    """Answer one question from one context of any length.

    Returns `{"text", "score", "start", "end"}` with `context[start:end] == text`; the
    score is start_logit + end_logit of the chosen span (higher is more confident, not a
    probability).
    """
    check_str("question", question)
    check_str("context", context)
    if not question.strip() or not context.strip():
        raise ValueError("answer() needs a non-empty question and a non-empty context")
    _check_model(model)
    example = {"id": "0", "question": question, "context": context}
    features = prepare_features(
        [example], tokenizer, max_length=max_length, stride=stride, with_labels=False
    )
    start, end = predict_logits(model, features, batch_size=batch_size)  # (N, T) each
    result = postprocess_with_scores(
        features, start, end, [example], n_best, max_answer_length
    )
    return result["0"]


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module, features: QAFeatures, batch_size: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """Start and end logits (N, T) for every window, in the order of `features`.

    Windows are run shortest first in length-grouped batches (less padding), then put
    back in order; columns beyond a window's batch width hold -inf, which `postprocess`
    never picks. The model runs in eval mode (no dropout) and its mode is restored
    afterwards.
    """
    _check_model(model)
    check_features(features)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    n, width = features.input_ids.shape
    start = torch.full((n, width), float("-inf"))  # (N, T)
    end = torch.full((n, width), float("-inf"))  # (N, T)
    device = next(model.parameters()).device
    order = _length_order(features)
    with evaluating(model):
        for begin in range(0, n, batch_size):
            rows = order[begin : begin + batch_size]
            batch = features.model_inputs(rows)
            batch.pop("start_positions", None)
            batch.pop("end_positions", None)
            out = model(**{k: v.to(device) for k, v in batch.items()})
            _check_qa_output(model, out)
            t = out.start_logits.shape[1]
            start[rows, :t] = out.start_logits.float().cpu()  # (B, t)
            end[rows, :t] = out.end_logits.float().cpu()
    return start, end


def evaluate_qa(
    model: torch.nn.Module,
    tokenizer: Any,
    examples: Sequence[Mapping[str, Any]],
    max_length: int = 384,
    stride: int = 128,
    batch_size: int = 64,
    features: QAFeatures | None = None,
    n_best: int = 20,
    max_answer_length: int = 30,
) -> dict[str, Any]:
    """`{"exact_match", "f1", "predictions"}`: the official SQuAD v1.1 score of `model`.

    Pass `features` (built from these `examples` by `prepare_features`) to evaluate the
    same questions many times without tokenizing again; `max_length`/`stride` are then
    not used. `predictions` maps each question id to its answer text.
    """
    _check_model(model)
    if isinstance(examples, (str, Mapping)) or not isinstance(examples, Sequence):
        raise TypeError(
            f"examples must be a list of SQuAD records, got {type(examples).__name__}"
        )
    if len(examples) == 0:
        raise ValueError("evaluate_qa needs at least one example (a non-empty list)")
    if features is not None:
        check_features(features)
        check_covers(features, examples)
    if features is None:
        features = prepare_features(
            examples, tokenizer, max_length=max_length, stride=stride, with_labels=False
        )
    start, end = predict_logits(model, features, batch_size=batch_size)
    predictions = postprocess(features, start, end, examples, n_best, max_answer_length)
    scores = squad_metrics(predictions, references_from_examples(examples))
    return {
        "exact_match": scores["exact_match"],
        "f1": scores["f1"],
        "predictions": predictions,
    }


def check_covers(features: QAFeatures, examples: Sequence[Mapping[str, Any]]) -> None:
    """Every example needs a window in `features`: one without any would be scored as
    the empty answer, a silently lower EM and F1 (features built from a shorter list,
    or a subset of windows such as the answerable ones)."""
    covered = set(features.example_index.tolist())
    missing = [i for i in range(len(examples)) if i not in covered]
    if missing:
        i = missing[0]
        raise ValueError(
            f"features has no window for {len(missing)} of the {len(examples)} "
            f"examples (the first: examples[{i}]); build features from these examples "
            "with prepare_features, all windows kept"
        )


def train_qa(
    model: torch.nn.Module,
    features: QAFeatures,
    config: TrainConfig,
    *,
    answerable_only: bool = True,
    eval_fn: Callable[[torch.nn.Module], dict] | None = None,
    callbacks: Sequence[Callable[[int, dict], Any]] = (),
) -> History:
    """Fine-tune a `BertForQuestionAnswering` on labelled windows with
    `bertmini.train.fit`.

    `config.batch_size` windows make one micro-batch. Windows are grouped by length
    (`length_grouped_batches`, drawn once with `config.seed`); `fit` shuffles the order
    of the batches every epoch.

    answerable_only: train only on windows that hold the whole answer. A window labelled
        `[CLS]` teaches "no answer here", which SQuAD v1.1 never asks at test time, and
        on a small budget those windows take half the steps.
    eval_fn, callbacks: passed to `fit`, which runs `eval_fn(model) -> {name: number}`
        after the steps in `config.eval_steps` (or every `config.eval_every` steps and
        at the end) and keeps the time it takes out of `history.time`.

    Returns the `History` of the run.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(
            f"config must be a bertmini.train.TrainConfig, got {type(config).__name__}"
        )
    _check_model(model)
    check_features(features)
    check_bool("answerable_only", answerable_only)
    if not features.has_labels:
        raise ValueError(
            "train_qa needs labelled features: prepare_features(..., with_labels=True)"
        )
    windows = features.select(features.answerable()) if answerable_only else features
    if len(windows) == 0:
        raise ValueError(
            "no window holds its whole answer: raise max_length or check the answers"
        )
    batches = length_grouped_batches(
        windows, config.batch_size, torch.Generator().manual_seed(config.seed)
    )
    # fit sees a list of ready batches: one "example" per micro-batch.
    return fit(
        model,
        batches,
        replace(config, batch_size=1),
        collate_fn=_single_batch,
        eval_fn=eval_fn,
        callbacks=callbacks,
    )


def _single_batch(items: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """collate_fn for a list of ready batches read one at a time."""
    if len(items) != 1:
        raise ValueError(f"expected one ready batch per micro-batch, got {len(items)}")
    return items[0]
