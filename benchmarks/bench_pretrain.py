"""Pretraining throughput: one full optimizer step of MLM + NSP, bertmini vs transformers, same weights.

A step is what `fit` does per batch: forward, backward, AdamW update. bertmini runs with
its MLM logits only at the labelled positions (the vocabulary projection only at the
~15% masked positions); transformers' `BertForPreTraining` projects every position
(eager and sdpa attention). The three models share one set of weights (copied with
`load_hf_state_dict`), see the same batch, and are timed round-robin; the median of the
repeats is reported as tokens per second, with the ratio bertmini / faster transformers
(> 1 means bertmini is faster).

The batch looks like the chapter-5 data: packed "[CLS] A [SEP] B [SEP]" segments of
`--seq` tokens (10% of them shorter, as make_nsp_pairs makes them), 15% of the ordinary
tokens masked 80/10/10, half the NSP labels NotNext.

    python benchmarks/bench_pretrain.py                       # CPU: chapter-5 config and MiniLM shape
    python benchmarks/bench_pretrain.py --device cuda --config bert-base --dtype bf16 --peak-tflops 989

On a GPU, pass the accelerator's dense peak for the dtype (e.g. H100 SXM bf16: 989) to
get the model-FLOP utilisation, MFU = 6 * params * tokens / time / peak (the usual
approximation: it ignores attention's T^2 term and counts every parameter for every
token).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bertmini  # noqa: E402
from bertmini.checkpoint import load_hf_state_dict  # noqa: E402
from bertmini.pretraining import mask_tokens, small_bert_config  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved_medians, machine_header  # noqa: E402

# [PAD] [UNK] [CLS] [SEP] [MASK], BERT's numbering
SPECIAL_IDS = {
    0,
    100,
    101,
    102,
    103,
}
PAD, CLS, SEP, MASK = 0, 101, 102, 103


def named_config(name: str) -> bertmini.BertConfig:
    """The shapes measured: the chapter-5 recipe, MiniLM-L6, BERT-base (vocabulary >= 1000 always)."""
    if name == "small":
        config = small_bert_config()
        config.vocab_size = max(config.vocab_size, 1000)
        return config
    if name == "minilm":
        return bertmini.BertConfig(
            hidden_size=384,
            num_hidden_layers=6,
            num_attention_heads=12,
            intermediate_size=1536,
        )
    if name == "bert-base":
        return bertmini.BertConfig()
    raise ValueError(f"unknown --config {name!r}: choose small, minilm or bert-base")


def make_batch(
    config: bertmini.BertConfig, B: int, T: int, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Packed sentence pairs: [CLS] A [SEP] B [SEP] [PAD]..., 15% of ordinary tokens masked 80/10/10."""
    g = torch.Generator().manual_seed(seed)
    # (B, T) ordinary tokens
    ids = torch.randint(1000, config.vocab_size, (B, T), generator=g)
    short = torch.rand(B, generator=g) < 0.1
    lengths = torch.where(
        short, torch.randint(8, T, (B,), generator=g), torch.full((B,), T)
    )
    types = torch.zeros(B, T, dtype=torch.long)
    for i, n in enumerate(lengths.tolist()):
        a_end = int(torch.randint(2, n - 2, (1,), generator=g))
        ids[i, 0], ids[i, a_end], ids[i, n - 1] = CLS, SEP, SEP
        types[i, a_end + 1 : n] = 1
        ids[i, n:] = PAD
    attention_mask = (torch.arange(T)[None, :] < lengths[:, None]).long()  # (B, T)
    special = torch.isin(ids, torch.tensor(sorted(SPECIAL_IDS)))
    masked, labels = mask_tokens(
        ids,
        special,
        0.15,
        g,
        mask_token_id=MASK,
        vocab_size=config.vocab_size,
        special_token_ids=SPECIAL_IDS,
    )
    nsp = torch.randint(0, 2, (B,), generator=g)
    return {
        "input_ids": masked,
        "attention_mask": attention_mask,
        "token_type_ids": types,
        "labels": labels,
        "next_sentence_label": nsp,
    }


def build_models(
    config: bertmini.BertConfig, device: torch.device
) -> dict[str, torch.nn.Module]:
    """bertmini and transformers (eager, sdpa) BertForPreTraining with identical weights."""
    import transformers

    torch.manual_seed(0)
    models = {}
    for attn in ("eager", "sdpa"):
        # One per model: it holds the attention choice
        hf_config = transformers.BertConfig(**config.to_dict())
        hf_config._attn_implementation = attn
        models[f"transformers-{attn}"] = transformers.BertForPreTraining(hf_config)
        assert models[f"transformers-{attn}"].config._attn_implementation == attn
    models["transformers-sdpa"].load_state_dict(
        models["transformers-eager"].state_dict()
    )
    ours = bertmini.BertForPreTraining(config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_hf_state_dict(
            ours, models["transformers-eager"].state_dict(), source="transformers"
        )
    models = {"bertmini": ours, **models}
    return {name: m.to(device).train() for name, m in models.items()}


def check_same_loss(models: dict, batch: dict, dtype: torch.dtype | None) -> float:
    """Largest difference of the total loss between bertmini and transformers, with dropout off."""
    losses = []
    for m in models.values():
        m.eval()
        with (
            torch.no_grad(),
            torch.autocast(
                batch["input_ids"].device.type, dtype=dtype, enabled=dtype is not None
            ),
        ):
            losses.append(float(m(**batch).loss))
        m.train()
    return max(abs(x - losses[0]) for x in losses[1:])


def optimizer_step(model, optimizer, batch: dict, dtype: torch.dtype | None) -> None:
    """One step of pretraining: forward, backward, AdamW update (what `fit` does per batch)."""
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(
        batch["input_ids"].device.type, dtype=dtype, enabled=dtype is not None
    ):
        loss = model(**batch).loss
    loss.backward()
    optimizer.step()


def count_parameters(model: torch.nn.Module) -> int:
    # Tied counted once
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def measure(name: str, args, device: torch.device, dtype: torch.dtype | None) -> dict:
    config = named_config(name)
    models = build_models(config, device)
    batch = {
        k: v.to(device) for k, v in make_batch(config, args.batch, args.seq).items()
    }
    diff = check_same_loss(models, batch, dtype)
    optimizers = {
        n: torch.optim.AdamW(m.parameters(), lr=1e-4) for n, m in models.items()
    }
    seconds = interleaved_medians(
        {
            n: (lambda n=n: optimizer_step(models[n], optimizers[n], batch, dtype))
            for n in models
        },
        args.repeats,
        warmup=2,
    )
    tokens = int(batch["attention_mask"].sum())
    return {
        "config": config,
        "seconds": seconds,
        "tokens": tokens,
        "loss_diff": diff,
        "params": count_parameters(models["bertmini"]),
        "masked": int((batch["labels"] != -100).sum()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--config",
        nargs="+",
        default=["small", "minilm"],
        choices=["small", "minilm", "bert-base"],
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument(
        "--threads", type=int, default=2, help="CPU threads (ignored on a GPU)"
    )
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="the device's dense peak TFLOP/s in --dtype, to report model-FLOP utilisation",
    )
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    elif device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda was asked for but torch sees no CUDA GPU")
    dtype = torch.bfloat16 if args.dtype == "bf16" else None

    results = [measure(name, args, device, dtype) for name in args.config]

    print(machine_header("bench_pretrain", args.dtype) + f", device {device}")
    print(
        f"# one optimizer step (forward + backward + AdamW) of MLM + NSP, batch {args.batch} x {args.seq}, "
        f"median of {args.repeats} interleaved runs; tokens/s counts real (non-padding) tokens"
    )
    mfu = args.peak_tflops is not None
    print(
        "| config | params | masked / tokens | bertmini tok/s | transformers eager tok/s | "
        "transformers sdpa tok/s | ratio vs faster transformers | max loss diff |"
        + (" bertmini MFU |" if mfu else "")
    )
    print("|---|---|---|---|---|---|---|---|" + ("---|" if mfu else ""))
    for name, r in zip(args.config, results):
        c, s, n = r["config"], r["seconds"], r["tokens"]
        best = min(s["transformers-eager"], s["transformers-sdpa"])
        shape = f"{name} ({c.num_hidden_layers}x{c.hidden_size}, V={c.vocab_size})"
        row = (
            f"| {shape} | {r['params'] / 1e6:.1f}M | {r['masked']} / {n} | {n / s['bertmini']:,.0f} | "
            f"{n / s['transformers-eager']:,.0f} | {n / s['transformers-sdpa']:,.0f} | "
            f"{best / s['bertmini']:.2f}x | {r['loss_diff']:.1e} |"
        )
        if mfu:
            row += f" {6 * r['params'] * n / s['bertmini'] / (args.peak_tflops * 1e12):.1%} |"
        print(row)


if __name__ == "__main__":
    main()
