"""bfloat16 on the CPU for chapters 6 and 7: the time it would save, and what it does to their results.

The book trains in float32 on every CPU (`TrainConfig(precision="auto")`), because most
students' laptops have no native bfloat16 instructions and the path the book is tested on
should be the one its readers run. Whether to change that is a choice for the course's
authors; this script measures what is at stake. It runs the headline fine-tuning of
chapter 6 (all-MiniLM-L6-v2, 12,000 SST-2 sentences, one epoch, length-grouped batches)
and of chapter 7 (2,400 SQuAD questions from the 40 fine-tuning articles, windows of 128
with stride 32, answer windows only) to the end, once in float32 and once with
`TrainConfig(precision="bf16")` (matrix products in bfloat16 under `torch.autocast`,
weights and the update in float32), same seed; then evaluates each model as its chapter
does (all 872 SST-2 dev sentences; all 1,589 held-out questions), the bf16 model under
`bertmini.autocast(..., "bf16")`. Each run reports its training time (fit's clock), its
evaluation time and the chapter's metric. About seven minutes on a 2-core CPU with
native bfloat16. Without it bf16 is emulated: bench_matmul.py measured a matrix product
at 53 to 92 times float32's time on an AVX2-only CPU, so this script is for CPUs with it.

    python benchmarks/bench_precision.py [--chapters 6 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_grouping_accuracy import BATCH, LR, MAX_LEN, N_TRAIN, WARMUP  # noqa: E402
from common import machine_header  # noqa: E402

from bertmini.device import cpu_flags  # noqa: E402

SEED = 0


def native_bf16() -> str:
    """The CPU's bfloat16 instructions as Linux lists them in /proc/cpuinfo."""
    flags = cpu_flags()
    if flags is None:
        return "unknown (no /proc/cpuinfo)"
    found = [f for f in ("avx512_bf16", "amx_bf16") if f in flags]
    return ", ".join(found) if found else "none"


def evaluated(precision: str, fn):
    """(result, seconds) of `fn()`, under bf16 autocast when `precision` is bf16."""
    import bertmini

    begin = time.perf_counter()
    with bertmini.autocast("cpu", precision):
        result = fn()
    return result, time.perf_counter() - begin


def chapter6(precision: str) -> dict:
    import bertmini
    from bertmini import BertForSequenceClassification, Tokenizer
    from bertmini.classification import ClassificationCollator, evaluate
    from bertmini.data import load_sst2
    from bertmini.train import TrainConfig, fit

    tokenizer = Tokenizer.from_pretrained("all-MiniLM-L6-v2")
    train = load_sst2("train", limit=N_TRAIN, seed=0)  # chapter 6's sample
    dev = load_sst2("dev")
    collate = ClassificationCollator(tokenizer, max_length=MAX_LEN, num_labels=2)
    config = TrainConfig(  # chapter 6's headline recipe, as bench_grouping_accuracy
        lr=LR,
        batch_size=BATCH,
        epochs=1,
        warmup_ratio=WARMUP,
        seed=SEED,
        progress=False,
        precision=precision,
    )
    bertmini.seed_everything(SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "classifier weights are new"
        model = BertForSequenceClassification.from_pretrained(
            "all-MiniLM-L6-v2", num_labels=2
        )
    history = fit(
        model, train, config, collate_fn=collate, lengths=collate.lengths(train)
    )
    report, seconds = evaluated(precision, lambda: evaluate(model, dev, collate))
    return {
        "chapter": 6,
        "precision": precision,
        "train_seconds": history.time[-1],
        "eval_seconds": seconds,
        "metric": f"dev accuracy {100 * report.accuracy:.1f}%",
        "scores": {"dev_accuracy": report.accuracy},
    }


def chapter7(precision: str) -> dict:
    import torch

    import bertmini
    from bertmini.data import load_squad
    from bertmini.qa import evaluate_qa, prepare_features, train_qa
    from bertmini.train import TrainConfig

    tokenizer = bertmini.Tokenizer.from_pretrained("all-MiniLM-L6-v2")
    pool = load_squad("dev", articles=slice(0, 40))
    heldout = load_squad("dev", articles=slice(40, 48))
    bertmini.seed_everything(SEED)  # as the chapter: seeded before the head is made
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "the QA head is new"
        model = bertmini.BertForQuestionAnswering.from_pretrained("all-MiniLM-L6-v2")
    pick = torch.randperm(len(pool), generator=torch.Generator().manual_seed(SEED))
    examples = [pool[i] for i in pick[:2_400].tolist()]
    features = prepare_features(examples, tokenizer, max_length=128, stride=32)
    held = prepare_features(heldout, tokenizer, 128, 32, with_labels=False)
    config = TrainConfig(
        lr=3e-4,
        batch_size=32,
        epochs=1,
        warmup_ratio=0.1,
        weight_decay=0.01,
        seed=SEED,
        progress=False,
        precision=precision,
    )
    history = train_qa(model, features, config)
    scores, seconds = evaluated(
        precision, lambda: evaluate_qa(model, tokenizer, heldout, features=held)
    )
    return {
        "chapter": 7,
        "precision": precision,
        "train_seconds": history.time[-1],
        "eval_seconds": seconds,
        "metric": f"held-out EM {scores['exact_match']:.1f} F1 {scores['f1']:.1f}",
        "scores": {"exact_match": scores["exact_match"], "f1": scores["f1"]},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chapters", type=int, nargs="+", default=[6, 7], choices=[6, 7])
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    runs = []
    for chapter in args.chapters:
        for precision in ("fp32", "bf16"):
            print(f"chapter {chapter}, {precision}", file=sys.stderr, flush=True)
            run = (chapter6 if chapter == 6 else chapter7)(precision)
            if not all(math.isfinite(v) for v in run["scores"].values()):
                raise SystemExit(f"chapter {chapter} in {precision}: {run['scores']}")
            runs.append(run)

    print(machine_header("bench_precision"))
    print(
        f"# the CPU's native bfloat16 instructions: {native_bf16()}; chapters 6 and 7's "
        "headline runs to the end, float32 against TrainConfig(precision='bf16'), same "
        "seed; training seconds by fit's clock; evaluation in each row's precision (bf16 "
        "rows under bertmini.autocast), seconds on the clock; one run each"
    )
    print("| chapter | precision | train s | evaluation s | result | train speed-up |")
    print("|---|---|---|---|---|---|")
    for r in runs:
        fp32 = next(
            q for q in runs if q["chapter"] == r["chapter"] and q["precision"] == "fp32"
        )
        print(
            f"| {r['chapter']} | {r['precision']} | {r['train_seconds']:.1f} | "
            f"{r['eval_seconds']:.1f} | {r['metric']} | "
            f"{fp32['train_seconds'] / r['train_seconds']:.2f}x |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
