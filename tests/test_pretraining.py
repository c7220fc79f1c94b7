"""Pretraining data: MLM masking statistics, NSP pair construction, collators, resumable masking."""

from __future__ import annotations

import random

import pytest
import torch

from bertmini import BertConfig, BertForPreTraining, Tokenizer
from bertmini.pretraining import (
    IGNORE_INDEX,
    IS_NEXT,
    NOT_NEXT,
    MLMCollator,
    PretrainingCollator,
    canonical_split,
    clean_wikitext,
    document_sentences,
    evaluate_pretraining,
    fill_mask,
    load_documents,
    make_nsp_pairs,
    mask_tokens,
    parse_split,
    split_sentences,
    train_tokenizer,
    wilson_interval,
)
from bertmini.train import TrainConfig, fit, latest_checkpoint


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.from_pretrained("all-MiniLM-L6-v2")


def random_batch(tok, B=1200, T=128, seed=0):
    """[CLS] words [SEP] [PAD]...: ordinary ids in between, random lengths, so padding is present."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, tok.vocab_size, (B, T), generator=g)
    lengths = torch.randint(T // 2, T + 1, (B,), generator=g)
    for i, n in enumerate(lengths.tolist()):
        ids[i, 0], ids[i, n - 1] = tok.cls_token_id, tok.sep_token_id
        ids[i, n:] = tok.pad_token_id
    return ids


def test_mask_tokens_proportions_over_100k_tokens(tok):
    ids = random_batch(tok)
    masked, labels = mask_tokens(ids, tok, 0.15, torch.Generator().manual_seed(1))
    special = torch.isin(ids, torch.tensor(sorted(tok.special_token_ids)))
    eligible = ~special
    assert int(eligible.sum()) >= 100_000 and int(special.sum()) > 10_000
    chosen = labels != IGNORE_INDEX
    assert not (chosen & special).any()  # never [CLS], [SEP] or padding
    assert torch.equal(masked[special], ids[special])
    assert torch.equal(labels[chosen], ids[chosen])  # labels: the original token ...
    assert (labels[~chosen] == IGNORE_INDEX).all()  # ... and -100 everywhere else
    assert torch.equal(masked[~chosen], ids[~chosen])
    rate = chosen.sum() / eligible.sum()
    assert abs(float(rate) - 0.15) < 0.005
    n = chosen.sum()
    as_mask = (masked == tok.mask_token_id) & chosen
    unchanged = (masked == ids) & chosen
    as_random = chosen & ~as_mask & ~unchanged
    assert abs(float(as_mask.sum() / n) - 0.8) < 0.015
    assert abs(float(as_random.sum() / n) - 0.1) < 0.015
    assert abs(float(unchanged.sum() / n) - 0.1) < 0.015
    assert not torch.isin(
        masked[as_random], torch.tensor(sorted(tok.special_token_ids))
    ).any()


def test_random_replacements_are_never_special_even_in_a_tiny_vocabulary():
    # 10 ids, 5 of them special: drawing from the whole vocabulary would hit a special
    # id half the time.
    special_ids = {0, 1, 2, 3, 4}
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 10, (400, 64), generator=g)
    ids[:, 0], ids[:, -1] = 2, 3
    special_mask = torch.isin(ids, torch.tensor(sorted(special_ids)))
    masked, labels = mask_tokens(
        ids,
        special_mask,
        0.5,
        g,
        mask_token_id=4,
        vocab_size=10,
        special_token_ids=special_ids,
    )
    replaced = (labels != IGNORE_INDEX) & (masked != 4)
    assert replaced.sum() > 1000
    assert ((masked[replaced] >= 5) & (masked[replaced] < 10)).all()
    assert (labels[special_mask] == IGNORE_INDEX).all()
    with pytest.raises(ValueError, match="mask_token_id"):
        mask_tokens(ids, special_mask)
    with pytest.raises(ValueError, match="mlm_probability"):
        mask_tokens(ids, special_mask, 0.0, mask_token_id=4, vocab_size=10)


def test_mask_tokens_is_reproducible_with_a_generator(tok):
    ids = random_batch(tok, B=8, T=32)
    a = mask_tokens(ids, tok, generator=torch.Generator().manual_seed(5))
    b = mask_tokens(ids, tok, generator=torch.Generator().manual_seed(5))
    c = mask_tokens(ids, tok, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_mlm_collator_pads_to_the_longest_and_masks(tok):
    texts = [
        "the cat sat on the mat .",
        "a much longer sentence about dogs, cats and many other animals",
        "hi",
    ]
    batch = MLMCollator(tok, mlm_probability=0.5, seed=0)(texts)
    lengths = [len(tok.encode(t)) for t in texts]
    assert batch["input_ids"].shape == (3, max(lengths))
    assert batch["attention_mask"].sum(1).tolist() == lengths
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE_INDEX).all()
    assert (batch["input_ids"][batch["attention_mask"] == 0] == tok.pad_token_id).all()
    assert (batch["labels"] != IGNORE_INDEX).any()
    short = MLMCollator(tok, max_length=5)(["one two three four five six seven"])
    assert (
        short["input_ids"].shape == (1, 5)
        and short["input_ids"][0, -1] == tok.sep_token_id
    )


def synthetic_documents(tok, n_docs=40, n_sentences=30, seed=0):
    """Documents with disjoint vocabularies, so a segment's text tells which document it came from."""
    words = [
        w
        for w in tok.convert_ids_to_tokens(list(range(3000, 9000)))
        if w.isalpha() and len(w) > 2
    ]
    words = [w for w in words if tok.tokenize(w) == [w]]
    rng = random.Random(seed)
    docs = []
    for d in range(n_docs):
        own = words[d * 25 : (d + 1) * 25]
        docs.append(
            [
                " ".join(rng.choices(own, k=rng.randint(4, 14))) + " ."
                for _ in range(n_sentences)
            ]
        )
    return docs


def contains(stream: list[int], part: list[int]) -> bool:
    n = len(part)
    return any(stream[i : i + n] == part for i in range(len(stream) - n + 1))


def test_make_nsp_pairs(tok):
    docs = synthetic_documents(tok)
    streams = [
        [t for s in d for t in tok.encode(s, add_special_tokens=False)] for d in docs
    ]
    examples = make_nsp_pairs(docs, tok, max_length=64, seed=0)
    assert len(examples) > 250
    labels = [e["next_sentence_label"] for e in examples]
    assert abs(sum(labels) / len(labels) - 0.5) < 0.07
    lengths = [len(e["input_ids"]) for e in examples]
    # Packed, not one sentence each
    assert max(lengths) <= 64 and sum(lengths) / len(lengths) > 40
    for e in examples:
        ids, types = e["input_ids"], e["token_type_ids"]
        assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
        sep = ids.index(tok.sep_token_id)
        assert ids.count(tok.sep_token_id) == 2
        # [CLS] A [SEP] -> 0, B [SEP] -> 1
        assert types == [0] * (sep + 1) + [1] * (len(ids) - sep - 1)
        a, b = ids[1:sep], ids[sep + 1 : -1]
        assert a and b
        assert contains(streams[e["doc_a"]], a) and contains(streams[e["doc_b"]], b)
        if e["next_sentence_label"] == NOT_NEXT:
            assert e["doc_b"] != e["doc_a"] and not contains(streams[e["doc_a"]], b)
        else:
            assert e["next_sentence_label"] == IS_NEXT and e["doc_b"] == e["doc_a"]
    assert make_nsp_pairs(docs, tok, max_length=64, seed=0) == examples  # deterministic
    assert make_nsp_pairs(docs, tok, max_length=64, seed=1) != examples
    with pytest.raises(ValueError, match="at least 2"):
        make_nsp_pairs(docs[:1], tok)


def test_documents_from_records_and_text():
    assert split_sentences("It rained . The game was off! Was it? yes") == [
        "It rained .",
        "The game was off!",
        "Was it?",
        "yes",
    ]
    record = {
        "title": "Valkyria",
        "paragraphs": [
            "Senjō no Valkyria 3 is a game . It was released in 2011 .",
            "The game began development in 2010 .",
        ],
    }
    assert document_sentences(record) == [
        "Senjō no Valkyria 3 is a game .",
        "It was released in 2011 .",
        "The game began development in 2010 .",
    ]
    with pytest.raises(ValueError, match="paragraphs"):
        document_sentences({"title": "x"})


def test_pretraining_collator_feeds_bert_for_pretraining_and_resumes_exactly(
    tok, tmp_path
):
    docs = synthetic_documents(tok, n_docs=6, n_sentences=12)
    # A tiny vocabulary
    tok = Tokenizer.train([" ".join(d) for d in docs], vocab_size=400, min_frequency=1)
    examples = make_nsp_pairs(docs, tok, max_length=32, seed=0)
    batch = PretrainingCollator(tok, seed=0)(examples[:4])
    assert set(batch) == {
        "input_ids",
        "attention_mask",
        "token_type_ids",
        "labels",
        "next_sentence_label",
    }
    assert batch["next_sentence_label"].tolist() == [
        e["next_sentence_label"] for e in examples[:4]
    ]
    assert batch["token_type_ids"].shape == batch["input_ids"].shape

    config = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
    )

    def model():
        torch.manual_seed(0)
        return BertForPreTraining(config)

    train = TrainConfig(
        lr=1e-3,
        max_steps=8,
        batch_size=4,
        progress=False,
        checkpoint_every=2,
        checkpoint_dir=str(tmp_path / "full"),
    )
    full = fit(
        model(), examples[:24], train, collate_fn=PretrainingCollator(tok, seed=0)
    )
    assert set(full.components) == {"mlm_loss", "nsp_loss"}

    class Crash(Exception):
        pass

    def crash_at_5(step, logs):
        if step == 5:
            raise Crash

    train_b = TrainConfig(**{**train.__dict__, "checkpoint_dir": str(tmp_path / "b")})
    with pytest.raises(Crash):
        fit(
            model(),
            examples[:24],
            train_b,
            collate_fn=PretrainingCollator(tok, seed=0),
            callbacks=[crash_at_5],
        )
    assert latest_checkpoint(tmp_path / "b").name == "step-00000004"
    # The masks after the resume come from the checkpointed generator state, not from a
    # fresh seed.
    resumed = fit(
        model(),
        examples[:24],
        train_b,
        collate_fn=PretrainingCollator(tok, seed=0),
        resume=True,
    )
    assert resumed.loss == full.loss
    assert resumed.components == full.components


def test_small_bert_trains_once_then_loads_from_the_cache(tmp_path, monkeypatch):
    import sys
    import types

    import bertmini.train
    from bertmini.pretraining import small_bert

    # A stand-in for bertmini.data.load_wikitext2: a few records in its
    # {"title", "paragraphs"} shape.
    rng = random.Random(0)
    words = "the a game war city river music film team song king album army ship road".split()
    records = [
        {
            "title": f"t{d}",
            "paragraphs": [
                " ".join(rng.choices(words, k=12))
                + " . "
                + " ".join(rng.choices(words, k=9))
                + " ."
                for _ in range(4)
            ],
        }
        for d in range(6)
    ]
    monkeypatch.setitem(
        sys.modules,
        "bertmini.data",
        types.SimpleNamespace(load_wikitext2=lambda split: records),
    )
    config = BertConfig(
        vocab_size=120,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
    )
    kwargs = dict(
        steps=3,
        batch_size=4,
        max_length=32,
        cache_dir=tmp_path,
        progress=False,
        split="valid",
    )
    model, tok, history = small_bert(config, **kwargs)
    assert history.step == [1, 2, 3] and set(history.components) == {
        "mlm_loss",
        "nsp_loss",
    }
    (cached,) = tmp_path.iterdir()
    assert {"config.json", "model.safetensors", "vocab.txt", "history.json"} <= {
        p.name for p in cached.iterdir()
    }

    def no_training(*args, **kw):
        raise AssertionError("the cached model should have been loaded, not retrained")

    monkeypatch.setattr(bertmini.train, "fit", no_training)
    again, tok2, history2 = small_bert(config, **kwargs)
    assert history2 == history and tok2.vocab == tok.vocab
    for (name, p), q in zip(model.state_dict().items(), again.state_dict().values()):
        torch.testing.assert_close(p, q, msg=name)
    # A different seed is a different model
    with pytest.raises(AssertionError, match="retrained"):
        small_bert(config, **{**kwargs, "seed": 1})
    # Other articles: another model
    with pytest.raises(AssertionError, match="retrained"):
        small_bert(config, **{**kwargs, "split": "valid[:-1]"})
    # The same articles, spelled otherwise
    again, _, _ = small_bert(config, **{**kwargs, "split": ["valid"]})


def test_splits_select_articles_and_name_them_canonically(monkeypatch):
    import sys
    import types

    articles = {
        name: [
            {"title": f"{name}{i}", "paragraphs": [f"{name} {i} has 1 @,@ 000 <unk> ."]}
            for i in range(5)
        ]
        for name in ("valid", "test")
    }
    monkeypatch.setitem(
        sys.modules,
        "bertmini.data",
        types.SimpleNamespace(load_wikitext2=articles.__getitem__),
    )
    assert parse_split("valid+test[:-2]") == [
        ("valid", slice(None)),
        ("test", slice(None, -2)),
    ]
    assert (
        canonical_split(["valid", "test[:-2]"])
        == "valid+test[:-2]"
        == canonical_split("valid+test[:-2]")
    )
    docs = load_documents("valid+test[:-2]")
    assert [d["title"] for d in docs] == [f"valid{i}" for i in range(5)] + [
        "test0",
        "test1",
        "test2",
    ]
    # Disjoint from training
    assert [d["title"] for d in load_documents("test[-2:]")] == [
        "test3",
        "test4",
    ]
    assert docs[0]["paragraphs"] == ["valid 0 has 1,000 [UNK] ."]
    assert clean_wikitext("a @-@ b 3 @.@ 5") == "a-b 3.5"
    for bad in ("valid[1]", "valid+", "", ["valid", 3]):
        with pytest.raises(ValueError, match="split"):
            parse_split(bad)
    with pytest.raises(ValueError, match="no articles"):
        load_documents("test[5:]")


def test_wilson_interval():
    low, high = wilson_interval(0, 8)
    # The normal approximation says [0, 0]
    assert low == 0.0 and high == pytest.approx(0.3244, abs=1e-4)
    low, high = wilson_interval(140, 232)
    assert low < 140 / 232 < high and low > 0.5 and high - low < 0.13
    assert wilson_interval(116, 232)[0] < 0.5 < wilson_interval(116, 232)[1]
    a, b = wilson_interval(3, 10)
    c, d = wilson_interval(7, 10)
    # Symmetric in correct <-> wrong
    assert a == pytest.approx(1 - d) and b == pytest.approx(1 - c)
    with pytest.raises(ValueError, match="correct"):
        wilson_interval(5, 4)


def test_tokenizer_reads_special_tokens_written_in_text():
    tok = train_tokenizer(
        [
            {
                "paragraphs": [
                    "the cat sat on the [UNK] mat .",
                    "a dog ran by the river .",
                ]
                * 5
            }
        ],
        vocab_size=60,
    )
    assert tok.tokenize("the [UNK] sat [MASK] .")[1:4] == ["[UNK]", "sat", "[MASK]"]


class Oracle(torch.nn.Module):
    """A fake pretraining model: at each masked position it predicts `mlm(labels)`, and NSP label `nsp`."""

    def __init__(self, vocab_size, mlm, nsp):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.vocab_size, self.mlm, self.nsp = vocab_size, mlm, nsp

    def forward(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        labels=None,
        next_sentence_label=None,
    ):
        import types

        assert not self.training
        target = labels[labels != IGNORE_INDEX]
        # (N, V)
        logits = torch.nn.functional.one_hot(self.mlm(target), self.vocab_size).float()
        # (B, 2)
        nsp = torch.nn.functional.one_hot(self.nsp(next_sentence_label), 2).float()
        return types.SimpleNamespace(
            prediction_logits=logits,
            seq_relationship_logits=nsp,
            mlm_loss=torch.nn.functional.cross_entropy(logits, target),
        )


def test_evaluate_pretraining_scores_against_the_most_frequent_token(tok):
    docs = synthetic_documents(tok, n_docs=8, n_sentences=12)
    perfect = Oracle(tok.vocab_size, lambda y: y, lambda y: y)
    r = evaluate_pretraining(perfect, tok, docs, max_length=64)
    assert r["mlm_accuracy"] == 1.0 and r["nsp_accuracy"] == 1.0 and r["n_masked"] > 100
    n_pairs = len(make_nsp_pairs(docs, tok, max_length=64, seed=0))
    assert r["n_nsp"] == n_pairs and r["nsp_ci95"] == wilson_interval(n_pairs, n_pairs)
    most = tok.convert_tokens_to_ids(r["baseline_token"])
    constant = Oracle(
        tok.vocab_size,
        lambda y: torch.full_like(y, most),
        lambda y: torch.zeros_like(y),
    )
    r2 = evaluate_pretraining(constant, tok, docs, max_length=64)
    # The same masks
    assert r2["mlm_accuracy"] == r2["baseline_accuracy"] == r["baseline_accuracy"] > 0
    labels = torch.tensor(
        [
            e["next_sentence_label"]
            for e in make_nsp_pairs(docs, tok, max_length=64, seed=0)
        ]
    )
    assert r2["nsp_accuracy"] == pytest.approx(float((labels == 0).float().mean()))
    assert constant.training  # the model is left as it was


def test_fill_mask_reads_the_mask_positions(tok):
    class Predicts(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids):
            import types

            logits = torch.zeros(*input_ids.shape, tok.vocab_size)
            logits[..., tok.convert_tokens_to_ids("paris")] = 5.0
            logits[..., tok.convert_tokens_to_ids("london")] = 4.0
            return types.SimpleNamespace(prediction_logits=logits)

    ((top,),) = [fill_mask(Predicts(), tok, "the capital of france is [MASK] .", k=2)]
    assert [t for t, _ in top] == ["paris", "london"] and top[0][1] > top[1][1]
    assert len(fill_mask(Predicts(), tok, "[MASK] and [MASK]", k=3)) == 2
    with pytest.raises(ValueError, match="MASK"):
        fill_mask(Predicts(), tok, "no mask here")
