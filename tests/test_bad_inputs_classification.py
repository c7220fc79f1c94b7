"""Bad inputs to classification and token classification: each is refused with a
TypeError or ValueError that names the argument, never an internal error, a NaN loss or
a silently wrong label. Valid inputs at the edges of what is allowed still work.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bertmini import (
    BertConfig,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    Tokenizer,
)
from bertmini.classification import (
    ClassificationCollator,
    evaluate,
    predict,
    predict_logits,
)
from bertmini.token_classification import (
    TokenClassificationCollator,
    class_weights,
    encode_words,
    inside_label_ids,
    predict_entities,
    predict_word_labels,
    word_labels_from_pieces,
)

LABELS = ["O", "B-PER", "I-PER"]
LABEL2ID = {name: i for i, name in enumerate(LABELS)}


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.from_pretrained("all-MiniLM-L6-v2")


def _config(tok) -> BertConfig:
    return BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )


@pytest.fixture(scope="module")
def tagger(tok):
    torch.manual_seed(0)
    return BertForTokenClassification(_config(tok), id2label=LABELS)


@pytest.fixture(scope="module")
def classifier(tok):
    torch.manual_seed(0)
    return BertForSequenceClassification(_config(tok), num_labels=2)


RECORDS = [{"sentence": "good", "label": 1}, {"sentence": "bad", "label": 0}]


# ------------------------------------------------------------------ 1. class_weights
@pytest.mark.parametrize(
    "args,error,message",
    [
        (([[0, 0, 0, -1]], 3), ValueError, r"contains -1, outside \[0, 3\)"),
        (([[0, 1, 5]], 3), ValueError, r"contains 5, outside \[0, 3\)"),
        (([], 3), ValueError, "no label"),
        (([[-100, -100]], 3), ValueError, "no label"),
        (([[0.0, 1.5]], 2), TypeError, "label_ids must be integer class ids"),
        (([[0, 1]], "3"), TypeError, "num_labels must be an integer"),
        (([[0, 0, 1]], 2, float("nan")), ValueError, "power must be a finite"),
        (([0, 1, 1], 2), TypeError, "rows of label ids"),
    ],
)
def test_class_weights_refuses(args, error, message):
    with pytest.raises(error, match=message):
        class_weights(*args)


def test_class_weights_ignores_minus_100_and_reads_tensors_and_numpy():
    expected = [1.0, 2.0]
    assert class_weights([[-100, 0, 0, 1, -100]], 2, power=1.0).tolist() == expected
    assert class_weights(torch.tensor([[-100, 0, 0, 1]]), 2, 1.0).tolist() == expected
    assert class_weights(np.array([[0, 0, 1]]), 2, np.float64(1.0)).tolist() == expected


# ----------------------------------------------------------------- 2. the model's loss
def test_a_batch_with_no_labelled_token_has_zero_loss_with_a_gradient(tok, tagger):
    ids = torch.randint(1000, 2000, (2, 5))
    loss = tagger(ids, labels=torch.full((2, 5), -100)).loss
    assert loss.item() == 0.0 and loss.grad_fn is not None
    loss.backward()
    # The same through the collator: a word with no piece leaves nothing to label
    batch = TokenClassificationCollator(tok, LABEL2ID)(
        [{"tokens": [""], "tags": ["O"]}]
    )
    assert (batch["labels"] == -100).all()
    assert tagger(**batch).loss.item() == 0.0


@pytest.mark.parametrize(
    "weight,error",
    [([1.0, float("inf"), 1.0], ValueError), ("1,2,3", TypeError)],
)
def test_class_weight_must_be_finite_positive_numbers(tagger, weight, error):
    with pytest.raises(error, match="class_weight must be 3 positive numbers"):
        tagger.set_class_weight(weight)


@pytest.mark.parametrize("dtype", [torch.int32, torch.bool, torch.uint8])
def test_labels_must_be_int64(tagger, dtype):
    ids = torch.randint(1000, 2000, (1, 4))
    with pytest.raises(TypeError, match="labels must"):
        tagger(ids, labels=torch.zeros(1, 4, dtype=dtype))


# -------------------------------------------------------------------- 3. collators
@pytest.mark.parametrize("tag", [1.5, True])
def test_token_collator_refuses_float_and_bool_tags(tok, tag):
    with pytest.raises(TypeError, match="tags must be tag names or integer ids"):
        TokenClassificationCollator(tok, LABEL2ID)([{"tokens": ["a"], "tags": [tag]}])


def test_token_collator_refuses_a_tag_id_outside_label2id(tok):
    with pytest.raises(ValueError, match="tag id 7 is not an id of label2id"):
        TokenClassificationCollator(tok, LABEL2ID)([{"tokens": ["a"], "tags": [7]}])


@pytest.mark.parametrize("first_has", [True, False])
def test_token_collator_needs_tags_on_every_record_or_none(tok, first_has):
    tagged, bare = {"tokens": ["a"], "tags": ["O"]}, {"tokens": ["b"]}
    records = [tagged, bare] if first_has else [bare, tagged]
    with pytest.raises(ValueError, match="has no 'tags' but record"):
        TokenClassificationCollator(tok, LABEL2ID)(records)


def test_token_collator_needs_label2id_as_a_mapping(tok):
    with pytest.raises(TypeError, match="label2id must be a dict"):
        TokenClassificationCollator(tok, ["O", "B-PER"])
    with pytest.raises(TypeError, match="is it id2label"):
        TokenClassificationCollator(tok, {0: "O", 1: "B-PER"})


@pytest.mark.parametrize(
    "records,message",
    [
        ([{"sentence": "a"}, {"sentence": "b", "label": 1}], "record 0 has no 'label'"),
        ([{"sentence": "a", "label": 1}, {"sentence": "b"}], "record 1 has no 'label'"),
    ],
)
def test_classification_collator_needs_labels_on_every_record_or_none(
    tok, records, message
):
    with pytest.raises(ValueError, match=message):
        ClassificationCollator(tok)(records)


def test_classification_collator_catches_a_misspelt_label_key(tok):
    with pytest.raises(ValueError, match="pass label_key='label'"):
        ClassificationCollator(tok, label_key="labels")(RECORDS)
    # records without any label are still an unlabelled batch
    assert "labels" not in ClassificationCollator(tok)([{"sentence": "a", "idx": 3}])


# --------------------------------------------------------- 4. word_labels_from_pieces
@pytest.mark.parametrize(
    "word_ids,labels,error,message",
    [
        ([None, -1], [0, 1], ValueError, r"word_ids contains -1, outside \[0, 2\)"),
        ([None, 0, 2], [0, 1, 1], ValueError, r"word_ids contains 2, outside \[0, 2\)"),
        ([None, 0], [0, 1.7], TypeError, "piece_labels must be integer class ids"),
    ],
)
def test_word_labels_from_pieces_refuses(word_ids, labels, error, message):
    with pytest.raises(error, match=message):
        word_labels_from_pieces(word_ids, labels, 2)


def test_word_labels_from_pieces_reads_a_tensor_row():
    assert word_labels_from_pieces(
        [None, 0, 0, 1], torch.tensor([-100, 2, 0, 1]), 3
    ) == [
        2,
        1,
        -100,
    ]


# ------------------------------------------------------------------- 5. max_length
@pytest.mark.parametrize(
    "max_length,error",
    [(1, ValueError), (0, ValueError), (-5, ValueError), ("8", TypeError)],
)
def test_max_length_must_leave_room_for_a_piece(tok, tagger, max_length, error):
    with pytest.raises(error, match="max_length must be an integer"):
        encode_words(tok, [["a", "b"]], max_length=max_length)
    with pytest.raises(error, match="max_length must be an integer"):
        predict_word_labels(tagger, tok, [["a"]], max_length=max_length)
    with pytest.raises(error, match="max_length must be an integer"):
        predict_entities(tagger, tok, "Hello Bob", max_length=max_length)


def test_max_length_3_keeps_one_piece(tok):
    batch, word_ids = encode_words(tok, [["a", "b"]], max_length=3)
    assert batch["input_ids"].shape == (1, 3) and word_ids == [[None, 0, None]]


# ------------------------------------------------------------- 6. inside_label_ids
@pytest.mark.parametrize(
    "id2label,error,message",
    [
        ({0: "O", 2: "B-X"}, ValueError, "no name for id 1"),
        ([0, 1, 2], TypeError, "names must be strings"),
        ({"O": 0, "B-X": 1}, TypeError, "is it label2id"),
        (None, TypeError, "id2label must be a list"),
    ],
)
def test_inside_label_ids_refuses(id2label, error, message):
    with pytest.raises(error, match=message):
        inside_label_ids(id2label)


# ------------------------------------------------------ 7. regression has no classes
def test_predict_and_evaluate_refuse_a_regression_model(tok):
    regressor = BertForSequenceClassification(_config(tok), num_labels=1)
    with pytest.raises(ValueError, match="predict needs a single-label classifier"):
        predict(regressor, tok, ["a"])
    with pytest.raises(ValueError, match="evaluate needs a single-label classifier"):
        evaluate(regressor, RECORDS, ClassificationCollator(tok))
    assert predict_logits(regressor, RECORDS, ClassificationCollator(tok)).shape == (
        2,
        1,
    )


# ------------------------------------------------------------------ 8. NumPy labels
def test_numpy_integer_labels_are_class_ids(tok):
    records = [
        {"sentence": "a", "label": np.int64(1)},
        {"sentence": "b", "label": np.int32(0)},
    ]
    assert ClassificationCollator(tok, num_labels=2)(records)["labels"].tolist() == [
        1,
        0,
    ]
    tags = {"tokens": ["a"], "tags": [np.int64(1)]}
    assert TokenClassificationCollator(tok, LABEL2ID)([tags])["labels"].tolist() == [
        [-100, 1, -100]
    ]


# ---------------------------------------------------------- 9. no model or tokenizer
CALLS = {
    "predict_word_labels model": (
        lambda t, m, c: predict_word_labels(None, t, [["a"]]),
        "model must be a token classifier",
    ),
    "predict_word_labels tokenizer": (
        lambda t, m, c: predict_word_labels(m, None, [["a"]]),
        "tokenizer must be a bertmini Tokenizer",
    ),
    "predict_word_labels BertModel-like": (
        lambda t, m, c: predict_word_labels(c, t, [["a"]]),
        "model must be a token classifier",
    ),
    "predict_entities model": (
        lambda t, m, c: predict_entities(None, t, "Hello Bob"),
        "model must be a token classifier",
    ),
    "predict_entities tokenizer": (
        lambda t, m, c: predict_entities(m, None, "Hello Bob"),
        "tokenizer must be a bertmini Tokenizer",
    ),
    "encode_words tokenizer": (
        lambda t, m, c: encode_words(None, [["a"]]),
        "tokenizer must be a bertmini Tokenizer",
    ),
    "predict_logits model": (
        lambda t, m, c: predict_logits(None, RECORDS, ClassificationCollator(t)),
        "model must be a classifier",
    ),
    "predict_logits collator": (
        lambda t, m, c: predict_logits(c, RECORDS, None),
        "collator must",
    ),
    "evaluate model": (
        lambda t, m, c: evaluate(None, RECORDS, ClassificationCollator(t)),
        "model must be a classifier",
    ),
    "evaluate collator": (
        lambda t, m, c: evaluate(c, RECORDS, None),
        "collator must be a ClassificationCollator",
    ),
    "predict model": (
        lambda t, m, c: predict(None, t, ["a"]),
        "model must be a classifier",
    ),
    "predict tokenizer": (
        lambda t, m, c: predict(c, None, ["a"]),
        "tokenizer must be a bertmini Tokenizer",
    ),
}


@pytest.mark.parametrize("case", CALLS)
def test_a_missing_model_or_tokenizer_is_named(tok, tagger, classifier, case):
    call, message = CALLS[case]
    with pytest.raises(TypeError, match=message):
        call(tok, tagger, classifier)


# ------------------------------------------------- 10. an encoder without a head
@pytest.mark.parametrize("caller", ["predict_logits", "evaluate", "predict"])
def test_a_bare_encoder_is_refused_for_want_of_logits(tok, caller):
    encoder = BertModel(_config(tok))
    calls = {
        "predict_logits": lambda: predict_logits(
            encoder, RECORDS, ClassificationCollator(tok)
        ),
        "evaluate": lambda: evaluate(encoder, RECORDS, ClassificationCollator(tok)),
        "predict": lambda: predict(encoder, tok, ["a"]),
    }
    with pytest.raises(TypeError, match="BertModel returned .* no logits"):
        calls[caller]()
