"""Execute every chapter notebook in a fresh kernel and record its wall time.

    python benchmarks/bench_book.py [--json benchmarks/book_times.json] [notebooks ...]

The budget: the whole book under 15 minutes on a 2-core CPU, no notebook over 4 minutes.
Each notebook runs once, top to bottom, as a reader (or nbval) would run it; the table
says which chapters dominate, and the JSON feeds benchmarks/RESULTS.md and the book's
Speed page.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK_BUDGET_S, NOTEBOOK_BUDGET_S = 15 * 60, 4 * 60


def run_notebook(path: Path, timeout: int | None = 3600) -> float:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    t = time.perf_counter()
    client.execute()
    return time.perf_counter() - t


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
        f"# bench_book: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"torch {torch.__version__}, data mirror {'set' if os.environ.get('BERTMINI_DATA_MIRROR') else 'unset'}, "
        f"model cache {'fresh' if 'bertmini-bench-cache-' in os.environ['BERTMINI_CACHE'] else os.environ['BERTMINI_CACHE']}"
    )
    print("| notebook | wall s | within 4 min |")
    print("|---|---|---|")
    times = {}
    for path in notebooks:
        seconds = run_notebook(path)
        times[path.name] = round(seconds, 1)
        print(
            f"| {path.name} | {seconds:.1f} | {'yes' if seconds <= NOTEBOOK_BUDGET_S else 'NO'} |",
            flush=True,
        )
    total = sum(times.values())
    print(
        f"| **total** | {total:.1f} | {'yes' if total <= BOOK_BUDGET_S else 'NO'} (budget 15 min) |"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"times_s": times, "total_s": round(total, 1), "cpus": os.cpu_count()},
                indent=2,
            )
            + "\n"
        )
    return (
        0
        if total <= BOOK_BUDGET_S
        and all(t <= NOTEBOOK_BUDGET_S for t in times.values())
        else 1
    )


if __name__ == "__main__":
    sys.exit(main())
