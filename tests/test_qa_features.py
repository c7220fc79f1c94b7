"""bertmini.qa_features: SQuAD records -> windows with offsets and labels, on real SQuAD."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bertmini.metrics import normalize_answer
from bertmini.qa_features import QAFeatures, length_grouped_batches, prepare_features
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


# -------------------------------------------------------------- windows on real SQuAD


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
    ex = toy_example()
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
    prepare_features([toy_example()], tokenizer, max_length=64, stride=16)
    assert (backend.truncation, backend.padding) == before
    backend.enable_truncation(100, strategy="longest_first")
    backend.enable_padding(length=100)
    try:
        f = prepare_features([toy_example()], tokenizer, max_length=64, stride=16)
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
    ex = toy_example(question="why " * 300 + "where is the tower?")
    f = prepare_features(
        [ex], tokenizer, max_length=128, stride=32, max_question_tokens=64
    )
    assert (
        int((f.token_type_ids[0] == 0).sum()) == 64 + 2
    )  # [CLS] + 64 question pieces + [SEP]
    assert bool(f.answerable().any())


# ---------------------------------------------------------- batches of similar length


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


def test_grouping_saves_the_padding_the_docstring_quotes(tokenizer):
    """length_grouped_batches' docstring: chapter 7's 2,735 training windows hold
    311,904 real tokens, 313,248 positions grouped and 350,080 in random batches of 32
    (mean of 20 shuffles)."""
    from tests.qa_helpers import squad_dev_path  # noqa: PLC0415

    if squad_dev_path() is None:
        pytest.skip("SQuAD dev-v1.1.json not found (set BERTMINI_DATA_MIRROR)")
    from bertmini.data import load_squad  # noqa: PLC0415

    pool = load_squad("dev", articles=slice(0, 40))  # chapter 7's training articles
    pick = torch.randperm(len(pool), generator=torch.Generator().manual_seed(0))
    examples = [pool[i] for i in pick[:2400].tolist()]
    features = prepare_features(examples, tokenizer, max_length=128, stride=32)
    windows = features.select(features.answerable())
    lengths = windows.attention_mask.sum(1)  # (N,)
    grouped = length_grouped_batches(windows, 32, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    random_positions = []
    for _ in range(20):
        order = torch.randperm(len(lengths), generator=g)
        random_positions.append(
            sum(
                int(lengths[order[i : i + 32]].max()) * len(order[i : i + 32])
                for i in range(0, len(order), 32)
            )
        )
    assert len(windows) == 2735 and int(lengths.sum()) == 311_904
    assert sum(b["input_ids"].numel() for b in grouped) == 313_248
    assert sum(random_positions) / 20 == 350_080
