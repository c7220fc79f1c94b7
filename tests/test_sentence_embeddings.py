"""bertmini.sentence_embeddings against sentence-transformers (or the model card's
recipe), the contrastive loss against its definition and sentence-transformers'
MultipleNegativesRankingLoss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import bertmini
from bertmini.sentence_embeddings import (
    BiEncoder,
    PairCollator,
    encode,
    in_batch_negatives_loss,
    mean_pool,
    pool,
)
from bertmini.train import TrainConfig, fit

TOL = 1e-5
TEXTS = [
    "A man is eating food.",
    "The new movie is awesome, and the popcorn was warm, which made it better.",
    "Hi",
    "Sentence embeddings map texts to vectors so that similar meanings land close.",
    "Paris is the capital of France.",
]


@pytest.fixture(scope="module")
def tokenizer():
    return bertmini.Tokenizer.from_pretrained("all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def minilm():
    return bertmini.BertModel.from_pretrained("all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def minilm_dir():
    from bertmini.pretrained import named_model_dir

    return named_model_dir("all-MiniLM-L6-v2")


def test_mean_pool_ignores_padding():
    hidden = torch.randn(2, 4, 3)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    pooled = mean_pool(hidden, mask)
    assert torch.allclose(pooled[0], hidden[0, :2].mean(0))
    assert torch.allclose(pooled[1], hidden[1].mean(0))
    hidden[0, 2:] = 1e6  # whatever sits at padding positions changes nothing
    assert torch.allclose(mean_pool(hidden, mask)[0], pooled[0])


def test_encode_matches_sentence_transformers(minilm, tokenizer, minilm_dir):
    st = pytest.importorskip("sentence_transformers")
    reference = st.SentenceTransformer(str(minilm_dir), device="cpu")
    theirs = reference.encode(TEXTS, convert_to_tensor=True, batch_size=2)  # (N, H)
    ours = encode(minilm, tokenizer, TEXTS, batch_size=2)
    assert ours.shape == theirs.shape == (len(TEXTS), 384)
    assert (ours - theirs).abs().max() <= TOL
    assert torch.allclose(ours.norm(dim=1), torch.ones(len(TEXTS)))


def test_encode_matches_the_model_cards_recipe(minilm, tokenizer, minilm_dir):
    """The recipe on the model card: transformers' AutoModel, mean pooling, L2
    normalisation; also [CLS] and the pooler, and a text longer than max_length
    (truncated at 256 tokens)."""
    transformers = pytest.importorskip("transformers")
    texts = TEXTS + [" ".join(["word"] * 400)]
    hf_tok = transformers.AutoTokenizer.from_pretrained(str(minilm_dir))
    ref = transformers.AutoModel.from_pretrained(str(minilm_dir)).eval()
    enc = hf_tok(
        texts, padding=True, truncation=True, max_length=256, return_tensors="pt"
    )
    with torch.no_grad():
        out = ref(**enc)
    mask = enc["attention_mask"].unsqueeze(-1).float()
    expected = {
        "mean": (out.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1e-9),
        "cls": out.last_hidden_state[:, 0],
        "pooler": out.pooler_output,
    }
    ours = encode(
        minilm, tokenizer, texts, pooling=("mean", "cls", "pooler"), batch_size=3
    )
    raw = encode(minilm, tokenizer, texts, pooling="cls", normalize=False, batch_size=4)
    for name, vectors in expected.items():
        assert (ours[name] - F.normalize(vectors, dim=-1)).abs().max() <= TOL, name
    # Not normalised: values of size ~1
    assert (raw - expected["cls"]).abs().max() <= 1e-4


def test_encode_order_and_batching_do_not_change_vectors(minilm, tokenizer):
    one_by_one = torch.cat([encode(minilm, tokenizer, [t]) for t in TEXTS])
    batched = encode(minilm, tokenizer, TEXTS, batch_size=64)
    assert (one_by_one - batched).abs().max() <= TOL
    reversed_ = encode(minilm, tokenizer, TEXTS[::-1], batch_size=2)
    assert (reversed_.flip(0) - batched).abs().max() <= TOL


def test_encode_restores_training_mode(minilm, tokenizer):
    minilm.train()
    try:
        encode(minilm, tokenizer, TEXTS[:2])
        assert minilm.training
    finally:
        minilm.eval()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"texts": "one string"}, TypeError, "list of strings"),
        ({"texts": []}, ValueError, "empty"),
        ({"pooling": "max"}, ValueError, "pooling must be one of"),
        ({"pooling": ()}, ValueError, "pooling must be one of"),
        ({"batch_size": 0}, ValueError, "batch_size"),
    ],
)
def test_encode_rejects_bad_arguments(minilm, tokenizer, kwargs, error, match):
    args = {"texts": TEXTS[:2], **kwargs}
    with pytest.raises(error, match=match):
        encode(minilm, tokenizer, **args)


def test_encode_wants_the_encoder_and_a_pooler_for_pooler(tokenizer):
    qa = bertmini.BertForQuestionAnswering(
        bertmini.BertConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
        )
    )
    with pytest.raises(TypeError, match="model.bert"):
        encode(qa, tokenizer, TEXTS[:1])
    with pytest.raises(ValueError, match="needs a model with a pooler"):
        encode(qa.bert, tokenizer, TEXTS[:1], pooling="pooler")


def by_definition(q, d, scale):
    """-log softmax of the right document, query by query, written out."""
    losses = []
    for i in range(q.shape[0]):
        sims = [
            scale * F.cosine_similarity(q[i], d[j], dim=0) for j in range(d.shape[0])
        ]
        losses.append(-(sims[i] - torch.logsumexp(torch.stack(sims), 0)))
    return torch.stack(losses).mean()


def test_in_batch_negatives_loss_by_definition_and_sentence_transformers(minilm_dir):
    g = torch.Generator().manual_seed(0)
    q, d = torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g)
    ours = in_batch_negatives_loss(q, d, scale=20.0)
    assert torch.allclose(ours, by_definition(q, d, 20.0), atol=1e-5)
    assert math.isclose(
        float(in_batch_negatives_loss(q, q)),
        float(by_definition(q, q, 20.0)),
        abs_tol=1e-6,
    )
    st = pytest.importorskip("sentence_transformers")
    try:
        from sentence_transformers.sentence_transformer.losses import (
            MultipleNegativesRankingLoss,
        )
    except ImportError:
        from sentence_transformers.losses import MultipleNegativesRankingLoss
    reference = MultipleNegativesRankingLoss(
        st.SentenceTransformer(str(minilm_dir), device="cpu"), scale=20.0
    )
    theirs = reference.compute_loss_from_embeddings([q, d], None)
    assert torch.allclose(ours, theirs, atol=1e-6)


def test_in_batch_negatives_loss_leaves_out_duplicate_documents():
    g = torch.Generator().manual_seed(1)
    q, d = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)
    d[2] = d[0]  # questions 0 and 2 are about the same paragraph
    ids = torch.tensor([7, 3, 7, 5])
    masked = in_batch_negatives_loss(q, d, document_ids=ids)
    # By hand: query 0's softmax over documents {0, 1, 3}, query 2's over {1, 2, 3}.
    keep = [[0, 1, 3], [0, 1, 2, 3], [1, 2, 3], [0, 1, 2, 3]]
    expected = torch.stack(
        [
            -(
                20 * F.cosine_similarity(q[i], d[i], dim=0)
                - torch.logsumexp(
                    torch.stack(
                        [20 * F.cosine_similarity(q[i], d[j], dim=0) for j in keep[i]]
                    ),
                    0,
                )
            )
            for i in range(4)
        ]
    ).mean()
    assert torch.allclose(masked, expected, atol=1e-5)
    # The duplicate no longer counts as a negative.
    assert masked < in_batch_negatives_loss(q, d)
    with pytest.raises(ValueError, match="document_ids must have shape"):
        in_batch_negatives_loss(q, d, document_ids=ids[:3])
    with pytest.raises(ValueError, match="same shape"):
        in_batch_negatives_loss(q, d[:3])


def test_bi_encoder_trains_with_fit(tokenizer):
    """A tiny encoder learns to pair each query with its document: the loss falls."""
    config = bertmini.BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    torch.manual_seed(0)
    model = BiEncoder(bertmini.BertModel(config))
    topics = ["cats", "rivers", "engines", "music", "bread", "stars", "chess", "rain"]
    records = [
        {
            "query": f"what about {t}?",
            "document": f"all about {t} and {t}.",
            "document_id": i,
        }
        for i, t in enumerate(topics)
    ]
    collate = PairCollator(tokenizer)
    batch = collate(records)
    assert batch["query_input_ids"].shape[0] == 8 and batch[
        "document_ids"
    ].tolist() == list(range(8))
    before = float(model(**batch).loss)
    history = fit(
        model,
        records,
        TrainConfig(
            lr=1e-3,
            batch_size=8,
            epochs=30,
            progress=False,
            device="cpu",
            precision="fp32",
        ),
        collate_fn=collate,
    )
    model.eval()
    after = float(model(**batch).loss)
    assert len(history.loss) == 30
    assert after < before / 2, (before, after)
    with pytest.raises(KeyError, match="'query' and 'document'"):
        collate([{"query": "x"}])


def test_bi_encoder_with_fixed_document_vectors(tokenizer):
    """Only the query side learns; the document vectors (an index) are used as is."""
    config = bertmini.BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    torch.manual_seed(0)
    documents = torch.randn(6, 32)
    model = BiEncoder(bertmini.BertModel(config))
    records = [
        {"query": f"question number {w}", "document_id": i % 6}
        for i, w in enumerate(
            "one two three four five six seven eight nine ten eleven twelve".split()
        )
    ]
    collate = PairCollator(tokenizer, document_vectors=documents)
    batch = collate(records)
    assert "document_input_ids" not in batch
    assert torch.equal(batch["document_embeddings"], documents[torch.arange(12) % 6])
    out = model(**batch)
    expected = in_batch_negatives_loss(
        out.query_embeddings,
        documents[torch.arange(12) % 6],
        document_ids=torch.arange(12) % 6,
    )
    assert torch.allclose(out.loss, expected)
    before = float(out.loss)
    fit(
        model,
        records,
        TrainConfig(
            lr=1e-3,
            batch_size=12,
            epochs=30,
            progress=False,
            device="cpu",
            precision="fp32",
        ),
        collate_fn=collate,
    )
    model.eval()
    assert float(model(**batch).loss) < before / 2
    with pytest.raises(ValueError, match="either document_input_ids"):
        model(batch["query_input_ids"], batch["query_attention_mask"])
    with pytest.raises(KeyError, match="'query' and 'document_id'"):
        collate([{"query": "x", "document": "y"}])


def test_pool_names_the_choices():
    out = bertmini.BertModelOutput(last_hidden_state=torch.zeros(1, 2, 3))
    with pytest.raises(ValueError, match="pooling must be one of"):
        pool(out, torch.ones(1, 2), "max")
