"""Property-based tests: the functions that take free text or arbitrary numbers, fed
whatever hypothesis can generate. Each states a promise that must hold for *every*
input, not just for the examples the other tests chose."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

from bertmini import Tokenizer, qa  # noqa: E402
from bertmini.pretraining import IGNORE_INDEX, mask_tokens  # noqa: E402

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
_TOKENIZER: list[Tokenizer] = []


def tokenizer() -> Tokenizer:
    if not _TOKENIZER:
        _TOKENIZER.append(Tokenizer.from_pretrained("all-MiniLM-L6-v2"))
    return _TOKENIZER[0]


# The only errors the tokenizer documents for valid types: a stride too large for the
# window.
DOCUMENTED = ("stride must be smaller", "is too large for the pair", "could not encode")


@SETTINGS
@given(
    text=st.text(max_size=200),
    pair=st.none() | st.text(max_size=60),
    max_length=st.integers(3, 40),
    stride=st.integers(0, 45),
    overflow=st.booleans(),
)
def test_tokenizer_never_fails_on_any_text_and_offsets_stay_inside(
    text, pair, max_length, stride, overflow
):
    tok = tokenizer()
    try:
        enc = tok(
            text,
            pair,
            max_length=max_length,
            stride=stride,
            return_offsets_mapping=True,
            return_overflowing_tokens=overflow,
        )
    except ValueError as e:
        assert any(words in str(e) for words in DOCUMENTED), str(e)
        return
    B, T = enc["input_ids"].shape
    assert T <= max_length
    assert ((enc["input_ids"] >= 0) & (enc["input_ids"] < tok.vocab_size)).all()
    for row in range(B):
        for i, seq in enumerate(enc.sequence_ids(row)):
            if seq is None:
                continue
            start, end = enc["offset_mapping"][row, i].tolist()
            source = text if seq == 0 else pair
            assert 0 <= start <= end <= len(source)


@SETTINGS
@given(text=st.text(max_size=200))
def test_tokenize_and_decode_never_raise(text):
    tok = tokenizer()
    ids = tok.encode(text)
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
    assert isinstance(tok.decode(ids), str)
    assert len(tok.tokenize(text)) == len(ids) - 2


CONTEXT = (
    "The Normans were the people who in the 10th and 11th centuries gave their name to "
    "Normandy, a region in France. They were descended from Norse raiders and pirates "
    "from Denmark, Iceland and Norway."
)
RECORD = {
    "id": "q",
    "question": "Who gave their name to Normandy?",
    "context": CONTEXT,
    "answers": {"text": ["The Normans"], "answer_start": [0]},
}


@pytest.fixture(scope="module")
def features():
    return qa.prepare_features(
        [RECORD], tokenizer(), max_length=24, stride=4, with_labels=False
    )


def logits_for(shape):
    # NaN logits are refused with a ValueError (tests/test_bad_inputs_qa_metrics.py);
    # every other float, infinities included, must give an answer
    floats = st.floats(allow_nan=False, allow_infinity=True, width=32)
    return arrays(np.float32, shape, elements=floats)


@SETTINGS
@given(data=st.data(), n_best=st.integers(1, 25), max_answer_length=st.integers(1, 40))
def test_qa_answer_is_empty_or_a_substring_of_the_context(
    features, data, n_best, max_answer_length
):
    shape = tuple(features.input_ids.shape)
    start = data.draw(logits_for(shape))
    end = data.draw(logits_for(shape))
    rich = qa.postprocess_with_scores(
        features, start, end, [RECORD], n_best, max_answer_length
    )
    pred = rich["q"]
    assert pred["text"] == "" or pred["text"] in CONTEXT
    assert CONTEXT[pred["start"] : pred["end"]] == pred["text"]
    assert not math.isnan(pred["score"])
    assert qa.postprocess(
        features, start, end, [RECORD], n_best, max_answer_length
    ) == {"q": pred["text"]}


@SETTINGS
@given(
    st.dictionaries(
        st.text(max_size=5),
        st.tuples(
            st.text(max_size=40), st.lists(st.text(max_size=40), min_size=1, max_size=3)
        ),
        min_size=1,
        max_size=8,
    ),
    st.booleans(),
)
def test_squad_metrics_are_percentages(items, drop_one):
    references = {qid: golds for qid, (_, golds) in items.items()}
    predictions = {qid: pred for qid, (pred, _) in items.items()}
    if drop_one:
        predictions.pop(next(iter(predictions)))
    with pytest.warns(UserWarning) if drop_one else _no_warning():
        scores = qa.squad_metrics(predictions, references)
    for name in ("exact_match", "f1"):
        assert 0.0 <= scores[name] <= 100.0


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    p=st.floats(0.05, 0.5),
    special_share=st.floats(0.0, 0.6),
)
def test_masking_never_touches_specials_and_keeps_its_proportions(
    seed, p, special_share
):
    tok = tokenizer()
    g = torch.Generator().manual_seed(seed)
    B, T = 32, 64
    ids = torch.randint(1000, 5000, (B, T), generator=g)
    specials = torch.tensor(sorted(tok.special_token_ids))
    is_special = torch.rand(B, T, generator=g) < special_share
    ids[is_special] = specials[torch.randint(len(specials), (B, T), generator=g)][
        is_special
    ]
    masked, labels = mask_tokens(ids, tok, p, generator=g)

    assert (masked[is_special] == ids[is_special]).all()  # specials never change
    assert (labels[is_special] == IGNORE_INDEX).all()  # nor are they ever predicted
    chosen = labels != IGNORE_INDEX
    assert (labels[chosen] == ids[chosen]).all()  # labels are the original ids
    assert (masked[~chosen] == ids[~chosen]).all()  # only chosen tokens change
    n = int((~is_special).sum())
    assume(n > 200)
    k = int(chosen.sum())
    # Within 5 binomial standard deviations (a false alarm once in ~3.5 million runs).
    assert abs(k - p * n) <= 5 * math.sqrt(n * p * (1 - p)) + 1
    if k >= 50:
        as_mask = int((masked[chosen] == tok.mask_token_id).sum())
        assert abs(as_mask - 0.8 * k) <= 5 * math.sqrt(k * 0.8 * 0.2) + 1
    replaced = masked[chosen & (masked != ids) & (masked != tok.mask_token_id)]
    assert not torch.isin(replaced, specials).any()  # random replacements are ordinary
