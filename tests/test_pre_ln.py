"""The pre-LayerNorm layout: the formula, the unpadded path, saving, and refusal by name."""

import json

import pytest
import torch

from bertmini import BertConfig, BertForMaskedLM, BertModel
from bertmini.config import PRE_LN_MODEL_TYPE
from bertmini.encoder import PreLNEncoderLayer


def tiny(**kw) -> BertConfig:
    return BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        **kw,
    )


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
    assert written["model_type"] == PRE_LN_MODEL_TYPE and written["pre_layer_norm"]
    again = BertForMaskedLM.from_pretrained(tmp_path / "m")
    assert again.config.pre_layer_norm
    for (k, v), w in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(v, w), k
    assert "pre_layer_norm" not in BertConfig().to_dict()  # BERT's own config unchanged


def test_inconsistent_config_is_refused():
    with pytest.raises(ValueError, match="pre_layer_norm"):
        BertConfig.from_dict(
            {
                "model_type": PRE_LN_MODEL_TYPE,
                "hidden_size": 16,
                "num_attention_heads": 2,
            }
        )
    with pytest.raises(TypeError, match="pre_layer_norm"):
        tiny(pre_layer_norm="yes")
