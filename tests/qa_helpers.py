"""Data and stand-in models shared by the question-answering tests (not a test file)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


def squad_dev_path() -> Path | None:
    mirror = os.environ.get("BERTMINI_DATA_MIRROR")
    base = (
        Path(mirror)
        if mirror and "://" not in mirror
        else REPO_ROOT.parent / "shared" / "data"
    )
    path = base / "squad" / "dev-v1.1.json"
    return path if path.exists() else None


def squad_dev_records(limit: int = 1500) -> list[dict]:
    """The first `limit` questions of SQuAD v1.1 dev as flat records (like
    bertmini.data.load_squad); skips the test when the file is not there."""
    path = squad_dev_path()
    if path is None:
        pytest.skip(
            "SQuAD dev-v1.1.json not found (set BERTMINI_DATA_MIRROR to the data mirror)"
        )
    with open(path, encoding="utf-8") as f:
        articles = json.load(f)["data"]
    records = []
    for article in articles:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                records.append(
                    {
                        "id": qa["id"],
                        "context": paragraph["context"],
                        "question": qa["question"],
                        "answers": {
                            "text": [a["text"] for a in qa["answers"]],
                            "answer_start": [a["answer_start"] for a in qa["answers"]],
                        },
                    }
                )
                if len(records) == limit:
                    return records
    return records


def toy_example(
    qid="q0",
    question="Where is the Eiffel Tower?",
    answer_text="Paris",
    prefix_sentences=60,
):
    filler = " ".join(
        f"Sentence number {i} talks about nothing in particular."
        for i in range(prefix_sentences)
    )
    context = (
        f"{filler} The Eiffel Tower stands in Paris, the capital of France. {filler}"
    )
    start = context.index(answer_text)
    return {
        "id": qid,
        "question": question,
        "context": context,
        "answers": {"text": [answer_text], "answer_start": [start]},
    }


def toy_set(n: int = 6):
    """Short toy examples of several lengths: some windows are padded, most are not."""
    return [toy_example(qid=f"t{i}", prefix_sentences=1 + 3 * i) for i in range(n)]


class KeywordPointer(torch.nn.Module):
    """A stand-in QA model that points at one token id: checks the plumbing, not BERT."""

    def __init__(self, token_id: int):
        super().__init__()
        self.token_id = token_id
        self.scale = torch.nn.Parameter(torch.tensor(7.0))

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        hit = (input_ids == self.token_id).float() * self.scale  # (B, T)
        return type("Out", (), {"start_logits": hit, "end_logits": hit})()


def tiny_qa_model(seed: int = 0):
    from bertmini import BertConfig, BertForQuestionAnswering  # noqa: PLC0415

    torch.manual_seed(seed)
    config = BertConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return BertForQuestionAnswering(config)
