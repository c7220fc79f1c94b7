"""Student and instructor editions of the chapter notebooks.

    python book/editions.py [--out _build] [notebooks ...]

writes `_build/instructor/*.ipynb` (every cell, outputs stripped) and
`_build/student/*.ipynb` (the same without solutions). A solution is a cell tagged
`solution`, or a markdown cell holding a sphinx-exercise `{solution}` directive. The
exercise cells themselves, with their `check(...)` calls, stay in both editions so
students get the automatic feedback.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def is_solution(cell) -> bool:
    tags = cell.get("metadata", {}).get("tags", [])
    return "solution" in tags or (
        cell.cell_type == "markdown" and "{solution}" in cell.source
    )


def is_exercise(cell) -> bool:
    return cell.cell_type == "markdown" and "{exercise}" in cell.source


def strip_outputs(nb):
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def student_edition(nb):
    """A copy of `nb` without its solution cells."""
    out = copy.deepcopy(nb)
    out.cells = [c for c in out.cells if not is_solution(c)]
    out.metadata["bertmini_edition"] = "student"
    return strip_outputs(out)


def instructor_edition(nb):
    out = copy.deepcopy(nb)
    out.metadata["bertmini_edition"] = "instructor"
    return strip_outputs(out)


def write_editions(notebooks: list[Path], out: Path) -> dict[str, int]:
    """Write both editions; return how many solution cells each student notebook lost."""
    removed = {}
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        for edition, make in (
            ("student", student_edition),
            ("instructor", instructor_edition),
        ):
            target = out / edition / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(make(nb), target)
        removed[path.name] = sum(is_solution(c) for c in nb.cells)
    return removed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "_build"))
    ap.add_argument("notebooks", nargs="*")
    args = ap.parse_args(argv)
    notebooks = [Path(p) for p in args.notebooks] or sorted(
        (ROOT / "chapters").glob("*.ipynb")
    )
    removed = write_editions(notebooks, Path(args.out))
    for name, n in removed.items():
        print(f"{name}: {n} solution cells removed from the student edition")
    print(f"wrote {Path(args.out) / 'student'} and {Path(args.out) / 'instructor'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
