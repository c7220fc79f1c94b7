"""Student editions: no solution leaks, and the notebooks still run without the solutions."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book"))
import editions  # noqa: E402

CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


def solution_only_lines(nb) -> set[str]:
    """Lines that appear in solution cells and nowhere else in the notebook: the answer itself."""
    sol = {
        l.strip()
        for c in nb.cells
        if editions.is_solution(c)
        for l in c.source.splitlines()
    }
    rest = {
        l.strip()
        for c in nb.cells
        if not editions.is_solution(c)
        for l in c.source.splitlines()
    }
    return {
        l for l in sol - rest if len(l) >= 12 and not l.startswith(("#", "```", ":"))
    }


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_student_edition_has_no_solution_text(path, tmp_path):
    editions.write_editions([path], tmp_path)
    original = nbformat.read(path, as_version=4)
    student = nbformat.read(tmp_path / "student" / path.name, as_version=4)
    instructor = nbformat.read(tmp_path / "instructor" / path.name, as_version=4)
    lines = {l.strip() for c in student.cells for l in c.source.splitlines()}
    assert not any(editions.is_solution(c) for c in student.cells)
    leaked = [l for l in solution_only_lines(original) if l in lines]
    assert not leaked, f"solution lines in the student edition: {leaked[:3]}"
    assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
    assert len(instructor.cells) == len(original.cells)
    if (
        any(editions.is_exercise(c) for c in original.cells)
        and path.stem != "00_welcome"
    ):
        assert len(student.cells) < len(original.cells), (
            "exercises without solutions to strip?"
        )
    # Up to the first exercise the student edition is the chapter itself, which nbval
    # runs.
    first = next(
        (i for i, c in enumerate(original.cells) if editions.is_exercise(c)),
        len(original.cells),
    )
    assert [c.source for c in student.cells[:first]] == [
        c.source for c in original.cells[:first]
    ]


def test_a_student_notebook_runs_to_the_end_without_solutions(tmp_path):
    """The exercise cells must not depend on the removed solution cells (checked on chapter 1)."""
    from nbclient import NotebookClient

    path = ROOT / "chapters" / "01_attention.ipynb"
    editions.write_editions([path], tmp_path)
    nb = nbformat.read(tmp_path / "student" / path.name, as_version=4)
    NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT / "chapters")}},
    ).execute()
    printed = "\n".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "not attempted" in printed.lower()
