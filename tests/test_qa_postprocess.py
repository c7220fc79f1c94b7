"""bertmini.qa_postprocess: start/end logits -> the best answer span, as text."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bertmini.metrics import references_from_examples, squad_metrics
from bertmini.qa_features import QAFeatures, prepare_features
from bertmini.qa_postprocess import postprocess, postprocess_with_scores
from tests.qa_helpers import squad_dev_records, toy_example


@pytest.fixture(scope="module")
def tokenizer():
    from bertmini import Tokenizer  # noqa: PLC0415

    return Tokenizer.from_pretrained("all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def squad_slice():
    """The first 1,500 questions of SQuAD v1.1 dev."""
    return squad_dev_records(1500)


@pytest.fixture(scope="module")
def squad_features(squad_slice, tokenizer):
    # Small windows force many overflowing windows per paragraph.
    return prepare_features(squad_slice, tokenizer, max_length=128, stride=32)


def _one_hot_logits(
    features: QAFeatures, high: float = 10.0
) -> tuple[torch.Tensor, torch.Tensor]:
    n, t = features.input_ids.shape
    start, end = torch.zeros(n, t), torch.zeros(n, t)
    rows = torch.arange(n)
    start[rows, features.start_positions] = high
    end[rows, features.end_positions] = high
    return start, end


def test_oracle_logits_recover_the_gold_answers(squad_slice, squad_features):
    f = squad_features
    start, end = _one_hot_logits(f)
    predictions = postprocess(f, start, end, squad_slice)
    assert set(predictions) == {ex["id"] for ex in squad_slice}
    scores = squad_metrics(predictions, references_from_examples(squad_slice))
    # Only the rare questions whose every gold span ends inside a word piece can be
    # missed (measured: 1 of these 1,500; 10 of all 10,570 dev questions).
    assert scores["exact_match"] > 99.5 and scores["f1"] > 99.5
    # per-batch (ragged, trimmed) logits give the same answers as one (N, T) tensor
    pieces_s, pieces_e = [], []
    for lo in range(0, len(f), 500):
        width = int(f.attention_mask[lo : lo + 500].sum(1).max())
        pieces_s.append(start[lo : lo + 500, :width])
        pieces_e.append(end[lo : lo + 500, :width].numpy())
    assert postprocess(f, pieces_s, pieces_e, squad_slice) == predictions


def test_postprocess_respects_span_rules(tokenizer):
    ex = toy_example(prefix_sentences=2)
    f = prepare_features([ex], tokenizer, max_length=384, stride=128)
    assert len(f) == 1
    offsets = f.offset_mapping[0]
    ctx = (offsets[:, 0] >= 0).nonzero().flatten().tolist()
    t = f.input_ids.shape[1]
    paris = int(f.start_positions[0])

    # Huge logits on question tokens and [CLS] must be ignored: only context tokens are
    # answers.
    start, end = torch.zeros(1, t), torch.zeros(1, t)
    start[0, : ctx[0]] = 1e6
    end[0, : ctx[0]] = 1e6
    start[0, paris], end[0, paris] = 5, 5
    assert postprocess(f, start, end, [ex]) == {"q0": "Paris"}

    # The best start lies right after the best end: that pair is invalid (end < start),
    # and every other pair but (Paris, Paris) uses a -1000 logit, so the answer is
    # "Paris", score 2.
    start, end = torch.full((1, t), -1000.0), torch.full((1, t), -1000.0)
    start[0, paris + 1], end[0, paris - 1] = 100, 100
    start[0, paris], end[0, paris] = 1, 1
    rich = postprocess_with_scores(f, start, end, [ex])["q0"]
    assert rich == {
        "text": "Paris",
        "score": 2.0,
        "start": ex["answers"]["answer_start"][0],
        "end": ex["answers"]["answer_start"][0] + 5,
    }

    # A span longer than max_answer_length is never chosen.
    start, end = torch.zeros(1, t), torch.zeros(1, t)
    start[0, ctx[0]], end[0, ctx[40]] = 100, 100
    rich = postprocess_with_scores(f, start, end, [ex], max_answer_length=30)["q0"]
    tokens_in_span = [
        i
        for i in ctx
        if rich["start"] <= offsets[i, 0] and offsets[i, 1] <= rich["end"]
    ]
    assert 1 <= len(tokens_in_span) <= 30
    assert rich["score"] == 100.0  # one of the two big logits, paired with a 0

    with pytest.raises(ValueError, match="expected"):
        postprocess(f, torch.zeros(2, t), torch.zeros(2, t), [ex])
    with pytest.raises(ValueError, match="n_best"):
        postprocess(f, start, end, [ex], n_best=0)


@pytest.mark.parametrize("seed", range(12))
def test_postprocess_random_logits_never_fail(seed, tokenizer):
    rng = np.random.default_rng(seed)
    words = [
        "Beyoncé",
        "naïve",
        "1,165",
        "co-operate",
        "(see",
        "above).",
        "\u201cquoted\u201d",
        "the",
        "tokenization",
        "Zürich",
        "\t",
        "x",
        "--",
        "日本",
        "U.S.",
        "a",
    ]
    examples = [toy_example(qid="long", prefix_sentences=40)]
    for i in range(
        30
    ):  # random contexts of 1 to 300 words, odd spacing and unicode included
        context = " ".join(rng.choice(words, size=int(rng.integers(1, 300))))
        examples.append(
            {
                "id": f"r{i}",
                "question": " ".join(rng.choice(words, size=5)),
                "context": context,
            }
        )
    examples.append({"id": "empty-context", "question": "what?", "context": "   "})
    f = prepare_features(
        examples, tokenizer, max_length=64 + 8 * seed, stride=16, with_labels=False
    )
    n, t = f.input_ids.shape
    scale = [1.0, 1e4, 1e30, 3.4e38][seed % 4]
    start = rng.standard_normal((n, t)) * scale
    end = rng.standard_normal((n, t)) * scale
    if (
        seed % 3 == 0
    ):  # infinities too (but never NaN): +inf start with -inf end sums to NaN
        start[rng.random((n, t)) < 0.1] = np.inf
        end[rng.random((n, t)) < 0.1] = -np.inf
    if seed % 3 == 1:
        with np.errstate(over="ignore"):  # 3.4e38 * N(0, 1) overflows float32 to +-inf
            start, end = start.astype(np.float32), end.astype(np.float32)
    n_best, max_len = int(rng.integers(1, 25)), int(rng.integers(1, 40))
    rich = postprocess_with_scores(
        f, start, end, examples, n_best=n_best, max_answer_length=max_len
    )
    assert set(rich) == {ex["id"] for ex in examples}
    for ex in examples:
        pred = rich[ex["id"]]
        context = ex["context"]
        assert 0 <= pred["start"] <= pred["end"] <= len(context)
        assert context[pred["start"] : pred["end"]] == pred["text"]
        assert pred["text"] in context
    assert rich["empty-context"]["text"] == ""
    assert postprocess(
        f, start, end, examples, n_best=n_best, max_answer_length=max_len
    ) == {k: v["text"] for k, v in rich.items()}
