"""Threads under load: chapter 6's training recipe with 1 and 2 threads, quiet and beside a busy process.

A laptop or a CI runner is rarely quiet. PyTorch starts one compute thread per core, and
its threads wait for each other at the end of every operation: when another program
holds one of two cores, the thread that shares it arrives late at every barrier and the
whole step waits. This measures how much that costs, and what `fit`'s default
(`TrainConfig.threads=None`: as many threads as there are idle cores when the run
starts) does about it.

Each configuration trains a fresh MiniLM classifier for `--steps` steps of chapter 6's
recipe (SST-2 train sentences, batch 32, max_length 64, AdamW) in its own process;
"loaded" runs beside one `python -c "while 1: pass"` process, started before and killed
after. Every configuration runs `--repeats` times, the rounds interleaved so that a
disturbance outside the benchmark lands on all of them; the table shows medians.

    python benchmarks/bench_threads.py [--steps 8] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER = r"""
import json, sys, time, warnings
import torch
threads = sys.argv[1]
if threads != "auto":
    torch.set_num_threads(int(threads))
import bertmini
from bertmini.classification import ClassificationCollator
from bertmini.data import load_sst2
from bertmini.train import TrainConfig, fit
steps = int(sys.argv[2])
tok = bertmini.Tokenizer.from_pretrained("all-MiniLM-L6-v2")
records = load_sst2("train", limit=32 * steps, seed=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    model = bertmini.BertForSequenceClassification.from_pretrained("all-MiniLM-L6-v2", num_labels=2)
config = TrainConfig(lr=1e-4, batch_size=32, epochs=1, seed=0, progress=False,
                     threads=None if threads == "auto" else int(threads))
used = set()
t = time.perf_counter()
fit(model, records, config, collate_fn=ClassificationCollator(tok, max_length=64, num_labels=2),
    callbacks=[lambda step, logs: used.add(torch.get_num_threads())])
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "threads_used": sorted(used)}))
"""


def run(threads: str, steps: int, loaded: bool) -> dict:
    busy = subprocess.Popen([sys.executable, "-c", "while 1: pass"]) if loaded else None
    try:
        if busy:
            time.sleep(1.0)  # let the scheduler see it running
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, "-c", WORKER, threads, str(steps)],
            capture_output=True,
            text=True,
            env=env,
        )
        if done.returncode:
            sys.stderr.write(done.stderr)
            raise SystemExit(f"worker failed (threads={threads}, loaded={loaded})")
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        if busy:
            busy.kill()
            busy.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.steps < 1 or args.repeats < 1:
        ap.error(
            f"--steps and --repeats must be >= 1, got {args.steps}, {args.repeats}"
        )
    import torch

    settings = ["1", "2", "auto"]
    runs: dict[tuple[str, bool], list[dict]] = {}
    for _ in range(args.repeats):
        for loaded in (False, True):
            for threads in settings:
                runs.setdefault((threads, loaded), []).append(
                    run(threads, args.steps, loaded)
                )
    results = {
        key: {
            "seconds": statistics.median(r["seconds"] for r in rs),
            "all_seconds": [round(r["seconds"], 2) for r in rs],
            "threads_used": sorted({t for r in rs for t in r["threads_used"]}),
        }
        for key, rs in runs.items()
    }
    print(
        f"# bench_threads: {os.cpu_count()} cpus, torch {torch.__version__}; chapter 6's recipe "
        f"(MiniLM, SST-2 train, batch 32, max_length 64), {args.steps} optimizer steps of fit, "
        f"seconds, median of {args.repeats} interleaved runs (lower is better); loaded = "
        "beside one busy-looping process"
    )
    print("| threads | quiet s | loaded s | loaded / quiet |")
    print("|---|---|---|---|")
    for threads in settings:
        q, l = results[(threads, False)], results[(threads, True)]
        name = (
            threads
            if threads != "auto"
            else (
                f"fit's default (chose {'/'.join(map(str, q['threads_used']))} quiet, "
                f"{'/'.join(map(str, l['threads_used']))} loaded)"
            )
        )
        print(
            f"| {name} | {q['seconds']:.1f} | {l['seconds']:.1f} | {l['seconds'] / q['seconds']:.1f}x |"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    f"{t}-{'loaded' if l else 'quiet'}": v
                    for (t, l), v in results.items()
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
