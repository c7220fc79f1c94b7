"""Tests for bertmini.qa: SQuAD features, post-processing, the official metric, the baseline."""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from bertmini.qa import (
    QAFeatures,
    answer,
    exact_match_score,
    f1_score,
    normalize_answer,
    postprocess,
    postprocess_with_scores,
    prepare_features,
    references_from_examples,
    sentence_overlap_baseline,
    squad_metrics,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer():
    from bertmini import Tokenizer  # noqa: PLC0415

    return Tokenizer.from_pretrained("all-MiniLM-L6-v2")


def _squad_dev_path() -> Path | None:
    mirror = os.environ.get("BERTMINI_DATA_MIRROR")
    base = (
        Path(mirror)
        if mirror and "://" not in mirror
        else REPO_ROOT.parent / "shared" / "data"
    )
    path = base / "squad" / "dev-v1.1.json"
    return path if path.exists() else None


@pytest.fixture(scope="module")
def squad_slice():
    """The first 1,500 questions of SQuAD v1.1 dev as flat records (like bertmini.data.load_squad)."""
    path = _squad_dev_path()
    if path is None:
        pytest.skip(
            "SQuAD dev-v1.1.json not found (set BERTMINI_DATA_MIRROR to the data mirror)"
        )
    with open(path, encoding="utf-8") as f:
        articles = json.load(f)["data"]
    records = []
    for article in articles:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                records.append(
                    {
                        "id": qa["id"],
                        "context": paragraph["context"],
                        "question": qa["question"],
                        "answers": {
                            "text": [a["text"] for a in qa["answers"]],
                            "answer_start": [a["answer_start"] for a in qa["answers"]],
                        },
                    }
                )
                if len(records) == 1500:
                    return records
    return records


@pytest.fixture(scope="module")
def squad_features(squad_slice, tokenizer):
    # Small windows force many overflowing windows per paragraph.
    return prepare_features(squad_slice, tokenizer, max_length=128, stride=32)


def _toy_example(
    qid="q0",
    question="Where is the Eiffel Tower?",
    answer_text="Paris",
    prefix_sentences=60,
):
    filler = " ".join(
        f"Sentence number {i} talks about nothing in particular."
        for i in range(prefix_sentences)
    )
    context = (
        f"{filler} The Eiffel Tower stands in Paris, the capital of France. {filler}"
    )
    start = context.index(answer_text)
    return {
        "id": qid,
        "question": question,
        "context": context,
        "answers": {"text": [answer_text], "answer_start": [start]},
    }


# --------------------------------------------------------------------------------------
# the official SQuAD v1.1 metric, hand-checked
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        # lower case, punctuation gone, articles gone, white space collapsed
        ("The  Quick, Brown fox!", "quick brown fox"),
        ("an apple a day", "apple day"),
        # articles only as whole words: "theory" and "another" keep their letters
        ("Theory of another", "theory of another"),
        # punctuation is removed BEFORE articles: "the-end" -> "theend" keeps its "the"
        ("the-end", "theend"),
        ("A.B.C.", "abc"),
        # "A's" -> "as" (apostrophe removed first), not an article any more
        ("A's", "as"),
        # tabs, newlines and the non-breaking space are white space for str.split()
        ("  Beyoncé\u00a0\tKnowles\n", "beyoncé knowles"),
        # accents are kept; only string.punctuation (ASCII) is removed,
        # curly quotes stay
        ("Café “Naïve”", "café “naïve”"),
        ("\u201cHello\u201d", "\u201chello\u201d"),
        # an answer made only of articles and punctuation normalizes to the empty string
        ("The.", ""),
        ("", ""),
    ],
)
def test_normalize_answer(raw, expected):
    assert normalize_answer(raw) == expected


def test_exact_match_cases():
    assert exact_match_score(
        "The Denver Broncos.", "denver broncos"
    )  # article, case, punctuation
    assert exact_match_score("Denver   Broncos", "denver broncos")  # white space
    assert not exact_match_score("naïve", "naive")  # unicode accents are not folded
    assert not exact_match_score(
        "\u201cHello\u201d", "hello"
    )  # curly quotes are not ASCII punctuation
    assert exact_match_score(
        "", "the"
    )  # both normalize to "" (quirk of the official script)


def test_f1_cases():
    # pred -> [cat, sat, on, mat] (4), gold -> [cat, on, mat] (3); common 3
    # precision 3/4, recall 3/3, F1 = 2 * 0.75 * 1 / 1.75 = 6/7
    assert f1_score("the cat sat on the mat", "a cat on a mat") == pytest.approx(6 / 7)
    # Counter intersection: [x, x, y] & [x, y, y] = {x: 1, y: 1} -> 2 common
    # precision 2/3, recall 2/3, F1 = 2/3
    assert f1_score("x x y", "x y y") == pytest.approx(2 / 3)
    # no overlap -> 0; empty vs empty -> 0 (official script: num_same == 0 -> 0)
    assert f1_score("Paris", "London") == 0
    assert f1_score("", "") == 0
    assert f1_score("the", "a") == 0
    # unicode tokens must match exactly:
    # [beyoncé, knowles] vs [beyonce, knowles] -> 1 common
    # precision 1/2, recall 1/2, F1 = 1/2
    assert f1_score("Beyoncé Knowles", "Beyonce Knowles") == pytest.approx(0.5)
    assert f1_score("The Broncos!", "broncos") == pytest.approx(1.0)


def test_squad_metrics_multiple_golds_and_missing_prediction():
    references = {
        "q1": ["Denver Broncos", "The Denver Broncos", "Broncos"],
        "q2": ["Denver Broncos", "Broncos"],
        "q3": ["Santa Clara"],
    }
    predictions = {
        "q1": "the denver broncos",  # EM 1, F1 1
        # vs "Denver Broncos": [broncos, team] & [denver, broncos] = 1:
        #                      P 1/2, R 1/2 -> F1 1/2
        # vs "Broncos":        1 common: P 1/2, R 1/1 -> F1 2/3; max = 2/3, EM 0
        "q2": "Broncos team",
        # q3 missing -> 0 for both
        "unused": "ignored, not in references",
    }
    with pytest.warns(UserWarning, match="unanswered"):
        scores = squad_metrics(predictions, references)
    assert scores["exact_match"] == pytest.approx(100 * 1 / 3)  # 33.33
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)  # 55.56


def test_squad_metrics_perfect_and_input_checks():
    references = {
        "a": {"text": ["x"], "answer_start": [0]},
        "b": ["y z"],
    }  # answers dicts accepted
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # all answered: no warning
        assert squad_metrics({"a": "X", "b": "Y Z."}, references) == {
            "exact_match": 100.0,
            "f1": 100.0,
        }
    with pytest.raises(ValueError, match="empty"):
        squad_metrics({}, {})
    with pytest.raises(TypeError, match="list of gold answer strings"):
        squad_metrics(
            {"a": "x"}, {"a": "x"}
        )  # a bare string would be iterated char by char
    with pytest.raises(ValueError, match="no gold answer"):
        squad_metrics({"a": "x"}, {"a": []})


# --------------------------------------------------------------------------------------
# features on real SQuAD windows
# --------------------------------------------------------------------------------------


def test_every_label_decodes_to_the_gold_answer(squad_slice, squad_features):
    f = squad_features
    offsets = f.offset_mapping.numpy()  # (N, T, 2)
    starts, ends = f.start_positions.numpy(), f.end_positions.numpy()
    example_index = f.example_index.numpy()
    n_exact = n_labelled = 0
    for ex_i, ex in enumerate(squad_slice):
        rows = np.nonzero(example_index == ex_i)[0]
        assert all(f.example_ids[r] == ex["id"] for r in rows)
        labelled = [r for r in rows if starts[r] != 0]
        assert labelled, f"{ex['id']}: no window is labelled with the answer"
        char_spans = {
            (offsets[r, starts[r], 0], offsets[r, ends[r], 1]) for r in labelled
        }
        assert len(char_spans) == 1, (
            f"{ex['id']}: windows disagree on the answer span {char_spans}"
        )
        ((char_start, char_end),) = char_spans
        for r in rows:
            s, e = int(starts[r]), int(ends[r])
            ctx = offsets[r][
                offsets[r, :, 0] >= 0
            ]  # (C, 2) context tokens of this window
            window_has_answer = ctx[0, 0] <= char_start and ctx[-1, 1] >= char_end
            if s == 0:  # [CLS]: only when the window does not hold the whole answer
                assert e == 0 and not window_has_answer, (
                    f"{ex['id']} row {r}: answer in window but [CLS]"
                )
                continue
            n_labelled += 1
            assert 0 < s <= e < f.attention_mask[r].sum()
            assert (
                f.token_type_ids[r, s] == 1 and f.token_type_ids[r, e] == 1
            )  # context segment
        golds = ex["answers"]["text"]
        if normalize_answer(ex["context"][char_start:char_end]) in {
            normalize_answer(g) for g in golds
        }:
            n_exact += len(labelled)
        else:
            # Every gold boundary falls inside a word piece (e.g. gold "8" marked
            # inside "18"): the label is then the smallest token span covering the
            # first gold's characters.
            gold_start = ex["answers"]["answer_start"][0]
            gold_end = gold_start + len(golds[0])
            r = labelled[0]
            assert char_start <= gold_start < offsets[r, starts[r], 1]
            assert offsets[r, ends[r], 0] < gold_end <= char_end
    assert n_labelled > 1000
    assert n_exact / n_labelled > 0.995, (
        f"only {n_exact}/{n_labelled} labels decode exactly"
    )


def test_windows_slide_with_stride_and_cover_the_context(
    squad_slice, squad_features, tokenizer
):
    f = squad_features
    assert f.input_ids.shape[1] <= 128
    assert len(f) > len(squad_slice) * 1.3  # many paragraphs needed several windows
    # every example has a window holding its whole answer, so answerable-only training
    # loses none
    answerable_examples = set(f.example_index[f.answerable()].tolist())
    assert answerable_examples == set(range(len(squad_slice)))
    example_index = f.example_index.numpy()
    assert np.all(np.diff(example_index) >= 0)  # windows of one example are consecutive
    offsets = f.offset_mapping.numpy()
    for ex_i in range(0, len(squad_slice), 97):  # a sample of examples
        rows = np.nonzero(example_index == ex_i)[0]
        windows = [offsets[r][offsets[r, :, 0] >= 0] for r in rows]
        for left, right in zip(windows, windows[1:]):
            np.testing.assert_array_equal(
                left[-32:], right[:32]
            )  # stride = shared context tokens
        covered = np.concatenate(windows)
        assert (
            covered[0, 0] == 0
            or squad_slice[ex_i]["context"][: covered[0, 0]].isspace()
        )
        # the last window reaches the last non-space character of the context
        assert covered[-1, 1] == len(squad_slice[ex_i]["context"].rstrip())
        # the question is repeated at the start of every window
        question_ids = [
            f.input_ids[r][
                (f.token_type_ids[r] == 0) & (f.attention_mask[r] == 1)
            ].tolist()
            for r in rows
        ]
        assert all(q == question_ids[0] for q in question_ids)


def test_features_selection_and_batches(squad_features):
    f = squad_features
    mask = f.answerable()
    sub = f.select(mask)
    assert isinstance(sub, QAFeatures) and len(sub) == int(mask.sum())
    assert bool((sub.start_positions > 0).all())
    assert sub.example_ids == [
        f.example_ids[i] for i in mask.nonzero().flatten().tolist()
    ]
    batches = list(f.batches(batch_size=256, answerable_only=True))
    assert sum(len(b["input_ids"]) for b in batches) == len(sub)
    assert set(batches[0]) == {
        "input_ids",
        "attention_mask",
        "token_type_ids",
        "start_positions",
        "end_positions",
    }
    for b in batches:  # trimmed: the widest window of the batch has no padding column
        assert b["attention_mask"][:, -1].any()
        assert bool((b["end_positions"] < b["input_ids"].shape[1]).all())
    shuffled = list(
        f.batches(
            batch_size=len(f), shuffle=True, generator=torch.Generator().manual_seed(0)
        )
    )
    assert len(shuffled) == 1 and sorted(
        shuffled[0]["start_positions"].tolist()
    ) == sorted(f.start_positions.tolist())


def test_prepare_features_input_errors(tokenizer):
    ex = _toy_example()
    with pytest.raises(ValueError, match="stride"):
        prepare_features([ex], tokenizer, max_length=32, stride=30)
    with pytest.raises(ValueError, match="context"):
        prepare_features([{"id": "x", "question": "why?"}], tokenizer)
    with pytest.raises(TypeError, match="Tokenizer"):
        prepare_features([ex], tokenizer=object())
    bad = dict(ex, answers={"text": ["Paris"], "answer_start": [10**6]})
    with pytest.raises(ValueError, match="outside its context"):
        prepare_features([bad], tokenizer)
    with pytest.raises(ValueError, match="no labels"):
        prepare_features([ex], tokenizer, with_labels=False).answerable()


def test_features_match_the_tokenizer_windows(squad_slice, tokenizer):
    """Same windows as bertmini.Tokenizer's own overflow API, and a bare backend works too."""
    examples = [
        ex for ex in squad_slice[:200:7] if ex["question"] == ex["question"].lstrip()
    ]
    f = prepare_features(examples, tokenizer, max_length=128, stride=32)
    enc = tokenizer(
        [ex["question"] for ex in examples],
        [ex["context"] for ex in examples],
        max_length=128,
        truncation="only_second",
        stride=32,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    assert enc["overflow_to_sample_mapping"].tolist() == f.example_index.tolist()
    for row in range(len(f)):
        n = int(f.attention_mask[row].sum())
        assert int(enc["attention_mask"][row].sum()) == n
        assert enc["input_ids"][row, :n].tolist() == f.input_ids[row, :n].tolist()
        context = [i for i, s in enumerate(enc.sequence_ids(row)) if s == 1]
        assert (
            context == (f.offset_mapping[row, :, 0] >= 0).nonzero().flatten().tolist()
        )
        assert (
            enc["offset_mapping"][row, context].tolist()
            == f.offset_mapping[row, context].tolist()
        )
    bare = prepare_features(examples, tokenizer.backend, max_length=128, stride=32)
    assert torch.equal(bare.input_ids, f.input_ids) and torch.equal(
        bare.start_positions, f.start_positions
    )


def test_tokenizer_settings_are_restored(tokenizer):
    backend = getattr(tokenizer, "backend", tokenizer)
    before = (backend.truncation, backend.padding)
    prepare_features([_toy_example()], tokenizer, max_length=64, stride=16)
    assert (backend.truncation, backend.padding) == before
    backend.enable_truncation(100, strategy="longest_first")
    backend.enable_padding(length=100)
    try:
        f = prepare_features([_toy_example()], tokenizer, max_length=64, stride=16)
        assert (
            f.input_ids.shape[1] == 64 and len(f) > 1
        )  # the caller's settings did not leak in
        assert (
            backend.truncation["max_length"] == 100 and backend.padding["length"] == 100
        )
    finally:
        backend.no_truncation()
        backend.no_padding()
        if before[0] is not None:
            backend.enable_truncation(**before[0])
        if before[1] is not None:
            backend.enable_padding(**before[1])


def test_long_question_is_truncated(tokenizer):
    ex = _toy_example(question="why " * 300 + "where is the tower?")
    f = prepare_features(
        [ex], tokenizer, max_length=128, stride=32, max_question_tokens=64
    )
    assert (
        int((f.token_type_ids[0] == 0).sum()) == 64 + 2
    )  # [CLS] + 64 question pieces + [SEP]
    assert bool(f.answerable().any())


# --------------------------------------------------------------------------------------
# post-processing
# --------------------------------------------------------------------------------------


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
    ex = _toy_example(prefix_sentences=2)
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
    examples = [_toy_example(qid="long", prefix_sentences=40)]
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


# --------------------------------------------------------------------------------------
# interactive answer() and the baseline
# --------------------------------------------------------------------------------------


class _KeywordPointer(torch.nn.Module):
    """A stand-in QA model that points at one token id: checks answer()'s plumbing, not BERT."""

    def __init__(self, token_id: int):
        super().__init__()
        self.token_id = token_id
        self.scale = torch.nn.Parameter(torch.tensor(7.0))

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        hit = (input_ids == self.token_id).float() * self.scale  # (B, T)
        return type("Out", (), {"start_logits": hit, "end_logits": hit})()


def test_answer_finds_span_in_a_late_window(tokenizer):
    ex = _toy_example(prefix_sentences=80)  # ~1,600 tokens: many windows of 128
    backend = getattr(tokenizer, "backend", tokenizer)
    model = _KeywordPointer(backend.token_to_id("paris")).train()
    result = answer(
        ex["question"], ex["context"], model, tokenizer, max_length=128, stride=32
    )
    assert result["text"] == "Paris"
    assert ex["context"][result["start"] : result["end"]] == "Paris"
    assert result["start"] == ex["answers"]["answer_start"][0]
    assert result["score"] == pytest.approx(14.0)
    assert model.training  # mode restored
    with pytest.raises(ValueError, match="non-empty"):
        answer("", ex["context"], model, tokenizer)


def test_answer_with_a_real_qa_head(tokenizer):
    from bertmini import BertConfig, BertForQuestionAnswering  # noqa: PLC0415

    torch.manual_seed(0)
    config = BertConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    model = BertForQuestionAnswering(config)
    ex = _toy_example(prefix_sentences=30)
    result = answer(
        ex["question"], ex["context"], model, tokenizer, max_length=128, stride=32
    )
    assert result["text"] == ex["context"][result["start"] : result["end"]]
    assert math.isfinite(result["score"])


def test_sentence_overlap_baseline():
    context = (
        "Super Bowl 50 was an American football game. "
        "The Denver Broncos defeated the Carolina Panthers to earn their third title! "
        "The game was played at Levi's Stadium in Santa Clara, California."
    )
    assert sentence_overlap_baseline("Where was the game played?", context) == (
        "The game was played at Levi's Stadium in Santa Clara, California."
    )
    assert sentence_overlap_baseline(
        "Which team defeated the Panthers?", context
    ).startswith("The Denver Broncos")
    # no shared word: the first sentence (ties go to the earliest); always a substring
    assert (
        sentence_overlap_baseline("Quantum?", context)
        == "Super Bowl 50 was an American football game."
    )
    assert sentence_overlap_baseline("anything", "   ") == ""


# --------------------------------------------------------------------------------------
# fine-tuning and evaluation helpers
# --------------------------------------------------------------------------------------


def _tiny_qa_model(seed: int = 0):
    from bertmini import BertConfig, BertForQuestionAnswering  # noqa: PLC0415

    torch.manual_seed(seed)
    config = BertConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return BertForQuestionAnswering(config)


def _toy_set(n: int = 6):
    """Short toy examples of several lengths: some windows are padded, most are not."""
    return [_toy_example(qid=f"t{i}", prefix_sentences=1 + 3 * i) for i in range(n)]


from bertmini.qa import evaluate_qa, length_grouped_batches, predict_logits, train_qa  # noqa: E402


def test_length_grouped_batches_cover_every_window_once(squad_features):
    f = squad_features.select(torch.arange(600))
    batches = length_grouped_batches(
        f, batch_size=32, generator=torch.Generator().manual_seed(0)
    )
    assert sum(len(b["input_ids"]) for b in batches) == len(f)
    seen = sorted(
        tuple(row[m.bool()].tolist()) + tuple([int(s)])
        for b in batches
        for row, m, s in zip(b["input_ids"], b["attention_mask"], b["start_positions"])
    )
    expected = sorted(
        tuple(f.input_ids[i][f.attention_mask[i].bool()].tolist())
        + (int(f.start_positions[i]),)
        for i in range(len(f))
    )
    assert seen == expected  # the same windows with the same labels, none twice
    widths = [b["input_ids"].shape[1] for b in batches]
    assert widths == sorted(widths)  # shortest windows first
    for b in batches:
        assert b["attention_mask"][
            :, -1
        ].any()  # trimmed to the longest window of the batch
    padded = sum(b["attention_mask"].numel() for b in batches)
    random_width = sum(f.attention_mask.shape[1] * len(b["input_ids"]) for b in batches)
    assert padded < random_width  # less work than full-width batches
    again = length_grouped_batches(
        f, batch_size=32, generator=torch.Generator().manual_seed(0)
    )
    assert all(
        torch.equal(a["input_ids"], b["input_ids"]) for a, b in zip(batches, again)
    )
    with pytest.raises(ValueError, match="batch_size"):
        length_grouped_batches(f, batch_size=0)


def test_predict_logits_matches_one_window_at_a_time(tokenizer):
    model = _tiny_qa_model().train()
    examples = _toy_set()
    f = prepare_features(
        examples, tokenizer, max_length=96, stride=24, with_labels=False
    )
    lengths = f.attention_mask.sum(1)
    assert lengths.min() < lengths.max()  # padded windows are part of the test
    start, end = predict_logits(model, f, batch_size=4)
    assert start.shape == end.shape == f.input_ids.shape
    assert model.training  # mode restored
    model.eval()
    with torch.no_grad():
        for row in range(len(f)):
            n = int(lengths[row])
            inputs = {k: v[:, :n] for k, v in f.model_inputs([row], trim=False).items()}
            out = model(**inputs)
            torch.testing.assert_close(
                start[row, :n], out.start_logits[0], atol=1e-5, rtol=1e-4
            )
            torch.testing.assert_close(
                end[row, :n], out.end_logits[0], atol=1e-5, rtol=1e-4
            )
    # beyond its batch's width a window holds -inf: never a candidate
    assert bool(torch.isneginf(start[lengths.argmin(), -1]))


def test_evaluate_qa_scores_a_perfect_pointer(tokenizer):
    examples = _toy_set()
    model = _KeywordPointer(
        getattr(tokenizer, "backend", tokenizer).token_to_id("paris")
    )
    result = evaluate_qa(
        model, tokenizer, examples, max_length=64, stride=16, batch_size=3
    )
    assert result["exact_match"] == 100.0 and result["f1"] == 100.0
    assert result["predictions"] == {ex["id"]: "Paris" for ex in examples}
    features = prepare_features(
        examples, tokenizer, max_length=64, stride=16, with_labels=False
    )
    assert evaluate_qa(model, tokenizer, examples, features=features) == result
    # a pointer to another word scores 0
    wrong = _KeywordPointer(
        getattr(tokenizer, "backend", tokenizer).token_to_id("france")
    )
    assert (
        evaluate_qa(wrong, tokenizer, examples, max_length=64, stride=16)["exact_match"]
        == 0.0
    )
    with pytest.raises(ValueError, match="at least one"):
        evaluate_qa(model, tokenizer, [])


def test_train_qa_learns_and_times_training_alone(tokenizer):
    import time  # noqa: PLC0415

    from bertmini.train import TrainConfig  # noqa: PLC0415

    examples = _toy_set(8)
    f = prepare_features(examples, tokenizer, max_length=64, stride=16)
    n_answerable = int(f.answerable().sum())
    assert n_answerable < len(f)
    model = _tiny_qa_model()

    def loss_on_answerable(m) -> float:
        batch = f.model_inputs(f.answerable().nonzero().flatten())
        with torch.no_grad():
            return float(m(**batch).loss)

    before = loss_on_answerable(model.eval())
    pause = 1.0  # long enough that a slow step on a loaded machine cannot pass for it

    def slow_eval(m):
        assert not m.training  # evaluated without dropout
        time.sleep(pause)
        return {"loss": loss_on_answerable(m)}

    config = TrainConfig(
        lr=3e-3, batch_size=4, epochs=6, warmup_ratio=0.1, progress=False, device="cpu"
    )
    history = train_qa(model, f, config, eval_fn=slow_eval, eval_steps=[3, 6])
    steps_per_epoch = math.ceil(n_answerable / 4)  # answerable windows only
    assert history.step == list(range(1, 6 * steps_per_epoch + 1))
    assert history.eval_step == [3, 6] and len(history.eval["loss"]) == 2
    assert model.training
    after = loss_on_answerable(model.eval())
    assert after < 0.7 * before, (before, after)  # measured: 4.15 -> 2.44
    # evaluation time is not training time: the step after an evaluation is not
    # `pause` s later
    gaps = np.diff(history.time)
    assert gaps[3] < pause and gaps[6] < pause  # steps 4 and 7 follow the evaluations
    assert np.all(gaps >= 0)


def test_train_qa_input_errors(tokenizer):
    from bertmini.train import TrainConfig  # noqa: PLC0415

    model = _tiny_qa_model()
    f = prepare_features(_toy_set(2), tokenizer, max_length=64, stride=16)
    with pytest.raises(TypeError, match="TrainConfig"):
        train_qa(model, f, {"lr": 1e-3})
    config = TrainConfig(progress=False, device="cpu")
    with pytest.raises(ValueError, match="labelled"):
        train_qa(
            model, prepare_features(_toy_set(2), tokenizer, with_labels=False), config
        )
    with pytest.raises(ValueError, match="eval_fn"):
        train_qa(model, f, config, eval_steps=[1])
