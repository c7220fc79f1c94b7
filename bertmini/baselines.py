"""Baselines that a fine-tuned BERT has to beat, so that its accuracy means something.

A number such as "86% on SST-2" says little alone. Two yardsticks give it a scale:

- the **majority class**: always answer the most frequent training label. Anything at or
  below it has learnt nothing about the text;
- a **bag of words**: TF-IDF weights of the words and word pairs of a sentence, then a
  logistic regression. It knows which words are positive ("wonderful") or negative
  ("dull") but not their order, so "not good" is just "not" + "good". The gap between it
  and BERT is what reading the whole sentence in context is worth.

For extractive question answering, the yardstick is word overlap:
`sentence_overlap_baseline` answers with the context sentence that shares the most
content words with the question.

scikit-learn is imported inside the functions, so importing `bertmini` stays light.
"""

from __future__ import annotations

import numbers
import re
from collections import Counter
from typing import Any, Sequence

import numpy as np

from ._validate import check_bool, check_int, check_number, check_str
from .metrics import accuracy, normalize_answer


def as_label_list(name: str, labels: Any) -> list[int]:
    """`labels` as a list of Python ints; a list, tuple, 1-D NumPy array or 1-D tensor.

    Why convert: a tensor's elements are 0-d tensors that hash by identity, so
    `Counter(torch.tensor([1, 1, 1, 0]))` sees four different labels and the "majority"
    is then whichever sorts first. Python ints compare and hash by value.
    """
    if isinstance(labels, (str, bytes)):
        raise TypeError(f"{name} must be a list of integer class ids, got a string")
    if hasattr(labels, "tolist") and hasattr(labels, "ndim"):  # NumPy array, tensor
        if labels.ndim != 1:
            raise ValueError(
                f"{name} must be one-dimensional (one label per example), got shape "
                f"{tuple(labels.shape)}"
            )
        labels = labels.tolist()
    try:
        labels = list(labels)
    except TypeError:
        raise TypeError(
            f"{name} must be a list of integer class ids, got {type(labels).__name__}"
        ) from None
    for y in labels:
        if isinstance(y, bool) or not isinstance(y, numbers.Integral):
            raise TypeError(
                f"{name} must be integer class ids, got {y!r} ({type(y).__name__})"
            )
    return [int(y) for y in labels]


def check_texts_and_labels(texts: Sequence[str], labels: Sequence[int]) -> None:
    """Fail early with a message that names the problem (sklearn's own errors are
    cryptic here).
    """
    if isinstance(texts, str):
        raise TypeError(
            "texts must be a list of strings, not one string; wrap it: [text]"
        )
    if not hasattr(texts, "__len__") or not hasattr(texts, "__iter__"):
        raise TypeError(f"texts must be a list of strings, got {type(texts).__name__}")
    labels = as_label_list("labels", labels)
    if len(texts) != len(labels):
        raise ValueError(
            f"got {len(texts)} texts but {len(labels)} labels: there must be one label "
            "per text"
        )
    if len(texts) == 0:
        raise ValueError("cannot fit a baseline on an empty training set")
    for t in texts:
        if not isinstance(t, str):
            raise TypeError(
                f"every text must be a string, got {type(t).__name__}: {t!r:.60}"
            )


def majority_class(labels: Sequence[int]) -> int:
    """The most frequent label (the smallest one on a tie, so the answer is
    deterministic). A tensor or NumPy array is read as its Python ints.
    """
    labels = as_label_list("labels", labels)
    if len(labels) == 0:
        raise ValueError("majority_class needs at least one label")
    counts = Counter(labels)
    return min(counts, key=lambda y: (-counts[y], y))


def majority_accuracy(train_labels: Sequence[int], test_labels: Sequence[int]) -> float:
    """Accuracy on `test_labels` of always predicting the majority class of
    `train_labels`.
    """
    test_labels = as_label_list("test_labels", test_labels)
    if len(test_labels) == 0:
        raise ValueError("majority_accuracy needs at least one test label")
    train_labels = as_label_list("train_labels", train_labels)
    if len(train_labels) == 0:
        raise ValueError("majority_accuracy needs at least one train label")
    guess = majority_class(train_labels)
    return accuracy(test_labels, [guess] * len(test_labels))


def fit_bag_of_words(
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    ngram_range: tuple[int, int] = (1, 2),
    min_df: int = 1,
    C: float = 10.0,
    tfidf: bool = True,
    max_iter: int = 2000,
):
    """A TF-IDF (or word-count) bag of words + logistic regression, fitted on `texts`.

    Returns a fitted scikit-learn `Pipeline` ("vectorizer" then "classifier"): call
    `.predict(texts)` or `.predict_proba(texts)` on raw strings. `ngram_range=(1, 2)`
    adds word pairs, which is the only way a bag of words can see "not good" as one
    feature. `C` is the inverse regularisation strength; with a few thousand short
    sentences a weak penalty (C = 10) works better than sklearn's default of 1.
    """
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    labels = as_label_list("labels", labels)
    check_texts_and_labels(texts, labels)
    _check_bag_of_words_settings(ngram_range, min_df, tfidf, C, max_iter)
    if len(set(labels)) < 2:
        raise ValueError(
            f"all {len(labels)} training labels are {labels[0]!r}: a classifier needs "
            "examples of at least two classes"
        )
    vectorizer_cls = TfidfVectorizer if tfidf else CountVectorizer
    # SST-2 is already lower-cased and split into tokens; the pattern keeps one-letter
    # words and punctuation-free tokens such as "n't" (a default sklearn tokenizer would
    # drop "n't").
    vectorizer = vectorizer_cls(
        ngram_range=ngram_range,
        min_df=min_df,
        lowercase=True,
        token_pattern=r"(?u)[\w']+",
    )
    classifier = LogisticRegression(C=C, max_iter=max_iter)
    pipeline = Pipeline([("vectorizer", vectorizer), ("classifier", classifier)])
    pipeline.fit(list(texts), list(labels))
    return pipeline


def _check_bag_of_words_settings(ngram_range, min_df, tfidf, C, max_iter) -> None:
    check_bool("tfidf", tfidf)
    # sklearn reads an int as a count of documents, a float as a share of them
    if isinstance(min_df, float):
        check_number("min_df", min_df, low=0.0, high=1.0)
    else:
        check_int("min_df", min_df, minimum=1)
    check_int("max_iter", max_iter, minimum=1)
    check_number("C", C, low=0, low_open=True)
    if (
        not isinstance(ngram_range, tuple)
        or len(ngram_range) != 2
        or not all(
            isinstance(n, numbers.Integral) and not isinstance(n, bool)
            for n in ngram_range
        )
        or not 1 <= ngram_range[0] <= ngram_range[1]
    ):
        raise ValueError(
            "ngram_range must be a tuple (min_n, max_n) of integers with "
            f"1 <= min_n <= max_n, e.g. (1, 2), got {ngram_range!r}"
        )


def check_pipeline(pipeline: Any) -> None:
    """What `fit_bag_of_words` returns: a fitted sklearn Pipeline with a "vectorizer"
    and a "classifier" step (not, say, its predictions or the vectorizer alone)."""
    steps = getattr(pipeline, "named_steps", None)
    if steps is None or "vectorizer" not in steps or "classifier" not in steps:
        raise TypeError(
            "pipeline must be what fit_bag_of_words returns (a fitted sklearn "
            f"Pipeline), got {type(pipeline).__name__}"
        )


def top_features(pipeline, k: int = 10) -> dict[str, list[tuple[str, float]]]:
    """The k words (or word pairs) pushing hardest towards each side of a two-class bag
    of words.

    Returns {"negative": [(word, weight), ...], "positive": [...]}, strongest first;
    "negative" means towards class 0. This is what the baseline *is*: a signed weight
    per word.
    """
    check_pipeline(pipeline)
    vectorizer = pipeline.named_steps["vectorizer"]
    classifier = pipeline.named_steps["classifier"]
    if classifier.coef_.shape[0] != 1:
        raise ValueError(
            f"top_features is for two classes; this model has {len(classifier.classes_)}"
        )
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k <= 0:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    k = int(k)
    words = vectorizer.get_feature_names_out()
    weights = classifier.coef_[0]
    order = weights.argsort()
    negative = [(str(words[i]), float(weights[i])) for i in order[:k]]
    positive = [(str(words[i]), float(weights[i])) for i in order[::-1][:k]]
    return {"negative": negative, "positive": positive}


def evaluate_bag_of_words(
    pipeline, texts: Sequence[str], labels: Sequence[int]
) -> dict[str, Any]:
    """Accuracy and predictions of a fitted bag of words on labelled texts."""
    check_pipeline(pipeline)
    labels = as_label_list("labels", labels)
    check_texts_and_labels(texts, labels)
    predictions = [int(p) for p in pipeline.predict(list(texts))]
    return {"accuracy": accuracy(labels, predictions), "predictions": predictions}


# ------------------------------------------------------------------ question answering
# Words that every question shares with every sentence; counting them would reward
# length.
_STOP_WORDS = frozenset(
    "a an the of in on at to for from by with and or is are was were be been being did do does "
    "what which who whom whose when where why how that this these those it its as into than "
    "there their they he she his her has have had not no".split()
)


def _content_words(text: str) -> set[str]:
    return {w for w in normalize_answer(text).split() if w not in _STOP_WORDS}


def sentence_overlap_baseline(question: str, context: str) -> str:
    """The context sentence sharing the most content words with the question.

    No model at all: it shows how far word overlap gets on SQuAD (questions are often
    paraphrases of the answer's sentence) and why a span-level model is needed for EM.
    Ties go to the earlier sentence; the result is always a substring of `context`.
    """
    check_str("question", question)
    check_str("context", context)
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", context) if s.strip()]
    if not sentences:
        return ""
    question_words = _content_words(question)
    overlaps = [len(question_words & _content_words(s)) for s in sentences]
    return sentences[int(np.argmax(overlaps))]
