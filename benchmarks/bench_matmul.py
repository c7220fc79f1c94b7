"""Matrix products in float32 and in bfloat16 on this CPU: does bf16 pay here?

    python benchmarks/bench_matmul.py [--repeats 7] [--json out.json]

Most of a training step is matrix products (torch.profiler put them at 55% of chapter
6's step), so their rate decides whether `precision="bf16"` can pay. A CPU with native
bfloat16 instructions (avx512_bf16, amx_bf16) multiplies bf16 matrices faster than
float32 ones; a CPU without them has no bf16 kernel to gain from, and torch falls back
to slower code. This measures both, under `torch.autocast` as `fit(precision="bf16")`
runs them, at the shapes of the chapters' feed-forward blocks: chapter 6's length-grouped
batch (425 real tokens) and chapter 7's full batch (32 windows of 128 tokens), hidden
384 and 1,536. GFLOP/s counts 2·m·k·n per product; medians of interleaved runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import interleaved_medians, machine_header  # noqa: E402

from bertmini.device import cpu_flags  # noqa: E402

SHAPES = {  # name -> (m, k, n): (tokens, hidden) @ (hidden, 4 * hidden)
    "chapter 6 FFN, grouped batch (425 x 384 @ 384 x 1536)": (425, 384, 1536),
    "chapter 7 FFN, 32 x 128 tokens (4096 x 384 @ 384 x 1536)": (4096, 384, 1536),
}


def product(a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype | None, calls: int):
    """`calls` products of a and b, under bf16 autocast when dtype is bfloat16."""

    def run() -> None:
        if dtype is None:
            for _ in range(calls):
                a @ b
        else:
            with torch.autocast("cpu", dtype=dtype):
                for _ in range(calls):
                    a @ b

    return run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    flags = cpu_flags() or []
    native = [f for f in ("avx512_bf16", "amx_bf16") if f in flags]
    print(machine_header("bench_matmul"))
    print(
        "# matrix products under torch.autocast('cpu', bfloat16) against float32, "
        f"{args.threads} threads, medians of {args.repeats} interleaved runs; native "
        f"bfloat16 instructions on this CPU: {', '.join(native) or 'none'}"
    )
    print(
        "| shape | float32 GFLOP/s | bf16 autocast GFLOP/s | bf16 time / float32 time |"
    )
    print("|---|---|---|---|")
    rows = {}
    for name, (m, k, n) in SHAPES.items():
        a, b = torch.randn(m, k), torch.randn(k, n)
        flops = 2 * m * k * n
        # About 0.1 s of float32 work per timed call on a slow CPU, the same calls for
        # both precisions
        calls = max(1, int(3e9 // flops))
        t = interleaved_medians(
            {
                "fp32": product(a, b, None, calls),
                "bf16": product(a, b, torch.bfloat16, calls),
            },
            repeats=args.repeats,
        )
        rate = {p: flops * calls / s / 1e9 for p, s in t.items()}
        rows[name] = rate
        print(
            f"| {name} | {rate['fp32']:.1f} | {rate['bf16']:.1f} | "
            f"{rate['fp32'] / rate['bf16']:.2f}x |",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"native_bf16": native, "gflops": rows}, indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
