"""Execute every chapter notebook in a fresh kernel and record its wall time.

    python benchmarks/bench_book.py [--json benchmarks/book_times.json] [notebooks ...]

The budgets, on a quiet 2-core CPU: the whole book under 15 minutes; chapters 6 and 7
under 100 s each, the other training chapters (5, 9, 10) under 150 s, every other
notebook under 4 minutes (issue 21: a machine 2-3x slower, a classroom laptop or a
busy CI runner, then still finishes a training chapter within 5-8 minutes). Each notebook runs once, top
to bottom, as a reader (or nbval) would run it; the table says which chapters dominate
and which cell dominates each, and the JSON feeds benchmarks/RESULTS.md and the book's
Speed page.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import cpu_description  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BOOK_BUDGET_S, NOTEBOOK_BUDGET_S = 15 * 60, 4 * 60
CHAPTER_BUDGETS_S = {  # the training chapters (issue 21)
    "05_pretraining.ipynb": 150,
    "06_classification.ipynb": 100,
    "07_question_answering.ipynb": 100,
    "09_token_classification.ipynb": 150,
    "10_sentence_embeddings.ipynb": 150,
}


def budget(path: Path) -> int:
    return CHAPTER_BUDGETS_S.get(path.name, NOTEBOOK_BUDGET_S)


def run_notebook(path: Path, timeout: int | None = 3600) -> tuple[float, list[dict]]:
    """Execute `path` in a fresh kernel: (wall seconds, one {cell, seconds, line} per
    code cell, slowest first)."""
    import nbformat
    from nbclient import NotebookClient

    cells = []

    class TimedClient(NotebookClient):
        async def async_execute_cell(self, cell, cell_index, **kwargs):
            began = time.perf_counter()
            result = await super().async_execute_cell(cell, cell_index, **kwargs)
            if cell.cell_type == "code":
                first = next(
                    (
                        line
                        for line in cell.source.splitlines()
                        if line.strip() and not line.startswith(("#", "%"))
                    ),
                    "",
                )
                cells.append(
                    {
                        "cell": cell_index,
                        "seconds": round(time.perf_counter() - began, 1),
                        "line": first.strip()[:60],
                    }
                )
            return result

    nb = nbformat.read(path, as_version=4)
    client = TimedClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    t = time.perf_counter()
    client.execute()
    return time.perf_counter() - t, sorted(cells, key=lambda c: -c["seconds"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", default=None, help="write the times here as JSON")
    ap.add_argument("notebooks", nargs="*")
    args = ap.parse_args(argv)
    notebooks = [Path(p) for p in args.notebooks] or sorted(
        (ROOT / "chapters").glob("*.ipynb")
    )
    import tempfile

    import torch

    # A fresh model cache, as in CI and on a reader's first run: chapter 5 trains its
    # model, and the later chapters that use it load it from this cache (set
    # BERTMINI_CACHE to time a warm cache).
    os.environ.setdefault(
        "BERTMINI_CACHE", tempfile.mkdtemp(prefix="bertmini-bench-cache-")
    )

    print(
        f"# bench_book: {cpu_description()}, {os.cpu_count()} cpus, "
        f"torch {torch.__version__}, data mirror {'set' if os.environ.get('BERTMINI_DATA_MIRROR') else 'unset'}, "
        f"model cache {'fresh' if 'bertmini-bench-cache-' in os.environ['BERTMINI_CACHE'] else os.environ['BERTMINI_CACHE']}"
    )
    print("| notebook | wall s | budget s | within budget | slowest cell (s) |")
    print("|---|---|---|---|---|")
    times, slowest, within, every = {}, {}, {}, {}
    for path in notebooks:
        seconds, cells = run_notebook(path)
        times[path.name] = round(seconds, 1)
        slowest[path.name] = cells[:3]
        every[path.name] = {c["cell"]: c["seconds"] for c in cells}
        within[path.name] = seconds <= budget(path)
        top = cells[0] if cells else {"cell": "-", "seconds": 0.0, "line": ""}
        print(
            f"| {path.name} | {seconds:.1f} | {budget(path)} | "
            f"{'yes' if within[path.name] else 'NO'} | "
            f"[{top['cell']}] {top['seconds']:.1f}: `{top['line']}` |",
            flush=True,
        )
    total = sum(times.values())
    print(
        f"| **total** | {total:.1f} | {BOOK_BUDGET_S} | "
        f"{'yes' if total <= BOOK_BUDGET_S else 'NO'} | |"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "times_s": times,
                    "budgets_s": {name: budget(Path(name)) for name in times},
                    "slowest_cells": slowest,
                    # every code cell, so that two runs compare cell by cell
                    "cell_times_s": every,
                    "total_s": round(total, 1),
                    "cpus": os.cpu_count(),
                },
                indent=2,
            )
            + "\n"
        )
    return 0 if total <= BOOK_BUDGET_S and all(within.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
