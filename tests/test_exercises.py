"""The exercise checker: every reference passes, every listed mistake fails *with its
own hint*, unfinished answers never raise, and the references agree with the package's
real modules.
"""

from __future__ import annotations

import math

import pytest
import torch

import bertmini
from bertmini import exercises as ex
from bertmini.attention import (
    MultiHeadSelfAttention,
    attention_probs,
    padding_mask_to_bias,
)
from bertmini.encoder import FeedForward


def answer_of(exercise: ex.Exercise, solution):
    """What a student would pass to check(): the function itself, or the value it computes."""
    if exercise.kind == "function":
        return solution
    return solution() if callable(solution) else solution


ALL = sorted(ex.EXERCISES)
MISTAKES = [(name, i) for name in ALL for i in range(len(ex.EXERCISES[name].mistakes))]


def test_registry_covers_chapters_1_to_3():
    assert {
        "attention_by_hand",
        "attention",
        "mha_parameters",
        "feed_forward",
        "post_ln_block",
        "bert_parameters",
        "masked_softmax",
        "mlm_loss",
        "mask_tokens",
    } <= set(ALL)
    for name, exercise in ex.EXERCISES.items():
        assert exercise.name == name
        assert exercise.cases, name
        assert exercise.mistakes, f"{name} lists no common mistakes"


@pytest.mark.parametrize("name", ALL)
def test_reference_passes(name, capsys):
    exercise = ex.EXERCISES[name]
    assert ex.check(name, answer_of(exercise, exercise.reference)) is True
    out = capsys.readouterr().out
    assert out.startswith("✓") and "passed" in out


@pytest.mark.parametrize("name,index", MISTAKES)
def test_each_mistake_fails_with_its_hint(name, index, capsys):
    exercise = ex.EXERCISES[name]
    mistake = exercise.mistakes[index]
    assert ex.check(name, answer_of(exercise, mistake.wrong)) is False
    out = capsys.readouterr().out
    assert out.startswith("✗")
    assert mistake.hint in out, (
        f"hint for mistake {index} of {name} not printed:\n{out}"
    )
    # The diagnosis is specific, not a list of everything
    for j, other in enumerate(exercise.mistakes):
        if j != index and other.hint != mistake.hint:
            assert other.hint not in out, (
                f"{name}: mistake {index} also printed the hint of mistake {j}"
            )


@pytest.mark.parametrize("name", ALL)
def test_not_attempted_is_friendly(name, capsys):
    assert ex.check(name, None) is False
    assert "not attempted" in capsys.readouterr().out


def test_function_raising_not_implemented_is_not_attempted(capsys):
    def attention(q, k, v, mask=None):
        raise NotImplementedError

    assert ex.check("attention", attention) is False
    assert "not attempted" in capsys.readouterr().out


def test_crashing_answer_is_reported_not_raised(capsys):
    def attention(q, k, v, mask=None):
        return q @ v  # shapes don't line up in every case

    assert ex.check("attention", attention) is False
    out = capsys.readouterr().out
    assert "raised RuntimeError" in out or "values differ" in out or "shape" in out


def test_value_given_for_function_exercise(capsys):
    assert ex.check("attention", 3.0) is False
    assert "expected a function" in capsys.readouterr().out


def test_value_exercise_accepts_lists_and_tensors_rounded(capsys):
    right = ex.ch01_attention.attention_by_hand_reference()
    assert ex.check("attention_by_hand", [round(w, 3) for w in right]) is True
    assert ex.check("attention_by_hand", torch.tensor(right)) is True
    assert ex.check("attention_by_hand", right[:2]) is False
    assert ex.check("attention_by_hand", "0.14, 0.28, 0.58") is False


def test_near_miss_without_known_mistake_gets_generic_hint(capsys):
    def attention(q, k, v, mask=None):
        return ex.ch01_attention.attention_reference(q, k, v, mask) * 1.01

    assert ex.check("attention", attention) is False
    out = capsys.readouterr().out
    assert "values differ" in out and "Hint:" in out


def test_unknown_exercise_and_duplicate_registration_raise():
    with pytest.raises(KeyError, match="unknown exercise"):
        ex.check("no_such_exercise", 1)
    with pytest.raises(ValueError, match="already exists"):
        ex.add(ex.EXERCISES["attention"])
    with pytest.raises(ValueError, match="kind"):
        ex.Exercise(name="x", title="x", kind="essay", reference=lambda: 0)


def test_a_teacher_can_add_an_exercise(capsys):
    exercise = ex.Exercise(
        name="_test_double",
        title="double it",
        kind="function",
        reference=lambda x: 2 * x,
        cases=[ex.Case("x=3", lambda: (3,)), ex.Case("x=-1", lambda: (-1,))],
        mistakes=[ex.Mistake(lambda x: x * x, "doubling is not squaring")],
    )
    ex.add(exercise)
    try:
        assert ex.check("_test_double", lambda x: x + x) is True
        assert ex.check("_test_double", lambda x: x * x) is False
        assert "doubling is not squaring" in capsys.readouterr().out
    finally:
        del ex.EXERCISES["_test_double"]


# ------------------------------------------------------- references agree with bertmini
def test_attention_reference_matches_package():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 4, generator=g) for _ in range(3))
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    expected = attention_probs(q, k, padding_mask_to_bias(mask, q.dtype)) @ v
    got = ex.ch01_attention.attention_reference(q, k, v, mask[:, None, None, :])
    assert torch.allclose(got, expected, atol=1e-6)


def test_masked_softmax_reference_matches_package():
    # (B, heads, T, T), (B, T)
    scores, mask = ex.ch03_masking._masked_softmax_args(3, 4, 8, seed=0)()
    T = scores.size(-1)
    # attention_probs computes softmax(q kᵀ / √d_k + bias); with k = I (d_k = T),
    # q kᵀ / √T = scores
    q, k = scores * math.sqrt(T), torch.eye(T).expand_as(scores)
    expected = attention_probs(q, k, padding_mask_to_bias(mask, scores.dtype))
    probs = ex.ch03_masking.masked_softmax_reference(scores, mask)
    assert torch.allclose(probs, expected, atol=1e-6)
    assert torch.allclose(probs.sum(-1), torch.ones(probs.shape[:-1]))
    assert bool((probs * (1 - mask[:, None, None, :]) == 0).all())


def test_parameter_formulas_match_real_modules():
    config = bertmini.BertConfig(
        vocab_size=500,
        hidden_size=48,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=96,
        max_position_embeddings=64,
    )
    model = bertmini.BertModel(config)
    assert (
        ex.ch02_encoder.bert_parameters_reference(500, 48, 3, 96, max_position=64)
        == model.num_parameters()
    )
    mha = MultiHeadSelfAttention(config)
    assert ex.ch01_attention.mha_parameters_reference(48) == sum(
        p.numel() for p in mha.parameters()
    )
    assert ex.ch01_attention.head_shape_reference(2, 7, 48, 4) == tuple(
        mha.split_heads(torch.zeros(2, 7, 48)).shape
    )


def test_feed_forward_reference_matches_module():
    config = bertmini.BertConfig(
        hidden_size=16, intermediate_size=64, num_attention_heads=4
    )
    ffn = FeedForward(config).eval()
    x = torch.randn(2, 3, 16, generator=torch.Generator().manual_seed(0))
    got = ex.ch02_encoder.feed_forward_reference(
        x, ffn.up.weight, ffn.up.bias, ffn.down.weight, ffn.down.bias
    )
    assert torch.allclose(got, ffn(x), atol=1e-6)


def test_mlm_loss_reference_matches_ignore_index_convention():
    logits, original, masked = ex.ch03_masking._mlm_args(3, 7, 13, seed=0)()
    labels = torch.where(masked, original, torch.full_like(original, -100))
    expected = torch.nn.functional.cross_entropy(
        logits.reshape(-1, 13), labels.reshape(-1), ignore_index=-100
    )
    assert torch.allclose(
        ex.ch03_masking.mlm_loss_reference(logits, original, masked), expected
    )


def test_package_mask_tokens_passes_the_masking_exercise():
    pretraining = pytest.importorskip("bertmini.pretraining")

    def mask_tokens(input_ids, special_tokens_mask, generator):
        return pretraining.mask_tokens(
            input_ids,
            special_tokens_mask,
            generator=generator,
            mask_token_id=ex.ch03_masking.MASK_ID,
            vocab_size=ex.ch03_masking.MLM_VOCAB,
            special_token_ids={0, 100, 101, 102, 103},
        )

    assert ex.check("mask_tokens", mask_tokens) is True


# -------------------------------------------------------- chapter 7: question answering
def test_chapter_7_references_agree_with_bertmini_qa():
    """The exercises' references are the package's real post-processing rule and metric."""
    import numpy as np

    from bertmini import qa_postprocess

    # (the normalisation exercise's reference is bertmini.metrics.normalize_answer itself,
    # tested against the official evaluator's behaviour in test_metrics.py)
    assert {"best_span", "normalize_answer", "qa_f1_by_hand"} <= set(ex.EXERCISES)
    assert ex.ch07_question_answering.qa_f1_by_hand_reference() == pytest.approx(0.4)
    g = torch.Generator().manual_seed(0)
    # The same span as bertmini.qa_postprocess picks (n_best = every token)
    for _ in range(20):
        T = 24
        start, end = torch.randn(T, generator=g) * 3, torch.randn(T, generator=g) * 3
        # Token k = chars [10k, 10k+5)
        offsets = np.stack([np.arange(T) * 10, np.arange(T) * 10 + 5], axis=1)
        score, char_start, char_end = qa_postprocess._best_span_in_window(
            start.double().numpy(),
            end.double().numpy(),
            offsets,
            n_best=T,
            max_answer_length=4,
        )
        i, j = ex.ch07_question_answering.best_span_reference(start, end, 4)
        assert (char_start // 10, (char_end - 5) // 10) == (i, j)
        assert 0 <= j - i < 4


def test_best_span_end_before_start_hint_for_any_such_answer(capsys):
    """A span ending before its start gets the specific hint even when it is not plain argmax."""

    def best_span(start_logits, end_logits, max_answer_length):
        i = int(start_logits.argmax())
        return i, max(0, i - 1)

    assert ex.check("best_span", best_span) is False
    assert ex.ch07_question_answering.HINT_END_BEFORE_START in capsys.readouterr().out


# ------------------------------------------------------------ chapter 6: classification
def test_chapter_6_references_agree_with_the_package():
    """The schedule is fit's, the head is BertForSequenceClassification's, the F1 is evaluate's."""
    from bertmini import BertConfig, BertForSequenceClassification
    from bertmini.classification import classification_metrics
    from bertmini.train import linear_schedule

    assert {
        "warmup_linear_lr",
        "classify_from_hidden",
        "macro_f1_from_confusion",
    } <= set(ex.EXERCISES)
    # 1. the learning rate that linear_schedule actually sets, step by step
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=3e-4)
    scheduler = linear_schedule(optimizer, warmup_steps=8, total_steps=40)
    for step in range(41):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(
            ex.ch06_classification.warmup_linear_lr_reference(step, 40, 8, 3e-4),
            abs=1e-12,
        )
        optimizer.step()
        scheduler.step()
    # 2. the head, from the encoder's output, in eval mode
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=12,
    )
    model = BertForSequenceClassification(config, num_labels=3).eval()
    ids = torch.randint(5, 50, (2, 6))
    with torch.no_grad():
        hidden = model.bert(ids).last_hidden_state
        expected = model(ids).logits
        pooler = model.bert.pooler.dense
        got = ex.ch06_classification.classify_from_hidden_reference(
            hidden,
            pooler.weight,
            pooler.bias,
            model.classifier.weight,
            model.classifier.bias,
        )
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    # 3. macro-F1 from the confusion matrix = classification_metrics' macro-F1
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        y_true = torch.randint(0, 3, (60,), generator=g).tolist()
        y_pred = torch.randint(0, 3, (60,), generator=g).tolist()
        m = classification_metrics(y_true, y_pred, 3)
        assert ex.ch06_classification.macro_f1_from_confusion_reference(
            m["confusion"]
        ) == pytest.approx(m["macro_f1"])


def test_chapter_5_references_agree_with_the_package():
    from bertmini.heads import MaskedLMHead, masked_lm_loss
    from bertmini.pretraining import wilson_interval

    assert {"mlm_loss_labels", "masked_accuracy", "nsp_interval"} <= set(ALL)
    # the exercise's loss is the loss of bertmini's MLM head, with logits at every
    # position and only at the labelled ones
    torch.manual_seed(0)
    config = bertmini.BertConfig(
        vocab_size=40,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    head = MaskedLMHead(config, torch.nn.Embedding(40, 16))
    hidden = torch.randn(3, 9, 16)
    labels = torch.full((3, 9), -100)
    labels[0, 2], labels[1, 5], labels[2, 0], labels[2, 8] = 4, 7, 39, 4
    with torch.no_grad():
        logits, loss = masked_lm_loss(head, hidden, labels, only_labelled=False)
        _, loss_fast = masked_lm_loss(head, hidden, labels, only_labelled=True)
    torch.testing.assert_close(
        ex.ch05_pretraining.mlm_loss_labels_reference(logits, labels), loss
    )
    torch.testing.assert_close(loss_fast, loss)
    # the masked-accuracy baseline is the most frequent target's share
    accuracy, baseline = ex.ch05_pretraining.masked_accuracy_reference(logits, labels)
    assert baseline == pytest.approx(2 / 4) and accuracy in (0.0, 0.25, 0.5, 0.75, 1.0)
    # the interval is bertmini.pretraining.wilson_interval
    for correct, n in [(0, 8), (140, 232), (12, 20), (30, 30)]:
        assert ex.ch05_pretraining.nsp_interval_reference(correct, n) == pytest.approx(
            wilson_interval(correct, n)
        )


def test_chapter_9_references_agree_with_the_package():
    import random

    from bertmini.exercises import ch09_token_classification as ch9
    from bertmini.token_classification import align_labels, entities, entity_scores

    rng = random.Random(9)
    tags = ["O"] * 3 + [f"{p}-{t}" for t in ("person", "group") for p in "BI"]
    for _ in range(200):
        n = rng.randint(1, 9)
        true = [rng.choice(tags) for _ in range(n)]
        pred = [rng.choice(tags) for _ in range(n)]
        assert ch9.bio_entities_reference(true) == entities(true)
        assert math.isclose(
            ch9.entity_f1_reference([true, pred], [pred, true]),
            entity_scores([true, pred], [pred, true])["f1"],
        )
        word_ids = (
            [None] + sorted(rng.choice(range(n)) for _ in range(n + 3)) + [None, None]
        )
        labels = [rng.randrange(5) for _ in range(n)]
        assert ch9.align_first_piece_reference(word_ids, labels) == align_labels(
            word_ids, labels
        )


# ------------------------------------------------------ chapter 10: sentence embeddings
def test_chapter_10_references_agree_with_the_package():
    """Mean pooling, cosine top-k and the contrastive loss are the package's own."""
    from bertmini.retrieval import cosine_topk
    from bertmini.sentence_embeddings import in_batch_negatives_loss, mean_pool

    ch10 = ex.ch10_sentence_embeddings
    names = {"mean_pooling", "cosine_topk", "in_batch_contrastive_loss"}
    assert names <= set(ex.EXERCISES)
    for case in ch10.MEAN_POOLING.cases:
        hidden, mask = case.make_args()
        expected = mean_pool(hidden, mask)
        assert torch.allclose(ch10.mean_pooling_reference(hidden, mask), expected)
    for case in ch10.COSINE_TOPK.cases:
        queries, documents, k = case.make_args()
        scores, indices = ch10.cosine_topk_reference(queries, documents, k)
        ours = cosine_topk(queries, documents, k)
        assert torch.equal(indices, ours[1]) and torch.allclose(scores, ours[0])
    for case in ch10.IN_BATCH_CONTRASTIVE_LOSS.cases:
        queries, documents, scale = case.make_args()
        expected = in_batch_negatives_loss(queries, documents, scale)
        ours = ch10.in_batch_loss_reference(queries, documents, scale)
        assert torch.allclose(ours, expected)


def test_feed_forward_accepts_both_gelus_and_nothing_else(capsys):
    """Exercise 2.1: the tanh GELU of Google's BERT code is a right answer, not a mistake."""
    tanh_ffn = ex.ch02_encoder.feed_forward_tanh_gelu
    for case in ex.EXERCISES[
        "feed_forward"
    ].cases:  # the plain comparison tells the two apart
        args = case.make_args()
        expected = ex.ch02_encoder.feed_forward_reference(*args)
        assert (
            ex.checker.default_verify(case)(tanh_ffn(*args), expected, args) is not None
        )
    assert ex.check("feed_forward", tanh_ffn) is True
    assert capsys.readouterr().out.startswith("✓")
    # Close to both, equal to neither
    nearly = lambda *args: tanh_ffn(*args) + 1e-3
    assert ex.check("feed_forward", nearly) is False
