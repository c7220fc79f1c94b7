"""Grade students' notebooks with the exercise checkers.

    python book/grade.py submissions/*.ipynb [--csv grades.csv] [--timeout 600]

Each notebook is executed top to bottom in a fresh kernel (errors do not stop it: a
broken cell costs the exercises that depend on it, not the whole notebook). Every
`check(...)` call prints one line that starts with ✓ (passed), ✗ (failed) or ⏸ (not
attempted); this script collects those lines per notebook, prints a table and optionally
writes a CSV with one row per notebook and exercise.

The checkers run the same hidden test cases the students saw, so a grade is
reproducible: run it again and it gives the same result. Give students the student
edition (`make student`) to fill in.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from dataclasses import dataclass
from pathlib import Path

VERDICTS = {"✓": "passed", "✗": "failed", "⏸": "not attempted"}
# the title may itself contain ": ", so the verdict's own words mark where it ends
LINE = re.compile(
    r"^(?P<mark>[✓✗⏸]) (?P<title>.+?): (?:all \d+ test case|\d+/\d+ test cases|not attempted|"
    r"expected a function)",
    re.MULTILINE,
)


@dataclass
class Result:
    notebook: str
    exercise: str
    verdict: str


def results_from_outputs(nb) -> list[Result]:
    """The verdict of every `check` call, read from an executed notebook's outputs, in order."""
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code" or "solution" in cell.get("metadata", {}).get(
            "tags", []
        ):
            continue  # a solution cell's own check is not the student's work
        for output in cell.get("outputs", []):
            text = (
                output.get("text", "") if output.get("output_type") == "stream" else ""
            )
            for m in LINE.finditer(text):
                out.append(Result("", m["title"].strip(), VERDICTS[m["mark"]]))
    return out


def grade(path: Path, timeout: int = 600) -> list[Result]:
    """Execute one notebook (errors allowed) and return its check verdicts."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    results = results_from_outputs(nb)
    for r in results:
        r.notebook = path.name
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument(
        "--csv",
        type=Path,
        default=None,
        help="also write one row per notebook and exercise here",
    )
    ap.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = ap.parse_args(argv)
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        ap.error(f"no such notebook: {', '.join(missing)}")
    rows: list[Result] = []
    for path in args.notebooks:
        results = grade(path, args.timeout)
        passed = sum(r.verdict == "passed" for r in results)
        print(f"{path.name}: {passed}/{len(results)} exercises passed")
        for r in results:
            print(f"    {r.verdict:>13}  {r.exercise}")
        rows += results
    if args.csv:
        with args.csv.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["notebook", "exercise", "verdict"])
            writer.writerows([r.notebook, r.exercise, r.verdict] for r in rows)
        print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
