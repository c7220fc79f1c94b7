"""The two departures from BERT a config can ask for: pre-LayerNorm layers and ALiBi
position biases. Each: the formula, the unpadded path, saving, and its model_type."""

import json
import math

import pytest
import torch

from bertmini import BertConfig, BertForMaskedLM, BertModel
from bertmini.attention import alibi_bias, alibi_slopes, attention_probs
from bertmini.config import VARIANT_MODEL_TYPE
from bertmini.encoder import PreLNEncoderLayer


def tiny(**kw) -> BertConfig:
    sizes = dict(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
    )
    return BertConfig(**{**sizes, **kw})


def test_layer_is_the_formula():
    torch.manual_seed(0)
    layer = PreLNEncoderLayer(tiny(hidden_dropout_prob=0.0)).eval()
    x = torch.randn(2, 5, 16)
    a, _ = layer.attention(layer.attention_norm(x))
    h = x + a
    expected = h + layer.ffn.down(
        torch.nn.functional.gelu(layer.ffn.up(layer.ffn_norm(h)))
    )
    torch.testing.assert_close(layer(x)[0], expected)


def test_post_ln_is_still_the_default_and_differs():
    torch.manual_seed(0)
    post = BertModel(tiny()).eval()
    pre = BertModel(tiny(pre_layer_norm=True)).eval()
    assert post.encoder.final_norm is None and pre.encoder.final_norm is not None
    # Same weights but the final norm
    pre.load_state_dict(post.state_dict(), strict=False)
    ids = torch.randint(5, 50, (2, 7))
    assert not torch.allclose(post(ids).last_hidden_state, pre(ids).last_hidden_state)


def test_unpadded_path_matches_padded():
    torch.manual_seed(0)
    model = BertModel(tiny(pre_layer_norm=True)).eval()
    ids = torch.randint(5, 50, (3, 9))
    mask = torch.ones(3, 9, dtype=torch.long)
    mask[0, 4:] = 0
    mask[2, 7:] = 0
    fast = model(ids, mask, output_hidden_states=True)
    slow = model(ids, mask, skip_padding=False, output_hidden_states=True)
    real = mask.bool()
    torch.testing.assert_close(
        fast.last_hidden_state[real], slow.last_hidden_state[real], atol=1e-6, rtol=1e-5
    )
    for a, b in zip(fast.hidden_states, slow.hidden_states):
        torch.testing.assert_close(a[real], b[real], atol=1e-6, rtol=1e-5)


def test_saved_with_its_own_model_type_and_loaded_back(tmp_path):
    torch.manual_seed(0)
    model = BertForMaskedLM(tiny(pre_layer_norm=True))
    model.save_pretrained(tmp_path / "m")
    written = json.loads((tmp_path / "m" / "config.json").read_text())
    assert written["model_type"] == VARIANT_MODEL_TYPE and written["pre_layer_norm"]
    again = BertForMaskedLM.from_pretrained(tmp_path / "m")
    assert again.config.pre_layer_norm
    for (k, v), w in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(v, w), k
    assert "pre_layer_norm" not in BertConfig().to_dict()  # BERT's own config unchanged


def test_inconsistent_config_is_refused():
    with pytest.raises(ValueError, match="pre_layer_norm"):
        BertConfig.from_dict(
            {
                "model_type": VARIANT_MODEL_TYPE,
                "hidden_size": 16,
                "num_attention_heads": 2,
            }
        )
    with pytest.raises(TypeError, match="pre_layer_norm"):
        tiny(pre_layer_norm="yes")


def test_alibi_slopes_are_the_papers():
    """Press et al.'s `get_slopes`, written out: powers of two and the others."""

    def reference(n):
        def power_of_2(n):
            start = 2 ** (-(2 ** -(math.log2(n) - 3)))
            return [start * start**i for i in range(n)]

        if math.log2(n).is_integer():
            return power_of_2(n)
        c = 2 ** math.floor(math.log2(n))
        return power_of_2(c) + reference(2 * c)[0::2][: n - c]

    for heads in (1, 2, 3, 4, 6, 8, 12, 16):
        assert alibi_slopes(heads) == pytest.approx(reference(heads), rel=1e-12)


def test_alibi_bias_is_minus_slope_times_distance():
    bias = alibi_bias(4, 5, torch.float32)
    assert bias.shape == (1, 4, 5, 5)
    assert bias[0, 0, 1, 3] == pytest.approx(-0.25 * 2)  # 2^(-8/4) = 0.25, |1-3| = 2
    torch.testing.assert_close(bias, bias.transpose(-1, -2))  # symmetric: an encoder
    assert bool((bias.diagonal(dim1=-2, dim2=-1) == 0).all())


def test_alibi_in_the_scores_of_every_path():
    torch.manual_seed(0)
    config = tiny(alibi=True, num_attention_heads=4)
    model = BertModel(config).eval()
    plain = BertModel(tiny(num_attention_heads=4)).eval()
    plain.load_state_dict(model.state_dict())
    ids = torch.randint(5, 50, (3, 9))
    out = model(ids, output_attentions=True)
    assert not torch.allclose(out.last_hidden_state, plain(ids).last_hidden_state)
    # the explicit path: probabilities are softmax(QK^T/sqrt(d) + ALiBi)
    layer = model.encoder.layer[0].attention
    x = model.embeddings(ids, torch.zeros_like(ids))
    q, k = layer.split_heads(layer.query(x)), layer.split_heads(layer.key(x))
    expected = attention_probs(q, k, alibi_bias(4, 9, torch.float32))
    torch.testing.assert_close(out.attentions[0], expected)
    # padded, unpadded and one sentence alone agree on the real tokens
    mask = torch.ones(3, 9, dtype=torch.long)
    mask[1, 4:] = 0
    fast = model(ids, mask).last_hidden_state
    slow = model(ids, mask, skip_padding=False).last_hidden_state
    alone = model(ids[1:2, :4]).last_hidden_state
    real = mask.bool()
    torch.testing.assert_close(fast[real], slow[real], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(fast[1, :4], alone[0], atol=1e-6, rtol=1e-5)


def test_alibi_config_round_trip(tmp_path):
    model = BertForMaskedLM(tiny(alibi=True))
    model.save_pretrained(tmp_path / "m")
    written = json.loads((tmp_path / "m" / "config.json").read_text())
    assert written["model_type"] == VARIANT_MODEL_TYPE and written["alibi"]
    assert "pre_layer_norm" not in written
    assert BertForMaskedLM.from_pretrained(tmp_path / "m").config.alibi
