"""The exercises of Chapter 2: the encoder layer: reference solutions, hidden cases, and
the usual mistakes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .checker import Case, Exercise, Mistake, default_verify


def feed_forward_reference(x, w1, b1, w2, b2):
    """W₂ · GELU(W₁ x + b₁) + b₂ with nn.Linear's (out, in) weight layout; exact (erf)
    GELU.
    """
    return F.gelu(x @ w1.T + b1) @ w2.T + b2  # (…, H) -> (…, 4H) -> (…, H)


def feed_forward_tanh_gelu(x, w1, b1, w2, b2):
    """The same block with the tanh approximation of GELU, as in Google's original BERT
    code.
    """
    # (…, H) -> (…, 4H) -> (…, H)
    return F.gelu(x @ w1.T + b1, approximate="tanh") @ w2.T + b2


def _either_gelu(case: Case):
    """Accept the exact (erf) GELU and its tanh approximation: both are BERT's GELU.

    Hugging Face's hidden_act="gelu" is the erf form, Google's modeling.py the tanh one;
    they differ by at most about 5e-4 per activation (measured in Chapter 2, Section
    2.2), more than the checker's tolerance, so the approximation gets its own
    comparison.
    """
    exact = default_verify(case)

    def verify(result, expected, args):
        message = exact(result, expected, args)
        if (
            message is None
            or exact(result, feed_forward_tanh_gelu(*args), args) is None
        ):
            return None
        return message

    return verify


def _ffn_case(description: str, T: int, H: int, seed: int) -> Case:
    case = Case(description, _ffn_args(T, H, seed))
    case.verify = _either_gelu(case)
    return case


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


FEED_FORWARD = Exercise(
    name="feed_forward",
    title="Exercise 2.1: BERT's feed-forward block",
    kind="function",
    signature="feed_forward(x, w1, b1, w2, b2) -> (..., H)",
    reference=feed_forward_reference,
    cases=[_ffn_case("H = 8", 3, 8, seed=10), _ffn_case("H = 32", 5, 32, seed=11)],
    mistakes=[
        Mistake(
            lambda x, w1, b1, w2, b2: F.relu(x @ w1.T + b1) @ w2.T + b2,
            "BERT's activation is GELU, not ReLU: F.gelu(...).",
        ),
        Mistake(
            lambda x, w1, b1, w2, b2: F.relu(F.gelu(x @ w1.T + b1) @ w2.T + b2),
            "there is no activation after the second linear map: the output is "
            "W₂·GELU(W₁x+b₁)+b₂, and a ReLU there would zero every negative feature.",
        ),
        Mistake(
            lambda x, w1, b1, w2, b2: F.gelu(x @ w1.T) @ w2.T,
            "the biases b₁ and b₂ are missing.",
        ),
    ],
)


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
        # any token-wise function will do
        sublayer = lambda t: torch.tanh(t @ w.T)
        norm = lambda t: F.layer_norm(t, (H,), gamma, beta, eps=1e-12)  # noqa: E731
        return x, sublayer, norm

    return make


POST_LN_BLOCK = Exercise(
    name="post_ln_block",
    title="Exercise 2.2: add & norm, the BERT way",
    kind="function",
    signature="post_ln_block(x, sublayer, norm) -> like x",
    reference=post_ln_reference,
    cases=[
        Case("H = 8", _post_ln_args(8, seed=20)),
        Case("H = 16", _post_ln_args(16, seed=21)),
    ],
    mistakes=[
        Mistake(
            lambda x, s, n: x + s(n(x)),
            "that is the *pre*-LN block of GPT-2 and later models; "
            "BERT normalises after the residual sum: norm(x + sublayer(x)).",
        ),
        Mistake(
            lambda x, s, n: n(s(x)),
            "the residual connection is missing: add x back before the LayerNorm.",
        ),
        Mistake(
            lambda x, s, n: x + n(s(x)),
            "the LayerNorm must see the *sum* x + sublayer(x), "
            "not only the sublayer's output.",
        ),
    ],
)


def bert_parameters_reference(
    vocab_size: int,
    hidden_size: int,
    num_layers: int,
    intermediate_size: int,
    max_position: int = 512,
    type_vocab: int = 2,
) -> int:
    """All parameters of BertModel, pooler included."""
    H, I = hidden_size, intermediate_size
    # 3 tables + LayerNorm
    embeddings = (vocab_size + max_position + type_vocab) * H + 2 * H
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


BERT_PARAMETERS = Exercise(
    name="bert_parameters",
    title="Exercise 2.3: count BERT's parameters from its config",
    kind="function",
    signature="bert_parameters(vocab_size, hidden_size, num_layers, intermediate_size, max_position=512, type_vocab=2) -> int",
    reference=bert_parameters_reference,
    cases=[
        Case(
            f"V={v}, H={h}, L={n}, I={i}",
            (lambda v=v, h=h, n=n, i=i: (v, h, n, i)),
            atol=0,
            rtol=0,
        )
        for v, h, n, i in (
            (30522, 768, 12, 3072),
            (30522, 384, 6, 1536),
            (1000, 64, 2, 256),
        )
    ],
    mistakes=[
        Mistake(
            _bert_params_no_layernorm,
            "LayerNorms have parameters too: a γ and a β of size H, "
            "one after the embeddings and two in each layer.",
        ),
        Mistake(
            _bert_params_no_pooler,
            "the pooler (a dense H×H layer with bias on [CLS]) is part of BertModel.",
        ),
        Mistake(
            _bert_params_no_biases,
            "every linear layer has a bias: Q, K, V, O (H each), W₁ (4H), "
            "W₂ (H) and the pooler (H).",
        ),
        Mistake(
            _bert_params_no_embeddings,
            "the embeddings (token, position and segment tables, and "
            "their LayerNorm) are parameters too, and in small models they are most of them.",
        ),
    ],
)


EXERCISES = [FEED_FORWARD, POST_LN_BLOCK, BERT_PARAMETERS]
