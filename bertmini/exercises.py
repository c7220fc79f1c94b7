"""Exercises checked by code: `check(name, answer)` runs hidden test cases and explains mistakes.

Every chapter ends with a few exercises. The student writes a function (or computes a value) and
calls `check("attention", my_attention)`. `check` runs the answer on hidden cases, compares it
with a reference solution, prints a short pass/fail summary and returns True or False. It never
raises because of the answer: a notebook must still run top to bottom while an exercise is
unfinished, so `None` or a function that raises `NotImplementedError` just prints "not attempted".

Why hints from *wrong implementations*? The mistakes students make with attention and MLM are few
and well known (no √d_k, softmax over the wrong axis, mask added after the softmax, a loss over
every position). Each exercise lists them as small functions. When an answer fails, `check` runs
each known mistake on the same cases; if the answer behaves exactly like one of them, the hint for
that mistake is printed. That is more useful than "wrong at index [0, 2, 1]".

The registry is open: a later chapter adds its exercises with `register(Exercise(...))`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


# ------------------------------------------------------------------ the registry
@dataclass
class Case:
    """One hidden test case.

    `make_args` builds fresh arguments each time it is called (tensors from a seeded generator),
    so the answer, the reference and every known mistake see identical, unmodified inputs.
    `verify(result, expected, args)` returns None when the result is right, else a message; the
    default compares with the reference's result to `atol`/`rtol`.
    """

    description: str
    make_args: Callable[[], tuple] = lambda: ()
    verify: Callable[[Any, Any, tuple], str | None] | None = None
    atol: float = 1e-5
    rtol: float = 1e-4


@dataclass
class Mistake:
    """A wrong answer students often give, and the hint that explains it."""

    wrong: Callable | Any   # a wrong function (function exercises) or a wrong value / zero-arg function
    hint: str


@dataclass
class Exercise:
    """An exercise: its cases, the reference solution, and the usual mistakes with their hints.

    kind = "function": the answer is a callable, run on every case's arguments.
    kind = "value": the answer is a value; `reference` is a zero-argument function computing the
    right one, and there is a single implicit case.
    """

    name: str
    title: str
    kind: str                      # "function" or "value"
    reference: Callable
    cases: list[Case] = field(default_factory=list)
    mistakes: list[Mistake] = field(default_factory=list)
    signature: str = ""            # shown in the "not attempted" message

    def __post_init__(self):
        if self.kind not in ("function", "value"):
            raise ValueError(f"Exercise kind must be 'function' or 'value', got {self.kind!r}")
        if self.kind == "value" and not self.cases:
            self.cases = [Case("the value")]


EXERCISES: dict[str, Exercise] = {}


def register(exercise: Exercise, replace: bool = False) -> Exercise:
    """Add an exercise to the registry (a later chapter can add its own)."""
    if exercise.name in EXERCISES and not replace:
        raise ValueError(f"an exercise named {exercise.name!r} is already registered; "
                         "choose another name or pass replace=True")
    EXERCISES[exercise.name] = exercise
    return exercise


# ------------------------------------------------------------------ comparing results
def close(a: Any, b: Any, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    """Numerically equal, for tensors, numbers, and (nested) tuples/lists of them."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        try:
            a_t, b_t = torch.as_tensor(a), torch.as_tensor(b)
        except (TypeError, ValueError, RuntimeError):
            return False
        if a_t.shape != b_t.shape:
            return False
        if a_t.dtype == torch.bool or b_t.dtype == torch.bool or not (a_t.is_floating_point() or b_t.is_floating_point()):
            return bool(torch.equal(a_t.long(), b_t.long()))
        return bool(torch.allclose(a_t.double(), b_t.double(), atol=atol, rtol=rtol, equal_nan=True))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(close(x, y, atol, rtol) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, abs_tol=atol, rel_tol=rtol)
    return a == b


def describe(x: Any) -> str:
    """A short description of a result, for failure messages."""
    if isinstance(x, (list, tuple)) and x and all(isinstance(v, float) for v in x):
        return "[" + ", ".join(f"{v:.4f}" for v in x) + "]"
    if isinstance(x, torch.Tensor):
        if x.numel() <= 8:
            return f"tensor {[round(v, 4) for v in x.double().flatten().tolist()]} of shape {tuple(x.shape)}"
        return f"tensor of shape {tuple(x.shape)}"
    if isinstance(x, float):
        return f"{x:.6g}"
    return repr(x)


def default_verify(case: Case) -> Callable[[Any, Any, tuple], str | None]:
    def verify(result, expected, args):
        if isinstance(expected, torch.Tensor) and isinstance(result, torch.Tensor) and result.shape != expected.shape:
            return f"shape {tuple(result.shape)}, expected {tuple(expected.shape)}"
        if not close(result, expected, case.atol, case.rtol):
            if (isinstance(expected, torch.Tensor) and isinstance(result, torch.Tensor)
                    and expected.numel() > 8 and expected.is_floating_point()):
                diff = (result.double() - expected.double()).abs().nan_to_num(float("inf"))
                where = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
                return (f"values differ: largest |difference| {diff.max().item():.3g} at index {where} "
                        f"(yours {result[where].item():.4g}, expected {expected[where].item():.4g})")
            return f"got {describe(result)}, expected {describe(expected)}"
        return None
    return verify


# ------------------------------------------------------------------ running an answer
class NotAttempted(Exception):
    pass


def run_case(exercise: Exercise, answer: Any, case: Case) -> Any:
    """The answer's result on one case. Raises NotAttempted for NotImplementedError."""
    if exercise.kind == "value":
        value = answer() if callable(answer) and not isinstance(answer, torch.Tensor) else answer
        return value
    try:
        return answer(*case.make_args())
    except NotImplementedError:
        raise NotAttempted from None


def expected_results(exercise: Exercise) -> list[Any]:
    if exercise.kind == "value":
        return [exercise.reference()]
    return [exercise.reference(*case.make_args()) for case in exercise.cases]


def failures(exercise: Exercise, answer: Any, expected: list[Any]) -> list[tuple[Case, str]]:
    """(case, message) for each case the answer gets wrong (an exception counts as wrong)."""
    out = []
    for case, exp in zip(exercise.cases, expected):
        try:
            result = run_case(exercise, answer, case)
        except NotAttempted:
            raise
        except Exception as e:  # the student's code failed: report it, don't crash the notebook
            out.append((case, f"raised {type(e).__name__}: {e}"))
            continue
        verify = case.verify or default_verify(case)
        try:
            message = verify(result, exp, case.make_args())
        except Exception as e:  # a malformed result (wrong type) breaks the checker's arithmetic
            message = f"returned something the checker could not use ({type(e).__name__}: {e})"
        if message is not None:
            out.append((case, message))
    return out


def behaves_like(exercise: Exercise, answer: Any, mistake: Mistake) -> bool:
    """True when the answer gives the same results as a known wrong implementation on every case."""
    for case in exercise.cases:
        try:
            mine = run_case(exercise, answer, case)
            if exercise.kind == "value":
                wrong = mistake.wrong() if callable(mistake.wrong) else mistake.wrong
            else:
                wrong = mistake.wrong(*case.make_args())
        except Exception:
            return False
        if not close(mine, wrong, case.atol, case.rtol):
            return False
    return True


def diagnose(exercise: Exercise, answer: Any) -> list[str]:
    """Hints of the known mistakes the answer reproduces exactly."""
    return [m.hint for m in exercise.mistakes if behaves_like(exercise, answer, m)]


def check(name: str, answer: Any) -> bool:
    """Run exercise `name` on `answer`; print a summary (and a hint when it fails); return True/False.

    `answer` is a function for function exercises and a value for value exercises. `None`, or a
    function raising NotImplementedError, counts as "not attempted": a message, no exception.
    """
    if name not in EXERCISES:
        load_chapter_exercises()
    if name not in EXERCISES:
        raise KeyError(f"unknown exercise {name!r}; known exercises: {', '.join(sorted(EXERCISES))}")
    exercise = EXERCISES[name]
    if answer is None or answer is NotImplemented:
        what = f"Write `{exercise.signature}`" if exercise.signature else "fill in your answer"
        print(f"⏸ {exercise.title}: not attempted yet. {what} and run this cell again.")
        return False
    if exercise.kind == "function" and not callable(answer):
        print(f"✗ {exercise.title}: expected a function, got {type(answer).__name__}. "
              f"Pass the function itself, not its result: check({name!r}, my_function).")
        return False
    expected = expected_results(exercise)
    try:
        failed = failures(exercise, answer, expected)
    except NotAttempted:
        print(f"⏸ {exercise.title}: not attempted yet (your function raises NotImplementedError). "
              "Replace the `raise` with your code and run this cell again.")
        return False
    total = len(exercise.cases)
    if not failed:
        print(f"✓ {exercise.title}: all {total} test case{'s' if total > 1 else ''} passed.")
        return True
    print(f"✗ {exercise.title}: {total - len(failed)}/{total} test cases passed.")
    for case, message in failed[:3]:
        print(f"  - {case.description}: {message}")
    hints = [h for h in diagnose(exercise, answer) if not any(h in m for _, m in failed[:3])]
    for hint in hints:
        print(f"  Hint: {hint}")
    if not hints and not any(m.hint in msg for m in exercise.mistakes for _, msg in failed[:3]):
        print("  Hint: compare your code with the formula in the chapter, one step at a time, "
              "on the smallest case (print the shapes).")
    return False


# ================================================================== Chapter 1: attention
BY_HAND_Q = [1.0, 2.0]
BY_HAND_K = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]


def attention_by_hand_reference() -> list[float]:
    """The weights of query q = [1, 2] over keys [1, 0], [0, 1], [1, 1] (d_k = 2)."""
    scores = torch.tensor(BY_HAND_K) @ torch.tensor(BY_HAND_Q)   # (3,): 1, 2, 3
    return (scores / math.sqrt(2)).softmax(dim=-1).tolist()


register(Exercise(
    name="attention_by_hand",
    title="Exercise 1.1: attention weights by hand",
    kind="value",
    signature="weights = [w1, w2, w3]",
    reference=attention_by_hand_reference,
    cases=[Case("the three weights", atol=2e-3, rtol=0)],
    mistakes=[
        Mistake(lambda: torch.tensor([1.0, 2.0, 3.0]).softmax(-1).tolist(),
                "you forgot to divide the scores by √d_k = √2 before the softmax."),
        Mistake(lambda: (torch.tensor([1.0, 2.0, 3.0]) / 6).tolist(),
                "dividing the scores by their sum is not a softmax: exponentiate first, "
                "softmax(s)_i = exp(s_i) / Σ_j exp(s_j)."),
        Mistake(lambda: (torch.tensor([1.0, 2.0, 3.0]) / 2).softmax(-1).tolist(),
                "divide by √d_k = √2 ≈ 1.414, not by d_k = 2."),
    ],
))


def attention_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                        mask: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(Q Kᵀ / √d_k) V; `mask` (…, T_k) or broadcastable to the scores, 1 = may attend."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (…, T_q, T_k)
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))  # before the softmax
    return scores.softmax(dim=-1) @ v  # (…, T_q, d_v)


def _attention_no_scaling(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    return scores.softmax(dim=-1) @ v


def _attention_wrong_axis(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    return scores.softmax(dim=-2) @ v


def _attention_mask_after_softmax(q, k, v, mask=None):
    probs = (q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))).softmax(dim=-1)
    if mask is not None:
        probs = probs * mask  # the weights no longer sum to 1
    return probs @ v


def _attention_mask_added_after_softmax(q, k, v, mask=None):
    probs = (q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))).softmax(dim=-1)
    if mask is not None:
        probs = probs.masked_fill(mask == 0, float("-inf"))  # too late: the softmax already ran
    return probs @ v


def _attention_ignores_mask(q, k, v, mask=None):
    return attention_reference(q, k, v)


def _attention_args(B: int, T: int, d_k: int, d_v: int, seed: int, scale: float = 1.0, masked: bool = False):
    def make():
        g = torch.Generator().manual_seed(seed)
        q = torch.randn(B, T, d_k, generator=g) * scale
        k = torch.randn(B, T, d_k, generator=g) * scale
        v = torch.randn(B, T, d_v, generator=g)
        if not masked:
            return q, k, v
        lengths = torch.randint(1, T + 1, (B,), generator=g)
        lengths[0] = T - 2  # at least one row with padding
        mask = (torch.arange(T)[None, :] < lengths[:, None]).long()[:, None, :]  # (B, 1, T): keys
        return q, k, v, mask
    return make


register(Exercise(
    name="attention",
    title="Exercise 1.2: scaled dot-product attention",
    kind="function",
    signature="attention(q, k, v, mask=None) -> (..., T, d_v)",
    reference=attention_reference,
    cases=[
        Case("one sentence, d_k = 4", _attention_args(1, 5, 4, 3, seed=1)),
        Case("a batch of 3, d_k = 16, large scores", _attention_args(3, 6, 16, 8, seed=2, scale=2.0)),
        Case("a padded batch (mask of shape (B, 1, T))", _attention_args(4, 7, 8, 8, seed=3, masked=True)),
    ],
    mistakes=[
        Mistake(_attention_no_scaling, "the scores are not divided by √d_k: use "
                "q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))."),
        Mistake(_attention_wrong_axis, "the softmax runs over the wrong axis: each *query* (row) "
                "needs a distribution over the keys, so use softmax(dim=-1)."),
        Mistake(_attention_mask_after_softmax, "the mask is applied after the softmax: the weights "
                "then no longer sum to 1. Put -inf (or a very negative number) in the masked scores "
                "*before* the softmax."),
        Mistake(_attention_mask_added_after_softmax, "the mask is added after the softmax: -inf "
                "must go into the *scores*, before the softmax turns them into probabilities "
                "(exp(-inf) = 0); added to the probabilities it only produces inf and nan."),
        Mistake(_attention_ignores_mask, "the mask is ignored: padding keys must get probability 0."),
    ],
))


def mha_parameters_reference(hidden_size: int) -> int:
    """Q, K, V and output projections, each an (H, H) matrix plus an H bias."""
    return 4 * (hidden_size * hidden_size + hidden_size)


register(Exercise(
    name="mha_parameters",
    title="Exercise 1.3: parameters of a multi-head attention block",
    kind="function",
    signature="mha_parameters(hidden_size) -> int",
    reference=mha_parameters_reference,
    cases=[Case(f"hidden_size = {h}", (lambda h=h: (h,)), atol=0, rtol=0) for h in (384, 768, 1024)],
    mistakes=[
        Mistake(lambda h: 4 * h * h, "you forgot the biases: each of the 4 linear maps has H of them."),
        Mistake(lambda h: 3 * (h * h + h), "you forgot the output projection that mixes the heads "
                "back together: Q, K, V *and* O."),
        Mistake(lambda h: 4 * (h * h // 12 + h), "the number of heads does not change the parameter "
                "count: the heads split the H columns, they don't each get an (H, H) matrix of their "
                "own and they don't shrink it."),
    ],
))


def head_shape_reference(batch: int, seq_len: int, hidden_size: int, num_heads: int) -> tuple:
    """The shape of Q after split_heads: (B, heads, T, H / heads)."""
    if hidden_size % num_heads:
        raise ValueError("hidden_size must be divisible by num_heads")
    return (batch, num_heads, seq_len, hidden_size // num_heads)


register(Exercise(
    name="head_shape",
    title="Exercise 1.4: the shape of one layer's queries after splitting into heads",
    kind="function",
    signature="head_shape(batch, seq_len, hidden_size, num_heads) -> tuple",
    reference=head_shape_reference,
    cases=[Case(f"B={b}, T={t}, H={h}, heads={n}", (lambda b=b, t=t, h=h, n=n: (b, t, h, n)), atol=0, rtol=0)
           for b, t, h, n in ((2, 9, 384, 12), (8, 128, 768, 12), (1, 512, 1024, 16))],
    mistakes=[
        Mistake(lambda b, t, h, n: (b, t, n, h // n), "that is the shape *before* the transpose: "
                "attention needs (B, heads, T, d_k) so that each head's (T, d_k) matrix is contiguous "
                "in the last two axes."),
        Mistake(lambda b, t, h, n: (b, n, t, h), "each head gets d_k = H / heads columns, not all H."),
    ],
))


# ================================================================== Chapter 2: the encoder layer
def feed_forward_reference(x, w1, b1, w2, b2):
    """W₂ · GELU(W₁ x + b₁) + b₂ with nn.Linear's (out, in) weight layout; exact (erf) GELU."""
    return F.gelu(x @ w1.T + b1) @ w2.T + b2  # (…, H) -> (…, 4H) -> (…, H)


def _ffn_args(T: int, H: int, seed: int):
    def make():
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(2, T, H, generator=g)
        w1 = torch.randn(4 * H, H, generator=g) / math.sqrt(H)
        b1 = torch.randn(4 * H, generator=g) * 0.5
        w2 = torch.randn(H, 4 * H, generator=g) / math.sqrt(4 * H)
        b2 = torch.randn(H, generator=g) * 0.5
        return x, w1, b1, w2, b2
    return make


register(Exercise(
    name="feed_forward",
    title="Exercise 2.1: BERT's feed-forward block",
    kind="function",
    signature="feed_forward(x, w1, b1, w2, b2) -> (..., H)",
    reference=feed_forward_reference,
    cases=[Case("H = 8", _ffn_args(3, 8, seed=10)), Case("H = 32", _ffn_args(5, 32, seed=11))],
    mistakes=[
        Mistake(lambda x, w1, b1, w2, b2: F.relu(x @ w1.T + b1) @ w2.T + b2,
                "BERT's activation is GELU, not ReLU: F.gelu(...)."),
        Mistake(lambda x, w1, b1, w2, b2: F.relu(F.gelu(x @ w1.T + b1) @ w2.T + b2),
                "there is no activation after the second linear map: the output is W₂·GELU(W₁x+b₁)+b₂, "
                "and a ReLU there would zero every negative feature."),
        Mistake(lambda x, w1, b1, w2, b2: F.gelu(x @ w1.T + b1, approximate="tanh") @ w2.T + b2,
                "that is the tanh approximation of GELU; BERT (hidden_act='gelu') uses the exact one, "
                "F.gelu(x) with the default approximate='none'."),
        Mistake(lambda x, w1, b1, w2, b2: F.gelu(x @ w1.T) @ w2.T,
                "the biases b₁ and b₂ are missing."),
    ],
))


def post_ln_reference(x, sublayer, norm):
    """Post-LayerNorm residual block (BERT): LayerNorm(x + sublayer(x))."""
    return norm(x + sublayer(x))


def _post_ln_args(H: int, seed: int):
    def make():
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(2, 4, H, generator=g) * 3 + 1
        w = torch.randn(H, H, generator=g) / math.sqrt(H)
        gamma = 1 + 0.1 * torch.randn(H, generator=g)
        beta = 0.1 * torch.randn(H, generator=g)
        sublayer = lambda t: torch.tanh(t @ w.T)  # noqa: E731 - any token-wise function will do
        norm = lambda t: F.layer_norm(t, (H,), gamma, beta, eps=1e-12)  # noqa: E731
        return x, sublayer, norm
    return make


register(Exercise(
    name="post_ln_block",
    title="Exercise 2.2: add & norm, the BERT way",
    kind="function",
    signature="post_ln_block(x, sublayer, norm) -> like x",
    reference=post_ln_reference,
    cases=[Case("H = 8", _post_ln_args(8, seed=20)), Case("H = 16", _post_ln_args(16, seed=21))],
    mistakes=[
        Mistake(lambda x, s, n: x + s(n(x)), "that is the *pre*-LN block of GPT-2 and later models; "
                "BERT normalises after the residual sum: norm(x + sublayer(x))."),
        Mistake(lambda x, s, n: n(s(x)), "the residual connection is missing: add x back before "
                "the LayerNorm."),
        Mistake(lambda x, s, n: x + n(s(x)), "the LayerNorm must see the *sum* x + sublayer(x), "
                "not only the sublayer's output."),
    ],
))


def bert_parameters_reference(vocab_size: int, hidden_size: int, num_layers: int, intermediate_size: int,
                              max_position: int = 512, type_vocab: int = 2) -> int:
    """All parameters of BertModel, pooler included."""
    H, I = hidden_size, intermediate_size
    embeddings = (vocab_size + max_position + type_vocab) * H + 2 * H  # 3 tables + LayerNorm
    attention = 4 * (H * H + H)
    ffn = (H * I + I) + (I * H + H)
    layer = attention + ffn + 2 * (2 * H)  # two LayerNorms (γ and β)
    pooler = H * H + H
    return embeddings + num_layers * layer + pooler


def _bert_params_no_layernorm(V, H, L, I, P=512, S=2):
    return bert_parameters_reference(V, H, L, I, P, S) - 2 * H - L * 4 * H


def _bert_params_no_pooler(V, H, L, I, P=512, S=2):
    return bert_parameters_reference(V, H, L, I, P, S) - (H * H + H)


def _bert_params_no_biases(V, H, L, I, P=512, S=2):
    return bert_parameters_reference(V, H, L, I, P, S) - L * (4 * H + I + H) - H


def _bert_params_no_embeddings(V, H, L, I, P=512, S=2):
    return bert_parameters_reference(V, H, L, I, P, S) - (V + P + S) * H - 2 * H


register(Exercise(
    name="bert_parameters",
    title="Exercise 2.3: count BERT's parameters from its config",
    kind="function",
    signature="bert_parameters(vocab_size, hidden_size, num_layers, intermediate_size, max_position=512, type_vocab=2) -> int",
    reference=bert_parameters_reference,
    cases=[Case(f"V={v}, H={h}, L={n}, I={i}", (lambda v=v, h=h, n=n, i=i: (v, h, n, i)), atol=0, rtol=0)
           for v, h, n, i in ((30522, 768, 12, 3072), (30522, 384, 6, 1536), (1000, 64, 2, 256))],
    mistakes=[
        Mistake(_bert_params_no_layernorm, "LayerNorms have parameters too: a γ and a β of size H, "
                "one after the embeddings and two in each layer."),
        Mistake(_bert_params_no_pooler, "the pooler (a dense H×H layer with bias on [CLS]) is part of "
                "BertModel."),
        Mistake(_bert_params_no_biases, "every linear layer has a bias: Q, K, V, O (H each), W₁ (4H), "
                "W₂ (H) and the pooler (H)."),
        Mistake(_bert_params_no_embeddings, "the embeddings (token, position and segment tables, and "
                "their LayerNorm) are parameters too, and in small models they are most of them."),
    ],
))


# ================================================================== Chapter 3: masks, MLM
def masked_softmax_reference(scores: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Attention probabilities with padding keys hidden from every query.

    scores (B, heads, T, T); attention_mask (B, T) with 1 = real token, 0 = padding.
    """
    bias = (1.0 - attention_mask[:, None, None, :].to(scores.dtype)) * torch.finfo(scores.dtype).min
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
    bias = (1.0 - attention_mask[:, None, :, None].float()) * torch.finfo(scores.dtype).min
    return (scores + bias).softmax(dim=-1)


def _masked_softmax_after(scores, attention_mask):
    return scores.softmax(dim=-1) * attention_mask[:, None, None, :]


def _masked_softmax_causal(scores, attention_mask):
    T = scores.size(-1)
    causal = torch.ones(T, T).tril().bool()
    keep = causal[None, None] & attention_mask[:, None, None, :].bool()
    return scores.masked_fill(~keep, torch.finfo(scores.dtype).min).softmax(dim=-1)


register(Exercise(
    name="masked_softmax",
    title="Exercise 3.1: a padding mask for attention scores",
    kind="function",
    signature="masked_softmax(scores, attention_mask) -> (B, heads, T, T)",
    reference=masked_softmax_reference,
    cases=[Case("B=2, heads=1, T=5", _masked_softmax_args(2, 1, 5, seed=30), atol=1e-6),
           Case("B=3, heads=4, T=8", _masked_softmax_args(3, 4, 8, seed=31), atol=1e-6)],
    mistakes=[
        Mistake(_masked_softmax_query_axis, "the mask hides the wrong axis: padding is hidden as a "
                "*key* (the last axis, columns), so the bias has shape (B, 1, 1, T), not (B, 1, T, 1)."),
        Mistake(_masked_softmax_after, "the mask is applied after the softmax: the rows no longer "
                "sum to 1. Add a very negative bias to the scores before the softmax."),
        Mistake(_masked_softmax_causal, "that is a causal (GPT) mask: BERT is bidirectional and only "
                "hides padding; every real token sees every other real token, before and after it."),
    ],
))


def mlm_loss_reference(logits: torch.Tensor, original_ids: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """Cross-entropy averaged over the masked positions only.

    logits (B, T, V); original_ids (B, T) the uncorrupted tokens; masked (B, T) bool, True where a
    token was chosen for prediction (replaced by [MASK], a random token, or kept).
    """
    return F.cross_entropy(logits[masked], original_ids[masked])  # (N, V) vs (N,): mean over N


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
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), original_ids.reshape(-1))


def _mlm_loss_divided_by_all(logits, original_ids, masked):
    return F.cross_entropy(logits[masked], original_ids[masked], reduction="sum") / original_ids.numel()


def _mlm_loss_unmasked(logits, original_ids, masked):
    return F.cross_entropy(logits[~masked], original_ids[~masked])


register(Exercise(
    name="mlm_loss",
    title="Exercise 3.2: the masked-language-model loss",
    kind="function",
    signature="mlm_loss(logits, original_ids, masked) -> scalar tensor",
    reference=mlm_loss_reference,
    cases=[Case("B=2, T=6, V=11", _mlm_args(2, 6, 11, seed=40)),
           Case("B=4, T=10, V=50", _mlm_args(4, 10, 50, seed=41))],
    mistakes=[
        Mistake(_mlm_loss_every_position, "the loss is averaged over every position: only the masked "
                "positions count (logits[masked], original_ids[masked]). Over every position the "
                "model could score well by copying its input."),
        Mistake(_mlm_loss_divided_by_all, "the sum over masked positions is divided by the number of "
                "*all* tokens; take the mean over the masked tokens only."),
        Mistake(_mlm_loss_unmasked, "the mask is inverted: the loss must be over the positions that "
                "*were* masked (masked == True)."),
    ],
))


def _mask_tokens_args(seed: int):
    def make():
        g = torch.Generator().manual_seed(seed)
        B, T = 64, 128
        ids = torch.randint(1000, 30000, (B, T), generator=g)
        lengths = torch.randint(T // 2, T + 1, (B,), generator=g)
        ids[:, 0] = 101                                       # [CLS]
        ids[torch.arange(B), lengths - 1] = 102               # [SEP]
        ids[torch.arange(T)[None, :] >= lengths[:, None]] = 0  # [PAD]
        special = (ids == 0) | (ids == 101) | (ids == 102)
        return ids, special, torch.Generator().manual_seed(seed + 1)
    return make


MASK_ID, MLM_VOCAB = 103, 30522


def mask_tokens_reference(input_ids: torch.Tensor, special_tokens_mask: torch.Tensor,
                          generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking with [MASK] = 103 and a 30522-token vocabulary: returns (masked_ids, labels)."""
    chosen = (torch.rand(input_ids.shape, generator=generator) < 0.15) & ~special_tokens_mask
    action = torch.rand(input_ids.shape, generator=generator)
    to_mask = chosen & (action < 0.8)
    to_random = chosen & (action >= 0.8) & (action < 0.9)
    random_ids = torch.randint(999, MLM_VOCAB, input_ids.shape, generator=generator)  # ordinary tokens
    masked = input_ids.clone()
    masked[to_mask] = MASK_ID
    masked[to_random] = random_ids[to_random]
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    return masked, labels


HINT_SPECIAL = "special tokens ([CLS], [SEP], [PAD]) were chosen: they must never be masked or get a label."
HINT_ALL_MASK = ("every chosen token became [MASK]: BERT replaces 80% by [MASK], 10% by a random token "
                 "and leaves 10% unchanged, so the model cannot rely on seeing [MASK].")
HINT_LABELS = "labels must be -100 at every position that was not chosen, and the original id where it was."
HINT_RATE = "about 15% of the ordinary (non-special) tokens should be chosen."


def verify_masking(result, expected, args) -> str | None:
    """Check the statistics, not the exact random draw: any correct sampler passes."""
    ids, special, _ = args
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        return "return a pair (masked_input_ids, labels)"
    masked, labels = result
    if not (isinstance(masked, torch.Tensor) and isinstance(labels, torch.Tensor)
            and masked.shape == ids.shape and labels.shape == ids.shape):
        return f"masked_input_ids and labels must both have shape {tuple(ids.shape)}"
    chosen = labels != IGNORE_INDEX
    if chosen.float().mean().item() > 0.5:  # a label (almost) everywhere: the loss would be over every token
        return HINT_LABELS
    if bool((chosen & special).any()) or bool((masked[special] != ids[special]).any()):
        return HINT_SPECIAL
    if not bool((labels[chosen] == ids[chosen]).all()) or bool((masked[~chosen] != ids[~chosen]).any()):
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
    if abs(frac_mask - 0.8) > 0.04 or abs(frac_same - 0.1) > 0.03 or abs(frac_random - 0.1) > 0.03:
        return (f"the chosen tokens should be 80% [MASK] / 10% random / 10% unchanged; yours are "
                f"{frac_mask:.0%} / {frac_random:.0%} / {frac_same:.0%}.")
    return None


def _mask_all_with_mask(input_ids, special_tokens_mask, generator):
    chosen = (torch.rand(input_ids.shape, generator=generator) < 0.15) & ~special_tokens_mask
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    return input_ids.masked_fill(chosen, MASK_ID), labels


def _mask_specials_too(input_ids, special_tokens_mask, generator):
    return mask_tokens_reference(input_ids, torch.zeros_like(special_tokens_mask), generator)


def _mask_labels_everywhere(input_ids, special_tokens_mask, generator):
    masked, _ = mask_tokens_reference(input_ids, special_tokens_mask, generator)
    return masked, input_ids.clone()


register(Exercise(
    name="mask_tokens",
    title="Exercise 3.3: BERT's 80/10/10 masking",
    kind="function",
    signature="mask_tokens(input_ids, special_tokens_mask, generator) -> (masked_ids, labels)",
    reference=mask_tokens_reference,
    cases=[Case("64 sequences of up to 128 tokens", _mask_tokens_args(50), verify=verify_masking),
           Case("another draw", _mask_tokens_args(51), verify=verify_masking)],
    mistakes=[
        Mistake(_mask_all_with_mask, HINT_ALL_MASK),
        Mistake(_mask_specials_too, HINT_SPECIAL),
        Mistake(_mask_labels_everywhere, HINT_LABELS),
    ],
))


# Chapters whose exercises live beside the code they teach register them here on first use, so
# `check("wordpiece_tokenize", ...)` works in a fresh kernel without importing the module first.
CHAPTER_MODULES = ["bertmini.wordpiece"]


def load_chapter_exercises() -> None:
    import importlib
    for module in CHAPTER_MODULES:
        importlib.import_module(module).register_exercises()


# ================================================================== Chapter 7: question answering
def best_span_reference(start_logits: torch.Tensor, end_logits: torch.Tensor,
                        max_answer_length: int) -> tuple[int, int]:
    """(i, j) maximising start_logits[i] + end_logits[j] with i <= j < i + max_answer_length."""
    T = start_logits.size(0)
    score = start_logits[:, None] + end_logits[None, :]         # (T, T): score[i, j] of span i..j
    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    valid = (j >= i) & (j - i < max_answer_length)               # end not before start, not too long
    flat = int(score.masked_fill(~valid, float("-inf")).argmax())
    return flat // T, flat % T


def _best_span_args(start_at: int, end_at: int, T: int, seed: int, max_answer_length: int = 5,
                    peak: float = 6.0):
    """Random logits with a sharp start peak at `start_at` and a sharp end peak at `end_at`."""
    def make():
        g = torch.Generator().manual_seed(seed)
        start, end = torch.randn(T, generator=g), torch.randn(T, generator=g)
        start[start_at] += peak
        end[end_at] += peak
        return start, end, max_answer_length
    return make


HINT_END_BEFORE_START = ("your span ends before it starts: taking argmax(start) and argmax(end) separately "
                         "can give j < i. Score every pair (i, j) with i <= j, start[i] + end[j], and take "
                         "the best valid pair.")
HINT_SPAN_TOO_LONG = ("your span is longer than max_answer_length tokens: also require "
                      "j - i + 1 <= max_answer_length.")
HINT_SPAN_OFF_BY_ONE = ("your span can have max_answer_length + 1 tokens: span i..j has j - i + 1 tokens, "
                        "so the rule is j - i < max_answer_length.")


def verify_span(result, expected, args) -> str | None:
    """Exact (i, j); an end before the start gets its own explanation whatever the cause."""
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        return "return a pair of token indices (i, j)"
    i, j = (int(v) for v in result)
    if (i, j) == tuple(expected):
        return None
    if j < i:
        return f"got ({i}, {j}), expected {tuple(expected)}: {HINT_END_BEFORE_START}"
    return f"got ({i}, {j}), expected {tuple(expected)}"


def _best_span_independent_argmax(start_logits, end_logits, max_answer_length):
    return int(start_logits.argmax()), int(end_logits.argmax())


def _best_span_no_length_limit(start_logits, end_logits, max_answer_length):
    return best_span_reference(start_logits, end_logits, start_logits.size(0))


def _best_span_off_by_one(start_logits, end_logits, max_answer_length):
    return best_span_reference(start_logits, end_logits, max_answer_length + 1)


register(Exercise(
    name="best_span",
    title="Exercise 7.1: the best answer span",
    kind="function",
    signature="best_span(start_logits, end_logits, max_answer_length) -> (i, j)",
    reference=best_span_reference,
    cases=[
        Case("the best start comes after the best end", _best_span_args(9, 4, 16, seed=70), verify=verify_span),
        Case("the two peaks are 9 tokens apart, max_answer_length=5", _best_span_args(2, 11, 16, seed=71),
             verify=verify_span),
        Case("the two peaks make a span of exactly 6 tokens, max_answer_length=5",
             _best_span_args(3, 8, 16, seed=72), verify=verify_span),
        Case("an easy one: start peak at 5, end peak at 7", _best_span_args(5, 7, 12, seed=73), verify=verify_span),
    ],
    mistakes=[
        Mistake(_best_span_independent_argmax, HINT_END_BEFORE_START),
        Mistake(_best_span_no_length_limit, HINT_SPAN_TOO_LONG),
        Mistake(_best_span_off_by_one, HINT_SPAN_OFF_BY_ONE),
    ],
))


def normalize_answer_reference(text: str) -> str:
    """The official SQuAD v1.1 normalisation: lower case, drop punctuation, then articles, then
    collapse white space (the same steps, in the same order, as bertmini.qa.normalize_answer)."""
    import re
    import string
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


NORMALIZE_CASES = ["The  Quick, Brown fox!", "the-end of the story", "Theory of another anthem", "A.B.C. and an apple"]


def _normalize_no_lower(text):
    import re
    import string
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def _normalize_articles_first(text):
    import re
    import string
    text = re.sub(r"\b(a|an|the)\b", " ", text.lower())
    return " ".join("".join(ch for ch in text if ch not in set(string.punctuation)).split())


def _normalize_articles_as_substrings(text):
    import string
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    for article in ("the", "an", "a"):
        text = text.replace(article, " ")
    return " ".join(text.split())


def _normalize_no_whitespace_fix(text):
    import re
    import string
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return re.sub(r"\b(a|an|the)\b", " ", text)


register(Exercise(
    name="normalize_answer",
    title="Exercise 7.2: SQuAD's answer normalisation",
    kind="function",
    signature="normalize_answer(text) -> str",
    reference=normalize_answer_reference,
    cases=[Case(repr(text), (lambda t=text: (t,))) for text in NORMALIZE_CASES],
    mistakes=[
        Mistake(_normalize_no_lower, "lower-case first: 'The' and 'the' must compare equal (and the article "
                "rule only matches lower-case articles)."),
        Mistake(_normalize_articles_first, "the order matters: punctuation goes first, then articles. "
                "'the-end' becomes 'theend' (its 'the' is no longer a separate word) in the official script."),
        Mistake(_normalize_articles_as_substrings, "articles are removed as whole words only (a regex with "
                r"\b word boundaries): 'theory' and 'another' keep their letters."),
        Mistake(_normalize_no_whitespace_fix, "collapse white space at the end: ' '.join(text.split()), so "
                "removed articles and double spaces leave no stray spaces."),
    ],
))


def qa_f1_by_hand_reference() -> float:
    """F1 of "The Broncos beat the Panthers." against the gold answer "Denver Broncos".

    Normalised: prediction [broncos, beat, panthers], gold [denver, broncos]; 1 common token:
    precision 1/3, recall 1/2, F1 = 2 * (1/3 * 1/2) / (1/3 + 1/2) = 0.4.
    """
    from .qa import f1_score
    return f1_score("The Broncos beat the Panthers.", "Denver Broncos")


register(Exercise(
    name="qa_f1_by_hand",
    title="Exercise 7.3: SQuAD F1 by hand",
    kind="value",
    signature="f1 = <a number between 0 and 1>",
    reference=qa_f1_by_hand_reference,
    cases=[Case("F1 of 'The Broncos beat the Panthers.' vs 'Denver Broncos'", atol=1e-3, rtol=0)],
    mistakes=[
        Mistake(2 / 7, "normalise both answers first (lower case, no punctuation, no articles): 'The', "
                "'the' and 'Panthers.' should not be tokens."),
        Mistake(1 / 3, "that is the precision (common / predicted tokens); F1 is the harmonic mean of "
                "precision and recall."),
        Mistake(1 / 2, "that is the recall (common / gold tokens); F1 is the harmonic mean of precision "
                "and recall."),
        Mistake(0.0, "0 is the exact match; F1 gives partial credit for the shared token 'broncos'."),
    ],
))


# ================================================================== Chapter 6: classification
def warmup_linear_lr_reference(step: int, total_steps: int, warmup_steps: int, peak_lr: float) -> float:
    """The learning rate of `bertmini.train.linear_schedule` at optimizer step `step` (from 0)."""
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


LR_CASES = [(0, 100, 10, 1e-4), (5, 100, 10, 1e-4), (10, 100, 10, 1e-4), (55, 100, 10, 1e-4),
            (99, 100, 10, 1e-4), (100, 100, 10, 1e-4), (3, 50, 0, 1e-3), (7, 40, 8, 3e-4)]

register(Exercise(
    name="warmup_linear_lr",
    title="Exercise 6.1: the learning-rate schedule",
    kind="function",
    signature="warmup_linear_lr(step, total_steps, warmup_steps, peak_lr) -> float",
    reference=warmup_linear_lr_reference,
    cases=[Case(f"step {s} of {t}, warm-up {w}, peak {p:g}", (lambda a=(s, t, w, p): a), atol=1e-12, rtol=1e-6)
           for s, t, w, p in LR_CASES],
    mistakes=[
        Mistake(_lr_no_warmup, "there is no warm-up in your schedule: for step < warmup_steps the rate grows "
                "linearly from 0 (peak_lr * step / warmup_steps)."),
        Mistake(_lr_no_decay, "after the warm-up the rate must decay linearly to 0 at the last step, not stay "
                "at the peak."),
        Mistake(_lr_decay_over_all_steps, "the decay starts at the end of the warm-up, from the peak: divide "
                "(total_steps - step) by (total_steps - warmup_steps), not by total_steps."),
        Mistake(_lr_warmup_off_by_one, "step 0 has a learning rate of exactly 0: the warm-up factor is "
                "step / warmup_steps, not (step + 1) / warmup_steps."),
    ],
))


def classify_from_hidden_reference(hidden: torch.Tensor, W_p: torch.Tensor, b_p: torch.Tensor,
                                   W_c: torch.Tensor, b_c: torch.Tensor) -> torch.Tensor:
    """Logits of BertForSequenceClassification in eval mode, from the encoder's output (B, T, H)."""
    cls = hidden[:, 0]                          # (B, H): the [CLS] token
    pooled = torch.tanh(cls @ W_p.T + b_p)      # (B, H): the pooler
    return pooled @ W_c.T + b_c                 # (B, C)


def _head_case(B: int, T: int, H: int, C: int, seed: int) -> Callable[[], tuple]:
    def make():
        g = torch.Generator().manual_seed(seed)
        return (torch.randn(B, T, H, generator=g), torch.randn(H, H, generator=g) / H ** 0.5,
                torch.randn(H, generator=g) * 0.1, torch.randn(C, H, generator=g), torch.randn(C, generator=g))
    return make


register(Exercise(
    name="classify_from_hidden",
    title="Exercise 6.2: the classification head by hand",
    kind="function",
    signature="classify_from_hidden(hidden, W_p, b_p, W_c, b_c) -> logits (B, C)",
    reference=classify_from_hidden_reference,
    cases=[Case("B=2, T=5, H=8, C=2", _head_case(2, 5, 8, 2, 0)),
           Case("B=3, T=7, H=16, C=3", _head_case(3, 7, 16, 3, 1))],
    mistakes=[
        Mistake(lambda h, Wp, bp, Wc, bc: (h[:, 0] @ Wp.T + bp) @ Wc.T + bc,
                "the pooler ends with a tanh: pooled = tanh([CLS] W_pᵀ + b_p)."),
        Mistake(lambda h, Wp, bp, Wc, bc: torch.tanh(h.mean(1) @ Wp.T + bp) @ Wc.T + bc,
                "BERT's classifier reads the [CLS] vector (position 0), not the mean over tokens."),
        Mistake(lambda h, Wp, bp, Wc, bc: torch.tanh(h[:, -1] @ Wp.T + bp) @ Wc.T + bc,
                "[CLS] is the first token (hidden[:, 0]), not the last."),
        Mistake(lambda h, Wp, bp, Wc, bc: h[:, 0] @ Wc.T + bc,
                "the pooler (a dense layer with tanh) sits between [CLS] and the classifier."),
        Mistake(lambda h, Wp, bp, Wc, bc: torch.tanh(h[:, 0] @ Wp + bp) @ Wc.T + bc,
                "nn.Linear computes x Wᵀ + b: transpose W_p (it is square, so the shapes did not warn you)."),
    ],
))


def macro_f1_from_confusion_reference(confusion: list[list[int]]) -> float:
    """The package's own macro-F1 (what `evaluate` reports) is the reference."""
    from .classification import macro_f1
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
    return sum(confusion[c][c] for c in range(len(confusion))) / sum(map(sum, confusion))


def _f1_weighted(confusion):
    support = [sum(row) for row in confusion]
    return sum(s * f for s, (*_, f) in zip(support, _per_class_f1(confusion))) / sum(support)


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


CONFUSION_CASES = [[[40, 10], [5, 45]], [[50, 3, 2], [10, 5, 0], [4, 1, 0]], [[5, 1, 0], [0, 3, 0], [0, 0, 0]],
                   [[9, 1], [6, 2]]]

register(Exercise(
    name="macro_f1_from_confusion",
    title="Exercise 6.3: macro-F1 from a confusion matrix",
    kind="function",
    signature="macro_f1_from_confusion(confusion) -> float",
    reference=macro_f1_from_confusion_reference,
    cases=[Case(f"confusion {c}", (lambda c=c: ([list(row) for row in c],)), atol=1e-9, rtol=1e-9)
           for c in CONFUSION_CASES],
    mistakes=[
        Mistake(_f1_accuracy, "that is the accuracy (the diagonal over the total); macro-F1 averages one F1 "
                "score per class."),
        Mistake(_f1_weighted, "macro-F1 gives every class the same weight; you weighted each class's F1 by its "
                "support (that is sklearn's average='weighted')."),
        Mistake(_f1_last_class_only, "average the F1 of *every* class, not only the last (the 'positive') one."),
        Mistake(_f1_arithmetic_mean, "F1 is the harmonic mean of precision and recall, 2PR / (P + R), not "
                "their arithmetic mean."),
        Mistake(_f1_skip_absent_classes, "divide by the number of classes C: a class that is never true nor "
                "predicted counts with F1 = 0 (the convention of bertmini.classification and sklearn)."),
    ],
))


# ================================================================== Chapter 5: pretraining
def _logits_labels_args(B: int, T: int, V: int, seed: int, rate: float = 0.15):
    """Logits (B, T, V) and MLM labels (B, T): the original id at ~rate of the positions, -100 elsewhere."""
    def make():
        g = torch.Generator().manual_seed(seed)
        logits = torch.randn(B, T, V, generator=g) * 3
        ids = torch.randint(V, (B, T), generator=g)
        ids[ids % 3 == 0] = 7                                   # one frequent token, like "the"
        chosen = torch.rand(B, T, generator=g) < rate
        chosen[0, 1] = True
        logits[..., 7] += 1.0                                   # the model has learned it a little
        return logits, torch.where(chosen, ids, torch.full_like(ids, IGNORE_INDEX))
    return make


def mlm_loss_labels_reference(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of logits (B, T, V) against labels (B, T), averaged over positions with a label."""
    keep = labels != IGNORE_INDEX                               # (B, T)
    return F.cross_entropy(logits[keep], labels[keep])          # (N, V) vs (N,)


def _mlm_labels_every_position(logits, labels):
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten().clamp(min=0))


def _mlm_labels_over_all_tokens(logits, labels):
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX,
                           reduction="sum") / labels.numel()


def _mlm_labels_sum(logits, labels):
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX, reduction="sum")


register(Exercise(
    name="mlm_loss_labels",
    title="Exercise 5.1: the MLM loss from -100 labels",
    kind="function",
    signature="mlm_loss_labels(logits, labels) -> scalar tensor",
    reference=mlm_loss_labels_reference,
    cases=[Case("B=2, T=8, V=13", _logits_labels_args(2, 8, 13, seed=500)),
           Case("B=4, T=32, V=50", _logits_labels_args(4, 32, 50, seed=501))],
    mistakes=[
        Mistake(_mlm_labels_every_position, "the loss includes the positions labelled -100 (as if their "
                "target were token 0): only the masked positions have a target."),
        Mistake(_mlm_labels_over_all_tokens, "the sum over masked positions is divided by the number of "
                "all positions (B*T): divide by the number of masked positions, or the loss shrinks "
                "whenever fewer tokens happen to be masked."),
        Mistake(_mlm_labels_sum, "that is the sum over masked positions, not the mean: it grows with the "
                "batch size and the learning rate would have to follow it."),
    ],
))


def masked_accuracy_reference(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """(accuracy of the argmax at labelled positions, accuracy of always predicting the most
    frequent labelled token)."""
    keep = labels != IGNORE_INDEX
    targets = labels[keep]                                      # (N,)
    accuracy = (logits[keep].argmax(-1) == targets).float().mean().item()
    baseline = torch.bincount(targets).max().item() / len(targets)
    return accuracy, baseline


def _accuracy_every_position(logits, labels):
    keep = labels != IGNORE_INDEX
    return ((logits.argmax(-1) == labels).float().mean().item(),
            torch.bincount(labels[keep]).max().item() / int(keep.sum()))


def _baseline_uniform(logits, labels):
    return masked_accuracy_reference(logits, labels)[0], 1 / logits.size(-1)


def _baseline_from_predictions(logits, labels):
    keep = labels != IGNORE_INDEX
    predicted = logits[keep].argmax(-1)
    accuracy = (predicted == labels[keep]).float().mean().item()
    most = torch.bincount(predicted).argmax()
    return accuracy, (predicted == most).float().mean().item()


register(Exercise(
    name="masked_accuracy",
    title="Exercise 5.2: masked-token accuracy and its baseline",
    kind="function",
    signature="masked_accuracy(logits, labels) -> (accuracy, baseline)",
    reference=masked_accuracy_reference,
    cases=[Case("B=2, T=16, V=13", _logits_labels_args(2, 16, 13, seed=510, rate=0.3)),
           Case("B=8, T=64, V=40", _logits_labels_args(8, 64, 40, seed=511))],
    mistakes=[
        Mistake(_accuracy_every_position, "the accuracy counts every position, including those labelled "
                "-100 (which never match): divide by the number of masked positions only."),
        Mistake(_baseline_uniform, "1/V is the accuracy of guessing uniformly at random; the baseline "
                "always predicts the most frequent *target* token, which is far better on real text."),
        Mistake(_baseline_from_predictions, "the baseline counts the model's own predictions; it must "
                "count the targets (labels): how often is the single most common target right?"),
    ],
))


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


register(Exercise(
    name="nsp_interval",
    title="Exercise 5.3: a 95% interval for NSP accuracy",
    kind="function",
    signature="nsp_interval(correct, n) -> (low, high)",
    reference=nsp_interval_reference,
    cases=[Case("140 of 232 pairs right", _interval_value(140, 232), atol=1e-4, rtol=0),
           Case("12 of 20 pairs right", _interval_value(12, 20), atol=1e-4, rtol=0),
           Case("0 of 8 pairs right", _interval_value(0, 8), atol=1e-4, rtol=0)],
    mistakes=[
        Mistake(_interval_wald, "that is the normal-approximation (Wald) interval p ± 1.96·sqrt(p(1-p)/n): "
                "at 0 of 8 it is [0, 0], as if there were no doubt. Use Wilson's formula from the chapter."),
        Mistake(_interval_90, "z = 1.645 gives a 90% interval; a 95% interval uses z = 1.96."),
        Mistake(_interval_no_sqrt, "the half-width needs the square root of p(1-p)/n + z²/(4n²)."),
    ],
))
