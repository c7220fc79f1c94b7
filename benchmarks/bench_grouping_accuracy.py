"""Length-grouped batches in chapter 6's headline run: the time they save, and what they do to the accuracy.

A faster step is only worth having if the model it trains is as good. This runs chapter 6's
headline fine-tuning (all-MiniLM-L6-v2, 12,000 SST-2 training sentences, one epoch, batch 32,
max_length 64, lr 1e-4, 10% warm-up) to the end, once with random batches and once with
`fit(lengths=...)`'s length-grouped batches, for each of `--seeds` seeds (the seed draws the
sample's order, the dropout and the new classifier layer). Each run reports its training time
(fit's own clock, which keeps the dev probe out), the dev accuracy on all 872 sentences, and the
probe accuracy (every fourth dev sentence) after each quarter of the epoch, which chapter 6 plots
as its learning curve. One run takes one to two minutes on a 2-core CPU.

    python benchmarks/bench_grouping_accuracy.py [--seeds 0 1 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_header  # noqa: E402

N_TRAIN, MAX_LEN, BATCH, LR, WARMUP = 12_000, 64, 32, 1e-4, 0.1


def run(grouped: bool, seed: int, tokenizer, train, dev) -> dict:
    import bertmini
    from bertmini import BertForSequenceClassification
    from bertmini.classification import ClassificationCollator, evaluate
    from bertmini.train import TrainConfig, fit

    collate = ClassificationCollator(tokenizer, max_length=MAX_LEN, num_labels=2)
    steps = -(-len(train) // BATCH)
    config = TrainConfig(
        lr=LR,
        batch_size=BATCH,
        epochs=1,
        warmup_ratio=WARMUP,
        seed=seed,
        eval_every=steps // 4,
        progress=False,
    )
    bertmini.seed_everything(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "classifier weights are new"
        model = BertForSequenceClassification.from_pretrained(
            "all-MiniLM-L6-v2", num_labels=2
        )
    probe = dev[::4]
    history = fit(
        model,
        train,
        config,
        collate_fn=collate,
        eval_fn=lambda m: {"probe": evaluate(m, probe, collate).accuracy},
        lengths=collate.lengths(train) if grouped else None,
    )
    return {
        "grouped": grouped,
        "seed": seed,
        "train_seconds": history.time[-1],
        "dev_accuracy": evaluate(model, dev, collate).accuracy,
        "probe": history.eval["probe"][:4],  # after each quarter (the 5th is the end)
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from bertmini import Tokenizer
    from bertmini.data import load_sst2

    tokenizer = Tokenizer.from_pretrained("all-MiniLM-L6-v2")
    train = load_sst2("train", limit=N_TRAIN, seed=0)  # chapter 6's sample
    dev = load_sst2("dev")
    runs = []
    for seed in args.seeds:
        for grouped in (False, True):
            print(
                f"seed {seed}, {'grouped' if grouped else 'random'} batches",
                file=sys.stderr,
                flush=True,
            )
            runs.append(run(grouped, seed, tokenizer, train, dev))

    print(machine_header("bench_grouping_accuracy"))
    print(
        f"# chapter 6's headline run ({N_TRAIN:,} SST-2 sentences, 1 epoch, batch {BATCH}, "
        f"max_length {MAX_LEN}, lr {LR:g}): random batches against fit(lengths=...)'s "
        "length-grouped ones, same seed; training seconds by fit's clock (dev probe "
        "excluded); accuracy on all 872 dev sentences; probe = every 4th dev sentence "
        "after each quarter of the epoch"
    )
    print("| seed | batches | train s | dev accuracy % | probe after each quarter % |")
    print("|---|---|---|---|---|")
    for r in runs:
        print(
            f"| {r['seed']} | {'grouped' if r['grouped'] else 'random'} | "
            f"{r['train_seconds']:.1f} | {100 * r['dev_accuracy']:.1f} | "
            + ", ".join(f"{100 * p:.1f}" for p in r["probe"])
            + " |"
        )
    for grouped in (False, True):
        mine = [r for r in runs if r["grouped"] == grouped]
        print(
            f"| mean | {'grouped' if grouped else 'random'} | "
            f"{statistics.mean(r['train_seconds'] for r in mine):.1f} | "
            f"{100 * statistics.mean(r['dev_accuracy'] for r in mine):.1f} | "
            f"first quarter {100 * statistics.mean(r['probe'][0] for r in mine):.1f} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
