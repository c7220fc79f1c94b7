"""book/grade.py: a student's notebook is executed and every check() verdict is collected."""

from __future__ import annotations

import csv
import re
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
    solution = nbformat.v4.new_code_cell(
        "check('mha_parameters', lambda h: 4 * (h * h + h))"
    )
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


# ----------------------------------------------- every chapter's exercises are gradable
CHECK_CALL = re.compile(r"""\bcheck\(\s*["']([a-z0-9_]+)["']""")
EXERCISE_DIRECTIVE = re.compile(r"^`{3,}\{exercise\}", re.MULTILINE)
NO_CHECKER = re.compile(r"\bNo\s+checker\b")


def chapter_exercises(path: Path) -> tuple[int, list[str]]:
    """(number of {exercise} boxes with a checker, exercise names the student's cells
    check).

    A box that says "No checker" is an open question (compare with a classmate) and is
    not graded.
    """
    nb = nbformat.read(path, as_version=4)
    boxes = sum(
        len(EXERCISE_DIRECTIVE.findall(c.source)) - len(NO_CHECKER.findall(c.source))
        for c in nb.cells
        if c.cell_type == "markdown"
    )
    names = [
        name
        for c in nb.cells
        if c.cell_type == "code" and "solution" not in c.metadata.get("tags", [])
        for name in CHECK_CALL.findall(c.source)
    ]
    return boxes, names


def test_every_exercise_cell_is_graded(capsys):
    """Each {exercise} box has a student cell calling check() on a known exercise, whose
    printed verdict grade.py reads back (chapter 8 once had its own checker that
    grade.py could not read).
    """
    from bertmini import exercises as ex

    seen: list[str] = []
    for path in sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb")):
        boxes, names = chapter_exercises(path)
        assert len(names) >= boxes, (
            f"{path.name}: {boxes} exercises but {len(names)} check() cells"
        )
        for name in names:
            assert name in ex.EXERCISES, f"{path.name} checks unknown exercise {name!r}"
            exercise = ex.EXERCISES[name]
            for answer, verdict in [
                (None, "not attempted"),
                (exercise.reference, "passed"),
            ]:
                capsys.readouterr()
                ex.check(name, answer)
                output = nbformat.v4.new_output(
                    "stream", name="stdout", text=capsys.readouterr().out
                )
                cell = nbformat.v4.new_code_cell(
                    f"check({name!r}, answer)", outputs=[output]
                )
                got = grade.results_from_outputs(nbformat.v4.new_notebook(cells=[cell]))
                assert [(r.exercise, r.verdict) for r in got] == [
                    (exercise.title, verdict)
                ], name
        seen += names
    assert len(seen) == len(set(seen)), "an exercise is checked by two student cells"
    assert set(seen) == set(ex.EXERCISES), (
        f"exercises no chapter uses: {set(ex.EXERCISES) - set(seen)}"
    )
