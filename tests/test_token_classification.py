"""bertmini.token_classification: the model against transformers, label alignment, the
entity metric against seqeval, and predictions back to words and character spans."""

from __future__ import annotations

import os
import random
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from bertmini import BertConfig, BertForTokenClassification, Tokenizer
from bertmini.checkpoint import load_hf_state_dict
from bertmini.token_classification import (
    TokenClassificationCollator,
    align_labels,
    class_weights,
    encode_words,
    entities,
    entity_scores,
    inside_label_ids,
    predict_entities,
    predict_word_labels,
    word_labels_from_pieces,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
TYPES = ["corporation", "creative-work", "group", "location", "person", "product"]
LABELS = ["O"] + [f"{p}-{t}" for t in TYPES for p in "BI"]
LABEL2ID = {name: i for i, name in enumerate(LABELS)}
TINY = dict(
    vocab_size=30522,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    max_position_embeddings=64,
    type_vocab_size=2,
)

SENTENCES = [
    (
        ["Kim", "Kardashian", "visited", "Reykjavik", "yesterday", ":)"],
        ["B-person", "I-person", "O", "B-location", "O", "O"],
    ),
    (
        ["@paulwalk", "It", "'s", "the", "Empire", "State", "Building", "=", "ESB"],
        [
            "O",
            "O",
            "O",
            "O",
            "B-location",
            "I-location",
            "I-location",
            "O",
            "B-location",
        ],
    ),
    (
        ["new", "#Xbox", "game", "from", "Microsoftt"],
        ["O", "B-product", "O", "O", "B-corporation"],
    ),
]


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer.from_pretrained("all-MiniLM-L6-v2")


def _wnut(split):
    mirror = os.environ.get("BERTMINI_DATA_MIRROR") or str(
        REPO_ROOT.parent / "shared" / "data"
    )
    if "://" in mirror or not (Path(mirror) / "wnut17").is_dir():
        pytest.skip("no data mirror with wnut17/: set BERTMINI_DATA_MIRROR")
    os.environ.setdefault("BERTMINI_DATA_MIRROR", mirror)
    from bertmini.data import load_wnut17

    return load_wnut17(split)


# ------------------------------------------------------------------------- alignment
def test_first_piece_gets_the_label_other_pieces_and_specials_get_minus_100(tokenizer):
    words, tags = SENTENCES[0]
    batch, word_ids = encode_words(tokenizer, [words])
    pieces = tokenizer.convert_ids_to_tokens(batch["input_ids"][0])
    labels = align_labels(word_ids[0], [LABEL2ID[t] for t in tags])
    assert (
        pieces[0] == "[CLS]"
        and pieces[-1] == "[SEP]"
        and labels[0] == labels[-1] == -100
    )
    assert len(pieces) > len(words) + 2, (
        "some word must be split for this test to mean anything"
    )
    for t, (piece, w, y) in enumerate(zip(pieces, word_ids[0], labels)):
        if w is None:
            continue
        if w != word_ids[0][t - 1]:
            assert y == LABEL2ID[tags[w]], (piece, w)
        else:
            assert y == -100, piece


def test_every_piece_option_turns_b_into_i_on_continuation_pieces(tokenizer):
    words, tags = SENTENCES[0]
    _, word_ids = encode_words(tokenizer, [words])
    inside = inside_label_ids(LABELS)
    assert LABELS[inside[LABEL2ID["B-person"]]] == "I-person"
    assert (
        inside[LABEL2ID["O"]] == LABEL2ID["O"]
        and inside[LABEL2ID["I-group"]] == LABEL2ID["I-group"]
    )
    labels = align_labels(word_ids[0], [LABEL2ID[t] for t in tags], True, inside)
    names = [LABELS[y] if y != -100 else None for y in labels]
    for t, w in enumerate(word_ids[0]):
        if w is None:
            assert names[t] is None
        elif w == word_ids[0][t - 1]:
            assert names[t] == tags[w].replace("B-", "I-")
        else:
            assert names[t] == tags[w]
    # The per-piece sequence still reads as the same entities, one per word span.
    piece_tags = [n for n in names if n is not None]
    assert [e[0] for e in entities(piece_tags)] == [e[0] for e in entities(tags)]


@pytest.mark.parametrize("every_piece", [False, True])
def test_aligned_labels_decode_back_to_the_word_tags(tokenizer, every_piece):
    sentences = [s for s in SENTENCES]
    try:
        sentences += [(r["tokens"], r["tags"]) for r in _wnut("dev")[:300]]
    except pytest.skip.Exception:
        pass
    collator = TokenClassificationCollator(
        tokenizer, LABEL2ID, max_length=512, label_all_pieces=every_piece
    )
    records = [{"tokens": w, "tags": t} for w, t in sentences]
    batch = collator(records)
    _, word_ids = encode_words(tokenizer, [w for w, _ in sentences], max_length=512)
    for (words, tags), ids, row in zip(sentences, word_ids, batch["labels"].tolist()):
        back = word_labels_from_pieces(ids, row, len(words))
        assert [LABELS[y] for y in back] == tags


def test_truncated_words_have_no_label_and_predict_as_o(tokenizer):
    words = ["word"] * 20
    _, word_ids = encode_words(tokenizer, [words], max_length=8)
    labels = align_labels(word_ids[0], [1] * 20)
    assert word_labels_from_pieces(word_ids[0], labels, 20) == [1] * 6 + [-100] * 14


def test_alignment_refuses_bad_inputs(tokenizer):
    with pytest.raises(ValueError, match=r"contains 3, outside \[0, 2\) word labels"):
        align_labels([None, 0, 3, None], [1, 2])
    with pytest.raises(ValueError, match=r"contains -1, outside"):
        align_labels([None, -1, None], [1, 2])  # would read the last word's label
    with pytest.raises(TypeError, match="word_ids must be integers or None, got 1.0"):
        align_labels([None, 0, 1.0, None], [1, 2])
    with pytest.raises(TypeError, match="word_labels must be integer class ids"):
        align_labels([None, 0, 1, None], [1, 2.0])
    with pytest.raises(TypeError, match="label_all_pieces must be True or False"):
        align_labels([None, 0, None], [1], label_all_pieces="no")
    with pytest.raises(ValueError, match="2 word ids but 3 piece labels"):
        word_labels_from_pieces([None, 0], [1, 2, 3], 1)
    with pytest.raises(TypeError, match="list of words"):
        encode_words(tokenizer, ["a sentence as one string"])
    collator = TokenClassificationCollator(tokenizer, LABEL2ID)
    with pytest.raises(ValueError, match="2 tokens but 1 tags"):
        collator([{"tokens": ["a", "b"], "tags": ["O"]}])
    with pytest.raises(ValueError, match="tag 'B-PER' is not in label2id"):
        collator([{"tokens": ["a"], "tags": ["B-PER"]}])


# ------------------------------------------------------------------ entities and scores
seqeval = pytest.importorskip("seqeval")
from seqeval.metrics import (  # noqa: E402
    classification_report,
    f1_score,
    precision_score,
    recall_score,
)
from seqeval.metrics.sequence_labeling import get_entities  # noqa: E402

HAND_MADE = [
    ["B-PER", "I-PER", "O", "B-LOC"],
    ["I-PER", "I-PER", "O"],  # I- without B- starts an entity
    ["B-PER", "B-PER", "I-PER"],  # B- after B- of the same type: two entities
    ["B-PER", "I-LOC", "I-LOC", "O"],  # a change of type ends one and starts another
    ["O", "I-LOC", "B-LOC", "I-PER"],
    ["B-ORG"],
    ["O", "O"],
    ["I-MISC", "B-MISC", "I-MISC", "I-MISC"],
]


@pytest.mark.parametrize("tags", HAND_MADE, ids=[" ".join(t) for t in HAND_MADE])
def test_entities_match_seqeval_on_hand_made_cases(tags):
    assert entities(tags) == [tuple(e) for e in get_entities(tags)]


def test_entities_on_a_worked_example():
    assert entities(["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-PER"]) == [
        ("PER", 0, 1),
        ("LOC", 3, 3),
        ("LOC", 4, 4),
        ("PER", 5, 5),
    ]
    with pytest.raises(ValueError, match="'E-PER' is not a BIO tag"):
        entities(["E-PER"])
    with pytest.raises(ValueError, match="'B-' is not a BIO tag"):
        entities(["B-"])


def _assert_same_as_seqeval(true, pred):
    ours = entity_scores(true, pred)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns on 0/0
        assert ours["precision"] == pytest.approx(
            precision_score(true, pred), abs=1e-12
        )
        assert ours["recall"] == pytest.approx(recall_score(true, pred), abs=1e-12)
        assert ours["f1"] == pytest.approx(f1_score(true, pred), abs=1e-12)
        report = classification_report(true, pred, output_dict=True)
    for kind, mine in ours["per_type"].items():
        theirs = report[kind]
        assert mine["precision"] == pytest.approx(theirs["precision"], abs=1e-12), kind
        assert mine["recall"] == pytest.approx(theirs["recall"], abs=1e-12), kind
        assert mine["f1"] == pytest.approx(theirs["f1-score"], abs=1e-12), kind
        assert mine["support"] == theirs["support"], kind
    named = {k for k in report if k not in ("micro avg", "macro avg", "weighted avg")}
    assert named <= set(ours["per_type"])


def test_entity_scores_match_seqeval_on_hand_made_cases():
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG", "I-ORG"], ["B-LOC", "O"]]
    # Right span, wrong type: wrong
    pred = [
        ["B-PER", "I-PER", "O", "B-LOC"],  # both right
        ["O", "B-ORG", "O"],  # right type, wrong end: wrong
        ["B-PER", "O"],
    ]
    scores = entity_scores(true, pred)
    assert (scores["correct"], scores["predicted"], scores["true"]) == (2, 4, 4)
    assert scores["f1"] == pytest.approx(0.5)
    _assert_same_as_seqeval(true, pred)
    _assert_same_as_seqeval(true, [["O"] * len(t) for t in true])  # all-O: F1 0
    assert entity_scores(true, [["O"] * len(t) for t in true])["f1"] == 0.0
    _assert_same_as_seqeval(true, true)
    assert entity_scores(true, true)["f1"] == 1.0


@pytest.mark.parametrize("seed", range(40))
def test_entity_scores_match_seqeval_on_random_tag_sequences(seed):
    rng = random.Random(seed)
    tags = ["O"] * 4 + [
        f"{p}-{t}" for t in ("PER", "LOC", "creative-work") for p in "BI"
    ]
    true, pred = [], []
    for _ in range(rng.randint(1, 8)):
        n = rng.randint(1, 12)
        t = [rng.choice(tags) for _ in range(n)]
        # predictions: mostly the truth with some tags changed, so that matches happen
        p = [rng.choice(tags) if rng.random() < 0.3 else x for x in t]
        true.append(t)
        pred.append(p)
    _assert_same_as_seqeval(true, pred)


def test_entity_scores_refuse_mismatched_inputs():
    with pytest.raises(ValueError, match="2 true sequences but 1 predicted"):
        entity_scores([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="sentence 0: 2 true tags but 1 predicted"):
        entity_scores([["O", "O"]], [["O"]])
    with pytest.raises(TypeError, match="lists of tag sequences"):
        entity_scores(["O"], ["O"])


# ------------------------------------------------------------------------- the model
transformers = pytest.importorskip("transformers")


def test_minilm_token_classifier_matches_transformers_on_wnut_text(tokenizer):
    from bertmini.pretrained import named_model_dir

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = transformers.BertForTokenClassification.from_pretrained(
            str(named_model_dir("all-MiniLM-L6-v2")),
            num_labels=len(LABELS),
            attn_implementation="sdpa",
        ).eval()
        ours = BertForTokenClassification.from_pretrained(
            "all-MiniLM-L6-v2", id2label=LABELS
        )
    load_hf_state_dict(ours, ref.state_dict())  # the same (random) head on both
    batch = TokenClassificationCollator(tokenizer, LABEL2ID)(
        [{"tokens": w, "tags": t} for w, t in SENTENCES]
    )
    with torch.no_grad():
        mine, theirs = ours(**batch), ref(**batch)
    mask = batch["attention_mask"].bool()
    assert (mine.logits[mask] - theirs.logits[mask]).abs().max() <= 1e-5
    assert abs(float(mine.loss) - float(theirs.loss)) <= 1e-5


def test_labels_survive_save_and_load_both_ways(tmp_path):
    torch.manual_seed(0)
    model = BertForTokenClassification(BertConfig(**TINY), id2label=LABELS).eval()
    directory = model.save_pretrained(tmp_path / "ner")
    hf = transformers.BertForTokenClassification.from_pretrained(str(directory))
    assert hf.config.id2label[3] == LABELS[3] and hf.config.num_labels == len(LABELS)
    hf.save_pretrained(tmp_path / "ner-hf")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may be missing or new on the way back
        back = BertForTokenClassification.from_pretrained(tmp_path / "ner-hf")
    assert back.id2label == dict(enumerate(LABELS))
    for k, v in model.state_dict().items():
        assert torch.equal(v, back.state_dict()[k]), k


def test_class_weight_is_weighted_cross_entropy_and_not_saved(tmp_path):
    torch.manual_seed(0)
    model = BertForTokenClassification(BertConfig(**TINY), num_labels=3).eval()
    ids = torch.randint(5, 100, (2, 6))
    labels = torch.tensor([[-100, 0, 1, 2, 0, -100], [-100, 0, 0, 0, 2, -100]])
    weight = torch.tensor([0.5, 2.0, 3.0])
    plain = model(ids, labels=labels)
    model.set_class_weight(weight)
    weighted = model(ids, labels=labels)
    expected = F.cross_entropy(
        weighted.logits.reshape(-1, 3), labels.reshape(-1), weight=weight
    )
    assert torch.allclose(weighted.loss, expected) and not torch.allclose(
        weighted.loss, plain.loss
    )
    assert "class_weight" not in model.state_dict()
    with pytest.raises(ValueError, match="class_weight must be 3 positive numbers"):
        model.set_class_weight([1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="labels contains 3, outside"):
        model(ids, labels=torch.full((2, 6), 3))


def test_class_weights_from_counts():
    rows = [[-100, 0, 0, 0, 0, 1, -100], [0, 0, 0, 0, 1, 2]]
    w = class_weights(rows, 4, power=1.0)
    assert w.tolist() == [1.0, 4.0, 8.0, 8.0]  # label 3 never seen: counted as 1
    assert torch.allclose(class_weights(rows, 4, power=0.5), w.sqrt())


# ------------------------------------------------------------------------- prediction
class KeywordTagger(torch.nn.Module):
    """A stand-in model that tags pieces by their id, so predictions are known in
    advance."""

    def __init__(self, tokenizer, rules: dict[str, str]):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.id2label = dict(enumerate(LABELS))
        self.rules = {
            tokenizer.convert_tokens_to_ids(p): LABEL2ID[t] for p, t in rules.items()
        }

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        logits = torch.zeros(*input_ids.shape, len(LABELS))
        logits[..., 0] = 1.0
        for piece, label in self.rules.items():
            logits[input_ids == piece] = (
                F.one_hot(torch.tensor(label), len(LABELS)).float() * 3
            )
        return type("Out", (), {"logits": logits})()


def test_predict_entities_returns_character_spans_of_whole_words(tokenizer):
    assert tokenizer.tokenize("Kardashian")[0] == "ka"
    model = KeywordTagger(
        tokenizer,
        {
            "kim": "B-person",
            "ka": "I-person",
            "new": "B-location",
            "york": "I-location",
            "##rda": "B-group",
        },
    )
    text = "Kim Kardashian flew to  New York, again."
    found = predict_entities(model, tokenizer, text)
    assert [(e["type"], e["text"]) for e in found] == [
        ("person", "Kim Kardashian"),
        ("location", "New York"),
    ]
    for e in found:
        assert text[e["start"] : e["end"]] == e["text"] and 0 < e["score"] <= 1
    # "##rda" is not a first piece: its tag is never read.
    assert predict_word_labels(model, tokenizer, [["Kim", "Kardashian", "!"]]) == [
        ["B-person", "I-person", "O"]
    ]
    assert predict_entities(model, tokenizer, "nothing here") == []
    with pytest.raises(ValueError, match="non-empty string"):
        predict_entities(model, tokenizer, "   ")


def test_predict_word_labels_marks_truncated_words_o(tokenizer):
    model = KeywordTagger(tokenizer, {"kim": "B-person"})
    assert predict_word_labels(model, tokenizer, [["Kim"] * 10], max_length=6) == [
        ["B-person"] * 4 + ["O"] * 6
    ]


def test_predict_word_labels_keeps_the_sentences_order_across_batches(tokenizer):
    model = KeywordTagger(tokenizer, {"kim": "B-person", "york": "B-location"})
    sentences = [["Kim"] * 5, ["hello"], ["York", "Kim"], ["a", "b", "Kim"], ["York"]]
    expected = [
        ["B-person"] * 5,
        ["O"],
        ["B-location", "B-person"],
        ["O", "O", "B-person"],
        ["B-location"],
    ]
    assert predict_word_labels(model, tokenizer, sentences, batch_size=2) == expected
    for bad in ([], "Kim"):
        with pytest.raises(ValueError, match="non-empty list of word lists"):
            predict_word_labels(model, tokenizer, bad)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        predict_word_labels(model, tokenizer, sentences, batch_size=0)
