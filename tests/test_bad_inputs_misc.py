"""Bad inputs at the smaller boundaries: encode's flags, the cache path, sha256 of a
path with ~, and a NumPy num_labels that must still be saved as JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import bertmini
from bertmini.files import cache_dir, sha256_file
from bertmini.sentence_embeddings import encode

TINY = dict(
    vocab_size=30522,
    hidden_size=16,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=32,
)


@pytest.fixture(scope="module")
def tokenizer():
    return bertmini.Tokenizer.from_pretrained("all-MiniLM-L6-v2")


@pytest.mark.parametrize("flag", ["normalize", "progress"])
def test_encode_flags_must_be_bools(tokenizer, flag):
    torch.manual_seed(0)
    model = bertmini.BertModel(bertmini.BertConfig(**TINY))
    with pytest.raises(TypeError, match=f"{flag} must be True or False"):
        encode(model, tokenizer, ["a cat"], **{flag: "no"})
    vectors = encode(model, tokenizer, ["a cat"], normalize=False, progress=False)
    assert vectors.shape == (1, 16)


def test_the_cache_directory_must_be_a_path(tmp_path):
    with pytest.raises(TypeError, match="cache directory must be a path"):
        cache_dir(5)
    assert cache_dir(tmp_path) == tmp_path


def test_sha256_file_expands_the_home_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "x.bin").write_bytes(b"abc")
    assert sha256_file("~/x.bin") == sha256_file(tmp_path / "x.bin")


def test_a_numpy_num_labels_is_saved_as_a_plain_integer(tmp_path):
    model = bertmini.BertForSequenceClassification(
        bertmini.BertConfig(**TINY), num_labels=np.int64(3)
    )
    model.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert len(config["id2label"]) == 3


def test_numpy_integers_reach_the_code_that_needs_python_ints(tokenizer, tmp_path):
    """check_int accepts NumPy integers, so everything behind it must take them:
    random.Random, torch.Generator.manual_seed and a weights_only checkpoint refuse
    them (each raised a TypeError from inside before check_int returned a Python int).
    """
    from bertmini._validate import check_int
    from bertmini.pretraining import MLMCollator, make_nsp_pairs
    from bertmini.train import TrainConfig, fit
    from tests.test_train import tiny_data, tiny_model

    seven = check_int("x", np.int64(7))
    assert (
        seven == 7
        and type(seven) is int
        and check_int("x", None, optional=True) is None
    )
    bertmini.seed_everything(np.int64(1))
    batch = MLMCollator(tokenizer, seed=np.int64(1))([{"input_ids": [101, 7, 8, 102]}])
    assert batch["input_ids"].shape == (1, 4)
    pairs = make_nsp_pairs(
        ["A b. C d. E f.", "G h. I j. K l."], tokenizer, max_length=16, seed=np.int32(3)
    )
    assert pairs
    config = TrainConfig(
        lr=1e-3,
        batch_size=np.int64(8),
        epochs=np.int64(1),
        seed=np.int64(3),
        threads=np.int64(1),
        warmup_steps=np.int64(1),
        eval_steps=[np.int64(2)],
        progress=False,
        checkpoint_dir=str(tmp_path),
        checkpoint_every=1,
    )
    assert all(
        type(getattr(config, name)) is int
        for name in ("batch_size", "epochs", "seed", "threads", "warmup_steps")
    )
    assert config.eval_steps == (2,) and type(config.eval_steps[0]) is int
    data = tiny_data(16)
    fit(tiny_model(), data, config, eval_data=data[:4])
    # weights_only load of a checkpoint holding the config
    resumed = fit(tiny_model(), data, config, eval_data=data[:4], resume=True)
    assert resumed.step == [1, 2]


# ------------------------------------------------ model, config, checkpoint, tokenizer
def test_save_pretrained_refuses_a_tokenizer_that_is_not_one(tmp_path):
    model = bertmini.BertModel(bertmini.BertConfig(**TINY))
    with pytest.raises(TypeError, match="tokenizer must be a bertmini Tokenizer"):
        model.save_pretrained(tmp_path / "m", tokenizer="all-MiniLM-L6-v2")
    assert not (tmp_path / "m").exists()


def test_tokenizer_train_refuses_texts_that_are_not_iterable():
    with pytest.raises(TypeError, match="texts must be an iterable of strings"):
        bertmini.Tokenizer.train(None, vocab_size=50)


def test_config_hidden_act_must_be_a_name():
    with pytest.raises(ValueError, match="hidden_act"):
        bertmini.BertConfig(**TINY, hidden_act=["gelu"])


def test_model_flags_must_be_bools(tokenizer):
    with pytest.raises(TypeError, match="add_pooling_layer must be True or False"):
        bertmini.BertModel(bertmini.BertConfig(**TINY), add_pooling_layer="no")
    model = bertmini.BertModel(bertmini.BertConfig(**TINY))
    ids = torch.tensor([[101, 2000, 102]])
    for flag in ("output_attentions", "output_hidden_states", "skip_padding"):
        with pytest.raises(TypeError, match=f"{flag} must be True or False"):
            model(ids, **{flag: "no"})


def test_uint8_ids_and_a_row_without_tokens_are_refused():
    model = bertmini.BertModel(bertmini.BertConfig(**TINY))
    ids = torch.tensor([[101, 20, 102]])
    with pytest.raises(TypeError, match="input_ids must be int64"):
        model(ids.to(torch.uint8))
    assert model(ids.int()).last_hidden_state.shape == (1, 3, 16)
    mask = torch.tensor([[1, 1, 1], [0, 0, 0]])
    with pytest.raises(ValueError, match="attention_mask row 1 is all 0"):
        model(ids.repeat(2, 1), attention_mask=mask)


# ------------------------------------------------------------------ collators, tasks
def test_classification_records_must_be_a_list_of_dicts(tokenizer):
    from bertmini.classification import ClassificationCollator, evaluate

    collator = ClassificationCollator(tokenizer)
    model = bertmini.BertForSequenceClassification(
        bertmini.BertConfig(**TINY), num_labels=2
    )
    with pytest.raises(TypeError, match="records must be a list of dicts"):
        collator.lengths(None)
    with pytest.raises(TypeError, match="records must be a list of dicts"):
        evaluate(model, None, collator)
    with pytest.raises(TypeError, match="each record must be a dict"):
        collator(["a good film"])
    with pytest.raises(TypeError, match="each record must be a dict"):
        evaluate(model, torch.tensor([1.0, 2.0]), collator)


def test_classification_collator_keys_and_predict_texts_are_checked(tokenizer):
    from bertmini.classification import ClassificationCollator, predict

    with pytest.raises(TypeError, match="text_key must be a string"):
        ClassificationCollator(tokenizer, text_key=None)
    with pytest.raises(TypeError, match="label_key must be a string"):
        ClassificationCollator(tokenizer, label_key=0)
    model = bertmini.BertForSequenceClassification(
        bertmini.BertConfig(**TINY), num_labels=2
    )
    with pytest.raises(TypeError, match="texts must be a string or a list"):
        predict(model, tokenizer, None)
    with pytest.raises(TypeError, match="text_pairs must be a string, a list"):
        predict(model, tokenizer, ["a", "b"], text_pairs=1.5)


def test_pair_and_mlm_collators_check_their_settings(tokenizer):
    from bertmini.pretraining import MLMCollator
    from bertmini.sentence_embeddings import PairCollator

    with pytest.raises(TypeError, match="max_query_length must be an integer"):
        PairCollator(tokenizer, max_query_length="64")
    with pytest.raises(ValueError, match="max_document_length must be an integer >= 3"):
        PairCollator(tokenizer, max_document_length=0)
    assert PairCollator(tokenizer, max_query_length=np.int64(8)).max_query_length == 8
    with pytest.raises(TypeError, match="tokenizer must be a bertmini Tokenizer"):
        MLMCollator(None)


def test_token_classification_inputs_are_checked(tokenizer):
    from bertmini import token_classification as tc

    with pytest.raises(TypeError, match="label_all_pieces must be True or False"):
        tc.TokenClassificationCollator(tokenizer, {"O": 0}, label_all_pieces="no")
    with pytest.raises(TypeError, match="tags must be a list"):
        tc.entities(None)
    with pytest.raises(TypeError, match="tags must be a list"):
        tc.entities("B-PER")
    with pytest.raises(TypeError, match="true_tags must be a list"):
        tc.entity_scores(None, [["O"]])
    with pytest.raises(TypeError, match="word_ids must be a list"):
        tc.align_labels(None, [1])
    with pytest.raises(ValueError, match="inside has 1 entries"):
        tc.align_labels([None, 0, 0, None], [1], label_all_pieces=True, inside=[0])
    assert tc.align_labels([0, 0], [1], label_all_pieces=True, inside=[0, 2]) == [1, 2]


def test_pretraining_helpers_check_their_arguments():
    from bertmini.pretraining import new_small_bert, pretrain, wilson_interval

    with pytest.raises(TypeError, match="correct must be an integer"):
        wilson_interval(None, 10)
    with pytest.raises(ValueError, match="z must be"):
        wilson_interval(3, 10, z=float("nan"))
    with pytest.raises(TypeError, match="seed must be an integer"):
        new_small_bert(bertmini.BertConfig(**TINY), seed="3")
    with pytest.raises(TypeError, match="nsp must be True or False"):
        pretrain(None, [], None, steps=1, nsp="no")
    with pytest.raises(TypeError, match="callbacks must be a list"):
        pretrain(None, [], None, steps=1, callbacks=None)


def test_baselines_name_a_missing_pipeline_or_text():
    from bertmini import baselines

    with pytest.raises(TypeError, match="pipeline must be what fit_bag_of_words"):
        baselines.top_features(None)
    with pytest.raises(TypeError, match="pipeline must be what fit_bag_of_words"):
        baselines.evaluate_bag_of_words(None, ["a"], [0])
    with pytest.raises(TypeError, match="texts must be a list of strings"):
        baselines.fit_bag_of_words(None, [0, 1])
    with pytest.raises(TypeError, match="context must be a string"):
        baselines.sentence_overlap_baseline("where?", None)


def test_viz_names_a_missing_model_or_tokenizer(tokenizer):
    from bertmini import viz

    model = bertmini.BertModel(bertmini.BertConfig(**TINY))
    ids = torch.tensor([[101, 2000, 102]])
    with pytest.raises(TypeError, match="tokenizer must be a bertmini Tokenizer"):
        viz.token_masks(ids, None)
    with pytest.raises(TypeError, match="model must be a BertModel"):
        viz.measure_heads(None, tokenizer, ["a cat"])
    with pytest.raises(TypeError, match="text_pairs must be a list"):
        viz.measure_heads(model, tokenizer, ["a cat"], text_pairs=1.5)
    with pytest.raises(TypeError, match="model must be a BertModel"):
        viz.explorer_attention(None, tokenizer, "a cat")
    enc = tokenizer("a cat")
    with pytest.raises(TypeError, match="tokenizer must be a bertmini Tokenizer"):
        viz.tokens_for_view(None, enc)
    with pytest.raises(ValueError, match="index 2 is out of range"):
        viz.tokens_for_view(tokenizer, enc, index=np.int64(2))
    assert viz.tokens_for_view(tokenizer, enc, index=-1)[0][0] == "[CLS]"


# ------------------------------------------------------------- second round of fuzzing
def test_qa_features_window_indices_are_checked(tokenizer):
    from bertmini.qa_features import length_grouped_batches, prepare_features

    example = {
        "id": "a",
        "question": "Who?",
        "context": "Paris is big. " * 5,
        "answers": {"text": ["Paris"], "answer_start": [0]},
    }
    f = prepare_features([example, {**example, "id": "b"}], tokenizer, 32, stride=4)
    for bad in (None, "0", [1.5], 2.5, torch.tensor([0.0])):
        with pytest.raises(TypeError, match="index must be a list of window indices"):
            f.select(bad)
        with pytest.raises(TypeError, match="index must be a list of window indices"):
            f.model_inputs(bad)
    with pytest.raises(TypeError, match=r"wrap one window in a list: \[1\]"):
        f.model_inputs(1)
    with pytest.raises(IndexError, match="index holds window 9, out of range"):
        f.select([0, 9])
    with pytest.raises(TypeError, match="index.stop must be an integer"):
        f.model_inputs(slice(0, 1.5))
    with pytest.raises(TypeError, match="trim must be True or False"):
        f.model_inputs([0], trim="no")
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        next(f.batches(shuffle=True, generator="x"))
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        length_grouped_batches(f, 2, generator=0)
    # valid indices are read as before
    assert f.select([1]).example_ids == ["b"] and len(f.select([])) == 0
    assert len(f.select(torch.tensor([True, False]))) == 1
    by_list, by_tensor = f.model_inputs([1, 0]), f.model_inputs(torch.tensor([1, 0]))
    assert all(torch.equal(by_list[k], by_tensor[k]) for k in by_list)
    assert f.model_inputs(slice(0, 1))["input_ids"].shape[0] == 1
    assert f.model_inputs([-1])["input_ids"].shape[0] == 1


def test_viz_checks_axes_tokens_and_view_settings():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bertmini import viz

    att = (torch.full((1, 2, 3, 3), 1 / 3),) * 2
    tokens = ["[CLS]", "a", "[SEP]"]
    stats = viz.head_statistics(att)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        viz.plot_matrix(torch.eye(3), tokens, ax="x")
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        viz.plot_head(att, tokens, 0, 0, ax="x")
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        viz.plot_head_stats(stats, "entropy", ax="x")
    for view in (viz.head_view, viz.model_view):
        with pytest.raises(ValueError, match="tokens is empty"):
            view(att, [])
        with pytest.raises(TypeError, match="tokens must be a list of token strings"):
            view(att, "abc")
    with pytest.raises(TypeError, match="js_base must be a string"):
        viz.head_view(att, tokens, js_base=1.5)
    with pytest.raises(TypeError, match="max_tokens must be an integer"):
        viz.head_view(att, tokens, max_tokens=None)
    with pytest.raises(TypeError, match="sentence_b_start must be an integer"):
        viz.head_view(att, tokens, sentence_b_start="2")
    with pytest.raises(TypeError, match="tokens must be a list of token strings"):
        viz.plot_layer(att, None, 0)
    with pytest.raises(TypeError, match="panel_size must be a number"):
        viz.plot_layer(att, tokens, 0, panel_size=None)
    with pytest.raises(TypeError, match="token must be a string"):
        viz.is_punctuation(1.5)
    with pytest.raises(ValueError, match="B must be an integer >= 0"):
        viz.real_token_mask(None, -1, 3)
    with pytest.raises(IndexError, match="out of range"):  # kept: an index
        viz.plot_head(att, tokens, layer=-1, head=0)
    plt.close("all")


def test_viz_checks_statistics_and_matrices():
    from bertmini import viz

    for call in (viz.top_heads, lambda s: viz.plot_head_stats(s, "entropy")):
        with pytest.raises(TypeError, match="stats must be the dict of head_stat"):
            call(None)
    with pytest.raises(ValueError, match=r"stats must be a \(layers, heads\) tensor"):
        viz.top_heads(torch.zeros(0, 0))
    with pytest.raises(TypeError, match=r"stats\['entropy'\] must be"):
        viz.top_heads({"entropy": None}, "entropy")
    with pytest.raises(TypeError, match="largest must be True or False"):
        viz.top_heads(torch.eye(2), largest="no")
    with pytest.raises(TypeError, match="annotate must be True or False"):
        viz.plot_head_stats(torch.eye(2), "entropy", annotate="no")
    with pytest.raises(TypeError, match=r"matrix must be a \(T_query, T_key\) tensor"):
        viz.plot_matrix(None, ["a"])
    with pytest.raises(TypeError, match="matrix must be"):
        viz.plot_matrix([[1.0, 2.0], [3.0]], ["a", "b"])
    with pytest.raises(ValueError, match="matrix holds NaN"):
        viz.plot_matrix(torch.full((1, 1), float("nan")), ["a"])
    assert viz.top_heads([[0.1, 0.9], [0.5, 0.2]], k=1) == [(0, 1, pytest.approx(0.9))]


def test_encoding_to_and_sequence_ids_check_their_arguments(tokenizer):
    enc = tokenizer(["a cat"], ["a dog"])
    with pytest.raises(ValueError, match="device must be an integer >= 0"):
        enc.to(-1)
    with pytest.raises(ValueError, match="unknown device 'gpu'"):  # get_device's
        enc.to("gpu")
    with pytest.raises(TypeError, match="device must be a device such as 'cpu'"):
        enc.to(None)
    with pytest.raises(TypeError, match="i must be an integer"):
        enc.sequence_ids(True)
    with pytest.raises(ValueError, match="i=1 is out of range"):
        enc.sequence_ids(1)
    assert enc.to("cpu")["input_ids"].device.type == "cpu"
    assert enc.to(torch.device("cpu")).sequence_ids(-1) == enc.sequence_ids(0)


def test_pretraining_splits_texts_and_collator_state_are_checked(tokenizer):
    from bertmini.pretraining import (
        MLMCollator,
        load_documents,
        parse_split,
        split_sentences,
        train_tokenizer,
    )

    with pytest.raises(ValueError, match="unknown split name 'nope'"):
        parse_split("nope")
    with pytest.raises(ValueError, match="'valid\\[5:2\\]' selects no articles"):
        parse_split("valid[5:2]")
    with pytest.raises(ValueError, match="cannot read the split"):
        parse_split("valid[-:]")
    with pytest.raises(TypeError, match="split must be a name like 'valid'"):
        parse_split(None)
    with pytest.raises(TypeError, match="split must be a name like 'valid'"):
        load_documents(split=None)
    assert parse_split("test[3:-2]+test[-6:]") == [
        ("test", slice(3, -2)),
        ("test", slice(-6, None)),
    ]
    with pytest.raises(TypeError, match="text must be a string"):
        split_sentences(None)
    with pytest.raises(TypeError, match="documents must be a list of documents"):
        train_tokenizer(None)
    with pytest.raises(ValueError, match=r"documents\[0\] needs a 'paragraphs' list"):
        train_tokenizer([{}])
    collator = MLMCollator(tokenizer, seed=1)
    for bad in (None, torch.zeros(3)):
        with pytest.raises(TypeError, match="state must be the dict returned by"):
            collator.load_state_dict(bad)
    with pytest.raises(TypeError, match=r"state\['generator'\] must be the uint8"):
        collator.load_state_dict({"generator": 5})
    with pytest.raises(ValueError, match=r"state\['generator'\] holds 3 bytes"):
        collator.load_state_dict({"generator": torch.zeros(3, dtype=torch.uint8)})
    saved = collator.state_dict()
    first = collator(["a cat sat on the mat"] * 4)["input_ids"]
    collator.load_state_dict(saved)
    assert torch.equal(collator(["a cat sat on the mat"] * 4)["input_ids"], first)


def test_messages_name_the_argument_and_the_path_given(tmp_path):
    from bertmini.baselines import majority_accuracy

    with pytest.raises(TypeError, match="name_or_path must be a model name"):
        bertmini.BertModel.from_pretrained(None)
    with pytest.raises(TypeError, match="expects a dict as values"):
        bertmini.BertConfig.from_dict(None)
    with pytest.raises(TypeError, match="train_labels must be a list"):
        majority_accuracy(None, [1])
    with pytest.raises(ValueError, match="at least one train label"):
        majority_accuracy([], [1])
    config = bertmini.BertConfig(**TINY)
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError, match="is a directory") as info:
        config.to_json_file(tmp_path / "d")
    assert str(tmp_path / "d") in str(info.value) and ".tmp-" not in str(info.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        config.to_json_file(tmp_path / "missing" / "config.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_exercises_check_names_and_flags():
    from bertmini import exercises

    with pytest.raises(TypeError, match="name must be a string"):
        exercises.check(None, lambda: 1)
    with pytest.raises(TypeError, match="replace must be True or False"):
        exercises.add(exercises.EXERCISES["attention"], replace="no")
