"""Looking at attention: heatmaps, per-head statistics, attention rollout and bertviz
views.

Everything here starts from what `BertModel(..., output_attentions=True)` returns: a
tuple with one (B, heads, T, T) tensor per layer, where row i of a head's matrix is the
probability distribution of query token i over the keys. Three ways to look at it:

- pictures of single heads and layers (`plot_head`, `plot_layer`), and bertviz's
  interactive views (`head_view`, `model_view`) that work offline on the course website;
- numbers per head, averaged over many sentences (`head_statistics`, `measure_heads`):
  how spread out a head is (entropy), how far it looks (mean distance), and where its
  attention goes ([CLS], [SEP], punctuation, the previous or next token, itself). Clark
  et al. (2019) found BERT's heads by exactly these measurements;
- `attention_rollout` (Abnar & Zuidema, 2020), which follows attention through all the
  layers, and `norm_weighted_attentions` (Kobayashi et al., 2020), which weighs each
  attention weight by the size of the vector it actually moves. Both are reminders that
  one layer's attention map is not an explanation of the model's output.

matplotlib, bertviz, IPython and ipywidgets are imported inside the functions that use
them, so `import bertmini` stays light.

Offline bertviz. bertviz's HTML loads require.js, d3 and jQuery from CDNs, so on a
machine with no network its views stay blank. `head_view` and `model_view` rewrite that
HTML (the private module `_bertviz_offline` does it) so that every library is looked for
first under `js_base` and only then on the CDN. `js_base` defaults to `JS_BASE`, which
is the environment variable `BERTMINI_VIZ_JS_BASE` or "" (CDNs only); a web page that
serves `require.min.js`, `d3.min.js` (d3 v5) and `jquery.min.js` (jQuery 2) sets it to
that folder. A relative base is resolved against the page's address.
"""

from __future__ import annotations

import os
import unicodedata
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ._bertviz_offline import offline_view
from ._validate import (
    check_bool,
    check_int,
    check_module,
    check_number,
    check_str,
    check_tokenizer,
)
from .device import evaluating

# Where a page serves offline copies of bertviz's JavaScript libraries ("" = CDNs only;
# see above).
JS_BASE: str = os.environ.get("BERTMINI_VIZ_JS_BASE", "")

# bertviz draws one line per (query, key) pair and head: past ~64 tokens the browser
# crawls.
MAX_VIEW_TOKENS = 64

# What each statistic measures, for plot titles and colour bars.
STATISTICS: dict[str, str] = {
    "entropy": "attention entropy (nats)",
    "distance": "mean attention distance |i-j| (tokens)",
    "cls": "share of attention on [CLS]",
    "sep": "share of attention on [SEP]",
    "punct": "share of attention on punctuation",
    "prev": "share of attention on the previous token",
    "next": "share of attention on the next token",
    "self": "share of attention on the token itself",
}


# -------------------------------------------------------------------- attention tensors
def attentions_of(output_or_attentions: Any) -> tuple[torch.Tensor, ...]:
    """The per-layer attention tuple, from a model output or from the tuple itself.

    Fails with the fix in the message when the model was called without
    output_attentions=True.
    """
    attentions = output_or_attentions
    if hasattr(output_or_attentions, "attentions"):
        attentions = output_or_attentions.attentions
        if attentions is None:
            raise ValueError(
                "this model output has no attention maps (.attentions is None): call "
                "the model with output_attentions=True, e.g. "
                "model(**enc, output_attentions=True)"
            )
    if attentions is None:
        raise ValueError(
            "no attention maps given (None): call the model with output_attentions=True"
        )
    if isinstance(attentions, torch.Tensor):
        raise TypeError(
            "expected a tuple of per-layer attention tensors (B, heads, T, T) or a model output "
            f"with .attentions, got one tensor of shape {tuple(attentions.shape)}; "
            "if it is one layer's map, wrap it: (attn,)"
        )
    if not isinstance(attentions, (tuple, list)) or not attentions:
        raise TypeError(
            "expected a model output with .attentions or a non-empty tuple of (B, heads, T, T) "
            f"tensors, got {type(output_or_attentions).__name__}"
        )
    for i, a in enumerate(attentions):
        if (
            not isinstance(a, torch.Tensor)
            or a.dim() != 4
            or a.shape[-1] != a.shape[-2]
        ):
            shape = tuple(a.shape) if isinstance(a, torch.Tensor) else type(a).__name__
            raise ValueError(
                f"attention of layer {i} must be a (B, heads, T, T) tensor, got {shape}"
            )
    return tuple(attentions)


def stack_attentions(output_or_attentions: Any) -> torch.Tensor:
    """(L, B, heads, T, T) float32 on the CPU, detached: one tensor to compute
    statistics on.
    """
    layers = [a.detach().float().cpu() for a in attentions_of(output_or_attentions)]
    for i, a in enumerate(layers):
        if a.shape != layers[0].shape:
            raise ValueError(
                f"attention of layer {i} has shape {tuple(a.shape)} but layer 0 has "
                f"{tuple(layers[0].shape)}: all layers must come from one model call"
            )
    A = torch.stack(layers)  # (L, B, h, T, T)
    # NaN statistics would look like numbers in a table, and rank first in top_heads.
    if not torch.isfinite(A).all():
        raise ValueError(
            "the attention maps hold NaN or inf values: the model's weights or inputs "
            "are broken (e.g. a diverged training run)"
        )
    return A


def one_example(output_or_attentions: Any, index: int | None = None) -> torch.Tensor:
    """The (L, heads, T, T) maps of one sentence of the batch (bertviz shows one at a
    time).
    """
    index = check_int("index", index, optional=True)
    attn = stack_attentions(output_or_attentions)  # (L, B, h, T, T)
    B = attn.shape[1]
    if index is None:
        if B != 1:
            raise ValueError(
                f"the attentions hold a batch of {B} sequences: pass index=i to pick one"
            )
        index = 0
    if not -B <= index < B:
        raise IndexError(f"index {index} is out of range for a batch of {B}")
    return attn[:, index]  # (L, h, T, T)


def real_token_mask(
    attention_mask: torch.Tensor | None, B: int, T: int
) -> torch.Tensor:
    """(B, T) float mask of real tokens; all ones when there is no padding mask.

    Only 0s and 1s: the mask weighs every token, so a mask of 2s or 0.5s would scale
    the statistics instead of selecting tokens.
    """
    B = check_int("B", B, minimum=0)
    T = check_int("T", T, minimum=0)
    if attention_mask is None:
        return torch.ones(B, T)
    if not isinstance(attention_mask, torch.Tensor):
        raise TypeError(
            "attention_mask must be a (B, T) tensor of 0s and 1s, got "
            f"{type(attention_mask).__name__}"
        )
    if tuple(attention_mask.shape) != (B, T):
        raise ValueError(
            f"attention_mask has shape {tuple(attention_mask.shape)} but the attention maps "
            f"are for {B} sequences of {T} tokens"
        )
    mask = attention_mask.detach().float().cpu()
    if not ((mask == 0) | (mask == 1)).all():
        bad = mask[(mask != 0) & (mask != 1)][0].item()
        raise ValueError(
            f"attention_mask must hold only 0 (padding) and 1 (real token), got {bad!r}"
        )
    return mask


# ------------------------------------------------------------------ per-head statistics
def is_punctuation(token: str) -> bool:
    """True for a token made only of punctuation characters (".", ",", "'", "?!"), as
    BERT splits them.
    """
    check_str("token", token)
    return bool(token) and all(unicodedata.category(c).startswith("P") for c in token)


def _check_model(model: Any) -> None:
    """The model runs in eval mode (`evaluating`): it must be an nn.Module."""
    check_module(model, "a BertModel (an nn.Module)")


def _check_tokens(name: str, tokens: Any) -> list[str]:
    """A non-empty list of token strings, one per position. A string would be read as
    one token per character, and bertviz fails deep inside on an empty list."""
    if isinstance(tokens, str) or not isinstance(tokens, Sequence):
        raise TypeError(
            f"{name} must be a list of token strings (see tokens_for_view), got "
            f"{type(tokens).__name__}"
        )
    if len(tokens) == 0:
        raise ValueError(f"{name} is empty: pass one token string per position")
    for t in tokens:
        if not isinstance(t, str):
            raise TypeError(
                f"{name} must be a list of token strings, got an element {t!r} "
                f"({type(t).__name__}); tokenizer.convert_ids_to_tokens turns ids "
                "into tokens"
            )
    return list(tokens)


def _as_tensor(name: str, value: Any, expected: str) -> torch.Tensor:
    """A tensor, NumPy array or nested list of numbers as a tensor; torch's own errors
    for None, a string or a ragged list do not say which argument it was."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (np.ndarray, list, tuple)):
        try:
            return torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError):
            pass  # a ragged list, or one holding strings or None
    raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")


def _check_ax(ax: Any) -> None:
    """None (a new figure) or a matplotlib Axes to draw into."""
    from matplotlib.axes import Axes

    if ax is not None and not isinstance(ax, Axes):
        raise TypeError(
            "ax must be a matplotlib Axes (e.g. from plt.subplots()) or None, got "
            f"{type(ax).__name__}"
        )


def token_masks(input_ids: torch.Tensor, tokenizer) -> dict[str, torch.Tensor]:
    """(B, T) boolean masks of the token kinds that heads like to attend to: [CLS],
    [SEP], punctuation.
    """
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2:
        raise TypeError(
            "input_ids must be a (B, T) tensor of token ids, got "
            f"{type(input_ids).__name__}"
        )
    check_tokenizer(tokenizer)
    ids = input_ids.detach().cpu()
    tokens = [tokenizer.convert_ids_to_tokens(row.tolist()) for row in ids]
    return {
        "cls": ids == tokenizer.cls_token_id,
        "sep": ids == tokenizer.sep_token_id,
        "punct": torch.tensor(
            [[is_punctuation(t) for t in row] for row in tokens], dtype=torch.bool
        ),
    }


def head_statistic_sums(
    output_or_attentions: Any,
    attention_mask: torch.Tensor | None = None,
    masks: dict[str, torch.Tensor] | None = None,
) -> dict[str, tuple[torch.Tensor, float]]:
    """Per head: the sum over real query tokens of each statistic, and how many queries
    were summed.

    Sums rather than means so that batches can be added up (`measure_heads`). Only real
    tokens count: padding queries are skipped, and attention on padding keys is left out
    (with the mask it is 0 anyway). The previous-token share is averaged over queries
    that have a real previous token, the next-token share over queries that have a real
    next token.
    """
    A = stack_attentions(output_or_attentions)  # (L, B, h, T, T)
    L, B, h, T, _ = A.shape
    m = real_token_mask(attention_mask, B, T)  # (B, T)
    keys = m[None, :, None, None, :]  # broadcast over layers, heads and queries
    A = A * keys  # no probability on padding keys
    queries = m[None, :, None, :]  # (1, B, 1, T): weight of each query

    def total(
        per_query: torch.Tensor, weight: torch.Tensor = queries
    ) -> tuple[torch.Tensor, float]:
        """(L, B, h, Tq) per-query values -> (L, h) sum over real queries, and their
        number.
        """
        return (per_query * weight).sum(dim=(1, 3)), float(weight.sum())

    pos = torch.arange(T, dtype=torch.float32)
    distance = (pos[:, None] - pos[None, :]).abs()  # (T, T): |i - j|
    sums = {
        # -Σ_j p log p, 0 log 0 = 0
        "entropy": total(-torch.special.xlogy(A, A).sum(-1)),
        "distance": total((A * distance).sum(-1)),
        "self": total(torch.diagonal(A, dim1=-2, dim2=-1)),
    }
    # Query i+1 on key i (previous token) and query i on key i+1 (next token): both need
    # 2 real tokens.
    pairs = (m[:, 1:] * m[:, :-1])[None, :, None, :]  # (1, B, 1, T-1)
    sums["prev"] = total(torch.diagonal(A, offset=-1, dim1=-2, dim2=-1), pairs)
    sums["next"] = total(torch.diagonal(A, offset=1, dim1=-2, dim2=-1), pairs)
    for name, kind in (masks or {}).items():
        if tuple(kind.shape) != (B, T):
            raise ValueError(
                f"mask {name!r} has shape {tuple(kind.shape)}, expected {(B, T)}"
            )
        on_kind = kind.detach().cpu().float()[None, :, None, None, :]  # (1, B, 1, 1, T)
        sums[name] = total((A * on_kind).sum(-1))
    return sums


def head_statistics(
    output_or_attentions: Any,
    attention_mask: torch.Tensor | None = None,
    masks: dict[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Each statistic as a (layers, heads) tensor, averaged over the real query tokens
    of the batch.

    `masks` (e.g. from `token_masks`) adds one "share of attention on these tokens" per
    entry. See `STATISTICS` for what each name means.
    """
    sums = head_statistic_sums(output_or_attentions, attention_mask, masks)
    return {name: s / max(n, 1.0) for name, (s, n) in sums.items()}


@torch.no_grad()
def measure_heads(
    model,
    tokenizer,
    texts: Sequence[str],
    text_pairs: Sequence[str] | None = None,
    batch_size: int = 16,
    max_length: int = 128,
) -> dict[str, torch.Tensor]:
    """Run the model over many sentences and average every head statistic over all their
    tokens.

    Each token counts once whichever batch it is in (sums and counts are added over
    batches). The model runs in eval mode (no dropout) and is put back in its previous
    mode afterwards.
    """
    _check_model(model)
    check_tokenizer(tokenizer)
    if isinstance(texts, str) or not isinstance(texts, Sequence) or not texts:
        raise ValueError(
            f"texts must be a non-empty list of strings, got {type(texts).__name__}"
        )
    if text_pairs is not None:
        if isinstance(text_pairs, str) or not isinstance(text_pairs, Sequence):
            raise TypeError(
                "text_pairs must be a list of strings (one per text) or None, got "
                f"{type(text_pairs).__name__}"
            )
        if len(text_pairs) != len(texts):
            raise ValueError(f"got {len(texts)} texts but {len(text_pairs)} text_pairs")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    max_length = check_int("max_length", max_length, minimum=1)
    totals: dict[str, list] = {}
    with evaluating(model):
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            pairs = (
                list(text_pairs[start : start + batch_size])
                if text_pairs is not None
                else None
            )
            enc = tokenizer(
                batch, pairs, max_length=max_length, truncation=True, padding=True
            )
            out = model(
                input_ids=enc["input_ids"],
                attention_mask=enc["attention_mask"],
                token_type_ids=enc["token_type_ids"],
                output_attentions=True,
            )
            sums = head_statistic_sums(
                out, enc["attention_mask"], token_masks(enc["input_ids"], tokenizer)
            )
            for name, (s, n) in sums.items():
                if name in totals:
                    totals[name][0] += s
                    totals[name][1] += n
                else:
                    totals[name] = [s.clone(), n]
    return {name: s / max(n, 1.0) for name, (s, n) in totals.items()}


def top_heads(
    stats: dict[str, torch.Tensor] | torch.Tensor,
    name: str | None = None,
    k: int = 3,
    largest: bool = True,
) -> list[tuple[int, int, float]]:
    """The k heads with the largest (or smallest) value of a statistic:
    [(layer, head, value), ...].
    """
    k = check_int("k", k, minimum=1)
    check_bool("largest", largest)
    values = _statistic(stats, name)  # (L, h)
    flat = values.flatten()
    idx = flat.topk(min(k, flat.numel()), largest=largest).indices
    heads = values.shape[1]
    return [(int(i) // heads, int(i) % heads, float(flat[i])) for i in idx]


def _statistic(stats: Any, name: str | None) -> torch.Tensor:
    """One (layers, heads) statistic from a `head_statistics` dict (by name) or a
    tensor; a misspelt name lists the ones there are instead of a bare KeyError."""
    if name is not None:
        check_str("name", name)
    what = "stats"
    if isinstance(stats, dict):
        if name not in stats:
            raise ValueError(
                f"name must be one of the statistics {sorted(stats)}, got {name!r}"
            )
        stats, what = stats[name], f"stats[{name!r}]"
    values = _as_tensor(
        what,
        stats,
        "the dict of head_statistics or measure_heads, or one (layers, heads) tensor",
    )
    if values.dim() != 2 or values.numel() == 0:
        raise ValueError(
            f"{what} must be a (layers, heads) tensor, got shape {tuple(values.shape)}"
        )
    if values.dtype == torch.bool or values.is_complex():
        raise TypeError(f"{what} must hold real numbers, got a {values.dtype} tensor")
    if not torch.isfinite(values.float()).all():
        raise ValueError(f"statistic {name!r} holds NaN or inf values")
    return values


# -------------------------------------------------------------------- attention rollout
def attention_rollout(
    output_or_attentions: Any,
    attention_mask: torch.Tensor | None = None,
    layers: int | None = None,
) -> torch.Tensor:
    """How much each input token can reach each position after `layers` layers:
    (B, T, T).

    Abnar & Zuidema (2020): average the heads of a layer, add the identity for the
    residual connection (a token also keeps its own vector), renormalise the rows, and
    multiply the layers' matrices: R = Â_L ··· Â_2 Â_1. Row i of R is a distribution
    over input tokens. It ignores the value vectors, the feed-forward blocks and
    LayerNorm: a picture of information flow, not a proof.
    """
    A = stack_attentions(output_or_attentions)  # (L, B, h, T, T)
    L, B, _, T, _ = A.shape
    layers = check_int("layers", layers, optional=True)
    layers = L if layers is None else layers
    if not 1 <= layers <= L:
        raise ValueError(f"layers must be between 1 and {L}, got {layers}")
    m = real_token_mask(attention_mask, B, T)  # (B, T)
    real = m[:, :, None] * m[:, None, :]  # (B, T, T): real query and real key
    rollout = torch.diag_embed(m)  # (B, T, T): identity on the real tokens
    for layer in range(layers):
        a = A[layer].mean(dim=1) * real  # (B, T, T): heads averaged, padding cut out
        a = a + torch.diag_embed(m)  # the residual connection
        a = a / a.sum(-1, keepdim=True).clamp_min(1e-12)  # rows sum to 1 again
        rollout = a @ rollout  # (B, T, T)
    return rollout


# -------------------------------------------------------- value-norm-weighted attention
@torch.no_grad()
def norm_weighted_attentions(
    model, output: Any, normalize: bool = True
) -> tuple[torch.Tensor, ...]:
    """‖α_ij · f(x_j)‖ per layer and head (Kobayashi et al., 2020): (B, heads, T, T) per
    layer.

    A head's output for token i is Σ_j α_ij f(x_j), with f(x) = (x W_V + b_V) W_O
    restricted to the head. A large weight on a vector of length ~0 moves nothing: [SEP]
    and [CLS] receive much attention but their value vectors are short, so their share
    shrinks here. With `normalize` each row is rescaled to sum to 1, to compare with the
    attention map itself.

    `output` must come from the same model called with output_attentions=True and
    output_hidden_states=True (the layers' inputs are needed to recompute the values).
    """
    attentions = attentions_of(output)
    hidden = getattr(output, "hidden_states", None)
    if hidden is None:
        raise ValueError(
            "norm_weighted_attentions needs the layers' inputs: call the model with "
            "output_attentions=True and output_hidden_states=True"
        )
    encoder = getattr(model, "bert", model).encoder
    if len(hidden) != len(encoder.layer) + 1 or len(attentions) != len(encoder.layer):
        raise ValueError(
            "this output does not come from this model: the numbers of layers differ"
        )
    weighted = []
    for layer, x, alpha in zip(encoder.layer, hidden[:-1], attentions):
        attn = layer.attention
        v = attn.split_heads(attn.value(x))  # (B, h, T, d_k)
        d = attn.head_size
        # (H, h, d_k)
        W_O = attn.out.weight.view(attn.out.weight.shape[0], attn.num_heads, d)
        # (B, h, T, H): what each key token adds
        f = torch.einsum("bhtd,ohd->bhto", v, W_O)
        norms = f.norm(dim=-1)  # (B, h, T)
        w = alpha * norms[:, :, None, :]  # (B, h, T, T): α_ij ‖f(x_j)‖
        if normalize:
            w = w / w.sum(-1, keepdim=True).clamp_min(1e-12)
        weighted.append(w)
    return tuple(weighted)


# --------------------------------------------------------------------------- matplotlib
def _example_maps(attn: Any, index: int | None) -> torch.Tensor:
    """(L, h, T, T) maps of one sentence, from a model output, its attention tuple or an
    (L, h, T, T) tensor such as `one_example` returns.

    One layer's (B, h, T, T) tensor (`out.attentions[0]`) has four dimensions too and
    would be read as layers: a bare tensor comes without `index`, which only a batch
    needs.
    """
    if not isinstance(attn, torch.Tensor):
        return one_example(attn, index)
    if attn.dim() != 4 or attn.shape[-1] != attn.shape[-2]:
        raise ValueError(
            "expected a model output, its .attentions tuple, or the (layers, heads, T, "
            f"T) maps of one sentence (viz.one_example), got a tensor of shape "
            f"{tuple(attn.shape)}"
        )
    if index is not None:
        raise ValueError(
            "index picks a sentence of a batch, but a bare tensor must be the (layers, "
            "heads, T, T) maps of one sentence: pass the model output or its "
            ".attentions tuple with index, or viz.one_example(out, index)"
        )
    if not torch.isfinite(attn).all():
        raise ValueError("the attention maps hold NaN or inf values")
    return attn


def plot_matrix(
    matrix: torch.Tensor,
    tokens: Sequence[str],
    title: str = "",
    ax=None,
    colorbar_label: str = "attention probability",
    key_tokens: Sequence[str] | None = None,
):
    """A (T_query, T_key) heatmap with tokens on both axes: rows attend, columns are
    attended to.
    """
    import matplotlib.pyplot as plt

    matrix = _as_tensor(
        "matrix", matrix, "a (T_query, T_key) tensor, e.g. viz.one_example(out)[0, 0]"
    )
    tokens = _check_tokens("tokens", tokens)
    key_tokens = (
        tokens if key_tokens is None else _check_tokens("key_tokens", key_tokens)
    )
    _check_ax(ax)
    matrix = matrix.detach().float().cpu()
    if tuple(matrix.shape) != (len(tokens), len(key_tokens)):
        raise ValueError(
            f"the map is {tuple(matrix.shape)} but there are {len(tokens)} query and "
            f"{len(key_tokens)} key tokens"
        )
    if not torch.isfinite(matrix).all():  # imshow leaves NaN cells blank
        raise ValueError("matrix holds NaN or inf values")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    image = ax.imshow(matrix.numpy(), cmap="viridis", vmin=0.0, aspect="auto")
    size = 8 if len(tokens) <= 24 else 6
    ax.set_xticks(range(len(key_tokens)), list(key_tokens), rotation=90, fontsize=size)
    ax.set_yticks(range(len(tokens)), list(tokens), fontsize=size)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    if title:
        ax.set_title(title, fontsize=10)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=colorbar_label)
    return ax


def plot_head(
    attn: Any,
    tokens: Sequence[str],
    layer: int,
    head: int,
    ax=None,
    index: int | None = None,
):
    """One head's attention map as a heatmap; `attn` is a model output, its attention
    tuple or (L, h, T, T).
    """
    layer = check_int("layer", layer)
    head = check_int("head", head)
    tokens = _check_tokens("tokens", tokens)
    _check_ax(ax)
    maps = _example_maps(attn, index)
    L, h = maps.shape[:2]
    if not (0 <= layer < L and 0 <= head < h):
        raise IndexError(
            f"layer {layer}, head {head} out of range: the model has {L} layers of {h} heads"
        )
    return plot_matrix(maps[layer, head], tokens, f"layer {layer}, head {head}", ax)


def plot_layer(
    attn: Any,
    tokens: Sequence[str],
    layer: int,
    index: int | None = None,
    ncols: int = 4,
    panel_size: float = 2.6,
):
    """All heads of one layer side by side, on one colour scale (the colour bar).
    Returns the figure.
    """
    import matplotlib.pyplot as plt

    ncols = check_int("ncols", ncols, minimum=1)
    layer = check_int("layer", layer)
    check_number("panel_size", panel_size, 0.0, low_open=True)
    maps = _example_maps(attn, index)
    L, h, T, _ = maps.shape
    if not 0 <= layer < L:
        raise IndexError(f"layer {layer} out of range: the model has {L} layers")
    tokens = _check_tokens("tokens", tokens)
    if len(tokens) != T:
        raise ValueError(
            f"tokens must be a list of one token per position ({T}), got "
            f"{len(tokens)} tokens"
        )
    nrows = -(-h // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel_size * ncols + 0.8, panel_size * nrows),
        squeeze=False,
        layout="constrained",  # room for the shared colour bar
    )
    vmax = float(maps[layer].max())
    show_labels = T <= 16
    for k, ax in enumerate(axes.flat):
        if k >= h:
            ax.axis("off")
            continue
        image = ax.imshow(maps[layer, k].numpy(), cmap="viridis", vmin=0.0, vmax=vmax)
        ax.set_title(f"head {k}", fontsize=9)
        if show_labels:
            ax.set_xticks(range(T), list(tokens), rotation=90, fontsize=5)
            ax.set_yticks(range(T), list(tokens), fontsize=5)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
        if k % ncols == 0:
            ax.set_ylabel("query (attending)", fontsize=8)
        if k >= h - ncols:  # the lowest panel of its column
            ax.set_xlabel("key (attended to)", fontsize=8)
    fig.colorbar(image, ax=axes, shrink=0.8, label="attention probability")
    fig.suptitle(f"layer {layer}: rows = queries, columns = keys", fontsize=10)
    return fig


def plot_head_stats(
    stats: dict[str, torch.Tensor] | torch.Tensor,
    name: str,
    ax=None,
    annotate: bool = True,
):
    """A layers × heads map of one statistic, with the value written in each cell."""
    import matplotlib.pyplot as plt

    check_bool("annotate", annotate)
    _check_ax(ax)
    values = _statistic(stats, name).float()  # (L, h)
    L, h = values.shape
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.45 * L + 1.2))
    image = ax.imshow(values.numpy(), cmap="magma", aspect="auto")
    ax.set_xticks(range(h))
    ax.set_yticks(range(L))
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_title(STATISTICS.get(name, name), fontsize=10)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if annotate:
        lo, hi = float(values.min()), float(values.max())
        for i in range(L):
            for j in range(h):
                v = float(values[i, j])
                dark = (v - lo) < 0.6 * (hi - lo + 1e-12)
                ax.text(
                    j,
                    i,
                    f"{v:.2f}" if abs(v) < 10 else f"{v:.0f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if dark else "black",
                )
    return ax


# --------------------------------------------------------------------- bertviz, offline
def tokens_for_view(
    tokenizer, encoding, index: int = 0
) -> tuple[list[str], int | None]:
    """Tokens of row `index` without padding, and where sentence B starts (None for one
    sentence).
    """
    check_tokenizer(tokenizer)
    if not isinstance(encoding, Mapping) or "input_ids" not in encoding:
        raise TypeError(
            "encoding must be what the tokenizer returns (tokenizer(text)), got "
            f"{type(encoding).__name__}"
        )
    index = check_int("index", index)
    rows = len(encoding["input_ids"])
    if not -rows <= index < rows:
        raise ValueError(
            f"index {index} is out of range for an encoding of {rows} rows"
        )
    ids = encoding["input_ids"][index]
    n = int(encoding["attention_mask"][index].sum())
    tokens = tokenizer.convert_ids_to_tokens(ids[:n].tolist())
    segments = encoding["token_type_ids"][index][:n].tolist()
    b_start = segments.index(1) if 1 in segments else None
    return tokens, b_start


def view_attention(
    output_or_attentions: Any, tokens: Sequence[str], index: int | None, max_tokens: int
) -> tuple[torch.Tensor, ...]:
    """Checked, unpadded (1, h, n, n) maps per layer for bertviz, n = len(tokens),
    rounded to 3 decimals.
    """
    tokens = _check_tokens("tokens", tokens)
    max_tokens = check_int("max_tokens", max_tokens, minimum=1)
    maps = one_example(output_or_attentions, index)  # (L, h, T, T)
    T, n = maps.shape[-1], len(tokens)
    if n < T:
        # Right padding with the mask puts no probability on the padding: cutting it
        # loses nothing.
        if float(maps[..., :n, n:].sum()) > 1e-4 * maps.shape[0] * maps.shape[1] * n:
            raise ValueError(
                f"got {n} tokens for {T} positions, and the positions after {n} receive "
                "attention: pass one token per position (see tokens_for_view)"
            )
        maps = maps[..., :n, :n]
    elif n > T:
        raise ValueError(f"got {n} tokens but the attention maps have {T} positions")
    if n > max_tokens:
        raise ValueError(
            f"{n} tokens is too many for bertviz (it draws {n}x{n} lines per head and the "
            f"browser becomes unusable above ~{max_tokens}): use a shorter text, "
            f"or pass max_tokens={n} if you really want it"
        )
    # Three decimals are plenty for line opacities and make the page ~5x smaller:
    # bertviz writes every probability into the HTML, and float32 values print with 17
    # digits.
    maps = maps.double().round(decimals=3)
    return tuple(m[None] for m in maps)  # each (1, h, n, n)


def _bertviz_html(
    view: str,
    output_or_attentions: Any,
    tokens: Sequence[str],
    sentence_b_start: int | None,
    index: int | None,
    max_tokens: int,
    js_base: str | None,
    **kwargs,
):
    import bertviz
    from IPython.display import HTML

    sentence_b_start = check_int("sentence_b_start", sentence_b_start, optional=True)
    if js_base is not None:
        check_str("js_base", js_base)
    attention = view_attention(output_or_attentions, tokens, index, max_tokens)
    if sentence_b_start is not None and not 0 < sentence_b_start < len(tokens):
        raise ValueError(
            f"sentence_b_start={sentence_b_start} is not inside the {len(tokens)} tokens"
        )
    render = getattr(bertviz, view)
    html = render(
        attention,
        list(tokens),
        sentence_b_start=sentence_b_start,
        html_action="return",
        **kwargs,
    )
    return HTML(offline_view(html.data, JS_BASE if js_base is None else js_base))


def head_view(
    output_or_attentions: Any,
    tokens: Sequence[str],
    sentence_b_start: int | None = None,
    index: int | None = None,
    max_tokens: int = MAX_VIEW_TOKENS,
    js_base: str | None = None,
    **kwargs,
):
    """bertviz's head view of bertmini attentions, working offline. Returns an IPython
    HTML object.

    `output_or_attentions`: the model output (called with output_attentions=True) or its
    `.attentions` tuple; for a batch, `index` picks the row. `tokens` are that row's
    tokens (padding may be left out: see `tokens_for_view`). Extra keyword arguments
    (layer, heads, include_layers) go to bertviz. `js_base`: the folder the page serves
    require.js, d3 and jQuery from (default `JS_BASE`). Show it as a cell's last
    expression or with `display(...)`.
    """
    return _bertviz_html(
        "head_view",
        output_or_attentions,
        tokens,
        sentence_b_start,
        index,
        max_tokens,
        js_base,
        **kwargs,
    )


def model_view(
    output_or_attentions: Any,
    tokens: Sequence[str],
    sentence_b_start: int | None = None,
    index: int | None = None,
    max_tokens: int = MAX_VIEW_TOKENS,
    js_base: str | None = None,
    **kwargs,
):
    """bertviz's model view (every layer and head as a thumbnail), working offline; see
    `head_view`.

    Extra keyword arguments (display_mode="light", include_layers, include_heads) go to
    bertviz.
    """
    return _bertviz_html(
        "model_view",
        output_or_attentions,
        tokens,
        sentence_b_start,
        index,
        max_tokens,
        js_base,
        **kwargs,
    )


# ----------------------------------------------------------------- interactive explorer
@torch.no_grad()
def explorer_attention(
    model,
    tokenizer,
    text: str,
    text_pair: str | None = None,
    pad_to: int = 0,
    use_mask: bool = True,
) -> tuple[torch.Tensor, list[str]]:
    """Attention maps (L, h, T, T) of one input padded with [PAD] to `pad_to` tokens,
    and its tokens.

    With use_mask=False the padding is fed to the model as if it were text
    (attention_mask all 1): the real tokens then spend attention on [PAD] and their
    vectors change. That is what the mask prevents.
    """
    _check_model(model)
    check_tokenizer(tokenizer)
    pad_to = check_int("pad_to", pad_to, minimum=0)
    check_bool("use_mask", use_mask)
    ids = tokenizer.encode(text, text_pair or None)
    types = [0] * len(ids)
    if text_pair:
        first_sep = ids.index(tokenizer.sep_token_id)
        types = [0] * (first_sep + 1) + [1] * (len(ids) - first_sep - 1)
    n_pad = max(0, pad_to - len(ids))
    mask = [1] * len(ids) + [0 if use_mask else 1] * n_pad
    types = types + [0] * n_pad
    ids = ids + [tokenizer.pad_token_id] * n_pad
    with evaluating(model):
        out = model(
            input_ids=torch.tensor([ids]),
            attention_mask=torch.tensor([mask]),
            token_type_ids=torch.tensor([types]),
            output_attentions=True,
        )
    return one_example(out, 0), tokenizer.convert_ids_to_tokens(ids)


def explore(
    model,
    tokenizer,
    text: str = "The cat sat on the mat because it was tired.",
    text_pair: str = "",
    pad_to: int = 20,
):
    """An ipywidgets explorer: type a sentence (or two), pick a layer and a head, toggle
    the mask.

    Returns the widget box (show it as a cell's last expression). On a static page it
    shows the first picture only; in a live notebook it redraws at every change.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import clear_output, display

    _check_model(model)
    check_tokenizer(tokenizer)
    check_str("text", text)
    check_str("text_pair", text_pair)
    pad_to = check_int("pad_to", pad_to, minimum=0)
    config = getattr(model, "config")
    text_a = widgets.Text(
        value=text, description="sentence A", layout=widgets.Layout(width="95%")
    )
    text_b = widgets.Text(
        value=text_pair,
        description="sentence B",
        placeholder="(optional)",
        layout=widgets.Layout(width="95%"),
    )
    layer = widgets.IntSlider(
        value=0, min=0, max=config.num_hidden_layers - 1, description="layer"
    )
    head = widgets.IntSlider(
        value=0, min=0, max=config.num_attention_heads - 1, description="head"
    )
    pad = widgets.IntSlider(
        value=pad_to, min=0, max=MAX_VIEW_TOKENS, description="pad to"
    )
    use_mask = widgets.Checkbox(value=True, description="use the padding mask")
    out = widgets.Output()

    def update(_change=None) -> None:
        with out:
            clear_output(wait=True)
            if not text_a.value.strip():
                print("type a sentence")
                return
            maps, tokens = explorer_attention(
                model,
                tokenizer,
                text_a.value,
                text_b.value.strip() or None,
                pad.value,
                use_mask.value,
            )
            if len(tokens) > MAX_VIEW_TOKENS:
                print(
                    f"{len(tokens)} tokens: shorten the text to at most {MAX_VIEW_TOKENS}"
                )
                return
            fig, ax = plt.subplots(figsize=(6, 5))
            plot_matrix(
                maps[layer.value, head.value],
                tokens,
                ax=ax,
                title=f"layer {layer.value}, head {head.value}, "
                f"mask {'on' if use_mask.value else 'off'}",
            )
            fig.tight_layout()
            display(fig)
            plt.close(fig)

    for w in (text_a, text_b, layer, head, pad, use_mask):
        w.observe(update, names="value")
    update()
    box = widgets.VBox(
        [
            text_a,
            text_b,
            widgets.HBox([layer, head]),
            widgets.HBox([pad, use_mask]),
            out,
        ]
    )
    box.update = update  # for tests and for redrawing by hand
    return box
