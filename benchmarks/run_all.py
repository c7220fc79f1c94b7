"""Run every benchmark and write benchmarks/RESULTS.md and benchmarks/speed.svg (what `make bench` does).

    python benchmarks/run_all.py [--quick] [--skip-book]

Each benchmark prints a markdown table with its machine header; this script collects them in
RESULTS.md, keeps the raw numbers in results.json, and draws the figure the book's Speed page shows.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(script: str, *args: str) -> str:
    cmd = [sys.executable, str(HERE / script), *args]
    print("$", " ".join(cmd[1:]), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode not in (0, 1):  # bench_book exits 1 when over budget: still a result
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{script} failed with exit code {done.returncode}")
    table = "\n".join(l for l in done.stdout.splitlines() if l.startswith(("#", "|")))
    print(table, flush=True)
    return table


def plot(results: dict, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [p for p in ("model", "book") if p in results]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.4), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel == "model":
            rows = results["model"]["rows"]
            names = ["bertmini", "transformers-eager", "transformers-sdpa"]
            width = 0.27
            for i, name in enumerate(names):
                ax.bar([j + (i - 1) * width for j in range(len(rows))], [r[name] for r in rows], width, label=name)
            ax.set_xticks(range(len(rows)), [r["task"] for r in rows])
            ax.set_ylabel("milliseconds per batch (lower is faster)")
            ax.set_title(f"MiniLM, batch {results['model']['batch']} x {results['model']['seq']}, 2 CPU threads")
            ax.legend(fontsize=8)
        else:
            times = results["book"]["times_s"]
            ax.barh(list(times), list(times.values()), color="tab:green")
            ax.axvline(240, color="tab:red", linestyle="--", label="4-minute budget per notebook")
            ax.set_xlabel("seconds to execute (2-core CPU)")
            ax.set_title(f"Each notebook in a fresh kernel: {results['book']['total_s']:.0f} s in total")
            ax.invert_yaxis()
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)


def as_markdown(output: str) -> str:
    """A script's printout as Markdown: its "# ..." header lines (machine, threads, versions) become
    a paragraph, not headings, so the tables can be included in the book's pages."""
    lines = output.strip().splitlines()
    header = [line[2:] for line in lines if line.startswith("# ")]
    rest = [line for line in lines if not line.startswith("# ")]
    return "\n".join(["\n\n".join(header)] * bool(header) + [""] * bool(header) + rest)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    ap.add_argument("--skip-book", action="store_true", help="do not execute the notebooks")
    args = ap.parse_args()
    repeats = ["--repeats", "3"] if args.quick else []
    sections, results = [], {}
    sections.append(("Inference and a training step (bench_model.py)",
                     run("bench_model.py", "--json", str(HERE / "model.json"), *repeats)))
    results["model"] = json.loads((HERE / "model.json").read_text())
    sections.append(("A pretraining optimizer step, MLM + NSP (bench_pretrain.py)", run("bench_pretrain.py", *repeats)))
    if not args.skip_book:
        sections.append(("The book, notebook by notebook (bench_book.py)",
                         run("bench_book.py", "--json", str(HERE / "book.json"))))
        results["book"] = json.loads((HERE / "book.json").read_text())
    elif (HERE / "book.json").exists():
        results["book"] = json.loads((HERE / "book.json").read_text())
    for f in ("model.json",):
        (HERE / f).unlink(missing_ok=True)
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, HERE / "speed.svg")
    text = ["# Benchmark results", "",
            f"Written by `make bench` (benchmarks/run_all.py) on {time.strftime('%Y-%m-%d')}. Ratios compare "
            "bertmini with transformers measured in the same run, interleaved; times are medians.", ""]
    for title, table in sections:
        text += [f"## {title}", "", as_markdown(table), ""]
    (HERE / "RESULTS.md").write_text("\n".join(text))
    print(f"wrote {HERE / 'RESULTS.md'}, {HERE / 'results.json'} and {HERE / 'speed.svg'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
