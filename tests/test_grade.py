"""book/grade.py: a student's notebook is executed and every check() verdict is collected."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book"))
import grade  # noqa: E402


def student_notebook(path: Path) -> None:
    cells = [
        "from bertmini.exercises import check",
        "def mha_parameters(hidden_size):\n    return 4 * (hidden_size * hidden_size + hidden_size)\n"
        "check('mha_parameters', mha_parameters)",
        "def feed_forward(x, w1, b1, w2, b2):\n    raise NotImplementedError\ncheck('feed_forward', feed_forward)",
        "undefined_name  # a broken cell must not stop the grading",
        "check('mha_parameters', lambda h: 4 * h * h)   # forgot the biases",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    solution = nbformat.v4.new_code_cell("check('mha_parameters', lambda h: 4 * (h * h + h))")
    solution.metadata["tags"] = ["solution"]
    nb.cells.append(solution)  # the notebook's own solution cell is not counted
    nbformat.write(nb, path)


def test_grade_collects_every_verdict(tmp_path):
    path = tmp_path / "alice.ipynb"
    student_notebook(path)
    results = grade.grade(path, timeout=120)
    assert [(r.exercise, r.verdict) for r in results] == [
        ("Exercise 1.3: parameters of a multi-head attention block", "passed"),
        (results[1].exercise, "not attempted"),
        ("Exercise 1.3: parameters of a multi-head attention block", "failed"),
    ]
    assert results[1].exercise.startswith("Exercise 2.")
    assert all(r.notebook == "alice.ipynb" for r in results)


def test_grade_cli_writes_csv(tmp_path, capsys):
    path = tmp_path / "bob.ipynb"
    student_notebook(path)
    out = tmp_path / "grades.csv"
    assert grade.main([str(path), "--csv", str(out), "--timeout", "120"]) == 0
    assert "bob.ipynb: 1/3 exercises passed" in capsys.readouterr().out
    rows = list(csv.DictReader(out.open()))
    assert [r["verdict"] for r in rows] == ["passed", "not attempted", "failed"]


def test_grade_rejects_a_missing_notebook(tmp_path, capsys):
    import pytest
    with pytest.raises(SystemExit):
        grade.main([str(tmp_path / "nobody.ipynb")])
    assert "no such notebook" in capsys.readouterr().err
