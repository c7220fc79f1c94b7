"""bertmini vs transformers (eager and sdpa attention) on the same config and weights, in one run.

MiniLM shape (6 layers, hidden 384, 12 heads), a batch of 16 padded to 128 tokens whose real
lengths follow SST-2 sentence lengths (from the mirror when available, else a fixed sample of
them). Inference (no_grad) and a training step (forward + backward). Runs are interleaved and
the median of several repeats is reported, with ratios = transformers time / bertmini time
(> 1 means bertmini is faster).

    python benchmarks/bench_model.py [--threads 2] [--repeats 15] [--batch 16] [--seq 128]
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bertmini  # noqa: E402
from bertmini.checkpoint import load_hf_state_dict  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved_medians, machine_header  # noqa: E402

# Token lengths of 64 SST-2 dev sentences (bert-base-uncased vocabulary, with [CLS]/[SEP]); used
# when the data mirror is not available so the benchmark still runs anywhere.
SST2_LENGTHS = [25, 13, 30, 20, 34, 23, 38, 13, 27, 36, 24, 18, 31, 22, 9, 44, 21, 29, 16, 26, 35, 19,
                28, 12, 40, 23, 17, 33, 25, 30, 14, 22, 47, 20, 26, 11, 31, 24, 37, 19, 28, 15, 23, 42,
                27, 21, 18, 33, 25, 29, 10, 36, 22, 26, 16, 30, 24, 52, 19, 27, 14, 32, 21, 25]


def sst2_lengths(tok, n: int) -> list[int]:
    mirror = os.environ.get("BERTMINI_DATA_MIRROR")
    if mirror and (Path(mirror) / "sst2" / "dev.tsv").exists():
        rows = (Path(mirror) / "sst2" / "dev.tsv").read_text().splitlines()[1:]
        return [len(tok.encode(r.split("\t")[0])) for r in rows[:n]]
    return SST2_LENGTHS[:n]


def make_batch(B: int, T: int, vocab: int, lengths: list[int]):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, vocab, (B, T), generator=g)
    mask = torch.zeros(B, T, dtype=torch.long)
    for i in range(B):
        mask[i, : min(T, lengths[i % len(lengths)])] = 1
    ids[mask == 0] = 0
    return ids, mask, torch.zeros_like(ids)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--json", default=None, help="also write the medians and ratios here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import transformers

    tok = bertmini.Tokenizer.from_pretrained("all-MiniLM-L6-v2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = bertmini.BertForSequenceClassification.from_pretrained("all-MiniLM-L6-v2", num_labels=2)
    ref_dir = bertmini.pretrained.named_model_dir("all-MiniLM-L6-v2")
    refs = {}
    for attn in ("eager", "sdpa"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            refs[attn] = transformers.BertForSequenceClassification.from_pretrained(
                str(ref_dir), num_labels=2, attn_implementation=attn)
        load_hf_state_dict(ours, refs[attn].state_dict())  # identical heads too
    lengths = sst2_lengths(tok, args.batch)
    ids, mask, types = make_batch(args.batch, args.seq, ours.config.vocab_size, lengths)
    labels = torch.randint(0, 2, (args.batch,), generator=torch.Generator().manual_seed(1))
    models = {"bertmini": ours, "transformers-eager": refs["eager"], "transformers-sdpa": refs["sdpa"]}

    def infer(m):
        m.eval()
        with torch.no_grad():
            m(input_ids=ids, attention_mask=mask, token_type_ids=types)

    def train_step(m):
        m.train()
        m.zero_grad(set_to_none=True)
        m(input_ids=ids, attention_mask=mask, token_type_ids=types, labels=labels).loss.backward()

    results = {}
    for task, fn in (("inference", infer), ("train step", train_step)):
        results[task] = interleaved_medians({name: (lambda m=m: fn(m)) for name, m in models.items()},
                                            args.repeats)

    real = int(mask.sum())
    print(machine_header("bench_model"))
    print(f"# MiniLM-L6 (6x384, 12 heads), batch {args.batch} x {args.seq}, {real} real tokens "
          f"({100 * real / mask.numel():.0f}% of the padded batch), median of {args.repeats} interleaved runs")
    print(f"| task | bertmini ms | transformers eager ms | transformers sdpa ms | ratio vs faster transformers |")
    print("|---|---|---|---|---|")
    rows = []
    for task, r in results.items():
        best = min(r["transformers-eager"], r["transformers-sdpa"])
        ratio = best / r["bertmini"]
        rows.append({"task": task, **{k: round(1e3 * v, 2) for k, v in r.items()}, "ratio": round(ratio, 2)})
        print(f"| {task} | {1e3 * r['bertmini']:.1f} | {1e3 * r['transformers-eager']:.1f} | "
              f"{1e3 * r['transformers-sdpa']:.1f} | {ratio:.2f}x |")
    if args.json:
        import json
        Path(args.json).write_text(json.dumps({
            "header": machine_header("bench_model"), "batch": args.batch, "seq": args.seq,
            "real_tokens": real, "repeats": args.repeats, "unit": "ms", "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
