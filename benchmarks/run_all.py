"""Run the benchmarks and write benchmarks/RESULTS.md and benchmarks/speed.svg (what `make bench` does).

    python benchmarks/run_all.py [--quick] [--only SECTION ...] [--skip-book]

Each benchmark prints a markdown table with its machine header; this script collects
them in RESULTS.md, keeps the raw numbers and the tables in results.json, and draws the
figure the book's Speed page shows. `--only` reruns some sections and keeps the others'
last measured tables (each section says when and where it ran), so that a shared machine
is held a few minutes at a time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> (title, script and arguments); the order is RESULTS.md's.
SECTIONS = {
    "headline": (
        "Headline: the batches a user builds, padded to the longest in each batch",
        ["bench_model.py", "--part", "headline"],
    ),
    "secondary": (
        "Secondary rows: the same sentences without padding, grouped by length, or padded to 128",
        ["bench_model.py", "--part", "secondary"],
    ),
    "ablation": (
        "Where the speed comes from: one speed-up off at a time",
        ["bench_model.py", "--part", "ablation"],
    ),
    "memory": ("Memory: peak RSS per side", ["bench_model.py", "--part", "memory"]),
    "compile": (
        "torch.compile on CPU for the training step",
        ["bench_model.py", "--part", "compile"],
    ),
    "optimizer": (
        "The optimizer: fused AdamW (what fit uses) against the plain update",
        ["bench_model.py", "--part", "optimizer"],
    ),
    "grouping": (
        "Length-grouped batches: fit(lengths=...) on chapter 6's training step",
        ["bench_model.py", "--part", "grouping"],
    ),
    "grouping_accuracy": (
        "Length-grouped batches and accuracy: chapter 6's headline run, three seeds",
        ["bench_grouping_accuracy.py"],
    ),
    "precision": (
        "bfloat16 on the CPU: chapters 6 and 7's headline runs, float32 against bf16",
        ["bench_precision.py"],
    ),
    "matmul": (
        "Matrix products in float32 and bfloat16 on the CPU (bench_matmul.py)",
        ["bench_matmul.py"],
    ),
    "threads": (
        "Threads under load: 1 or 2 threads, quiet (no load added) or beside a busy process",
        ["bench_threads.py"],
    ),
    "pretrain": (
        "A pretraining optimizer step, MLM + NSP (bench_pretrain.py)",
        ["bench_pretrain.py"],
    ),
    "book": ("The book, notebook by notebook (bench_book.py)", ["bench_book.py"]),
}
# scripts that take --repeats, and --threads
REPEATS = {"bench_model.py", "bench_pretrain.py", "bench_matmul.py"}
THREADS = {"bench_model.py", "bench_pretrain.py", "bench_matmul.py"}

NO_GPU = (
    "No GPU was lent to the session that measured these tables: every number is from a CPU, "
    "and no GPU figure (tokens/s, MFU, CUDA memory) is quoted. On a GPU, run "
    "`benchmarks/bench_pretrain.py --device cuda --config bert-base --dtype bf16 --peak-tflops <peak>`."
)


def run(
    args: list[str], json_out: Path | None, quick: bool, threads: int | None
) -> str:
    cmd = [sys.executable, str(HERE / args[0]), *args[1:]]
    if json_out is not None:
        cmd += ["--json", str(json_out)]
    if quick and args[0] in REPEATS:
        cmd += ["--repeats", "3"]
    if threads is not None and args[0] in THREADS:
        cmd += ["--threads", str(threads)]
    print("$", " ".join(cmd[1:]), flush=True)
    # stderr: progress, passed on
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    # bench_book exits 1 when over budget: still a result. Any other script exits 1 on
    # an exception (a missing data mirror, say): then nothing is written, and the
    # stored tables stay as they were.
    ok = (0, 1) if args[0] == "bench_book.py" else (0,)
    table = "\n".join(l for l in done.stdout.splitlines() if l.startswith(("#", "|")))
    if done.returncode not in ok or "|" not in table:
        raise SystemExit(
            f"{args[0]} failed (exit code {done.returncode}"
            f"{', no table' if '|' not in table else ''}): RESULTS.md is unchanged"
        )
    print(table, flush=True)
    return table


def plot(results: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [p for p in ("headline", "book") if p in results]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(6.5 * len(panels), 3.6), squeeze=False
    )
    for ax, panel in zip(axes[0], panels):
        if panel == "headline":
            rows = results["headline"]["rows"]
            names = ["bertmini", "transformers-eager", "transformers-sdpa"]
            width = 0.27
            for i, name in enumerate(names):
                ax.bar(
                    [j + (i - 1) * width for j in range(len(rows))],
                    [r[name] for r in rows],
                    width,
                    label=name,
                )
            ax.set_xticks(
                range(len(rows)),
                [r["task"].replace(" ", "\n", 1) for r in rows],
                fontsize=8,
            )
            ax.set_ylabel("milliseconds per batch (lower is faster)")
            threads = results["headline"]["header"].split("threads=")[1].split(",")[0]
            ax.set_title(
                f"MiniLM, batches padded to their longest, {threads} CPU thread(s)",
                fontsize=10,
            )
            ax.legend(fontsize=8)
        else:
            times = results["book"]["times_s"]
            budgets = results["book"].get("budgets_s") or {name: 240 for name in times}
            over = [times[name] > budgets[name] for name in times]
            ax.barh(
                list(times),
                list(times.values()),
                color=["tab:orange" if o else "tab:green" for o in over],
            )
            ax.scatter(
                [budgets[name] for name in times],
                list(times),
                marker="|",
                s=300,
                color="tab:red",
                label="the notebook's budget (orange: over it)",
            )
            ax.set_xlabel("seconds to execute (2-core CPU)")
            ax.set_title(
                f"Each notebook in a fresh kernel: {results['book']['total_s']:.0f} s in total",
                fontsize=10,
            )
            ax.invert_yaxis()
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)


def as_markdown(output: str) -> str:
    """A script's printout as Markdown: its "# ..." lines (machine, threads, versions,
    what was compared) become paragraphs, not headings, so the tables can be included in
    the book's pages.
    """
    blocks, prose = [], []
    for line in output.strip().splitlines():
        if line.startswith("# "):
            prose.append(line[2:])
            continue
        if prose:
            # A table ends at a blank line
            blocks += [""] * bool(blocks) + [
                "\n\n".join(prose),
                "",
            ]
            prose = []
        blocks.append(line)
    if prose:
        blocks += ["", "\n\n".join(prose)]
    return "\n".join(blocks)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    ap.add_argument(
        "--only", nargs="+", choices=sorted(SECTIONS), help="rerun only these sections"
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for the library comparisons (default: each script's, 2)",
    )
    ap.add_argument(
        "--render",
        action="store_true",
        help="measure nothing: rewrite RESULTS.md and the figure",
    )
    ap.add_argument(
        "--note", default=None, help="a sentence about the machine, kept in RESULTS.md"
    )
    ap.add_argument(
        "--skip-book", action="store_true", help="do not execute the notebooks"
    )
    args = ap.parse_args()
    stored_path = HERE / "results.json"
    stored = json.loads(stored_path.read_text()) if stored_path.exists() else {}
    tables, results = (
        stored.get("tables", {}),
        {k: v for k, v in stored.items() if k != "tables"},
    )
    if args.note is not None:
        results["note"] = args.note
    wanted = (
        []
        if args.render
        else (
            args.only or [s for s in SECTIONS if not (s == "book" and args.skip_book)]
        )
    )
    for name in wanted:
        title, command = SECTIONS[name]
        out = HERE / f".{name}.json"
        tables[name] = f"Measured {time.strftime('%Y-%m-%d')}.\n" + run(
            command, out if name != "pretrain" else None, args.quick, args.threads
        )
        if out.exists():
            results[name] = json.loads(out.read_text())
            out.unlink()
    stored_path.write_text(json.dumps({**results, "tables": tables}, indent=2) + "\n")
    plot(results, HERE / "speed.svg")
    text = [
        "# Benchmark results",
        "",
        "Written by `make bench` (benchmarks/run_all.py). Ratios compare bertmini with transformers "
        "measured in the same run, interleaved, with the same weights and the same batches; times "
        "are medians. Ratio > 1: bertmini is faster.",
        "",
        NO_GPU,
        "",
    ]
    if results.get("note"):
        text += [results["note"], ""]
    for name, (title, _) in SECTIONS.items():
        if name in tables:
            text += [f"## {title}", "", as_markdown(tables[name]), ""]
    (HERE / "RESULTS.md").write_text("\n".join(text))
    print(f"wrote {HERE / 'RESULTS.md'}, {stored_path} and {HERE / 'speed.svg'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
