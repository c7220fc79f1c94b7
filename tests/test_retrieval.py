"""bertmini.retrieval: exact cosine search, BM25 (by hand and against rank_bm25), rank
metrics and score fusion."""

from __future__ import annotations

import math

import pytest
import torch

from bertmini.retrieval import (
    BM25,
    cosine_scores,
    cosine_topk,
    gold_ranks,
    mean_reciprocal_rank,
    recall_at_k,
    reciprocal_rank_fusion,
    retrieval_metrics,
    words,
    zscore_fusion,
)

DOCS = ["the cat sat on the mat", "the dog chased the cat", "a bird sang"]


def test_cosine_topk_is_exact_search():
    g = torch.Generator().manual_seed(0)
    docs, queries = torch.randn(50, 6, generator=g), torch.randn(7, 6, generator=g)
    # Scaled inputs: the lengths of the vectors must not matter.
    scores, indices = cosine_topk(queries * 3, docs * 2, k=5, chunk_size=3)
    assert scores.shape == indices.shape == (7, 5)
    for q in range(7):
        sims = [
            float(torch.nn.functional.cosine_similarity(queries[q], d, dim=0))
            for d in docs
        ]
        best = sorted(range(50), key=lambda i: -sims[i])[:5]
        assert indices[q].tolist() == best
        assert torch.allclose(
            scores[q], torch.tensor([sims[i] for i in best]), atol=1e-6
        )
    assert torch.allclose(
        cosine_scores(queries, docs).topk(5).values, scores, atol=1e-6
    )


@pytest.mark.parametrize("k", [0, 51, 2.0])
def test_cosine_topk_rejects_bad_k(k):
    with pytest.raises(ValueError, match="k must be an integer in"):
        cosine_topk(torch.randn(2, 3), torch.randn(50, 3), k=k)


def test_cosine_topk_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same H"):
        cosine_topk(torch.randn(2, 3), torch.randn(5, 4))


def test_bm25_by_hand():
    """Query "cat" against DOCS (lengths 6, 5, 3; avgdl 14/3), k1 = 1.5, b = 0.75."""
    bm25 = BM25(DOCS)
    idf = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))  # "cat" is in 2 of 3 documents

    def term(tf, length):
        return idf * tf * 2.5 / (tf + 1.5 * (1 - 0.75 + 0.75 * length / (14 / 3)))

    expected = [term(1, 6), term(1, 5), 0.0]
    assert torch.allclose(
        bm25.scores("Cat?"), torch.tensor(expected, dtype=torch.float64)
    )
    # "the" twice in document 0: tf saturates, two occurrences give less than double.
    the_idf = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))
    assert math.isclose(
        float(bm25.scores("the")[0]),
        the_idf * 2 * 2.5 / (2 + 1.5 * (1 - 0.75 + 0.75 * 6 / (14 / 3))),
    )
    assert bm25.scores("unicorn").abs().sum() == 0  # a word in no document adds nothing
    assert torch.equal(bm25.score_matrix(["cat", "bird"])[1], bm25.scores("bird"))


def test_bm25_matches_rank_bm25():
    """rank_bm25's BM25Okapi with Lucene's idf (rank_bm25 uses Robertson's, floored at a
    fraction of the mean idf; the term-frequency part is the same)."""
    rank_bm25 = pytest.importorskip("rank_bm25")

    class LuceneIdf(rank_bm25.BM25Okapi):
        def _calc_idf(self, nd):
            self.idf = {
                w: math.log(1 + (self.corpus_size - n + 0.5) / (n + 0.5))
                for w, n in nd.items()
            }

    corpus = [
        "Paris is the capital and most populous city of France.",
        "The Eiffel Tower is a wrought-iron lattice tower in Paris; the tower is tall.",
        "Berlin is the capital of Germany.",
        "Rivers of France: the Seine flows through Paris.",
        "A tower of Hanoi is a puzzle.",
    ]
    queries = [
        "capital of France",
        "tower tower Paris",
        "Hanoi puzzle?",
        "nothing matches here",
    ]
    ours = BM25(corpus, k1=1.2, b=0.6)
    theirs = LuceneIdf([words(d) for d in corpus], k1=1.2, b=0.6)
    for q in queries:
        expected = torch.tensor(theirs.get_scores(words(q)), dtype=torch.float64)
        assert torch.allclose(ours.scores(q), expected, atol=1e-12), q


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"documents": []}, "non-empty list"),
        ({"documents": "one string"}, "non-empty list"),
        ({"documents": DOCS, "b": 2.0}, "0 <= b <= 1"),
        ({"documents": DOCS, "k1": -1}, "k1 >= 0"),
    ],
)
def test_bm25_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BM25(**kwargs)


def test_ranks_and_metrics():
    scores = torch.tensor(
        [
            [0.9, 0.1, 0.5],  # gold 0: rank 1
            [0.9, 0.1, 0.5],  # gold 2: rank 2
            [0.2, 0.2, 0.2],  # gold 1: a three-way tie counts against it: rank 3
        ]
    )
    ranks = gold_ranks(scores, [0, 2, 1])
    assert ranks.tolist() == [1, 2, 3]
    assert recall_at_k(ranks, 1) == pytest.approx(1 / 3)
    assert recall_at_k(ranks, 2) == pytest.approx(2 / 3)
    assert mean_reciprocal_rank(ranks) == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert retrieval_metrics(scores, [0, 2, 1], ks=(1, 3)) == pytest.approx(
        {"recall@1": 1 / 3, "recall@3": 1.0, "mrr": (1 + 1 / 2 + 1 / 3) / 3}
    )
    with pytest.raises(ValueError, match="outside"):
        gold_ranks(scores, [0, 3, 1])
    with pytest.raises(ValueError, match=r"gold \(Q,\)"):
        gold_ranks(scores, [0, 1])


def test_fusion():
    bm25 = torch.tensor([[10.0, 0.0, 5.0, 1.0]])
    dense = torch.tensor([[0.1, 0.9, 0.5, 0.2]])
    z = zscore_fusion([bm25, dense])
    # Each row standardised: scaling or shifting one retriever's scores changes nothing.
    assert torch.allclose(zscore_fusion([bm25 * 7 + 3, dense]), z)
    by_hand = sum((s - s.mean()) / s.std() for s in (bm25.double(), dense.double()))
    assert torch.allclose(z, by_hand)
    rrf = reciprocal_rank_fusion([bm25, dense])
    expected = [1 / 61 + 1 / 64, 1 / 64 + 1 / 61, 1 / 62 + 1 / 62, 1 / 63 + 1 / 63]
    assert torch.allclose(rrf, torch.tensor([expected], dtype=torch.float64))
    assert torch.equal(
        zscore_fusion([bm25, dense], weights=[1.0, 0.0]).argsort(), bm25.argsort()
    )
    with pytest.raises(ValueError, match="one weight per score matrix"):
        zscore_fusion([bm25, dense], weights=[1.0])
