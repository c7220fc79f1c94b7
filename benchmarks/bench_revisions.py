"""bertmini at two git revisions, on the same batches, each against transformers in its run.

    python benchmarks/bench_revisions.py REV_A REV_B [--rounds 3] [--threads 1]

Why: a refactor that "changes no arithmetic" can still change the speed (an extra copy,
a lost fast path). Each revision is checked out into a temporary git worktree and timed
in its own process (a package cannot be imported twice in one), so the two revisions
never share a run; what they share is the reference: every worker also times
transformers' BERT, with the same weights and batches, interleaved with bertmini. The
ratio to that reference is what compares across processes, and the rounds alternate
A, B, A, B so that a slow spell of the machine hits both. The worker uses only API that
every revision since the first wave has (from_pretrained, the tokenizer, load_sst2).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# The headline's classification batches: SST-2 dev, padded to the longest
BATCH, BATCHES = 32, 8

WORKER = r"""
import json, random, sys, tempfile, time, warnings
import torch, transformers
import bertmini
from bertmini.data import load_sst2
sys.path.insert(0, sys.argv[3])
from common import interleaved_medians

torch.set_num_threads(int(sys.argv[1]))
batch, batches = int(sys.argv[2].split(",")[0]), int(sys.argv[2].split(",")[1])
tok = bertmini.Tokenizer.from_pretrained("all-MiniLM-L6-v2")
records = random.Random(0).sample(load_sst2("dev"), batch * batches)
data = []
for i in range(0, len(records), batch):
    chunk = records[i : i + batch]
    enc = tok([r["sentence"] for r in chunk], max_length=128, truncation=True, padding=True)
    inputs = enc.model_inputs()
    inputs["labels"] = torch.tensor([r["label"] for r in chunk])
    data.append(inputs)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    torch.manual_seed(0)
    ours = bertmini.BertForSequenceClassification.from_pretrained("all-MiniLM-L6-v2", num_labels=2)
with tempfile.TemporaryDirectory() as d:
    ours.save_pretrained(d)
    theirs = transformers.BertForSequenceClassification.from_pretrained(d, attn_implementation="sdpa")
models = {"bertmini": ours, "transformers": theirs}
opts = {n: torch.optim.AdamW(m.parameters(), lr=1e-7) for n, m in models.items()}

def infer(m):
    m.eval()
    with torch.no_grad():
        for b in data:
            m(**{k: v for k, v in b.items() if k != "labels"})

def train(n):
    m = models[n]
    m.train()
    for b in data:
        opts[n].zero_grad(set_to_none=True)
        m(**b).loss.backward()
        opts[n].step()

out = {
    "inference": interleaved_medians({n: (lambda m=m: infer(m)) for n, m in models.items()}, 3),
    "train step": interleaved_medians({n: (lambda n=n: train(n)) for n in models}, 3),
}
result = {t: {n: 1e3 * s / len(data) for n, s in r.items()} for t, r in out.items()}
result["bertmini_file"] = bertmini.__file__
print(json.dumps(result))
"""


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "revisions", nargs=2, help="two git revisions (commit, tag, branch)"
    )
    ap.add_argument("--rounds", type=int, default=3, help="worker runs per revision")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None, help="also write the raw numbers here")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error(f"--rounds must be at least 1, got {args.rounds}")
    commits = [git("rev-parse", "--short", f"{r}^{{commit}}") for r in args.revisions]
    runs: dict[str, list[dict]] = {c: [] for c in commits}
    with tempfile.TemporaryDirectory(prefix="bertmini-revisions-") as tmp:
        trees = {}
        for c in commits:
            trees[c] = Path(tmp) / c
            git("worktree", "add", "--detach", str(trees[c]), c)
        try:
            for k in range(args.rounds):
                for c in commits:
                    print(
                        f"round {k + 1}/{args.rounds}: {c}", file=sys.stderr, flush=True
                    )
                    env = {**os.environ, "PYTHONPATH": str(trees[c])}
                    done = subprocess.run(
                        [sys.executable, "-c", WORKER, str(args.threads),
                         f"{BATCH},{BATCHES}", str(HERE)],
                        env=env, cwd=tmp, check=True, capture_output=True, text=True,
                    )  # fmt: skip
                    run = json.loads(done.stdout.strip().splitlines()[-1])
                    if not run.pop("bertmini_file").startswith(str(trees[c])):
                        raise RuntimeError(
                            f"the worker for {c} imported another bertmini"
                        )
                    runs[c].append(run)
        finally:
            for c in commits:
                git("worktree", "remove", "--force", str(trees[c]))
    sys.path.insert(0, str(HERE))
    import torch
    from common import machine_header

    torch.set_num_threads(args.threads)
    lines = [
        machine_header("bench_revisions"),
        f"# bertmini at {commits[0]} and {commits[1]}, {BATCHES} batches of {BATCH} SST-2 dev sentences padded to the longest "
        f"in each; transformers (sdpa) timed in the same process as the reference; medians "
        f"of {args.rounds} worker runs per revision, alternating",
        "| revision | task | bertmini ms | transformers ms | ratio vs transformers |",
        "|---|---|---|---|---|",
    ]
    summary = {}
    for c in commits:
        for task in ("inference", "train step"):
            ours = statistics.median(r[task]["bertmini"] for r in runs[c])
            theirs = statistics.median(r[task]["transformers"] for r in runs[c])
            ratio = statistics.median(
                r[task]["transformers"] / r[task]["bertmini"] for r in runs[c]
            )
            summary.setdefault(c, {})[task] = {
                "bertmini_ms": ours,
                "transformers_ms": theirs,
                "ratio": ratio,
            }
            lines.append(f"| {c} | {task} | {ours:.1f} | {theirs:.1f} | {ratio:.2f}x |")
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(
            json.dumps({"runs": runs, "summary": summary}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
