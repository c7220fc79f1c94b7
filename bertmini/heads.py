"""Task heads: small layers on top of BertModel, one per way of using BERT.

- masked-language modelling: predict the original token at [MASK] positions
  (pretraining),
- next-sentence prediction: is sentence B the real continuation of A? (pretraining),
- sequence classification: one label per sentence (or pair) from the pooled [CLS]
  vector,
- extractive question answering: a start and an end score for every token.

Each head returns logits, and a `loss` when labels are given. Labels of -100 are
ignored.
"""

from __future__ import annotations

import copy
import dataclasses
import numbers
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .config import ACTIVATIONS, BertConfig
from .model import BertModel, BertPreTrainedModel
from .outputs import (
    MaskedLMOutput,
    PreTrainingOutput,
    QuestionAnsweringOutput,
    SequenceClassifierOutput,
)

IGNORE_INDEX = -100  # label value that the losses skip: unmasked tokens, padding


class MaskedLMHead(nn.Module):
    """dense -> GELU -> LayerNorm -> a decoder that shares its weights with the input
    embeddings.

    Tying the output matrix to the word embeddings means a token's input vector and the
    vector that predicts it are the same: 23M fewer parameters in BERT-base, and a
    better start.
    """

    def __init__(self, config: BertConfig, word_embeddings: nn.Embedding):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.act = ACTIVATIONS[config.hidden_act]
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.decoder.weight = word_embeddings.weight  # tied: one (V, H) matrix
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        # (..., V)
        return self.decoder(self.norm(self.act(self.dense(hidden)))) + self.bias


def check_labels(
    labels: torch.Tensor, num_classes: int, name: str, batch_shape: tuple
) -> None:
    """Labels must be an int64 tensor of ids in [0, num_classes) or -100; say which one
    is not.

    Only int64 (what every collator makes): the losses refuse other integer types with
    an error from inside torch, and bool or float labels would be class ids by accident.
    An int32 tensor is refused rather than converted, so every head sees one dtype.
    """
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(labels).__name__}")
    if tuple(labels.shape) != tuple(batch_shape):
        raise ValueError(
            f"{name} has shape {tuple(labels.shape)}, expected {tuple(batch_shape)}"
        )
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer class ids, got {labels.dtype}")
    if labels.dtype != torch.long:
        raise TypeError(
            f"{name} must be an int64 tensor of class ids, got {labels.dtype}; "
            f"convert it with {name}.long()"
        )
    bad = (labels != IGNORE_INDEX) & ((labels < 0) | (labels >= num_classes))
    if bool(bad.any()):
        raise ValueError(
            f"{name} contains {int(labels[bad][0])}, outside [0, {num_classes}) "
            f"(use {IGNORE_INDEX} for positions to ignore)"
        )


def as_label_id(value: Any, name: str) -> int:
    """One class id as a Python int: a Python or NumPy integer, or a 0-d integer tensor.

    Never a bool or a float: `True` or `1.5` would silently become class 1.
    """
    if isinstance(value, torch.Tensor) and value.dim() == 0:
        if not value.is_floating_point() and value.dtype != torch.bool:
            return int(value)
    elif not isinstance(value, bool) and isinstance(value, numbers.Integral):
        return int(value)
    raise TypeError(
        f"{name} must be integer class ids, got {value!r} ({type(value).__name__})"
    )


def regression_targets(labels: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Float targets of exactly the logits' shape (B, num_labels); (B,) is accepted for
    one output.

    Never broadcast: (B,) targets against (B, 1) logits would silently compare every
    example with every other one and train on the wrong loss.
    """
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
    if labels.dtype == torch.bool or labels.is_complex():
        raise TypeError(
            f"regression labels must be real numbers, got dtype {labels.dtype}"
        )
    if shape[-1] == 1 and tuple(labels.shape) == tuple(shape[:1]):
        labels = labels.unsqueeze(-1)  # (B,) -> (B, 1)
    if tuple(labels.shape) != tuple(shape):
        raise ValueError(
            f"regression labels have shape {tuple(labels.shape)}, expected "
            f"{tuple(shape)} (one target per example and output)"
        )
    labels = labels.float()
    if not bool(torch.isfinite(labels).all()):
        raise ValueError("regression labels contain NaN or inf")
    return labels


def masked_lm_loss(
    head: MaskedLMHead,
    sequence: torch.Tensor,
    labels: torch.Tensor | None,
    only_labelled: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Logits and the cross-entropy averaged over *masked* positions only
    (labels != -100).

    Averaging over every position instead would reward copying the unmasked input. With
    `only_labelled` the vocabulary projection runs only where a label exists: at BERT's
    15% masking the largest matrix multiply of pretraining shrinks about 7x (569
    labelled of 3,884 tokens in benchmarks/bench_pretrain.py's batch).
    """
    if labels is None:
        return head(sequence), None
    check_labels(labels, head.bias.numel(), "labels", sequence.shape[:2])
    if only_labelled:
        keep = labels != IGNORE_INDEX  # (B, T)
        logits = head(sequence[keep])  # (N, V)
        target = labels[keep]  # (N,)
    else:
        logits = head(sequence)  # (B, T, V)
        target = labels
    if not bool((target != IGNORE_INDEX).any()):
        # No token was masked in this batch (short texts, bad luck): the loss is 0, not
        # the NaN of a mean over nothing, and it stays connected to the graph so
        # backward() still works.
        return logits, logits.float().sum() * 0.0
    loss = F.cross_entropy(
        logits.reshape(-1, logits.size(-1)).float(),
        target.reshape(-1),
        ignore_index=IGNORE_INDEX,
    )
    return logits, loss


class BertForMaskedLM(BertPreTrainedModel):
    """BERT with the masked-language-model head (no pooler, as in Hugging Face)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        if not isinstance(config, BertConfig):
            raise TypeError(
                f"{type(self).__name__} expects a BertConfig, got "
                f"{type(config).__name__}"
            )
        # The model's own: the caller's is never changed
        self.config = config = copy.deepcopy(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.mlm = MaskedLMHead(config, self.bert.embeddings.word_embeddings)
        self.init_weights()

    def forward(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        labels=None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        all_logits: bool = False,
    ) -> MaskedLMOutput:
        """Without `labels`: logits (B, T, V) at every position. With `labels`: the
        loss, and logits (N, V) only at the N labelled positions, since the loss needs
        no others (as nanoGPT decides from its targets); `all_logits=True` gives
        (B, T, V) there too, as transformers does.
        """
        out = self.bert(
            input_ids,
            attention_mask,
            token_type_ids,
            output_attentions,
            output_hidden_states,
        )
        logits, loss = masked_lm_loss(
            self.mlm, out.last_hidden_state, labels, not all_logits
        )
        return MaskedLMOutput(loss, logits, out.hidden_states, out.attentions)


class BertForPreTraining(BertPreTrainedModel):
    """BERT's two pretraining objectives at once: masked LM (the masked tokens
    predicted from their context), NSP on the pooled [CLS].
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        if not isinstance(config, BertConfig):
            raise TypeError(
                f"{type(self).__name__} expects a BertConfig, "
                f"got {type(config).__name__}"
            )
        # The model's own: the caller's is never changed
        self.config = config = copy.deepcopy(config)
        self.bert = BertModel(config)
        self.mlm = MaskedLMHead(config, self.bert.embeddings.word_embeddings)
        self.nsp = nn.Linear(config.hidden_size, 2)  # IsNext (0) vs NotNext (1)
        self.init_weights()

    def forward(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        labels=None,
        next_sentence_label=None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        all_logits: bool = False,
    ) -> PreTrainingOutput:
        """As `BertForMaskedLM.forward`: with `labels`, prediction logits only at
        labelled positions (N, V) unless `all_logits`; plus the NSP logits (B, 2) from
        the pooled [CLS] vector.
        """
        out = self.bert(
            input_ids,
            attention_mask,
            token_type_ids,
            output_attentions,
            output_hidden_states,
        )
        prediction_logits, mlm_loss = masked_lm_loss(
            self.mlm, out.last_hidden_state, labels, not all_logits
        )
        nsp_logits = self.nsp(out.pooler_output)  # (B, 2)
        nsp_loss = None
        if next_sentence_label is not None:
            check_labels(
                next_sentence_label, 2, "next_sentence_label", nsp_logits.shape[:1]
            )
            nsp_loss = F.cross_entropy(nsp_logits.float(), next_sentence_label)
        losses = [l for l in (mlm_loss, nsp_loss) if l is not None]
        loss = sum(losses) if losses else None
        return PreTrainingOutput(
            loss,
            prediction_logits,
            nsp_logits,
            mlm_loss,
            nsp_loss,
            out.hidden_states,
            out.attentions,
        )


def with_labels(
    config: BertConfig,
    num_labels: int | None = None,
    id2label: dict[int, str] | Sequence[str] | None = None,
) -> BertConfig:
    """A copy of `config` with the task's classes: the caller's config is never changed.

    Two classifiers built from one config must not share (or overwrite) each other's
    classes, and a checkpoint must keep the names it was trained with.
    """
    if num_labels is not None and (
        isinstance(num_labels, bool)
        or not isinstance(num_labels, numbers.Integral)
        or num_labels < 1
    ):
        raise ValueError(f"num_labels must be a positive integer, got {num_labels!r}")
    if num_labels is not None:
        num_labels = int(num_labels)  # a NumPy integer would not go into config.json
    if id2label is not None:
        names = (
            dict(enumerate(id2label))
            if isinstance(id2label, (list, tuple))
            else id2label
        )
        if num_labels is not None and len(names) != num_labels:
            raise ValueError(
                f"id2label names {len(names)} classes but num_labels is {num_labels}"
            )
        return dataclasses.replace(
            config, num_labels=None, id2label=names, label2id=None
        )
    if num_labels is not None and num_labels != config.num_labels:
        return dataclasses.replace(
            config, num_labels=num_labels, id2label=None, label2id=None
        )
    return copy.deepcopy(config)


class BertForSequenceClassification(BertPreTrainedModel):
    """pooled [CLS] -> dropout -> linear: one score per class. `num_labels=1` is
    regression (MSE).
    """

    def __init__(
        self,
        config: BertConfig,
        num_labels: int | None = None,
        id2label: dict[int, str] | list[str] | None = None,
    ):
        super().__init__()
        if not isinstance(config, BertConfig):
            raise TypeError(
                f"{type(self).__name__} expects a BertConfig, "
                f"got {type(config).__name__}"
            )
        config = with_labels(config, num_labels, id2label)
        self.config = config
        self.num_labels = config.num_labels
        self.bert = BertModel(config)
        dropout = config.extra.get("classifier_dropout")
        self.dropout = nn.Dropout(
            config.hidden_dropout_prob if dropout is None else dropout
        )
        self.classifier = nn.Linear(config.hidden_size, self.num_labels)
        self.init_weights()

    def forward(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        labels=None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> SequenceClassifierOutput:
        out = self.bert(
            input_ids,
            attention_mask,
            token_type_ids,
            output_attentions,
            output_hidden_states,
        )
        logits = self.classifier(self.dropout(out.pooler_output))  # (B, num_labels)
        loss = None
        if labels is not None:
            if self.num_labels == 1 or self.config.problem_type == "regression":
                loss = F.mse_loss(
                    logits.float(), regression_targets(labels, logits.shape)
                )
            elif self.config.problem_type == "multi_label_classification":
                target = regression_targets(labels, logits.shape)  # (B, num_labels)
                if bool(((target < 0) | (target > 1)).any()):
                    raise ValueError(
                        "multi-label targets must be in [0, 1] (1 = the class applies)"
                    )
                loss = F.binary_cross_entropy_with_logits(logits.float(), target)
            else:
                check_labels(labels, self.num_labels, "labels", logits.shape[:1])
                loss = F.cross_entropy(logits.float(), labels)
        return SequenceClassifierOutput(loss, logits, out.hidden_states, out.attentions)


class BertForQuestionAnswering(BertPreTrainedModel):
    """A linear map from each token's vector to two numbers: its start score and its end
    score.

    The whole head is one (H, 2) matrix: a "start vector" and an "end vector" dotted
    with every token. At prediction time (`postprocess`) the answer is the span (i, j),
    i <= j and not too long, with the largest start_i + end_j, among the n_best
    highest start and end logits.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        if not isinstance(config, BertConfig):
            raise TypeError(
                f"{type(self).__name__} expects a BertConfig, "
                f"got {type(config).__name__}"
            )
        # The model's own: the caller's is never changed
        self.config = config = copy.deepcopy(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        self.init_weights()

    def forward(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        start_positions=None,
        end_positions=None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> QuestionAnsweringOutput:
        # The span loss is a softmax over *all* positions, padding included (as in
        # transformers), so padding positions are computed exactly: QA windows are
        # nearly full anyway.
        out = self.bert(
            input_ids,
            attention_mask,
            token_type_ids,
            output_attentions,
            output_hidden_states,
            skip_padding=False,
        )
        # (B, T) each
        start_logits, end_logits = self.qa_outputs(out.last_hidden_state).unbind(dim=-1)
        loss = None
        if start_positions is not None and end_positions is not None:
            T = start_logits.size(1)
            for name, pos in (
                ("start_positions", start_positions),
                ("end_positions", end_positions),
            ):
                if not isinstance(pos, torch.Tensor) or pos.is_floating_point():
                    raise TypeError(
                        f"{name} must be an integer tensor of token indices"
                    )
                if tuple(pos.shape) != tuple(start_logits.shape[:1]):
                    raise ValueError(
                        f"{name} has shape {tuple(pos.shape)}, expected "
                        f"{tuple(start_logits.shape[:1])}: one position per example"
                    )
            # Positions outside the sequence are ignored, as in Hugging Face.
            start = start_positions.clamp(0, T)
            end = end_positions.clamp(0, T)
            loss = (
                F.cross_entropy(start_logits.float(), start, ignore_index=T)
                + F.cross_entropy(end_logits.float(), end, ignore_index=T)
            ) / 2
        return QuestionAnsweringOutput(
            loss,
            start_logits.contiguous(),
            end_logits.contiguous(),
            out.hidden_states,
            out.attentions,
        )
