"""Bad inputs to retrieval and sentence embeddings: each is refused with a TypeError or
ValueError that names the argument, never an internal error, a NaN or inf metric, a
broadcast shape or a silently wrong ranking. Valid inputs at the edges of what is
allowed (-inf scores, one document, no queries, NumPy integers) still work.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import bertmini
from bertmini.retrieval import (
    BM25,
    cosine_scores,
    cosine_topk,
    gold_ranks,
    mean_reciprocal_rank,
    recall_at_k,
    reciprocal_rank_fusion,
    retrieval_metrics,
    zscore_fusion,
)
from bertmini.sentence_embeddings import (
    BiEncoder,
    PairCollator,
    encode,
    in_batch_negatives_loss,
    mean_pool,
    pool,
)

NAN, INF = float("nan"), float("inf")
DOCS = ["the cat sat on the mat", "the dog chased the cat", "a bird sang"]


def scores_3x5() -> torch.Tensor:
    return torch.randn(3, 5, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def tok():
    return bertmini.Tokenizer.from_pretrained("all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def tiny(tok):
    torch.manual_seed(0)
    return bertmini.BertModel(
        bertmini.BertConfig(
            vocab_size=tok.vocab_size,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
        )
    )


# ------------------------------------------------------------------ 1. NaN scores
def test_nan_scores_are_refused_not_ranked():
    s = torch.tensor([[NAN, 0.5, 0.2], [0.1, 0.9, 0.3]])
    with pytest.raises(ValueError, match=r"scores must be free of NaN.*\[0, 0\]"):
        retrieval_metrics(s, [0, 1])  # was recall@1 = 1.0, mrr = inf
    with pytest.raises(ValueError, match="scores must be free of NaN"):
        gold_ranks(torch.tensor([[0.1, NAN, 0.2]]), [0])
    with pytest.raises(ValueError, match=r"scores\[0\] must be free of NaN"):
        reciprocal_rank_fusion([torch.tensor([[NAN, 1.0, 2.0]])])


def test_nan_or_inf_embeddings_are_refused():
    docs = torch.tensor([[1.0, 0.0], [NAN, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match=r"documents must be finite.*\[1, 0\]"):
        cosine_topk(torch.tensor([[1.0, 0.0]]), docs, k=1)  # was index 1 first
    with pytest.raises(ValueError, match="queries must be finite"):
        cosine_scores(torch.tensor([[INF, 0.0]]), torch.eye(2))


def test_minus_inf_scores_still_rank_last():
    """-inf is a legitimate 'left out' score for a ranking: still accepted."""
    s = torch.tensor([[-INF, 0.5, 0.2], [0.1, 0.9, -INF]])
    assert gold_ranks(s, [0, 1]).tolist() == [3, 1]
    fused = reciprocal_rank_fusion([s, s])
    assert fused[0].argmin() == 0 and fused[1].argmin() == 2


# ------------------------------------------------------------------ 2. fusion
def test_rrf_requires_equal_shapes_and_a_list():
    with pytest.raises(ValueError, match="differ in shape"):
        reciprocal_rank_fusion([torch.randn(3, 5), torch.randn(1, 5)])  # broadcast
    with pytest.raises(ValueError, match="scores is empty"):
        reciprocal_rank_fusion([])
    with pytest.raises(TypeError, match="scores must be a list"):
        reciprocal_rank_fusion(scores_3x5())
    with pytest.raises(ValueError, match=r"scores\[0\] must be a 2-D tensor"):
        reciprocal_rank_fusion([torch.randn(5)])


@pytest.mark.parametrize(
    "k, error",
    [(-1, ValueError), (NAN, ValueError), (INF, ValueError), ("60", TypeError)],
)
def test_rrf_validates_k(k, error):
    with pytest.raises(error, match="k must be"):
        reciprocal_rank_fusion([scores_3x5()], k=k)


def test_rrf_k_zero_and_float_are_fine():
    assert reciprocal_rank_fusion([scores_3x5()], k=0).max() == 1.0
    assert torch.isfinite(reciprocal_rank_fusion([scores_3x5()], k=60.5)).all()


def test_zscore_fusion_refuses_nan_weights_and_infinite_scores():
    s = scores_3x5()
    with pytest.raises(ValueError, match=r"weights\[1\] must be a finite number"):
        zscore_fusion([s, s], weights=[1.0, NAN])
    with pytest.raises(ValueError, match=r"weights\[0\] must be in \[0"):
        zscore_fusion([s, s], weights=[-1.0, 1.0])
    with pytest.raises(TypeError, match=r"weights\[0\] must be a number"):
        zscore_fusion([s, s], weights=["1", 1])
    with pytest.raises(ValueError, match=r"scores\[0\] must be finite.*-inf"):
        zscore_fusion([torch.tensor([[-INF, 1.0, 2.0]])])
    with pytest.raises(TypeError, match="scores must be a list"):
        zscore_fusion(s)  # was "Boolean value of Tensor ... is ambiguous"
    with pytest.raises(ValueError, match="scores is empty"):
        zscore_fusion([])


def test_zscore_fusion_of_one_document_or_a_constant_row_is_zero():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # std() of one value warned, then gave NaN
        one = zscore_fusion([torch.randn(3, 1), torch.randn(3, 1)])
    assert torch.equal(one, torch.zeros(3, 1, dtype=torch.float64))
    flat = zscore_fusion([torch.ones(1, 3), torch.tensor([[0.0, 1.0, 2.0]])])
    assert torch.allclose(flat, torch.tensor([[-1.0, 0.0, 1.0]], dtype=torch.float64))


# ------------------------------------------------------------------ 3. gold ids
@pytest.mark.parametrize(
    "gold, error, match",
    [
        ([0.5, 1.2, 2.9], TypeError, "integer document ids"),  # was truncated
        ([True, False, True], TypeError, "integer document ids"),
        (["0", "1", "2"], TypeError, "integer document ids"),
        (None, TypeError, "gold must be integer"),
        ([0, 1], ValueError, r"gold \(Q,\)"),
        ([[0], [1], [2]], ValueError, r"gold \(Q,\)"),
        ([0, 5, 1], ValueError, r"outside \[0, 5\): gold\[1\] = 5"),
        ([0, -1, 1], ValueError, "outside"),
    ],
)
def test_gold_must_be_one_integer_id_in_range_per_row(gold, error, match):
    with pytest.raises(error, match=match):
        gold_ranks(scores_3x5(), gold)


def test_gold_accepts_numpy_and_tensor_integers():
    s = scores_3x5()
    # Independently: 1 + the position of the gold column in each row sorted high to low
    order = s.argsort(dim=1, descending=True).tolist()
    expected = torch.tensor([order[q].index(q) + 1 for q in range(3)])
    # The seed gives a row where the gold document is not first
    assert expected.tolist() != [1, 1, 1]
    assert torch.equal(gold_ranks(s, [0, 1, 2]), expected)
    assert torch.equal(gold_ranks(s, np.array([0, 1, 2])), expected)
    assert torch.equal(
        gold_ranks(s, torch.tensor([0, 1, 2], dtype=torch.int32)), expected
    )
    assert gold_ranks(torch.randn(0, 5), []).shape == (0,)
    with pytest.raises(TypeError, match="integer document ids"):
        gold_ranks(s, np.array([0.0, 1.0, 2.0]))


# ------------------------------------------------------------------ 4. rank metrics
@pytest.mark.parametrize(
    "k, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError)]
)
def test_recall_at_k_needs_k_at_least_one(k, error):
    with pytest.raises(error, match="k must be an integer"):
        recall_at_k(torch.tensor([1, 3, 2]), k)


def test_ranks_are_one_based_and_non_empty():
    for metric in (mean_reciprocal_rank, lambda r: recall_at_k(r, 1)):
        with pytest.raises(ValueError, match="1-based"):
            metric(torch.tensor([0, 1]))  # mrr was inf
        with pytest.raises(ValueError, match="non-empty"):
            metric(torch.tensor([], dtype=torch.long))  # was NaN
        with pytest.raises(TypeError, match="ranks must be a torch.Tensor"):
            metric([1, 2])
        with pytest.raises(TypeError, match="integer ranks"):
            metric(torch.tensor([1.5, 2.0]))


def test_retrieval_metrics_needs_queries_and_valid_ks():
    with pytest.raises(ValueError, match=r"no rows \(Q = 0\)"):
        retrieval_metrics(torch.randn(0, 5), [])  # was all NaN
    with pytest.raises(TypeError, match="ks must be a list"):
        retrieval_metrics(scores_3x5(), [0, 1, 2], ks=5)
    with pytest.raises(ValueError, match=r"ks\[1\] must be an integer >= 1"):
        retrieval_metrics(scores_3x5(), [0, 1, 2], ks=(1, 0))
    m = retrieval_metrics(scores_3x5(), [0, 1, 2], ks=range(1, 3))
    assert set(m) == {"recall@1", "recall@2", "mrr"}


# ------------------------------------------------------------------ 5. dense search
def test_cosine_search_wants_torch_tensors():
    q, d = np.ones((2, 4), np.float32), np.ones((5, 4), np.float32)
    with pytest.raises(TypeError, match=r"queries must be a torch.Tensor.*from_numpy"):
        cosine_topk(q, d, k=1)  # was AttributeError
    with pytest.raises(TypeError, match="documents must be a torch.Tensor"):
        cosine_scores(torch.ones(2, 4), d)


@pytest.mark.parametrize(
    "chunk_size, error",
    [(0, ValueError), (-1, ValueError), (2.0, TypeError), ("2", TypeError)],
)
def test_cosine_topk_validates_chunk_size(chunk_size, error):
    with pytest.raises(error, match="chunk_size must be an integer"):
        cosine_topk(torch.randn(3, 4), torch.randn(5, 4), k=1, chunk_size=chunk_size)


def test_cosine_topk_edges():
    scores, indices = cosine_topk(torch.randn(0, 4), torch.randn(5, 4), k=2)
    assert scores.shape == indices.shape == (0, 2) and indices.dtype == torch.long
    with pytest.raises(ValueError, match=r"documents is empty \(N = 0\)"):
        cosine_topk(torch.randn(2, 4), torch.randn(0, 4), k=1)
    q, d = torch.randn(3, 4), torch.randn(5, 4)
    assert torch.equal(cosine_topk(q, d, k=np.int64(2))[1], cosine_topk(q, d, k=2)[1])


@pytest.mark.parametrize(
    "queries, documents, match",
    [
        (torch.randn(2, 3), torch.randn(4, 5), "same H"),  # was a torch RuntimeError
        (torch.randn(4), torch.randn(5, 4), r"queries must be a 2-D tensor"),
        (torch.randn(2, 3, 4), torch.randn(5, 4), r"queries must be a 2-D tensor"),
        (torch.randn(2, 4), torch.randn(4), r"documents must be a 2-D tensor"),
    ],
)
def test_cosine_scores_wants_matrices_with_one_hidden_size(queries, documents, match):
    with pytest.raises(ValueError, match=match):
        cosine_scores(queries, documents)


# ------------------------------------------------------------------ 6. BM25
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"documents": [1, 2]}, TypeError, r"documents\[0\] must be a string"),
        ({"documents": ["a", None]}, TypeError, r"documents\[1\] must be a string"),
        ({"documents": None}, TypeError, "documents must be a non-empty list"),
        ({"documents": (d for d in DOCS)}, TypeError, "non-empty list"),
        ({"documents": DOCS, "k1": "1.5"}, TypeError, "k1 must be a number"),
        ({"documents": DOCS, "k1": INF}, ValueError, "k1 must be a finite number"),
        ({"documents": DOCS, "k1": NAN}, ValueError, "k1 must be a finite number"),
        ({"documents": DOCS, "b": "0.75"}, TypeError, "b must be a number"),
        ({"documents": DOCS, "b": NAN}, ValueError, "b must be a finite number"),
        ({"documents": DOCS, "b": -0.1}, ValueError, "0 <= b <= 1"),
    ],
)
def test_bm25_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        BM25(**kwargs)


def test_bm25_queries_are_strings():
    bm = BM25(DOCS)
    with pytest.raises(TypeError, match="query must be a string"):
        bm.scores(None)
    with pytest.raises(TypeError, match="query must be a string"):
        bm.scores(["cat"])
    with pytest.raises(TypeError, match=r"queries must be a list of strings.*scores\("):
        bm.score_matrix("cat")  # was 3 one-letter queries
    with pytest.raises(TypeError, match=r"queries\[1\] must be a string"):
        bm.score_matrix(["cat", None])
    assert bm.score_matrix([]).shape == (0, 3)
    assert BM25(DOCS, k1=0, b=0).scores("cat").tolist()[2] == 0.0


# ------------------------------------------------------------------ 7. sentence embeddings
@pytest.mark.parametrize(
    "hidden, mask",
    [
        (torch.randn(3, 4), torch.ones(3)),  # no batch axis: averaged hidden units
        (torch.randn(2, 3, 4), torch.ones(1, 3)),  # broadcast over the batch
        (torch.randn(2, 3, 4), torch.ones(2, 4)),  # was a torch RuntimeError
        (torch.randn(2, 3, 4), torch.ones(3)),
    ],
)
def test_mean_pool_wants_matching_b_t(hidden, mask):
    with pytest.raises(
        ValueError, match=r"hidden must be \(B, T, H\) and attention_mask"
    ):
        mean_pool(hidden, mask)


def test_mean_pool_and_pool_want_tensors():
    with pytest.raises(TypeError, match="attention_mask must be a torch.Tensor"):
        mean_pool(torch.randn(2, 3, 4), None)
    with pytest.raises(TypeError, match="hidden must be a torch.Tensor"):
        mean_pool([[[1.0]]], torch.ones(1, 1))
    with pytest.raises(TypeError, match="output must be a BertModel output"):
        pool((torch.randn(1, 3, 4),), torch.ones(1, 3), "cls")


@pytest.mark.parametrize(
    "scale, error",
    [
        (-20, ValueError),
        (0, ValueError),
        (NAN, ValueError),
        (INF, ValueError),
        ("20", TypeError),
    ],
)
def test_in_batch_loss_scale_is_a_finite_positive_number(scale, error):
    q, d = torch.randn(4, 8), torch.randn(4, 8)
    with pytest.raises(error, match="scale must be"):
        in_batch_negatives_loss(q, d, scale=scale)  # -20 inverted the objective


def test_in_batch_loss_inputs():
    with pytest.raises(ValueError, match=r"empty \(B = 0\)"):
        in_batch_negatives_loss(torch.randn(0, 8), torch.randn(0, 8))
    bad = torch.randn(3, 8)
    bad[1, 2] = NAN
    # NaN vectors are a diverged model: the loss says so by being NaN, which fit
    # reports as a TrainingDivergedError with its last checkpoint
    assert in_batch_negatives_loss(bad, torch.randn(3, 8)).isnan()
    assert in_batch_negatives_loss(torch.randn(3, 8), bad).isnan()
    with pytest.raises(TypeError, match="queries must be a torch.Tensor"):
        in_batch_negatives_loss([[1.0, 2.0]], torch.randn(1, 2))
    with pytest.raises(TypeError, match="float tensors"):
        in_batch_negatives_loss(torch.ones(2, 3, dtype=torch.long), torch.ones(2, 3))
    with pytest.raises(TypeError, match="document_ids must be a torch.Tensor"):
        in_batch_negatives_loss(
            torch.randn(2, 3), torch.randn(2, 3), document_ids=[0, 1]
        )
    assert in_batch_negatives_loss(torch.randn(1, 8), torch.randn(1, 8)) == 0  # B = 1


@pytest.mark.parametrize(
    "scale, error", [("20", TypeError), (NAN, ValueError), (-1.0, ValueError)]
)
def test_bi_encoder_checks_scale_at_construction(tiny, scale, error):
    with pytest.raises(error, match="scale must be"):
        BiEncoder(tiny, scale=scale)


def test_bi_encoder_checks_document_embeddings(tiny):
    model = BiEncoder(tiny)
    ids = torch.tensor([[101, 2000, 102], [101, 2001, 102]])
    mask = torch.ones_like(ids)
    with pytest.raises(TypeError, match="document_embeddings must be a torch.Tensor"):
        model(ids, mask, document_embeddings=[[0.0] * 16] * 2)
    with pytest.raises(ValueError, match="document_embeddings must be finite"):
        model(ids, mask, document_embeddings=torch.full((2, 16), NAN))
    with pytest.raises(TypeError, match="attention_mask must be a torch.Tensor"):
        model(ids, None, document_input_ids=ids)


@pytest.mark.parametrize(
    "document_id, error, match",
    [
        (
            -1,
            ValueError,
            r"records\[0\]\['document_id'\] = -1 is not a row",
        ),  # was row 2
        (7, ValueError, r"= 7 is not a row of document_vectors.*\[0, 3\)"),
        ("7", TypeError, r"records\[0\]\['document_id'\] must be an integer"),
        (1.0, TypeError, "must be an integer"),
        (True, TypeError, "must be an integer"),
    ],
)
def test_pair_collator_document_ids_are_rows(tok, document_id, error, match):
    collate = PairCollator(tok, document_vectors=torch.randn(3, 16))
    with pytest.raises(error, match=match):
        collate([{"query": "q", "document_id": document_id}])


def test_pair_collator_accepts_numpy_and_tensor_ids_and_checks_its_fields(tok):
    vectors = torch.randn(3, 16)
    collate = PairCollator(tok, document_vectors=vectors)
    records = [
        {"query": "q", "document_id": np.int64(2)},
        {"query": "r", "document_id": torch.tensor(0)},
    ]
    batch = collate(records)
    assert batch["document_ids"].tolist() == [2, 0]
    assert torch.equal(batch["document_embeddings"], vectors[[2, 0]])
    with pytest.raises(ValueError, match="give every record one, or none"):
        PairCollator(tok)(
            [
                {"query": "q", "document": "d", "document_id": 1},
                {"query": "q", "document": "d"},
            ]
        )
    with pytest.raises(TypeError, match="tokenizer must be a bertmini.Tokenizer"):
        PairCollator(None)
    with pytest.raises(ValueError, match=r"document_vectors must be a \(D, H\)"):
        PairCollator(tok, document_vectors=torch.randn(16))
    with pytest.raises(ValueError, match="document_vectors must be finite"):
        PairCollator(tok, document_vectors=torch.full((2, 16), NAN))
    with pytest.raises(TypeError, match="records must be a list"):
        collate(None)


def test_encode_names_missing_model_tokenizer_and_texts(tiny, tok):
    with pytest.raises(TypeError, match="model must be a bertmini.BertModel"):
        encode(None, tok, ["a"])
    with pytest.raises(TypeError, match="tokenizer must be a bertmini.Tokenizer"):
        encode(tiny, None, ["a"])  # was "'NoneType' object is not callable"
    with pytest.raises(TypeError, match="texts must be a list of strings"):
        encode(tiny, tok, None)
    with pytest.raises(TypeError, match="pooling must be one of"):
        encode(tiny, tok, ["a"], pooling=None)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        encode(tiny, tok, ["a"], batch_size=2.0)
    assert encode(tiny, tok, ["a", "b"], batch_size=np.int64(1)).shape == (2, 16)
    assert math.isclose(float(encode(tiny, tok, ["a"]).norm()), 1.0, rel_tol=1e-6)
