"""The benchmarks compare like with like: the same sentences in every batch layout, tables as Markdown."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_model  # noqa: E402
import run_all  # noqa: E402


def test_as_markdown_turns_header_lines_into_paragraphs_and_keeps_tables():
    text = run_all.as_markdown(
        "# machine\n# what\n| a |\n|---|\n| 1 |\n# next\n| b |\n|---|\n# note"
    )
    assert (
        text == "machine\n\nwhat\n\n| a |\n|---|\n| 1 |\n\nnext\n\n| b |\n|---|\n\nnote"
    )


@pytest.mark.skipif(
    not os.environ.get("BERTMINI_DATA_MIRROR"), reason="needs the SST-2 mirror"
)
def test_batch_layouts_hold_the_same_sentences():
    import bertmini

    tok = bertmini.Tokenizer.from_pretrained(bench_model.MODEL)
    layouts = {
        name: bench_model.sst2_batches(tok, name)
        for name in ("dynamic", "grouped", "fixed128", "packed")
    }
    real = {
        name: sum(int(b["attention_mask"].sum()) for b in batches)
        for name, batches in layouts.items()
    }
    assert real["dynamic"] == real["grouped"] == real["fixed128"]
    # Padded to the longest sentence of the batch
    for b in layouts["dynamic"] + layouts["grouped"]:
        assert b["input_ids"].shape[1] == int(b["attention_mask"].sum(1).max())
    assert all(b["input_ids"].shape[1] == 128 for b in layouts["fixed128"])
    assert all(bool(b["attention_mask"].all()) for b in layouts["packed"])
    grouped = [int(b["attention_mask"].sum(1).max()) for b in layouts["grouped"]]
    assert grouped == sorted(grouped)


def test_bench_book_times_each_code_cell_and_knows_the_budgets(tmp_path):
    """The slowest cell is named (so a report says where a chapter's time goes), and
    the training chapters carry their own budgets."""
    import bench_book
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# a page"),
        nbformat.v4.new_code_cell("# a comment first\nx = 1"),
        nbformat.v4.new_code_cell("import time\ntime.sleep(0.5)"),
    ]
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    seconds, cells = bench_book.run_notebook(path)
    assert [c["cell"] for c in cells] == [2, 1]  # slowest first, code cells only
    assert cells[0]["seconds"] >= 0.5 and cells[0]["line"] == "import time"
    assert cells[1]["line"] == "x = 1"
    assert seconds >= cells[0]["seconds"] + cells[1]["seconds"]
    assert bench_book.budget(Path("06_classification.ipynb")) == 100
    assert bench_book.budget(Path("05_pretraining.ipynb")) == 150
    assert bench_book.budget(path) == bench_book.NOTEBOOK_BUDGET_S


def test_bench_book_json_keeps_every_cell_time(tmp_path, monkeypatch):
    """Two runs of a notebook compare cell by cell, not only by their slowest cells."""
    import json

    import bench_book
    import nbformat

    monkeypatch.setenv("BERTMINI_CACHE", str(tmp_path / "cache"))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"x = {i}") for i in range(5)]
    path = tmp_path / "five.ipynb"
    nbformat.write(nb, path)
    out = tmp_path / "times.json"
    assert bench_book.main(["--json", str(out), str(path)]) == 0
    report = json.loads(out.read_text())
    assert sorted(report["cell_times_s"]["five.ipynb"], key=int) == [
        str(i) for i in range(5)
    ]
    assert len(report["slowest_cells"]["five.ipynb"]) == 3


@pytest.mark.parametrize(
    "script, code, stdout",
    [
        ("bench_model.py", 1, "# header\n"),  # an exception: exit code 1, no table
        ("bench_model.py", 0, "# header only\n"),
        ("bench_book.py", 2, "| a |\n|---|\n"),
    ],
)
def test_run_all_stops_when_a_benchmark_fails(monkeypatch, script, code, stdout):
    done = run_all.subprocess.CompletedProcess([], code, stdout=stdout)
    monkeypatch.setattr(run_all.subprocess, "run", lambda *a, **k: done)
    with pytest.raises(SystemExit, match="RESULTS.md is unchanged"):
        run_all.run([script], None, quick=False, threads=None)


def test_run_all_keeps_an_over_budget_book_table(monkeypatch):
    done = run_all.subprocess.CompletedProcess([], 1, stdout="# book\n| a |\n|---|\n")
    monkeypatch.setattr(run_all.subprocess, "run", lambda *a, **k: done)
    assert run_all.run(["bench_book.py"], None, quick=False, threads=None) == (
        "# book\n| a |\n|---|"
    )


def test_the_machine_header_names_the_cpu_and_its_vector_instructions(monkeypatch):
    """Two 2-core machines differed twice over in float32 speed (AVX2 against AVX-512):
    every table says which CPU it ran on and what it could use."""
    import common

    from bertmini.device import cpu_name

    text = common.cpu_description()
    assert text.startswith(cpu_name())
    from bertmini.device import cpu_flags

    flags = cpu_flags()
    if flags is not None:
        assert ("avx2" in text) == ("avx2" in flags)
        assert ("amx_bf16" in text) == ("amx_bf16" in flags)
    monkeypatch.setattr("builtins.open", lambda *a, **k: (_ for _ in ()).throw(OSError))
    assert common.cpu_description() == cpu_name()  # no /proc/cpuinfo: the name alone
