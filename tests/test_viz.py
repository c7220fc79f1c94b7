"""bertmini.viz: head statistics on hand-made maps with known answers, rollout, bertviz adapters."""

from __future__ import annotations

import importlib
import math
import re

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from bertmini import BertConfig, BertModel, Tokenizer, viz

T = 6


def layers(*maps: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per-layer tuple of (B=1, heads=1, T, T) from (T, T) maps."""
    return tuple(m[None, None] for m in maps)


def shifted_identity(n: int) -> torch.Tensor:
    """Row i puts everything on i-1; row 0 (no previous token) on 1, so every distance is 1."""
    m = torch.zeros(n, n)
    m[torch.arange(1, n), torch.arange(n - 1)] = 1.0
    m[0, 1] = 1.0
    return m


def test_identity_map():
    s = viz.head_statistics(layers(torch.eye(T)))
    assert s["self"].shape == (1, 1)
    assert s["self"].item() == pytest.approx(1.0)
    assert s["entropy"].item() == pytest.approx(0.0, abs=1e-7)
    assert s["distance"].item() == pytest.approx(0.0)
    assert s["prev"].item() == pytest.approx(0.0)
    assert s["next"].item() == pytest.approx(0.0)


def test_uniform_map():
    s = viz.head_statistics(layers(torch.full((T, T), 1 / T)))
    assert s["entropy"].item() == pytest.approx(math.log(T), rel=1e-6)
    assert s["self"].item() == pytest.approx(1 / T)
    assert s["prev"].item() == pytest.approx(1 / T)
    # mean over i, j of |i - j| for a uniform distribution: (T² - 1) / (3T)
    assert s["distance"].item() == pytest.approx((T * T - 1) / (3 * T), rel=1e-6)


def test_previous_token_head():
    s = viz.head_statistics(layers(shifted_identity(T)))
    assert s["prev"].item() == pytest.approx(1.0)
    assert s["distance"].item() == pytest.approx(1.0)
    assert s["self"].item() == pytest.approx(0.0)
    assert s["next"].item() == pytest.approx(1 / (T - 1))  # only row 0 looks forward
    # mirrored, it looks forward: a next-token head
    s = viz.head_statistics(layers(shifted_identity(T).flip(0, 1)))
    assert s["next"].item() == pytest.approx(1.0)
    assert s["prev"].item() == pytest.approx(1 / (T - 1))


def test_layers_and_heads_keep_their_place():
    a = torch.stack([torch.eye(T), shifted_identity(T)])[None]  # (1, 2 heads, T, T)
    s = viz.head_statistics((a, a.flip(1)))  # layer 1 has the heads swapped
    assert s["self"].tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert viz.top_heads(s, "prev", k=1) == [(0, 1, 1.0)]


def test_token_kind_masks():
    to_cls = torch.zeros(T, T)
    to_cls[:, 0] = 1.0
    masks = {
        "cls": torch.tensor([[True] + [False] * (T - 1)]),
        "sep": torch.tensor([[False] * (T - 1) + [True]]),
    }
    s = viz.head_statistics(layers(to_cls), masks=masks)
    assert s["cls"].item() == pytest.approx(1.0)
    assert s["sep"].item() == pytest.approx(0.0)
    with pytest.raises(ValueError, match="shape"):
        viz.head_statistics(
            layers(to_cls), masks={"cls": torch.ones(2, T, dtype=torch.bool)}
        )


def test_padding_is_ignored():
    """A padded row gives the same statistics as the same sentence unpadded."""
    n = 4
    real = torch.softmax(
        torch.randn(n, n, generator=torch.Generator().manual_seed(0)), -1
    )
    padded = torch.full((T, T), 1 / T)  # garbage at padding queries
    padded[:n, :n] = real
    padded[:n, n:] = 0.0  # what the mask does to padding keys
    mask = torch.tensor([[1] * n + [0] * (T - n)])
    got = viz.head_statistics(layers(padded), mask)
    want = viz.head_statistics(layers(real))
    for name in want:
        assert got[name].item() == pytest.approx(want[name].item(), abs=1e-6), name
    # Without the mask the padding queries count, and the numbers change.
    assert (
        viz.head_statistics(layers(padded))["entropy"].item()
        > want["entropy"].item() + 0.1
    )


def test_batches_average_over_tokens():
    """Statistics of a batch = token-weighted mean of the rows: a 2-token row counts less."""
    a = torch.zeros(2, 1, 3, 3)
    a[0, 0] = torch.eye(3)  # 3 real tokens, all self
    a[1, 0, :2, 1] = 1.0  # 2 real tokens, both on token 1
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    s = viz.head_statistics((a,), mask)
    assert s["self"].item() == pytest.approx((3 + 1) / 5)


def test_rollout():
    eye = torch.eye(T)
    assert torch.allclose(viz.attention_rollout(layers(eye, eye, eye))[0], eye)
    u = torch.full((T, T), 1 / T)
    r = viz.attention_rollout(layers(u))[0]
    assert torch.allclose(r, (u + eye) / 2)  # identity added, rows renormalised
    r2 = viz.attention_rollout(layers(u, u))[0]
    assert torch.allclose(r2, ((u + eye) / 2) @ ((u + eye) / 2))
    assert torch.allclose(viz.attention_rollout(layers(u, u), layers=1)[0], r)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])
    rp = viz.attention_rollout(layers(u, u), mask)[0]
    assert torch.allclose(rp[:4].sum(-1), torch.ones(4))
    assert rp[:, 4:].abs().max() == 0 and rp[4:].abs().max() == 0
    with pytest.raises(ValueError, match="layers"):
        viz.attention_rollout(layers(u), layers=2)


# ------------------------------------------------------------------ with a (tiny) model
@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    config = BertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64
    )
    model = BertModel(config).eval()
    tok = Tokenizer.from_pretrained("all-MiniLM-L6-v2")
    return model, tok


def test_measure_heads_matches_one_batch(tiny):
    model, tok = tiny
    texts = ["The cat sat.", "A much longer sentence, with a comma.", "Hi!"]
    enc = tok(texts)
    with torch.no_grad():
        out = model(**enc, output_attentions=True)
    one = viz.head_statistics(
        out, enc["attention_mask"], viz.token_masks(enc["input_ids"], tok)
    )
    many = viz.measure_heads(model, tok, texts, batch_size=2)
    assert set(many) == set(viz.STATISTICS)
    for name in one:
        assert torch.allclose(one[name], many[name], atol=1e-5), name
    assert viz.token_masks(enc["input_ids"], tok)["punct"][1].sum() == 2  # "," and "."


def test_norm_weighted_attentions(tiny):
    model, tok = tiny
    enc = tok("The cat sat on the mat.")
    with torch.no_grad():
        out = model(**enc, output_attentions=True, output_hidden_states=True)
    raw = viz.norm_weighted_attentions(model, out, normalize=False)
    # Brute force for layer 1, head 2: push token j's head-2 value alone through the
    # output projection.
    attn = model.encoder.layer[1].attention
    x = out.hidden_states[1]
    v = attn.split_heads(attn.value(x))[0, 2]  # (T, d_k)
    d = attn.head_size
    with torch.no_grad():
        for j in range(v.shape[0]):
            ctx = torch.zeros(1, attn.num_heads * d)
            ctx[0, 2 * d : 3 * d] = v[j]
            f_j = attn.out(ctx) - attn.out.bias
            want = out.attentions[1][0, 2, :, j] * f_j.norm()
            assert torch.allclose(raw[1][0, 2, :, j], want, atol=1e-5)
    norm = viz.norm_weighted_attentions(model, out)
    assert torch.allclose(norm[0].sum(-1), torch.ones_like(norm[0].sum(-1)), atol=1e-5)
    with pytest.raises(ValueError, match="output_hidden_states=True"):
        viz.norm_weighted_attentions(model, model(**enc, output_attentions=True))


def test_adapter_errors(tiny):
    model, tok = tiny
    enc = tok("The cat sat on the mat.")
    tokens, _ = viz.tokens_for_view(tok, enc)
    with pytest.raises(ValueError, match="output_attentions=True"):
        viz.head_view(model(**enc), tokens)
    long = torch.full((1, 70), 1000)
    out = model(long, output_attentions=True)
    with pytest.raises(ValueError, match="too many"):
        viz.head_view(out, ["w"] * 70)
    batch = tok(["one", "two words"])
    out = model(**batch, output_attentions=True)
    with pytest.raises(ValueError, match="index"):
        viz.model_view(out, ["x"] * 4)
    with pytest.raises(ValueError, match="tokens"):
        viz.head_view(out, ["x"] * 9, index=0)
    with pytest.raises(TypeError, match=r"got one tensor of shape \(2, 4, 4, 4\)"):
        viz.head_view(out.attentions[0], ["x"] * 4)


def test_head_view_html_offline_first(tiny, monkeypatch):
    model, tok = tiny
    enc = tok(["The cat sat.", "A dog barked at the cat."], ["It was happy.", "Why?"])
    out = model(**enc, output_attentions=True)
    # The shorter row: padding is cut off
    tokens, b_start = viz.tokens_for_view(tok, enc, 0)
    assert tokens[b_start - 1] == "[SEP]" and tokens[-1] == "[SEP]"
    html = viz.head_view(
        out, tokens, b_start, index=0, js_base="../_static/vendor"
    ).data
    d3 = re.search(r"d3:\s*\[(.*?)\]", html).group(1)
    local, cdn = [s.strip() for s in d3.split(",")]
    assert local == 'local("../_static/vendor/d3.min")'
    assert cdn.startswith('"https://cdnjs.cloudflare.com/') and "d3" in cdn
    assert re.search(
        r'jquery:\s*\[local\("../_static/vendor/jquery.min"\), "https://', html
    )
    # The probabilities are written once (bertviz also pasted them into a comment), to 3
    # decimals.
    assert html.count('"name":"All"') == 1 and "PYTHON_PARAMS" not in html
    assert not re.search(r"\d\.\d{4}", html.split("const params")[1].split(";")[0])
    # require.js: no bare CDN script tag; the loader tries the local copy first.
    assert '<script src="https://cdnjs' not in html
    sources = re.search(r"var sources = (\[.*?\])", html).group(1)
    assert sources.index("../_static/vendor/require.min.js") < sources.index(
        "https://cdnjs"
    )
    # The base is configurable: argument, module attribute, environment variable; by
    # default the library knows no folder of the website's and uses the CDNs only.
    assert (
        viz.JS_BASE == ""
        and 'local("'
        not in viz.head_view(out, tokens, index=0).data.split("var sources")[1]
    )
    assert (
        'local("/static/js/d3.min")'
        in viz.head_view(out, tokens, index=0, js_base="/static/js/").data
    )
    monkeypatch.setattr(viz, "JS_BASE", "vendor")
    assert 'local("vendor/d3.min")' in viz.model_view(out, tokens, index=0).data
    monkeypatch.setattr(viz, "JS_BASE", "")
    cdn_only = viz.head_view(out, tokens, index=0).data
    assert (
        'local("' not in cdn_only.split("var sources")[1]
        and "d3: 'https://" in cdn_only
    )
    monkeypatch.setenv("BERTMINI_VIZ_JS_BASE", "https://example.org/js")
    try:
        assert importlib.reload(viz).JS_BASE == "https://example.org/js"
    finally:
        monkeypatch.delenv("BERTMINI_VIZ_JS_BASE")
        importlib.reload(viz)


def test_two_views_have_distinct_ids(tiny):
    model, tok = tiny
    enc = tok("The cat sat.", "It was happy.")
    out = model(**enc, output_attentions=True)
    tokens, b_start = viz.tokens_for_view(tok, enc)
    pages = [
        viz.head_view(out, tokens, b_start).data,
        viz.head_view(out, tokens, b_start).data,
        viz.model_view(out, tokens, b_start).data,
    ]
    ids = [set(re.findall(r'\bid="([^"]+)"', p)) for p in pages]
    assert all(len(s) >= 3 for s in ids[:2])  # root, layer select, filter select, vis
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2])
    for page in pages:
        root = re.search(r'<div id="(bertviz-[0-9a-f]+)"', page).group(1)
        assert all(
            i.startswith(root) for i in re.findall(r'\bid=["\']([^"\']+)["\']', page)
        )
        # ids created by the JavaScript are prefixed too, and selected with the prefix
        assert '.attr("id", config.rootDivId + "-" + (' in page
        assert not re.search(r"""select\(["']#[a-z]""", page)


def test_plots(tiny):
    import matplotlib.pyplot as plt

    model, tok = tiny
    enc = tok("The cat sat.")
    out = model(**enc, output_attentions=True)
    tokens, _ = viz.tokens_for_view(tok, enc)
    ax = viz.plot_head(out, tokens, layer=1, head=3)
    assert ax.get_title() == "layer 1, head 3"
    assert [t.get_text() for t in ax.get_xticklabels()] == tokens
    fig = viz.plot_layer(out, tokens, layer=0)
    assert sum(a.get_visible() and bool(a.images) for a in fig.axes) == 4
    # one shared colour bar, labelled, and the axes named
    bars = [a for a in fig.axes if a.get_label() == "<colorbar>"]
    assert len(bars) == 1 and bars[0].get_ylabel() == "attention probability"
    assert fig.axes[0].get_ylabel() == "query (attending)"
    assert any(a.get_xlabel() == "key (attended to)" for a in fig.axes)
    stats = viz.head_statistics(out)
    ax = viz.plot_head_stats(stats, "entropy")
    assert ax.get_title() == viz.STATISTICS["entropy"] and ax.get_xlabel() == "head"
    with pytest.raises(IndexError, match="layer 2, head 0 out of range"):
        viz.plot_head(out, tokens, layer=2, head=0)
    with pytest.raises(IndexError, match="layer 0, head 4 out of range"):
        viz.plot_head(out, tokens, layer=0, head=4)
    with pytest.raises(ValueError, match="tokens"):
        viz.plot_matrix(torch.eye(3), ["a", "b"])
    plt.close("all")


def test_explorer_mask_and_widget(tiny):
    model, tok = tiny
    masked, tokens = viz.explorer_attention(model, tok, "The cat sat.", pad_to=10)
    assert len(tokens) == 10 and tokens[-1] == "[PAD]"
    n = tokens.index("[PAD]")
    assert masked[..., :n, n:].abs().max() == 0  # the mask hides the padding
    unmasked, _ = viz.explorer_attention(
        model, tok, "The cat sat.", pad_to=10, use_mask=False
    )
    # Without it, tokens attend to [PAD]
    assert unmasked[..., :n, n:].sum(-1).min() > 0.01
    _, pair_tokens = viz.explorer_attention(model, tok, "The cat sat.", "It purred.")
    assert pair_tokens.count("[SEP]") == 2
    box = viz.explore(model, tok)
    layer_slider = box.children[2].children[0]
    layer_slider.value = 1  # redraws without error, headless
    box.children[0].value = ""
    assert model.training is False
