"""bertmini vs transformers (eager and sdpa attention): same weights, same batches, one run.

The headline feeds both libraries the batches a user builds: SST-2 dev sentences in
random order, 32 to a batch, padded to the longest sentence of each batch
(`ClassificationCollator`), and SQuAD dev windows (question + context, at most 384
tokens, stride 128) in random order, 4 to a batch, padded to the longest window of the
batch (`QAFeatures.model_inputs`). Inference (no_grad) and a training step (forward,
backward, AdamW update) are timed round-robin; each run is one pass over a fixed set of
batches, and the median of the runs is reported, with
ratio = faster transformers time / bertmini time (> 1: bertmini is faster).

Parts (`--part`, each prints its own tables):

- headline: the dynamic padding above, classification and question answering;
- secondary: the same SST-2 sentences batched otherwise: packed with no padding at all
  (both libraries do the same arithmetic: kernel parity), padded to a fixed 128 tokens,
  and grouped by length (sorted, then cut into batches);
- ablation: bertmini with one of its speed-ups turned off at a time (SDPA vs the
  explicit softmax(QKᵀ)V; skipping padding tokens; MLM logits only at the masked
  positions);
- memory: peak resident memory (RSS) of a process that runs one side only, above what it
  held after loading the model, for each task of the headline;
- compile: `torch.compile` of bertmini's training step on chapter-6 batches, compile
  time included, against eager;
- optimizer: the AdamW update `fit` uses (torch's fused kernel, `bertmini.train.adamw`)
  against the plain one, alone and within chapter 6's training step, and how far the
  two runs' weights drift apart.

    python benchmarks/bench_model.py --part headline [--threads 2] [--repeats 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import gc
import json
import random
import statistics
import subprocess
import sys
import time
import types
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bertmini  # noqa: E402
import bertmini.attention  # noqa: E402
from bertmini.attention import attention_probs  # noqa: E402
from bertmini.checkpoint import load_hf_state_dict  # noqa: E402
from bertmini.classification import ClassificationCollator  # noqa: E402
from bertmini.data import load_squad, load_sst2  # noqa: E402
from bertmini.device import keep_freed_memory  # noqa: E402
from bertmini.pretraining import mask_tokens  # noqa: E402
from bertmini.qa import prepare_features  # noqa: E402
from bertmini.train import GROUP_WINDOW, adamw, epoch_batches  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved_medians, machine_header  # noqa: E402

MODEL = "all-MiniLM-L6-v2"
SIDES = ("bertmini", "transformers-eager", "transformers-sdpa")
CLS_BATCH, CLS_BATCHES = 32, 2  # SST-2: 2 batches of 32 sentences per run
QA_BATCH, QA_BATCHES = 4, 1  # SQuAD: 1 batch of 4 windows per run
QA_MAX_LENGTH, QA_STRIDE = 384, 128


# ------------------------------------------------------------------ models
def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def load_side(side: str, task: str) -> torch.nn.Module:
    """One model of one side: task is "classification", "qa" or "mlm"."""
    import transformers

    if side == "bertmini":
        cls = {
            "classification": bertmini.BertForSequenceClassification,
            "qa": bertmini.BertForQuestionAnswering,
            "mlm": bertmini.BertForMaskedLM,
        }[task]
        kwargs = {"num_labels": 2} if task == "classification" else {}
        return quiet(cls.from_pretrained, MODEL, **kwargs)
    cls = {
        "classification": transformers.BertForSequenceClassification,
        "qa": transformers.BertForQuestionAnswering,
        "mlm": transformers.BertForMaskedLM,
    }[task]
    kwargs = {"num_labels": 2} if task == "classification" else {}
    attn = side.removeprefix("transformers-")
    model = quiet(
        cls.from_pretrained,
        str(bertmini.pretrained.named_model_dir(MODEL)),
        attn_implementation=attn,
        **kwargs,
    )
    assert model.config._attn_implementation == attn
    return model


def load_models(task: str, sides=SIDES) -> dict[str, torch.nn.Module]:
    """The sides with identical weights, heads included (the new heads are copied too)."""
    models = {side: load_side(side, task) for side in sides}
    refs = [m for s, m in models.items() if s != "bertmini"]
    for ref in refs[1:]:
        ref.load_state_dict(refs[0].state_dict())
    if "bertmini" in models and refs:
        quiet(load_hf_state_dict, models["bertmini"], refs[0].state_dict())
    return models


# ------------------------------------------------------------------ batches
def sst2_sample(n: int, seed: int = 0) -> list[dict]:
    """n SST-2 dev sentences in random order (as fit's shuffled batches draw them)."""
    dev = load_sst2("dev")
    return random.Random(seed).sample(dev, n)


def sst2_batches(tok, layout: str) -> list[dict[str, torch.Tensor]]:
    """CLS_BATCHES batches of the same CLS_BATCH * CLS_BATCHES sentences, laid out as
    named.

    dynamic: random batches, each padded to its longest sentence (what
    ClassificationCollator does); fixed128: the same batches padded to 128 tokens;
    grouped: the sentences sorted by length, then cut into batches (each padded to its
    longest); packed: the sentences' tokens concatenated and cut into rows of 64 with no
    padding at all (attention_mask all ones).
    """
    records = sst2_sample(CLS_BATCH * CLS_BATCHES)
    collate = ClassificationCollator(tok, max_length=128, num_labels=2)
    if layout == "grouped":
        records = sorted(records, key=lambda r: len(tok.encode(r["sentence"])))
    if layout == "packed":
        stream = [i for r in records for i in tok.encode(r["sentence"])]
        T = 64
        rows = len(stream) // T
        per_batch = max(1, rows // CLS_BATCHES)
        ids = torch.tensor(stream[: rows * T]).view(rows, T)
        labels = torch.tensor([r["label"] for r in records[:rows]])
        return [
            {
                "input_ids": ids[i : i + per_batch],
                "attention_mask": torch.ones_like(ids[i : i + per_batch]),
                "token_type_ids": torch.zeros_like(ids[i : i + per_batch]),
                "labels": labels[i : i + per_batch],
            }
            for i in range(0, per_batch * CLS_BATCHES, per_batch)
        ]
    batches = [
        collate(records[i : i + CLS_BATCH]) for i in range(0, len(records), CLS_BATCH)
    ]
    if layout == "fixed128":
        batches = [
            {
                k: (F.pad(v, (0, 128 - v.shape[1])) if v.dim() == 2 else v)
                for k, v in b.items()
            }
            for b in batches
        ]
    return batches


def squad_batches(tok) -> list[dict[str, torch.Tensor]]:
    """QA_BATCHES random batches of QA_BATCH labelled SQuAD dev windows, each padded to its longest."""
    examples = load_squad("dev")[:400]
    features = prepare_features(
        examples, tok, max_length=QA_MAX_LENGTH, stride=QA_STRIDE
    )
    order = torch.randperm(len(features), generator=torch.Generator().manual_seed(0))
    return [
        features.model_inputs(order[i * QA_BATCH : (i + 1) * QA_BATCH])
        for i in range(QA_BATCHES)
    ]


def mlm_batches(batches: list[dict], vocab_size: int) -> list[dict]:
    """The same sentences with 15% of their ordinary tokens masked 80/10/10, as chapter 5 does."""
    special = {0, 100, 101, 102, 103}
    g = torch.Generator().manual_seed(0)
    out = []
    for b in batches:
        is_special = torch.isin(b["input_ids"], torch.tensor(sorted(special)))
        ids, labels = mask_tokens(
            b["input_ids"],
            is_special,
            0.15,
            g,
            mask_token_id=103,
            vocab_size=vocab_size,
            special_token_ids=special,
        )
        out.append(
            {
                "input_ids": ids,
                "attention_mask": b["attention_mask"],
                "token_type_ids": b["token_type_ids"],
                "labels": labels,
            }
        )
    return out


def describe(batches: list[dict]) -> str:
    real = sum(int(b["attention_mask"].sum()) for b in batches)
    padded = sum(b["attention_mask"].numel() for b in batches)
    widths = sorted({b["input_ids"].shape[1] for b in batches})
    return (
        f"{len(batches)} batches of {batches[0]['input_ids'].shape[0]}, widths "
        f"{', '.join(map(str, widths))}; {real:,} real tokens of {padded:,} ({100 * real / padded:.0f}%)"
    )


# ------------------------------------------------------------------ what is timed
def infer(model, batches) -> None:
    model.eval()
    with torch.no_grad():
        for b in batches:
            model(
                **{
                    k: v
                    for k, v in b.items()
                    if k in ("input_ids", "attention_mask", "token_type_ids")
                }
            )


def train_step(model, optimizer, batches) -> None:
    """What fit does per batch: forward, backward, AdamW update."""
    model.train()
    for b in batches:
        optimizer.zero_grad(set_to_none=True)
        model(**b).loss.backward()
        optimizer.step()


def fit_adamw(model: torch.nn.Module) -> torch.optim.Optimizer:
    """The AdamW `fit` uses (fused where torch has the kernel), the same on every side.

    The plain update allocates temporaries as large as the 30,522 x 384 embedding matrix
    at every step; their cost varied sixfold between runs (50 to 338 ms of division in
    two profiles of the same step) and drowned the difference between the models."""
    return adamw([{"params": list(model.parameters())}], lr=1e-7)


def optimizers(models: dict) -> dict:
    return {n: fit_adamw(m) for n, m in models.items()}


def time_tasks(
    models: dict, batches: list[dict], repeats: int
) -> dict[str, dict[str, float]]:
    """{task: {side: median ms per batch}} for inference and the training step."""
    opts = optimizers(models)
    progress(f"timing {', '.join(models)} on {describe(batches)}")
    out = {}
    out["inference"] = interleaved_medians(
        {n: (lambda m=m: infer(m, batches)) for n, m in models.items()}, repeats
    )
    out["train step"] = interleaved_medians(
        {n: (lambda n=n: train_step(models[n], opts[n], batches)) for n in models},
        repeats,
    )
    return {
        task: {n: 1e3 * s / len(batches) for n, s in r.items()}
        for task, r in out.items()
    }


def progress(message: str) -> None:
    """Where a long run is, on stderr (the tables go to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ratio(r: dict[str, float]) -> float:
    return min(r["transformers-eager"], r["transformers-sdpa"]) / r["bertmini"]


def comparison_table(rows: list[tuple[str, str, dict]]) -> list[str]:
    lines = [
        "| batches | task | bertmini ms | transformers eager ms | transformers sdpa ms | "
        "ratio vs faster transformers |",
        "|---|---|---|---|---|---|",
    ]
    for what, task, r in rows:
        lines.append(
            f"| {what} | {task} | {r['bertmini']:.1f} | {r['transformers-eager']:.1f} | "
            f"{r['transformers-sdpa']:.1f} | {ratio(r):.2f}x |"
        )
    return lines


# ------------------------------------------------------------------ parts
def part_headline(args, tok) -> tuple[list[str], dict]:
    lines, raw = [], {}
    cls_batches = sst2_batches(tok, "dynamic")
    qa_batches = squad_batches(tok)
    rows = []
    for label, task, batches in (
        ("SST-2, padded to longest", "classification", cls_batches),
        ("SQuAD windows <= 384, padded to longest", "qa", qa_batches),
    ):
        models = load_models(task)
        r = time_tasks(models, batches, args.repeats)
        raw[task] = {"batches": describe(batches), **r}
        rows += [(label, f"{task} {t}", r[t]) for t in r]
        del models
        gc.collect()
    lines.append(
        f"# headline: the batches a user builds (dynamic padding); ms per batch, median of "
        f"{args.repeats} interleaved runs; train step = forward + backward + AdamW (fused, as fit, both sides)"
    )
    lines.append(f"# SST-2 dev: {raw['classification']['batches']}")
    lines.append(
        f"# SQuAD v1.1 dev (max_length {QA_MAX_LENGTH}, stride {QA_STRIDE}): {raw['qa']['batches']}"
    )
    lines += comparison_table(rows)
    return lines, {
        "rows": [{"batches": w, "task": t, **r, "ratio": ratio(r)} for w, t, r in rows]
    }


def part_secondary(args, tok) -> tuple[list[str], dict]:
    models = load_models("classification")
    rows, notes = [], []
    for layout, label in (
        ("packed", "no padding (packed rows of 64)"),
        ("grouped", "grouped by length, padded to longest"),
        ("fixed128", "padded to a fixed 128"),
    ):
        batches = sst2_batches(tok, layout)
        notes.append(f"# {label}: {describe(batches)}")
        r = time_tasks(models, batches, args.repeats)
        rows += [(label, f"classification {t}", r[t]) for t in r]
    lines = [
        f"# secondary rows: the same SST-2 dev sentences batched otherwise (MiniLM, classification; "
        "the packed rows hold the first 1,536 of their 1,660 tokens, so compare the "
        "libraries within a layout, not the layouts); "
        f"ms per batch, median of {args.repeats} interleaved runs; train step = forward + "
        "backward + AdamW (fused, as fit, both sides)",
        *notes,
    ]
    lines += comparison_table(rows)
    return lines, {
        "rows": [{"batches": w, "task": t, **r, "ratio": ratio(r)} for w, t, r in rows]
    }


@contextlib.contextmanager
def explicit_attention():
    """bertmini with softmax(QKᵀ/√d + mask)V spelled out (attention_probs) instead of SDPA."""

    def sdpa(q, k, v, attn_mask=None, dropout_p=0.0):
        probs = attention_probs(q, k, attn_mask)  # (B, heads, T, T)
        return F.dropout(probs, dropout_p, training=dropout_p > 0) @ v

    saved = bertmini.attention.F
    bertmini.attention.F = types.SimpleNamespace(scaled_dot_product_attention=sdpa)
    try:
        yield
    finally:
        bertmini.attention.F = saved


@contextlib.contextmanager
def skipping_padding(bert: torch.nn.Module, skip: bool):
    """BertModel called with skip_padding=skip by whichever head holds it."""
    bert.forward = functools.partial(type(bert).forward, bert, skip_padding=skip)
    try:
        yield
    finally:
        del bert.forward


def part_ablation(args, tok) -> tuple[list[str], dict]:
    """bertmini's training step with each speed-up off in turn; transformers sdpa for reference."""
    models = load_models("classification", ("bertmini", "transformers-sdpa"))
    ours, ref = models["bertmini"], models["transformers-sdpa"]
    opt, ref_opt = (
        fit_adamw(ours),
        fit_adamw(ref),
    )

    def variant(batches, sdpa: bool, skip: bool):
        def run():
            with (
                contextlib.nullcontext() if sdpa else explicit_attention(),
                skipping_padding(ours.bert, skip),
            ):
                train_step(ours, opt, batches)

        return run

    layouts = {
        "dynamic": sst2_batches(tok, "dynamic"),
        "fixed128": sst2_batches(tok, "fixed128"),
    }
    names = {
        "bertmini (SDPA, skips padding)": (True, True),
        "explicit attention": (False, True),
        "computes padding": (True, False),
    }
    cols = {}
    for layout, batches in layouts.items():
        fns = {name: variant(batches, *flags) for name, flags in names.items()}
        fns["transformers sdpa"] = lambda b=batches: train_step(ref, ref_opt, b)
        progress(f"ablation on {describe(batches)}")
        cols[layout] = {
            n: 1e3 * s / len(batches)
            for n, s in interleaved_medians(fns, args.repeats).items()
        }
    lines = [
        f"# ablation, SST-2 classification training step (forward + backward + AdamW), ms per batch, "
        f"median of {args.repeats} interleaved runs; each row turns one of bertmini's defaults off",
        f"# padded to longest: {describe(layouts['dynamic'])}",
        f"# padded to 128: {describe(layouts['fixed128'])}",
        "| variant | padded to longest ms | time / bertmini's | padded to 128 ms | time / bertmini's |",
        "|---|---|---|---|---|",
    ]
    base = {k: v["bertmini (SDPA, skips padding)"] for k, v in cols.items()}
    for name in cols["dynamic"]:
        d, f = cols["dynamic"][name], cols["fixed128"][name]
        lines.append(
            f"| {name} | {d:.1f} | {d / base['dynamic']:.2f}x | {f:.1f} | {f / base['fixed128']:.2f}x |"
        )
    del models
    gc.collect()

    # MLM: the 30,522-way vocabulary projection at every position, or at the ~15% masked
    # ones only.
    mlm = load_models("mlm", ("bertmini", "transformers-sdpa"))
    batches = mlm_batches(layouts["dynamic"], mlm["bertmini"].config.vocab_size)
    m_ours, m_ref = mlm["bertmini"], mlm["transformers-sdpa"]
    m_opt, m_ref_opt = (
        fit_adamw(m_ours),
        fit_adamw(m_ref),
    )

    def mlm_variant(only: bool):
        def run():
            train_step(m_ours, m_opt, [{**b, "all_logits": not only} for b in batches])

        return run

    fns = {
        "bertmini, logits at masked positions only": mlm_variant(True),
        "bertmini, logits at every position": mlm_variant(False),
        "transformers sdpa (logits at every position)": lambda: train_step(
            m_ref, m_ref_opt, batches
        ),
    }
    progress("ablation: MLM logits")
    mlm_ms = {
        n: 1e3 * s / len(batches)
        for n, s in interleaved_medians(fns, args.repeats).items()
    }
    masked = sum(int((b["labels"] != -100).sum()) for b in batches)
    lines += [
        "",
        f"# ablation, masked-LM training step (MiniLM, vocabulary 30,522) on the padded-to-longest "
        f"SST-2 batches, {masked} masked positions; ms per batch, median of {args.repeats} interleaved runs",
        "| variant | ms | time / masked-only's |",
        "|---|---|---|",
    ]
    first = mlm_ms["bertmini, logits at masked positions only"]
    lines += [f"| {n} | {v:.1f} | {v / first:.2f}x |" for n, v in mlm_ms.items()]
    return lines, {"classification": cols, "mlm": mlm_ms}


# ------------------------------------------------------------------ memory
def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_worker(side: str, threads: int) -> None:
    """Run in a subprocess: one side only; peak RSS of each task above the RSS after loading."""
    torch.set_num_threads(threads)
    tok = bertmini.Tokenizer.from_pretrained(MODEL)
    out = {}
    for task, batches in (
        ("classification", sst2_batches(tok, "dynamic")),
        ("qa", squad_batches(tok)),
    ):
        model = load_side(side, task)
        opt = fit_adamw(model)
        for name, fn in (
            ("inference", lambda m=model, b=batches: infer(m, b)),
            ("train step", lambda m=model, o=opt, b=batches: train_step(m, o, b)),
        ):
            gc.collect()
            # Reset the peak (VmHWM) to the current RSS
            Path("/proc/self/clear_refs").write_text("5")
            before = _status_kib("VmRSS")
            fn()
            out[f"{task} {name}"] = {
                "after_load_mib": before / 1024,
                "peak_mib": _status_kib("VmHWM") / 1024,
            }
        del model, opt
    print(json.dumps(out))


def part_memory(args, tok) -> tuple[list[str], dict]:
    if not Path("/proc/self/clear_refs").exists():
        return ["# memory: needs Linux (/proc/self/clear_refs); skipped"], {}
    results = {}
    for side in SIDES:
        progress(f"memory of {side}")
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--memory-worker",
                side,
                "--threads",
                str(args.threads),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        results[side] = json.loads(done.stdout.strip().splitlines()[-1])
    lines = [
        "# memory: peak resident memory (RSS) of a process running one side alone, above its RSS "
        "before the task (model loaded; for the train step, AdamW's state is part of the peak); "
        "the headline batches, one pass; MiB; each process runs the classification tasks "
        "first, so memory they freed and the allocator kept is not counted again",
        "| task | bertmini MiB | transformers eager MiB | transformers sdpa MiB |",
        "|---|---|---|---|",
    ]
    for task in results["bertmini"]:
        cells = [
            results[s][task]["peak_mib"] - results[s][task]["after_load_mib"]
            for s in SIDES
        ]
        lines.append(f"| {task} | " + " | ".join(f"{c:,.0f}" for c in cells) + " |")
    return lines, results


# ------------------------------------------------------------------ torch.compile
def chapter6_batches(tok) -> list[dict]:
    """Chapter 6's training batches: SST-2 train, 32 sentences, max_length 64."""
    records = load_sst2("train", limit=32 * 12, seed=0)
    collate = ClassificationCollator(tok, max_length=64, num_labels=2)
    return [collate(records[i : i + 32]) for i in range(0, len(records), 32)]


def part_compile(args, tok) -> tuple[list[str], dict]:
    """Chapter 6's training step (batch 32, max_length 64, SST-2 train) eager vs torch.compile."""
    batches = chapter6_batches(tok)
    results = {}
    for name in ("eager", "compiled"):
        torch.manual_seed(0)
        model = load_side("bertmini", "classification")
        opt = fit_adamw(model)
        runner = torch.compile(model, dynamic=True) if name == "compiled" else model
        runner.train()
        progress(f"compile part: {name}")
        first = time.perf_counter()
        train_step(runner, opt, batches)  # first pass: compiles (once per new shape)
        first = time.perf_counter() - first
        steady = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            train_step(runner, opt, batches)
            steady.append(time.perf_counter() - t)
        results[name] = {
            "first_pass_s": first,
            "steady_ms": 1e3 * statistics.median(steady) / len(batches),
        }
        del model, runner, opt
        gc.collect()
    e, c = results["eager"], results["compiled"]
    overhead = c["first_pass_s"] - e["first_pass_s"]
    saved_ms = e["steady_ms"] - c["steady_ms"]
    steps_6 = 375  # chapter 6: 12,000 sentences, batch 32, one epoch
    verdict = (
        f"pays off after {overhead / (saved_ms / 1e3):,.0f} steps (chapter 6 takes {steps_6})"
        if saved_ms > 0
        else "never pays off: compiled steps are not faster"
    )
    lines = [
        f"# torch.compile (inductor, dynamic=True) of bertmini's training step on CPU: chapter-6 batches "
        f"(SST-2 train, 32 sentences, max_length 64, {describe(batches)}); steady = median of "
        f"{args.repeats} passes after the first",
        "| mode | first pass s (12 steps, compile included) | steady ms per step |",
        "|---|---|---|",
        f"| eager | {e['first_pass_s']:.1f} | {e['steady_ms']:.1f} |",
        f"| torch.compile | {c['first_pass_s']:.1f} | {c['steady_ms']:.1f} |",
        f"# compile overhead {overhead:.0f} s; {verdict}",
    ]
    return lines, results


# ------------------------------------------------------------------ the optimizer
def part_optimizer(args, tok) -> tuple[list[str], dict]:
    """Plain vs fused AdamW: the update alone, the whole step, and the weights' drift."""
    from bertmini.train import param_groups

    def optimizer(name, groups, lr):
        plain = name.startswith("plain")
        return torch.optim.AdamW(groups, lr=lr) if plain else adamw(groups, lr)

    batches = chapter6_batches(tok)
    models, opts = {}, {}
    for name in ("plain AdamW", "fused AdamW (fit)"):
        models[name] = load_side("bertmini", "classification")
        groups = param_groups(models[name], 0.01)
        opts[name] = optimizer(name, groups, 1e-5)
    progress(f"optimizer part: {describe(batches)}")

    def update_only(name):  # the update on the gradients of the last batch
        opts[name].step()

    def whole_step(name):
        opts[name].zero_grad(set_to_none=True)
        models[name](**batches[0]).loss.backward()
        opts[name].step()

    for name in models:  # gradients for update_only to apply
        models[name].train()
        models[name](**batches[0]).loss.backward()
    update = interleaved_medians(
        {n: functools.partial(update_only, n) for n in models}, 5 * args.repeats
    )
    step = interleaved_medians(
        {n: functools.partial(whole_step, n) for n in models}, args.repeats
    )
    # Same start, same batches, 12 steps each: how far apart are the weights?
    # The classifier head is initialised at random, so both sides copy one start.
    start = copy.deepcopy(load_side("bertmini", "classification").state_dict())
    for name in models:
        models[name] = load_side("bertmini", "classification")
        models[name].load_state_dict(start)
        models[name].train()
        groups = param_groups(models[name], 0.01)
        opts[name] = optimizer(name, groups, 1e-4)
        torch.manual_seed(0)  # the same dropout masks on both sides
        for b in batches:
            opts[name].zero_grad(set_to_none=True)
            models[name](**b).loss.backward()
            opts[name].step()
    plain, fused = (m.state_dict() for m in models.values())
    drift = max(float((plain[k] - fused[k]).abs().max()) for k in start)
    moved = max(float((plain[k] - start[k]).abs().max()) for k in start)
    names = list(models)
    lines = [
        f"# AdamW on CPU, MiniLM classifier (22.7 M parameters), chapter-6 batches ({describe(batches)}); "
        f"ms, median of interleaved runs",
        "| optimizer | update alone ms | training step ms (forward + backward + update, first batch) |",
        "|---|---|---|",
        *(f"| {n} | {1e3 * update[n]:.1f} | {1e3 * step[n]:.1f} |" for n in names),
        f"# plain / fused time: update {update[names[0]] / update[names[1]]:.1f}x, "
        f"step {step[names[0]] / step[names[1]]:.2f}x (fused faster); after 12 steps at lr 1e-4 "
        f"the two runs' weights differ by at most {drift:.1e} (the steps moved them by up to "
        f"{moved:.1e})",
    ]
    return lines, {
        "update_ms": {n: 1e3 * v for n, v in update.items()},
        "step_ms": {n: 1e3 * v for n, v in step.items()},
        "max_weight_diff": drift,
        "max_weight_change": moved,
    }


# ------------------------------------------------------------------ length grouping
def part_grouping(args, tok) -> tuple[list[str], dict]:
    """Chapter 6's training step with random batches vs fit(lengths=...)'s
    length-grouped batches (and those in bf16 autocast): the same sentences (one window
    of GROUP_WINDOW batches), the same model, every row in the same run, passes
    interleaved; and the float32 floor of chapter 6's epoch on this machine."""
    n = 32 * GROUP_WINDOW
    epoch = load_sst2("train", limit=12000, seed=0)  # chapter 6's training sentences
    records = epoch[:n]
    collate = ClassificationCollator(tok, max_length=64, num_labels=2)
    lengths = collate.lengths(records)
    layouts = {
        "random": epoch_batches(n, 32, seed=0, epoch=0),
        "length-grouped": epoch_batches(n, 32, seed=0, epoch=0, lengths=lengths),
    }
    batches = {
        name: [collate([records[i] for i in b]) for b in order]
        for name, order in layouts.items()
    }
    torch.manual_seed(0)
    model = load_side("bertmini", "classification")
    opt = fit_adamw(model)
    repeats = min(args.repeats, 3)
    progress(f"grouping part: {n} sentences, {repeats} interleaved passes per layout")

    def bf16_step(b: list[dict]) -> None:  # matrix products in bf16, as fit's "bf16"
        with torch.autocast("cpu", dtype=torch.bfloat16):
            train_step(model, opt, b)

    runs = {}
    for name, b in list(batches.items()):
        runs[name] = lambda b=b: train_step(model, opt, b)
        runs[f"{name}, bf16 autocast"] = lambda b=b: bf16_step(b)
        batches[f"{name}, bf16 autocast"] = b
    seconds = interleaved_medians(runs, repeats)
    ms = {name: 1e3 * s / len(batches["random"]) for name, s in seconds.items()}
    positions = {
        name: sum(b["input_ids"].numel() for b in bs) for name, bs in batches.items()
    }
    # The floor: the dense layers' multiply-adds alone (2 FLOPs each; forward, and
    # twice that backward) at this machine's measured float32 matrix-product rate.
    dense = sum(
        m.weight.numel()
        for m in model.bert.encoder.modules()
        if isinstance(m, torch.nn.Linear)
    )
    epoch_tokens = sum(collate.lengths(epoch))
    a, w = torch.randn(425, 384), torch.randn(384, 1536)  # a typical step's shapes
    a16, w16 = a.bfloat16(), w.bfloat16()
    gemm = interleaved_medians(
        {
            "fp32": lambda: [a @ w for _ in range(50)],
            "bf16": lambda: [a16 @ w16 for _ in range(50)],
        },
        3,
    )
    flops = 50 * 2 * a.shape[0] * a.shape[1] * w.shape[1]  # 50 products, M x K x N
    gflops, gflops_bf16 = (flops / gemm[k] / 1e9 for k in ("fp32", "bf16"))
    floor_s = 6 * dense * epoch_tokens / (gflops * 1e9)
    lines = [
        f"# Chapter 6's training step (bertmini, batch 32, max_length 64, SST-2 train): "
        f"the same {n:,} sentences ({sum(lengths):,} real tokens) in random batches and "
        f"in fit(lengths=...)'s length-grouped batches, each in float32 and in bf16 autocast (fit's precision='bf16'); median of {repeats} interleaved "
        "passes over all of them",
        "| batches | positions computed on | ms per step | speed-up |",
        "|---|---|---|---|",
    ]
    for name in ms:
        lines.append(
            f"| {name} | {positions[name]:,} | {ms[name]:.1f} | "
            f"{ms['random'] / ms[name]:.2f}x |"
        )
    lines.append(
        f"# The floor of chapter 6's training cell on this machine: 6 x {dense / 1e6:.1f} M "
        f"dense weights x {epoch_tokens:,} real tokens (one epoch of 12,000 sentences) = "
        f"{6 * dense * epoch_tokens / 1e12:.1f} TFLOP of matrix products, at the "
        f"{gflops:.0f} GFLOP/s float32 this machine's matrix product reaches "
        f"(425 x 384 by 384 x 1,536): {floor_s:.0f} s with no other work at all. The "
        f"375 steps at the rates above take {0.375 * ms['random']:.0f} s (random batches) "
        f"and {0.375 * ms['length-grouped']:.0f} s (length-grouped, as the chapter "
        "trains). In "
        f"bfloat16 the same matrix product ran at {gflops_bf16:.0f} GFLOP/s."
    )
    return lines, {
        "ms_per_step": ms,
        "positions": positions,
        "real": sum(lengths),
        "dense_weights": dense,
        "epoch_tokens": epoch_tokens,
        "gemm_gflops": gflops,
        "gemm_gflops_bf16": gflops_bf16,
        "floor_s": floor_s,
        "repeats": repeats,  # the passes actually timed
    }


PARTS = {
    "headline": part_headline,
    "secondary": part_secondary,
    "ablation": part_ablation,
    "memory": part_memory,
    "compile": part_compile,
    "optimizer": part_optimizer,
    "grouping": part_grouping,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=sorted(PARTS), default="headline")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", default=None, help="also write the raw numbers here")
    ap.add_argument("--memory-worker", choices=SIDES, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_worker:
        memory_worker(args.memory_worker, args.threads)
        return
    torch.set_num_threads(args.threads)
    # As fit does: the allocator keeps freed blocks, so that neither side pays for the
    # kernel mapping and zeroing its 47 MB embedding gradient again every step (the
    # same for both libraries: they run in this one process).
    kept = keep_freed_memory()
    header = machine_header(f"bench_model --part {args.part}") + (
        ", freed memory kept for reuse (keep_freed_memory, as in fit)" if kept else ""
    )
    tok = bertmini.Tokenizer.from_pretrained(MODEL)
    lines, raw = PARTS[args.part](args, tok)
    print(header)
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "header": header,
                    "part": args.part,
                    "repeats": args.repeats,
                    **raw,
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
