"""The exercise checker: every reference passes, every listed mistake fails *with its own hint*,
unfinished answers never raise, and the references agree with the package's real modules."""

from __future__ import annotations

import math

import pytest
import torch

import bertmini
from bertmini import exercises as ex
from bertmini.attention import MultiHeadSelfAttention, attention_probs, padding_mask_to_bias
from bertmini.encoder import FeedForward


def answer_of(exercise: ex.Exercise, solution):
    """What a student would pass to check(): the function itself, or the value it computes."""
    if exercise.kind == "function":
        return solution
    return solution() if callable(solution) else solution


ALL = sorted(ex.EXERCISES)
MISTAKES = [(name, i) for name in ALL for i in range(len(ex.EXERCISES[name].mistakes))]


def test_registry_covers_chapters_1_to_3():
    assert {"attention_by_hand", "attention", "mha_parameters", "feed_forward", "post_ln_block",
            "bert_parameters", "masked_softmax", "mlm_loss", "mask_tokens"} <= set(ALL)
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
    assert mistake.hint in out, f"hint for mistake {index} of {name} not printed:\n{out}"
    for j, other in enumerate(exercise.mistakes):  # the diagnosis is specific, not a list of everything
        if j != index and other.hint != mistake.hint:
            assert other.hint not in out, f"{name}: mistake {index} also printed the hint of mistake {j}"


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
    right = ex.attention_by_hand_reference()
    assert ex.check("attention_by_hand", [round(w, 3) for w in right]) is True
    assert ex.check("attention_by_hand", torch.tensor(right)) is True
    assert ex.check("attention_by_hand", right[:2]) is False
    assert ex.check("attention_by_hand", "0.14, 0.28, 0.58") is False


def test_near_miss_without_known_mistake_gets_generic_hint(capsys):
    def attention(q, k, v, mask=None):
        return ex.attention_reference(q, k, v, mask) * 1.01

    assert ex.check("attention", attention) is False
    out = capsys.readouterr().out
    assert "values differ" in out and "Hint:" in out


def test_unknown_exercise_and_duplicate_registration_raise():
    with pytest.raises(KeyError, match="unknown exercise"):
        ex.check("no_such_exercise", 1)
    with pytest.raises(ValueError, match="already registered"):
        ex.register(ex.EXERCISES["attention"])
    with pytest.raises(ValueError, match="kind"):
        ex.Exercise(name="x", title="x", kind="essay", reference=lambda: 0)


def test_a_later_chapter_can_register_an_exercise(capsys):
    exercise = ex.Exercise(
        name="_test_double", title="double it", kind="function", reference=lambda x: 2 * x,
        cases=[ex.Case("x=3", lambda: (3,)), ex.Case("x=-1", lambda: (-1,))],
        mistakes=[ex.Mistake(lambda x: x * x, "doubling is not squaring")])
    ex.register(exercise)
    try:
        assert ex.check("_test_double", lambda x: x + x) is True
        assert ex.check("_test_double", lambda x: x * x) is False
        assert "doubling is not squaring" in capsys.readouterr().out
    finally:
        del ex.EXERCISES["_test_double"]


# ------------------------------------------------------------------ references agree with bertmini
def test_attention_reference_matches_package():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 4, generator=g) for _ in range(3))
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    expected = attention_probs(q, k, padding_mask_to_bias(mask, q.dtype)) @ v
    got = ex.attention_reference(q, k, v, mask[:, None, None, :])
    assert torch.allclose(got, expected, atol=1e-6)


def test_masked_softmax_reference_matches_package():
    scores, mask = ex._masked_softmax_args(3, 4, 8, seed=0)()  # (B, heads, T, T), (B, T)
    T = scores.size(-1)
    # attention_probs computes softmax(q kᵀ / √d_k + bias); with k = I (d_k = T), q kᵀ / √T = scores
    q, k = scores * math.sqrt(T), torch.eye(T).expand_as(scores)
    expected = attention_probs(q, k, padding_mask_to_bias(mask, scores.dtype))
    probs = ex.masked_softmax_reference(scores, mask)
    assert torch.allclose(probs, expected, atol=1e-6)
    assert torch.allclose(probs.sum(-1), torch.ones(probs.shape[:-1]))
    assert bool((probs * (1 - mask[:, None, None, :]) == 0).all())


def test_parameter_formulas_match_real_modules():
    config = bertmini.BertConfig(vocab_size=500, hidden_size=48, num_hidden_layers=3,
                                 num_attention_heads=4, intermediate_size=96, max_position_embeddings=64)
    model = bertmini.BertModel(config)
    assert ex.bert_parameters_reference(500, 48, 3, 96, max_position=64) == model.num_parameters()
    mha = MultiHeadSelfAttention(config)
    assert ex.mha_parameters_reference(48) == sum(p.numel() for p in mha.parameters())
    assert ex.head_shape_reference(2, 7, 48, 4) == tuple(mha.split_heads(torch.zeros(2, 7, 48)).shape)


def test_feed_forward_reference_matches_module():
    config = bertmini.BertConfig(hidden_size=16, intermediate_size=64, num_attention_heads=4)
    ffn = FeedForward(config).eval()
    x = torch.randn(2, 3, 16, generator=torch.Generator().manual_seed(0))
    got = ex.feed_forward_reference(x, ffn.up.weight, ffn.up.bias, ffn.down.weight, ffn.down.bias)
    assert torch.allclose(got, ffn(x), atol=1e-6)


def test_mlm_loss_reference_matches_ignore_index_convention():
    logits, original, masked = ex._mlm_args(3, 7, 13, seed=0)()
    labels = torch.where(masked, original, torch.full_like(original, -100))
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, 13), labels.reshape(-1), ignore_index=-100)
    assert torch.allclose(ex.mlm_loss_reference(logits, original, masked), expected)


def test_package_mask_tokens_passes_the_masking_exercise():
    pretraining = pytest.importorskip("bertmini.pretraining")

    def mask_tokens(input_ids, special_tokens_mask, generator):
        return pretraining.mask_tokens(input_ids, special_tokens_mask, generator=generator,
                                       mask_token_id=ex.MASK_ID, vocab_size=ex.MLM_VOCAB,
                                       special_token_ids={0, 100, 101, 102, 103})

    assert ex.check("mask_tokens", mask_tokens) is True
