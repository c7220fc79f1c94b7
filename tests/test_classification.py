"""Classification batching, evaluate() and predict() (the metrics: test_metrics.py)."""

from __future__ import annotations

import pytest
import torch

from bertmini import BertConfig, BertForSequenceClassification, Tokenizer
from bertmini.classification import (
    ClassificationCollator,
    evaluate,
    predict,
    predict_logits,
)


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.from_pretrained("all-MiniLM-L6-v2")


def test_collator_pads_dynamically_and_handles_pairs(tok):
    c = ClassificationCollator(tok, max_length=16, num_labels=2)
    b = c([{"sentence": "a fine film", "label": 1}, {"sentence": "no", "label": 0}])
    assert b["input_ids"].shape == (2, 5) and b["labels"].tolist() == [1, 0]
    long = c([{"sentence": "word " * 100, "label": 0}])
    assert long["input_ids"].shape == (1, 16)
    pc = ClassificationCollator(tok, 32, "premise", "hypothesis", "label")
    pb = pc([{"premise": "it rains", "hypothesis": "it is wet", "label": 0}])
    assert pb["token_type_ids"].tolist() == [[0, 0, 0, 0, 1, 1, 1, 1]]


@pytest.mark.parametrize(
    "records,error,words",
    [
        ([], ValueError, "cannot collate an empty batch"),
        ([{"text": "x"}], KeyError, "must be a dict with a 'sentence' field"),
        ([{"sentence": "x", "label": 2}], ValueError, r"label 2 is outside \[0, 2\)"),
        (
            [{"sentence": "x", "label": "pos"}],
            TypeError,
            r"labels must be integer class ids, got 'pos' \(str\)",
        ),
    ],
)
def test_collator_bad_records(tok, records, error, words):
    with pytest.raises(error, match=words):
        ClassificationCollator(tok, num_labels=2)(records)


def tiny_config(tok, layers: int, heads: int) -> BertConfig:
    """A BERT small enough to run in a test, with the real tokenizer's vocabulary."""
    return BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=64,
    )


def test_evaluate_and_predict_agree(tok):
    torch.manual_seed(0)
    cfg = tiny_config(tok, layers=1, heads=2)
    model = BertForSequenceClassification(cfg, id2label=["negative", "positive"]).eval()
    records = [
        {"sentence": s, "label": i % 2}
        for i, s in enumerate(["great", "awful film", "so so", "loved it"])
    ]
    report = evaluate(model, records, ClassificationCollator(tok), batch_size=3)
    preds = predict(model, tok, [r["sentence"] for r in records])
    assert [p["label_id"] for p in preds] == report.predictions
    assert set(preds[0]["probabilities"]) == {"negative", "positive"}
    assert sum(preds[0]["probabilities"].values()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="every text must be a non-empty string"):
        predict(model, tok, [""])
    with pytest.raises(ValueError, match="predict needs at least one text"):
        predict(model, tok, [])


def test_collator_lengths_are_each_records_real_tokens(tok):
    records = [{"sentence": "a fine film"}, {"sentence": "no"}] * 700  # > one chunk
    records.append({"sentence": " ".join(["word"] * 50)})
    collate = ClassificationCollator(tok, max_length=16, label_key=None)
    lengths = collate.lengths(records)
    assert len(lengths) == len(records)
    alone = [int(collate([r])["attention_mask"].sum()) for r in records[:2]]
    assert lengths[:2] == alone and alone[0] > alone[1] >= 3
    assert lengths[-1] == 16  # truncated at max_length, like the batches


def test_predict_logits_runs_shortest_first_and_returns_the_records_order(tok):
    torch.manual_seed(0)
    model = BertForSequenceClassification(
        tiny_config(tok, layers=2, heads=4), num_labels=3
    )
    words = "a film that is long and good and then not good at all".split()
    records = [{"sentence": " ".join(words[: 1 + (7 * i) % 13])} for i in range(20)]
    collate = ClassificationCollator(tok, max_length=32, label_key=None)
    sorted_logits = predict_logits(model, records, collate, batch_size=4)
    one_by_one = torch.cat([predict_logits(model, [r], collate) for r in records])
    torch.testing.assert_close(sorted_logits, one_by_one, atol=1e-5, rtol=1e-5)
    # a collator without .lengths: records in their order, the same logits
    plain = predict_logits(model, records, lambda rs: collate(rs), batch_size=4)
    torch.testing.assert_close(plain, sorted_logits, atol=1e-5, rtol=1e-5)
    assert model.training  # the mode is restored
    with pytest.raises(ValueError, match="batch_size"):
        predict_logits(model, records, collate, batch_size=0)
