"""The yardsticks of chapters 6 and 7: majority class, bag-of-words logistic regression,
sentence overlap."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

pytest.importorskip("sklearn")

from bertmini.baselines import (
    evaluate_bag_of_words,
    fit_bag_of_words,
    majority_accuracy,  # noqa: E402
    majority_class,
    sentence_overlap_baseline,
    top_features,
)

POSITIVE = ["wonderful", "moving", "brilliant", "charming", "funny"]
NEGATIVE = ["dull", "boring", "tedious", "awful", "flat"]
FILLER = ["the", "film", "plot", "actors", "story", "is", "a", "with", "and", "of"]


def toy_reviews(n: int, seed: int) -> tuple[list[str], list[int]]:
    """Sentences of filler words plus one sentiment word: learnable only from that word."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        y = rng.randint(0, 1)
        words = rng.sample(FILLER, 5) + [rng.choice(POSITIVE if y else NEGATIVE)]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(y)
    return texts, labels


def test_majority_class_and_accuracy():
    assert majority_class([1, 0, 1, 1]) == 1
    # A tie goes to the smallest label: deterministic
    assert majority_class([0, 1]) == 0
    assert majority_accuracy([1, 1, 0], [1, 0, 0, 1]) == 0.5
    with pytest.raises(ValueError, match="at least one"):
        majority_class([])


def test_bag_of_words_learns_sentiment_words_and_generalises():
    texts, labels = toy_reviews(200, seed=0)
    model = fit_bag_of_words(texts, labels)
    test_texts, test_labels = toy_reviews(100, seed=1)
    result = evaluate_bag_of_words(model, test_texts, test_labels)
    assert result["accuracy"] >= 0.95
    assert len(result["predictions"]) == 100
    top = top_features(model, k=5)
    # The strongest features are exactly the sentiment words, with the right signs.
    assert {w for w, _ in top["positive"]} == set(POSITIVE)
    assert {w for w, _ in top["negative"]} == set(NEGATIVE)
    assert all(weight > 0 for _, weight in top["positive"])
    assert all(weight < 0 for _, weight in top["negative"])


def test_bigrams_let_a_bag_of_words_see_not_good():
    """With word pairs, "not good" can get its own weight; with single words it cannot."""
    texts = ["good", "not good", "great", "not great", "bad", "not bad"] * 10
    labels = [1, 0, 1, 0, 0, 1] * 10
    unigrams = fit_bag_of_words(texts, labels, ngram_range=(1, 1), C=100.0)
    bigrams = fit_bag_of_words(texts, labels, ngram_range=(1, 2), C=100.0)
    assert evaluate_bag_of_words(bigrams, texts, labels)["accuracy"] == 1.0
    assert evaluate_bag_of_words(unigrams, texts, labels)["accuracy"] < 1.0


def test_keeps_negation_token_nt():
    """sklearn's default token pattern drops "n't"; ours keeps it as a feature."""
    model = fit_bag_of_words(
        ["it is n't good", "it is good"], [0, 1], ngram_range=(1, 1)
    )
    assert "n't" in set(model.named_steps["vectorizer"].get_feature_names_out())


def test_counts_instead_of_tfidf():
    texts, labels = toy_reviews(100, seed=2)
    model = fit_bag_of_words(texts, labels, tfidf=False)
    assert type(model.named_steps["vectorizer"]).__name__ == "CountVectorizer"


@pytest.mark.parametrize(
    "texts, labels, error, match",
    [
        (["a", "b"], [0], ValueError, "one label per text"),
        ([], [], ValueError, "empty"),
        ("a good film", [1], TypeError, "not one string"),
        (["a", 3], [0, 1], TypeError, "must be a string"),
        (["a", "b"], [0, 1.0], TypeError, "integer class ids"),
        (["a", "b"], [1, 1], ValueError, "at least two classes"),
    ],
)
def test_bad_inputs_are_named(texts, labels, error, match):
    with pytest.raises(error, match=match):
        fit_bag_of_words(texts, labels)


def test_top_features_rejects_bad_k():
    texts, labels = toy_reviews(50, seed=3)
    with pytest.raises(ValueError, match="positive integer"):
        top_features(fit_bag_of_words(texts, labels), k=0)


def test_importing_bertmini_does_not_import_sklearn():
    code = (
        "import sys, bertmini, bertmini.baselines; assert 'sklearn' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


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
