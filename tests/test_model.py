"""bertmini against transformers: same weights, same numbers (max |diff| <= 1e-5 in fp32)."""

from __future__ import annotations

import warnings

import pytest
import torch

import bertmini
from bertmini import (
    BertConfig,
    BertForMaskedLM,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)
from bertmini.checkpoint import load_hf_state_dict

transformers = pytest.importorskip("transformers")
TOL = 1e-5

TINY = dict(
    vocab_size=99,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    max_position_embeddings=64,
    type_vocab_size=2,
)

PAIRS = [
    (BertModel, transformers.BertModel, {}),
    (BertForMaskedLM, transformers.BertForMaskedLM, {}),
    (BertForPreTraining, transformers.BertForPreTraining, {}),
    (
        BertForSequenceClassification,
        transformers.BertForSequenceClassification,
        {"num_labels": 3},
    ),
    (BertForQuestionAnswering, transformers.BertForQuestionAnswering, {}),
    (
        BertForTokenClassification,
        transformers.BertForTokenClassification,
        {"num_labels": 5},
    ),
]


def hf_model(hf_cls, config: BertConfig, attn: str, **head):
    cfg = transformers.BertConfig(**config.to_dict(), **head)
    cfg._attn_implementation = attn
    torch.manual_seed(0)
    return hf_cls(cfg).eval()


def batch(config, B=3, T=11, seed=1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, config.vocab_size, (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 7:] = 0
    mask[2, 4:] = 0
    ids[mask == 0] = config.pad_token_id
    types = torch.zeros(B, T, dtype=torch.long)
    types[:, 5:] = 1
    return ids, mask, types


def max_diff(a, b):
    return (a.float() - b.float()).abs().max().item()


def labels_for(ours_cls, config, ids, seed=2):
    g = torch.Generator().manual_seed(seed)
    B, T = ids.shape
    if ours_cls in (BertForMaskedLM, BertForPreTraining):
        labels = torch.full((B, T), -100)
        # Never padding
        pick = (torch.rand(B, T, generator=g) < 0.3) & (ids != config.pad_token_id)
        labels[pick] = ids[pick]
        extra = {"labels": labels}
        if ours_cls is BertForPreTraining:
            extra["next_sentence_label"] = torch.tensor([0, 1, 1])[:B]
        return extra
    if ours_cls is BertForSequenceClassification:
        return {"labels": torch.tensor([0, 2, 1])[:B]}
    if ours_cls is BertForQuestionAnswering:
        return {
            "start_positions": torch.tensor([1, 3, 0])[:B],
            "end_positions": torch.tensor([2, 5, 0])[:B],
        }
    if ours_cls is BertForTokenClassification:
        labels = torch.randint(0, 5, (B, T), generator=g)
        labels[
            (ids == config.pad_token_id) | (torch.rand(B, T, generator=g) < 0.3)
        ] = -100
        return {"labels": labels}
    return {}


def every_logit(ours_cls) -> dict:
    """Given labels, bertmini's MLM heads return logits at the labelled positions only; ask for all."""
    return (
        {"all_logits": True}
        if ours_cls in (BertForMaskedLM, BertForPreTraining)
        else {}
    )


def compare_outputs(ours_out, hf_out, mask=None):
    """Every output that both have, at the real tokens (`mask`): padding positions carry
    no meaning, and bertmini's fast path leaves them zero.
    """
    pairs = []
    for name in (
        "last_hidden_state",
        "pooler_output",
        "logits",
        "prediction_logits",
        "seq_relationship_logits",
        "start_logits",
        "end_logits",
        "loss",
    ):
        mine = getattr(ours_out, name, None)
        theirs = getattr(hf_out, name, None)
        if mine is not None and theirs is not None:
            pairs.append((name, mine, theirs))
    if (
        getattr(hf_out, "hidden_states", None)
        and getattr(ours_out, "hidden_states", None) is not None
    ):
        assert len(ours_out.hidden_states) == len(hf_out.hidden_states)
        pairs += [
            (f"hidden_states[{i}]", a, b)
            for i, (a, b) in enumerate(
                zip(ours_out.hidden_states, hf_out.hidden_states)
            )
        ]
    if (
        getattr(hf_out, "attentions", None)
        and getattr(ours_out, "attentions", None) is not None
    ):
        assert len(ours_out.attentions) == len(hf_out.attentions)
        pairs += [
            (f"attentions[{i}]", a, b)
            for i, (a, b) in enumerate(zip(ours_out.attentions, hf_out.attentions))
        ]
    assert pairs
    for name, a, b in pairs:
        assert a.shape == b.shape, name
        if (
            mask is not None
            and a.dim() >= 2
            and tuple(a.shape[:2]) == tuple(mask.shape)
        ):
            a, b = a[mask.bool()], b[mask.bool()]
        assert max_diff(a, b) <= TOL, f"{name}: max |diff| {max_diff(a, b):.2e}"


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize(
    "ours_cls,hf_cls,head", PAIRS, ids=[p[0].__name__ for p in PAIRS]
)
def test_random_weights_match_transformers(ours_cls, hf_cls, head, attn):
    config = BertConfig(**TINY)
    ref = hf_model(hf_cls, config, attn, **head)
    ours = ours_cls(BertConfig(**TINY), **head).eval()
    load_hf_state_dict(ours, ref.state_dict())
    ids, mask, types = batch(config)
    labels = labels_for(ours_cls, config, ids)
    with torch.no_grad():
        # Transformers returns attention maps on the eager path only
        want_attn = attn == "eager"
        theirs = ref(
            input_ids=ids,
            attention_mask=mask,
            token_type_ids=types,
            output_hidden_states=True,
            output_attentions=want_attn,
            **labels,
        )
        fused = ours(
            ids,
            mask,
            types,
            output_hidden_states=True,
            **labels,
            **every_logit(ours_cls),
        )
        explicit = ours(
            ids,
            mask,
            types,
            output_hidden_states=True,
            output_attentions=True,
            **labels,
            **every_logit(ours_cls),
        )
    compare_outputs(fused, theirs, mask)
    # The explicit path computes padding positions exactly like HF
    compare_outputs(explicit, theirs)
    if ours_cls is BertForPreTraining:
        assert torch.allclose(explicit.loss, explicit.mlm_loss + explicit.nsp_loss)


def test_fused_and_explicit_attention_agree():
    config = BertConfig(**TINY)
    model = BertModel(config).eval()
    ids, mask, types = batch(config, B=4, T=30)
    mask[0, 20:] = 0  # a column of padding in every row: the fast path trims it
    mask[1:, 25:] = 0
    with torch.no_grad():
        a = model(ids, mask, types, output_hidden_states=True)
        b = model(ids, mask, types, output_attentions=True, output_hidden_states=True)
    real = mask.bool()
    assert max_diff(a.last_hidden_state[real], b.last_hidden_state[real]) <= TOL
    assert max_diff(a.pooler_output, b.pooler_output) <= TOL
    for h1, h2 in zip(a.hidden_states, b.hidden_states):
        assert h1.shape == h2.shape and max_diff(h1[real], h2[real]) <= TOL
    # The fast path does no work on padding
    assert a.last_hidden_state[~real].abs().max() == 0


@pytest.fixture(scope="module")
def minilm_dir():
    from bertmini.pretrained import named_model_dir

    return named_model_dir("all-MiniLM-L6-v2")


def test_minilm_matches_transformers(minilm_dir):
    tok = bertmini.Tokenizer.from_pretrained("all-MiniLM-L6-v2")
    enc = tok(
        [
            "The cat sat on the mat.",
            "BERT reads in both directions, so [MASK] is easy.",
        ],
        ["It was warm.", "Yes."],
    )
    ours = BertModel.from_pretrained("all-MiniLM-L6-v2")
    for attn in ("eager", "sdpa"):
        ref = transformers.BertModel.from_pretrained(
            str(minilm_dir), attn_implementation=attn
        ).eval()
        with torch.no_grad():
            theirs = ref(
                **enc.model_inputs(),
                output_hidden_states=True,
                output_attentions=attn == "eager",
            )
            mine = ours(
                **enc.model_inputs(), output_hidden_states=True, output_attentions=True
            )
            fused = ours(**enc.model_inputs())
        compare_outputs(mine, theirs)
        compare_outputs(fused, theirs, enc["attention_mask"])


def test_minilm_heads_match_transformers(minilm_dir):
    """A base checkpoint in a task model: the same new head weights give the same logits and loss."""
    tok = bertmini.Tokenizer.from_pretrained("all-MiniLM-L6-v2")
    enc = tok(
        ["Where is the cat?", "Who wrote it?"],
        ["The cat is on the mat.", "Devlin and others."],
    )
    for ours_cls, hf_cls, head in PAIRS[1:]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = hf_cls.from_pretrained(
                str(minilm_dir), attn_implementation="sdpa", **head
            ).eval()
            ours = ours_cls.from_pretrained("all-MiniLM-L6-v2", **head)
        # Copy the randomly initialised head too
        load_hf_state_dict(ours, ref.state_dict())
        labels = labels_for(ours_cls, ours.config, enc["input_ids"][:2])
        with torch.no_grad():
            compare_outputs(
                ours(**enc.model_inputs(), **labels, **every_logit(ours_cls)),
                ref(**enc.model_inputs(), **labels),
                enc["attention_mask"],
            )


def test_loading_a_base_checkpoint_warns_once_about_the_new_head():
    with pytest.warns(UserWarning, match=r"randomly initialised.*classifier\.weight"):
        model = BertForSequenceClassification.from_pretrained(
            "all-MiniLM-L6-v2", num_labels=2
        )
    assert model.classifier.out_features == 2
    assert not model.training


def test_round_trip_bertmini_to_hf_to_bertmini(tmp_path):
    config = BertConfig(**TINY)
    ids, mask, types = batch(config)
    for ours_cls, hf_cls, head in PAIRS:
        torch.manual_seed(3)
        ours = ours_cls(BertConfig(**TINY), **head).eval()
        d = ours.save_pretrained(tmp_path / ours_cls.__name__)
        ref = hf_cls.from_pretrained(str(d)).eval()
        with torch.no_grad():
            compare_outputs(
                ours(ids, mask, types),
                ref(input_ids=ids, attention_mask=mask, token_type_ids=types),
                mask,
            )
        ref.save_pretrained(tmp_path / (ours_cls.__name__ + "-hf"))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # nothing may be missing on the way back
            back = ours_cls.from_pretrained(
                tmp_path / (ours_cls.__name__ + "-hf"), **head
            )
        with torch.no_grad():
            compare_outputs(back(ids, mask, types), ours(ids, mask, types), mask)


def test_round_trip_hf_to_bertmini_to_hf(tmp_path, minilm_dir):
    ref = transformers.BertModel.from_pretrained(str(minilm_dir)).eval()
    ours = BertModel.from_pretrained(str(minilm_dir))
    again = transformers.BertModel.from_pretrained(
        str(ours.save_pretrained(tmp_path / "m"))
    ).eval()
    for k, v in ref.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k


def test_saved_mlm_ties_decoder_to_embeddings(tmp_path):
    model = BertForMaskedLM(BertConfig(**TINY))
    assert model.mlm.decoder.weight is model.bert.embeddings.word_embeddings.weight
    back = BertForMaskedLM.from_pretrained(model.save_pretrained(tmp_path / "mlm"))
    assert (
        back.mlm.decoder.weight.data_ptr()
        == back.bert.embeddings.word_embeddings.weight.data_ptr()
    )


def test_padding_does_not_change_unpadded_outputs():
    config = BertConfig(**TINY)
    model = BertModel(config).eval()
    ids = torch.randint(1, config.vocab_size, (1, 9))
    padded = torch.cat([ids, torch.zeros(1, 6, dtype=torch.long)], dim=1)
    mask = torch.cat([torch.ones(1, 9), torch.zeros(1, 6)], dim=1).long()
    with torch.no_grad():
        a = model(ids).last_hidden_state
        for attn in (False, True):
            b = model(padded, mask, output_attentions=attn).last_hidden_state[:, :9]
            assert max_diff(a, b) <= TOL


def test_eval_is_deterministic_and_train_uses_dropout():
    config = BertConfig(**TINY)
    model = BertModel(config)
    ids, mask, types = batch(config)
    model.eval()
    with torch.no_grad():
        assert torch.equal(
            model(ids, mask).last_hidden_state, model(ids, mask).last_hidden_state
        )
    model.train()
    assert not torch.equal(
        model(ids, mask).last_hidden_state, model(ids, mask).last_hidden_state
    )


@pytest.mark.parametrize("cls", [p[0] for p in PAIRS])
def test_gradients_reach_every_parameter(cls):
    config = BertConfig(
        **TINY, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    )
    head = next(h for ours, _, h in PAIRS if ours is cls)
    model = cls(config, **head)
    ids, mask, types = batch(config)
    out = model(ids, mask, types, **labels_for(cls, config, ids))
    # A random readout: a plain sum of LayerNorm outputs has zero gradient
    if cls is BertModel:
        g = torch.Generator().manual_seed(0)
        loss = (
            out.last_hidden_state
            * torch.randn(out.last_hidden_state.shape, generator=g)
        ).sum() + (
            out.pooler_output * torch.randn(out.pooler_output.shape, generator=g)
        ).sum()
    else:
        loss = out.loss
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("cls", [BertForMaskedLM, BertForPreTraining])
def test_mlm_logits_only_at_labels_give_the_same_loss(cls):
    config = BertConfig(**TINY)
    model = cls(config).eval()
    ids, mask, types = batch(config)
    extra = labels_for(cls, config, ids)
    with torch.no_grad():
        full = model(ids, mask, types, **extra, all_logits=True)
        # With labels: logits at labelled positions only
        sparse = model(ids, mask, types, **extra)
        unlabelled = model(ids, mask, types)  # without labels: logits everywhere
    n = int((extra["labels"] != -100).sum())
    V = config.vocab_size
    name = "prediction_logits" if cls is BertForPreTraining else "logits"
    assert getattr(sparse, name).shape == (n, V) and getattr(full, name).shape == (
        *ids.shape,
        V,
    )
    assert getattr(unlabelled, name).shape == (*ids.shape, V)
    torch.testing.assert_close(
        getattr(sparse, name), getattr(full, name)[extra["labels"] != -100]
    )
    assert abs(full.loss.item() - sparse.loss.item()) <= TOL


def test_outputs_index_like_transformers_tuples():
    """out[0], out["key"], to_tuple() and unpacking work as on transformers' ModelOutput."""
    from bertmini import BertConfig, BertForSequenceClassification, BertModel

    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
    )
    ids = torch.tensor([[2, 5, 7, 3]])
    out = BertModel(config).eval()(ids)
    assert out[0] is out.last_hidden_state and out["pooler_output"] is out.pooler_output
    assert (
        out.to_tuple() == (out.last_hidden_state, out.pooler_output) and len(out) == 2
    )
    hidden, pooled = out
    assert hidden.shape == (1, 4, 16) and pooled.shape == (1, 16)
    with pytest.raises(KeyError, match="attentions"):
        out["attentions"]  # not requested, so not set
    with pytest.raises(TypeError, match="indices must be"):
        out[1.5]
    clf = BertForSequenceClassification(config, num_labels=3).eval()
    no_loss = clf(ids)
    # Loss is None, so the logits come first, as in transformers
    assert no_loss[0] is no_loss.logits
    with_loss = clf(ids, labels=torch.tensor([1]))
    assert with_loss[0] is with_loss.loss and with_loss[1] is with_loss.logits
