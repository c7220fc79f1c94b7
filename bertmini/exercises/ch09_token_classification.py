"""The exercises of Chapter 9: token classification: reference solutions, hidden cases,
and the usual mistakes (labels on every piece, stray I- tags, partial matches counted as
right).
"""

from __future__ import annotations

import random

from .checker import Case, Exercise, Mistake

IGNORE = -100  # the label the loss skips


# ------------------------------------------------------------------ 9.1 label alignment
def align_first_piece_reference(word_ids: list, word_labels: list) -> list[int]:
    """One label per piece: the word's label on its first piece; -100 on the word's
    other pieces and on special tokens and padding (word id None).
    """
    out, previous = [], None
    for w in word_ids:
        out.append(IGNORE if w is None or w == previous else word_labels[w])
        previous = w
    return out


def _align_every_piece(word_ids, word_labels):
    return [IGNORE if w is None else word_labels[w] for w in word_ids]


def _align_specials_zero(word_ids, word_labels):
    return [
        0 if w is None else y
        for w, y in zip(word_ids, align_first_piece_reference(word_ids, word_labels))
    ]


def _align_by_position(word_ids, word_labels):
    return [
        word_labels[i] if i < len(word_labels) else IGNORE for i in range(len(word_ids))
    ]


def _align_args(word_ids, word_labels):
    return lambda: (list(word_ids), list(word_labels))


ALIGN_FIRST_PIECE = Exercise(
    name="align_first_piece",
    title="Exercise 9.1: labels for the pieces",
    kind="function",
    signature="align_first_piece(word_ids, word_labels) -> list of piece labels",
    reference=align_first_piece_reference,
    cases=[
        Case("no word is split", _align_args([None, 0, 1, 2, None], [0, 3, 4])),
        Case(
            "one word in three pieces",
            _align_args([None, 0, 1, 1, 1, 2, None], [0, 7, 0]),
        ),
        Case(
            "split words and padding",
            _align_args([None, 0, 0, 1, 2, 2, 3, None, None, None], [1, 2, 0, 5]),
        ),
        Case(
            "two split words side by side",
            _align_args([None, 0, 0, 1, 1, None], [9, 10]),
        ),
    ],
    mistakes=[
        Mistake(
            _align_every_piece,
            "every piece of a word got the word's label: only its first piece should; "
            "the other pieces get -100 (a word id equal to the previous piece's).",
        ),
        Mistake(
            _align_specials_zero,
            "[CLS], [SEP] and padding (word id None) got label 0, so the model "
            "is trained to call them 'O'; they get -100, which the loss skips.",
        ),
        Mistake(
            _align_by_position,
            "the labels were copied by position (piece i gets word i's label): "
            "look each piece's word up through word_ids instead.",
        ),
    ],
)


# ----------------------------------------------------------- 9.2 entities from BIO tags
def _split(tag: str) -> tuple[str, str]:
    return ("O", "") if tag == "O" else (tag[0], tag[2:])


def bio_entities_reference(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, first, last) of every entity, inclusive word indices, by CoNLL's rules."""
    found, start, kind = [], None, ""
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, type_ = _split(tag)
        if start is not None and (prefix in ("O", "B") or type_ != kind):
            found.append((kind, start, i - 1))
            start = None
        if prefix == "B" or (prefix == "I" and start is None):
            start, kind = i, type_
    return found


def _bio_only_b_starts(tags):
    found, start, kind = [], None, ""
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, type_ = _split(tag)
        if start is not None and (prefix in ("O", "B") or type_ != kind):
            found.append((kind, start, i - 1))
            start = None
        if prefix == "B":
            start, kind = i, type_
    return found


def _bio_ignores_type_change(tags):
    found, start, kind = [], None, ""
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, type_ = _split(tag)
        if start is not None and prefix in ("O", "B"):
            found.append((kind, start, i - 1))
            start = None
        if prefix == "B" or (prefix == "I" and start is None):
            start, kind = i, type_
    return found


def _bio_b_continues(tags):
    found, start, kind = [], None, ""
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, type_ = _split(tag)
        if start is not None and (prefix == "O" or type_ != kind):
            found.append((kind, start, i - 1))
            start = None
        if start is None and prefix in ("B", "I"):
            start, kind = i, type_
    return found


def _bio_last_entity_lost(tags):
    found, start, kind = [], None, ""
    for i, tag in enumerate(tags):
        prefix, type_ = _split(tag)
        if start is not None and (prefix in ("O", "B") or type_ != kind):
            found.append((kind, start, i - 1))
            start = None
        if prefix == "B" or (prefix == "I" and start is None):
            start, kind = i, type_
    return found


def _tags_args(tags):
    return lambda: (list(tags),)


BIO_ENTITIES = Exercise(
    name="bio_entities",
    title="Exercise 9.2: entities from BIO tags",
    kind="function",
    signature="bio_entities(tags) -> [(type, first, last), ...]",
    reference=bio_entities_reference,
    cases=[
        Case(
            "two entities and O",
            _tags_args(["B-person", "I-person", "O", "B-location", "O"]),
        ),
        Case(
            "an entity at the very end",
            _tags_args(["O", "O", "B-group", "I-group", "I-group"]),
        ),
        Case(
            "B- right after B- of the same type",
            _tags_args(["B-person", "B-person", "I-person", "O"]),
        ),
        Case(
            "I- without B- (after O)",
            _tags_args(["O", "I-product", "I-product", "O", "B-person", "O"]),
        ),
        Case(
            "a change of type without B-",
            _tags_args(["B-person", "I-location", "I-location", "O"]),
        ),
        Case("no entity at all", _tags_args(["O", "O", "O"])),
    ],
    mistakes=[
        Mistake(
            _bio_only_b_starts,
            "an I- tag after O (or at the start) was dropped: under CoNLL's rules "
            "it starts an entity of its own type, as if it were B-.",
        ),
        Mistake(
            _bio_ignores_type_change,
            "an I- tag of another type continued the entity: a change of "
            "type ends the current entity and starts a new one.",
        ),
        Mistake(
            _bio_b_continues,
            "a B- tag right after an entity of the same type continued it: B- always "
            "starts a new entity (that is what B- is for).",
        ),
        Mistake(
            _bio_last_entity_lost,
            "an entity that runs to the last word was lost: close the open "
            "entity after the loop (or append an 'O' to the tags).",
        ),
    ],
)


# ------------------------------------------------------------------ 9.3 entity-level F1
def entity_f1_reference(
    true_tags: list[list[str]], pred_tags: list[list[str]]
) -> float:
    """Micro-averaged entity F1 over all sentences: an entity counts only with the right
    type and both boundaries right; 0 where precision + recall is 0.
    """
    true = {
        (n, *e)
        for n, tags in enumerate(true_tags)
        for e in bio_entities_reference(tags)
    }
    pred = {
        (n, *e)
        for n, tags in enumerate(pred_tags)
        for e in bio_entities_reference(tags)
    }
    correct = len(true & pred)
    precision = correct / len(pred) if pred else 0.0
    recall = correct / len(true) if true else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _token_accuracy(true_tags, pred_tags):
    pairs = [(t, p) for ts, ps in zip(true_tags, pred_tags) for t, p in zip(ts, ps)]
    return sum(t == p for t, p in pairs) / len(pairs)


def _entity_f1_overlap(true_tags, pred_tags):
    true = [
        (n, *e)
        for n, tags in enumerate(true_tags)
        for e in bio_entities_reference(tags)
    ]
    pred = [
        (n, *e)
        for n, tags in enumerate(pred_tags)
        for e in bio_entities_reference(tags)
    ]

    def hit(a, others):
        return any(
            a[0] == b[0] and a[1] == b[1] and a[2] <= b[3] and b[2] <= a[3]
            for b in others
        )

    precision = sum(hit(p, true) for p in pred) / len(pred) if pred else 0.0
    recall = sum(hit(t, pred) for t in true) / len(true) if true else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _entity_f1_ignores_type(true_tags, pred_tags):
    strip = [[t if t == "O" else t[:2] + "X" for t in tags] for tags in true_tags]
    strip_pred = [[t if t == "O" else t[:2] + "X" for t in tags] for tags in pred_tags]
    return entity_f1_reference(strip, strip_pred)


def _entity_f1_mean_over_sentences(true_tags, pred_tags):
    return sum(
        entity_f1_reference([t], [p]) for t, p in zip(true_tags, pred_tags)
    ) / len(true_tags)


def _random_corpus(seed):
    def make():
        rng = random.Random(seed)
        tags = ["O"] * 4 + [f"{p}-{t}" for t in ("person", "location") for p in "BI"]
        true, pred = [], []
        for _ in range(6):
            t = [rng.choice(tags) for _ in range(rng.randint(3, 10))]
            true.append(t)
            pred.append([rng.choice(tags) if rng.random() < 0.3 else x for x in t])
        return true, pred

    return make


def _corpus_args(true, pred):
    return lambda: ([list(t) for t in true], [list(p) for p in pred])


ENTITY_F1 = Exercise(
    name="entity_f1",
    title="Exercise 9.3: entity-level F1",
    kind="function",
    signature="entity_f1(true_tags, pred_tags) -> float",
    reference=entity_f1_reference,
    cases=[
        Case(
            "a boundary error and a type error",
            _corpus_args(
                [
                    ["B-person", "I-person", "O", "B-location"],
                    ["O", "B-group", "I-group"],
                    ["B-product", "O"],
                ],
                [
                    ["B-person", "I-person", "O", "B-location"],
                    ["O", "B-group", "O"],
                    ["B-location", "O"],
                ],
            ),
        ),
        Case(
            "all O predicted",
            _corpus_args(
                [["B-person", "O"], ["O", "B-location"]], [["O", "O"], ["O", "O"]]
            ),
        ),
        Case(
            "one sentence perfect, one with nothing to find",
            _corpus_args(
                [["B-group", "I-group", "I-group"], ["O", "O"], ["O", "B-person"]],
                [["B-group", "I-group", "I-group"], ["B-person", "O"], ["O", "O"]],
            ),
        ),
        Case("six random sentences", _random_corpus(90)),
        Case("six more random sentences", _random_corpus(91)),
    ],
    mistakes=[
        Mistake(
            _token_accuracy,
            "this is the share of words with the right tag (token accuracy): count "
            "entities instead, predicted and true, and the predicted ones that match "
            "exactly.",
        ),
        Mistake(
            _entity_f1_overlap,
            "a predicted entity that only overlaps a true one was counted as right: "
            "CoNLL's rule needs both boundaries (and the type) to match exactly.",
        ),
        Mistake(
            _entity_f1_ignores_type,
            "a predicted entity with the right span but the wrong type was "
            "counted as right: the type must match too.",
        ),
        Mistake(
            _entity_f1_mean_over_sentences,
            "the F1 of each sentence was averaged: count the entities of all "
            "sentences together (a micro average), then compute one precision and one "
            "recall.",
        ),
    ],
)

EXERCISES = [ALIGN_FIRST_PIECE, BIO_ENTITIES, ENTITY_F1]
