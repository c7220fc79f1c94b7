"""One training loop for pretraining and fine-tuning alike.

`fit(model, data, TrainConfig(...))` is the whole recipe of the BERT paper: AdamW with
no weight decay on biases and LayerNorms, a linear warmup then linear decay of the
learning rate, gradient clipping, gradient accumulation, mixed precision, periodic
evaluation, and checkpoints that resume *exactly* (the same losses, to the last bit on
CPU, where the resumed run keeps the thread count it had). Under `torchrun` it runs data-parallel unchanged.

Every batch is a dict of tensors handed to the model as `model(**batch)`; the output's
`.loss` is what gets minimised, and any other `*_loss` field (e.g. `mlm_loss`,
`nsp_loss`) is recorded too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import numbers
import os
import random
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from ._validate import (
    as_path,
    check_bool,
    check_int,
    check_number,
    fsync_dir,
    target_dir,
)
from .device import (
    autocast,
    default_threads,
    evaluating,
    get_device,
    keep_freed_memory,
    num_threads,
    seed_everything,
    supports_bf16,
)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# Length-grouped batches (`fit(lengths=...)`) are sorted within windows of this many
# batches: wide enough that most batches hold similar lengths, narrow enough that the
# epoch stays a random order of the data.
GROUP_WINDOW = 50


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; nothing after the last good checkpoint is
    kept.
    """


class StopTraining(Exception):
    """Raise from a callback to end `fit` early and cleanly (the history so far is
    returned).
    """


@dataclass
class TrainConfig:
    """Hyper-parameters of a run. `batch_size` is per process and per micro-batch: one
    optimizer step sees batch_size * grad_accum_steps * world_size examples.
    """

    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.0  # fraction of all steps spent warming up ...
    warmup_steps: int | None = None  # ... or an exact number of steps (wins if set)
    epochs: int = 1
    max_steps: int | None = None  # optimizer steps; overrides `epochs` if set
    batch_size: int = 32
    grad_accum_steps: int = 1
    max_grad_norm: float | None = 1.0  # None: no clipping
    seed: int = 0
    shuffle: bool = True
    eval_every: int | None = None  # steps; evaluation also runs once at the end
    # ... or after exactly these steps (and then not at the end)
    eval_steps: Sequence[int] | None = None
    log_every: int = 10  # steps between progress-bar updates
    checkpoint_dir: str | None = None
    # steps; a checkpoint is also written at the end
    checkpoint_every: int | None = None
    precision: str = "auto"  # "auto": bf16 (or fp16) on CUDA, fp32 elsewhere
    device: str | None = None  # None: bertmini.get_device()
    # CPU compute threads; None: torch's count, capped at idle cores
    threads: int | None = None
    num_workers: int = 0  # > 0: loading in parallel, but resume is exact only with 0
    progress: bool = True

    def __post_init__(self) -> None:
        if (
            isinstance(self.lr, (int, float))
            and not isinstance(self.lr, bool)
            and self.lr == 0
        ):
            raise ValueError(
                "TrainConfig.lr must be a positive number, got 0: with lr=0 the "
                "weights never change (to only evaluate, call evaluate_loss)"
            )
        check_number("TrainConfig.lr (a positive number)", self.lr, 0.0, low_open=True)
        for name in (
            "epochs",
            "batch_size",
            "grad_accum_steps",
            "log_every",
            "max_steps",
            "eval_every",
            "checkpoint_every",
        ):
            value = getattr(self, name)
            optional = name in ("max_steps", "eval_every", "checkpoint_every")
            if optional and value is None:
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Integral)
                or value <= 0
            ):
                raise ValueError(
                    f"TrainConfig.{name} must be a positive integer, got {value!r}"
                )
            setattr(self, name, int(value))  # NumPy ints too, saved as Python ints
        if self.eval_steps is not None:
            if isinstance(self.eval_steps, (str, int)) or not isinstance(
                self.eval_steps, Sequence
            ):
                raise TypeError(
                    "TrainConfig.eval_steps must be a list of step numbers, "
                    f"got {type(self.eval_steps).__name__}"
                )
            steps = [
                check_int("TrainConfig.eval_steps (each step)", s, minimum=1)
                for s in self.eval_steps
            ]
            if self.eval_every is not None:
                raise ValueError(
                    "TrainConfig takes eval_every or eval_steps, not both: "
                    f"got eval_every={self.eval_every} and eval_steps={self.eval_steps}"
                )
            self.eval_steps = tuple(sorted(set(steps)))
        check_number("TrainConfig.weight_decay", self.weight_decay, 0.0)
        check_number(
            "TrainConfig.warmup_ratio", self.warmup_ratio, 0.0, 1.0, high_open=True
        )
        self.warmup_steps = check_int(
            "TrainConfig.warmup_steps", self.warmup_steps, minimum=0, optional=True
        )
        check_number(
            "TrainConfig.max_grad_norm",
            self.max_grad_norm,
            0.0,
            low_open=True,
            optional=True,
        )
        self.seed = check_int("TrainConfig.seed", self.seed, minimum=0)
        if self.seed > 2**32 - 1:  # NumPy's seeds are 32-bit
            raise ValueError(
                f"TrainConfig.seed must be an integer in [0, 2**32-1], got {self.seed}"
            )
        check_bool("TrainConfig.shuffle", self.shuffle)
        check_bool("TrainConfig.progress", self.progress)
        self.num_workers = check_int(
            "TrainConfig.num_workers", self.num_workers, minimum=0
        )
        self.threads = check_int(
            "TrainConfig.threads", self.threads, minimum=1, optional=True
        )
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"TrainConfig.precision must be one of {PRECISIONS}, got {self.precision!r}"
            )
        if self.device is not None and not isinstance(self.device, (str, torch.device)):
            raise TypeError(
                f"TrainConfig.device must be a string such as 'cpu' or 'cuda', or None, "
                f"got {type(self.device).__name__}"
            )
        if self.checkpoint_dir is not None:
            target_dir("TrainConfig.checkpoint_dir", self.checkpoint_dir)
        if self.checkpoint_every is not None and self.checkpoint_dir is None:
            raise ValueError(
                "TrainConfig.checkpoint_every needs a checkpoint_dir to write into"
            )


@dataclass
class History:
    """What happened, step by step: one entry per optimizer step, one per evaluation.

    `time` is training time: the seconds since the run began, less those spent
    evaluating, so that a metric plotted against it shows what training time buys.
    """

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)  # seconds since the run began
    # e.g. mlm_loss, nsp_loss
    components: dict[str, list[float]] = field(default_factory=dict)
    eval_step: list[int] = field(default_factory=list)
    eval: dict[str, list[float]] = field(default_factory=dict)  # metric name -> values

    def record(self, step: int, logs: dict, seconds: float) -> None:
        self.step.append(step)
        self.loss.append(logs["loss"])
        self.lr.append(logs["lr"])
        self.time.append(seconds)
        for name, value in logs["components"].items():
            self.components.setdefault(name, []).append(value)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls)})

    def plot(self, ax=None):
        """Loss (and its components and eval metrics) against the step, lr on a second
        axis.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        ax.plot(self.step, self.loss, label="train loss")
        for name, values in self.components.items():
            ax.plot(self.step, values, label=name, alpha=0.7)
        for name, values in self.eval.items():
            ax.plot(self.eval_step, values, "o-", label=name)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.legend(loc="upper right")
        lr_ax = ax.twinx()
        lr_ax.plot(self.step, self.lr, color="gray", linestyle=":", label="lr")
        lr_ax.set_ylabel("learning rate", color="gray")
        return ax


# --------------------------------------------------------------- optimizer and schedule
def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Decay matrices only: shrinking a bias or a LayerNorm gain towards 0 regularises
    nothing useful and only fights the normalisation (the BERT recipe, as in Hugging
    Face).
    """
    decay, no_decay, seen = [], [], set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue  # frozen, or tied (the MLM decoder *is* the word embedding)
            seen.add(id(p))
            is_norm = isinstance(module, (nn.LayerNorm, nn.GroupNorm, nn.BatchNorm1d))
            (no_decay if is_norm or name.endswith("bias") else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def adamw(groups: list[dict], lr: float) -> torch.optim.AdamW:
    """AdamW with torch's fused kernel where the parameters' device has one.

    The plain update runs about a dozen element-wise operations per parameter tensor,
    each one a pass over memory; the fused kernel makes one pass. On a 2-core CPU the
    update of MiniLM's 22.7 M parameters took 94 ms plain and 15 ms fused, the whole
    fine-tuning step 474 and 382 ms (benchmarks/bench_model.py --part optimizer,
    benchmarks/RESULTS.md). The arithmetic is AdamW's either way; only the order of
    float roundings differs (after 12 steps the weights of the two runs differed by at
    most 3.4e-6).
    """
    check_number("adamw lr (a positive number)", lr, 0.0, low_open=True)
    try:
        return torch.optim.AdamW(groups, lr=lr, fused=True)
    except (RuntimeError, TypeError):  # a device or dtype without a fused kernel
        return torch.optim.AdamW(groups, lr=lr)


def linear_schedule(optimizer, warmup_steps: int, total_steps: int):
    """lr * step/warmup while warming up, then down linearly to 0 at `total_steps`."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# --------------------------------------------------------------------------- data order
def epoch_batches(
    n: int,
    batch_size: int,
    seed: int,
    epoch: int,
    shuffle: bool = True,
    rank: int = 0,
    world_size: int = 1,
    lengths: Sequence[int] | None = None,
) -> list[list[int]]:
    """The example indices of every batch of one epoch: a pure function of
    (seed, epoch, lengths).

    That is what makes resuming exact (recompute the order, skip what was consumed) and
    data parallelism equivalent to one process: rank r takes every world_size-th index
    of the same order, so the N ranks' k-th batches together are the k-th batch of size
    N * batch_size.

    With `lengths` (one per example), batches are length-grouped: the shuffled order is
    cut into windows of `GROUP_WINDOW` global batches, each window is sorted by length
    and cut into batches, and the batches are shuffled. A batch is padded only to its
    own longest example, so similar lengths mean less padding to compute on; every
    batch is still a random draw from its window.
    """
    if shuffle:
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = torch.randperm(n, generator=g).tolist()
    else:
        order = list(range(n))
    if lengths is not None:
        step = batch_size * world_size  # one global batch
        window = step * GROUP_WINDOW
        grouped = []
        for i in range(0, n, window):
            grouped += sorted(order[i : i + window], key=lambda j: lengths[j])
        chunks = [grouped[i : i + step] for i in range(0, n, step)]
        if shuffle:
            # A short last batch stays last, so ranks split every batch alike
            full = len(chunks) - (len(chunks[-1]) < step)
            perm = torch.randperm(full, generator=g).tolist()
            chunks = [chunks[i] for i in perm] + chunks[full:]
        order = [j for chunk in chunks for j in chunk]
    if world_size > 1:
        # Pad so every rank gets as many batches
        order += order[: (-len(order)) % world_size]
        order = order[rank::world_size]
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def check_lengths(lengths: Sequence[int], n: int) -> list[int]:
    """`fit`'s `lengths`: one non-negative integer per training example."""
    if isinstance(lengths, torch.Tensor):
        if lengths.dim() != 1 or lengths.is_floating_point():
            raise TypeError(
                f"lengths must be a 1-D integer tensor or a list of ints, got a "
                f"{lengths.dtype} tensor of shape {tuple(lengths.shape)}"
            )
        lengths = lengths.tolist()
    if isinstance(lengths, (str, bytes)) or not hasattr(lengths, "__len__"):
        raise TypeError(
            f"lengths must be a sequence of ints, got {type(lengths).__name__}"
        )
    if len(lengths) != n:
        raise ValueError(
            f"lengths must give one length per training example ({n}), got {len(lengths)}"
        )
    for i, length in enumerate(lengths):
        if (
            isinstance(length, bool)
            or not isinstance(length, numbers.Integral)
            or length < 0
        ):
            raise ValueError(f"lengths[{i}] must be a non-negative int, got {length!r}")
    return list(lengths)


def to_device(batch: dict, device: torch.device) -> dict:
    return {
        k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
        for k, v in batch.items()
    }


def check_collate_fn(collate_fn: Any) -> None:
    """None (torch's default_collate) or a function: a collator class passed without
    its tokenizer, or a string, fails only at the first batch, as "not callable"."""
    if collate_fn is not None and not callable(collate_fn):
        raise TypeError(
            "collate_fn must be a function from a list of examples to a batch (e.g. "
            "ClassificationCollator(tokenizer)) or None, got "
            f"{type(collate_fn).__name__}"
        )


def check_batch(batch: Any, default: bool) -> Mapping:
    """A batch must be a dict of model inputs: `model(**batch)` unpacks it.

    With torch's default_collate (`default`), records of raw text become lists of
    strings, which the model cannot take: say that a tokenizing collate_fn is missing
    instead of "forward() got an unexpected keyword argument 'sentence'".
    """
    if not isinstance(batch, Mapping):
        raise TypeError(
            "collate_fn must return a dict of model inputs (input_ids, labels, ...), "
            f"got {type(batch).__name__}"
        )
    for key, value in batch.items():
        if default and isinstance(value, (list, tuple)) and value:
            if isinstance(value[0], str):
                raise TypeError(
                    f"the batch field {key!r} holds strings, not tensors: pass a "
                    "collate_fn that tokenizes (e.g. ClassificationCollator(tokenizer))"
                )
    return batch


def batches_of(data: Sequence, collate_fn: Callable | None, batch_size: int):
    """In-order batches, without a DataLoader (which would draw from the global RNG)."""
    from torch.utils.data import default_collate

    default = collate_fn is None
    collate_fn = collate_fn or default_collate
    for i in range(0, len(data), batch_size):
        batch = collate_fn([data[j] for j in range(i, min(i + batch_size, len(data)))])
        yield check_batch(batch, default)


@torch.no_grad()
def evaluate_loss(
    model: nn.Module,
    data: Sequence,
    collate_fn: Callable | None = None,
    batch_size: int = 32,
    device: torch.device | str | None = None,
) -> float:
    """Mean of `model(**batch).loss` over `data`, weighted by batch size, in eval
    mode.
    """
    check_eval_args(model, data, batch_size, "evaluate_loss", collate_fn)
    device = get_device(device) if device else next(model.parameters()).device
    total, count = 0.0, 0
    with evaluating(model):
        for batch in batches_of(data, collate_fn, batch_size):
            n = len(next(iter(batch.values())))
            loss = model(**to_device(batch, device)).loss
            if loss is None:
                raise ValueError(
                    "the model returned no loss: does every batch carry its labels?"
                )
            total += float(loss) * n
            count += n
    mean = total / count
    if not math.isfinite(mean):
        warnings.warn(
            f"evaluate_loss: the mean loss is {mean} (the model's outputs overflow or are "
            "NaN); it is not a usable measurement",
            RuntimeWarning,
            stacklevel=2,
        )
    return mean


def check_eval_args(
    model: nn.Module,
    data: Sequence,
    batch_size: int,
    who: str,
    collate_fn: Callable | None = None,
) -> None:
    """The checks evaluate_loss and predict share: a model with weights, data, a batch
    size, a collate function.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"{who}: model must be a torch.nn.Module, got {type(model).__name__}"
        )
    if not hasattr(data, "__len__") or not hasattr(data, "__getitem__"):
        raise TypeError(
            f"{who}: data must be a sequence (list, Dataset) of examples, "
            f"got {type(data).__name__}"
        )
    if len(data) == 0:
        raise ValueError(f"{who}: data is empty: there is nothing to average over")
    check_int("batch_size", batch_size, minimum=1)
    check_collate_fn(collate_fn)


# Batch keys that are targets, not inputs: `predict` leaves them out.
TARGETS = frozenset(
    {"labels", "next_sentence_label", "start_positions", "end_positions"}
)


@torch.no_grad()
def predict(
    model: nn.Module,
    data: Sequence,
    collate_fn: Callable | None = None,
    batch_size: int = 32,
    device: torch.device | str | None = None,
) -> dict[str, torch.Tensor]:
    """Run the model over `data` in batches; every per-example output field,
    concatenated on CPU.

    Targets in the batches (labels, next_sentence_label, start/end positions) are not
    passed to the model: predictions need none, and an MLM model given labels scores
    only those positions.
    """
    check_eval_args(model, data, batch_size, "predict", collate_fn)
    device = get_device(device) if device else next(model.parameters()).device
    out: dict[str, list[torch.Tensor]] = {}
    with evaluating(model):
        for batch in batches_of(data, collate_fn, batch_size):
            inputs = {k: v for k, v in batch.items() if k not in TARGETS}
            result = model(**to_device(inputs, device))
            fields = vars(result) if not isinstance(result, dict) else result
            for name, value in fields.items():
                if (
                    isinstance(value, torch.Tensor)
                    and value.dim() > 0
                    and not name.endswith("loss")
                ):
                    out.setdefault(name, []).append(value.float().cpu())
    return {name: cat_padded(values) for name, values in out.items()}


def cat_padded(values: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate batches padded to different lengths T_i: dim 1 is filled up with
    -inf, so that an argmax (or a softmax) over positions never picks the filler.
    """
    if len(values) == 0:
        raise ValueError("cat_padded needs at least one tensor")
    if values[0].dim() > 1:
        T = max(v.shape[1] for v in values)
        values = [
            torch.nn.functional.pad(
                v, (0, 0) * (v.dim() - 2) + (0, T - v.shape[1]), value=-math.inf
            )
            for v in values
        ]
    return torch.cat(values)


# -------------------------------------------------------------------------- checkpoints
def rng_state() -> dict:
    """Every random stream a step draws from, as tensors and lists (loadable with
    weights_only).
    """
    import numpy as np

    version, mt, gauss = random.getstate()
    _, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": [version, list(mt), gauss],
        "numpy": [torch.from_numpy(keys.astype("int64")), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    import numpy as np

    version, mt, gauss = state["python"]
    random.setstate((version, tuple(mt), gauss))
    keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state(
        ("MT19937", keys.numpy().astype("uint32"), pos, has_gauss, cached)
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


_fsync_dir = fsync_dir  # kept for callers of the old private name


def save_checkpoint(
    root: str | os.PathLike,
    step: int,
    model: nn.Module,
    trainer_state: dict,
    replaces: str | os.PathLike | None = None,
) -> Path:
    """Write `root/step-XXXXXXXX/` atomically: model.safetensors + trainer_state.pt.

    Everything goes into a hidden temp dir first, is fsynced, and is renamed into place
    in one step (an existing checkpoint of the same step is swapped out atomically). A
    crash at any moment leaves either the old checkpoints or the new one, never half a
    checkpoint. Only `replaces` (the checkpoint this run wrote before, if any) is
    deleted, and only once the new one is safely on disk: nothing else in `root` is ever
    removed.
    """
    from safetensors.torch import save_model

    from ._validate import write_dir

    root = target_dir("root", root)
    step = check_int("step", step, minimum=0)
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"step-{step:08d}"

    def write(tmp: Path) -> None:
        save_model(model, str(tmp / "model.safetensors"))  # dedupes tied weights
        torch.save(trainer_state, tmp / "trainer_state.pt")

    write_dir(target, write, keep_others=False)
    if (
        replaces is not None
        and Path(replaces) != target
        and _is_checkpoint(Path(replaces))
    ):
        shutil.rmtree(replaces, ignore_errors=True)
    return target


def _is_checkpoint(path: Path) -> bool:
    return (
        path.is_dir()
        and path.name.startswith("step-")
        and (path / "trainer_state.pt").exists()
    )


def latest_checkpoint(root: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint under `root` (temp dirs of an interrupted save are
    ignored).
    """
    root = as_path("root", root)
    if not root.is_dir():
        return None
    found = sorted(p for p in root.iterdir() if _is_checkpoint(p))
    return found[-1] if found else None


def load_checkpoint(
    path: str | os.PathLike, model: nn.Module, map_location="cpu"
) -> dict:
    """Load the weights into `model` and return the trainer state (tensors and
    primitives only).
    """
    from safetensors.torch import load_model

    from .checkpoint import CheckpointError

    path = as_path("path", path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if not _is_checkpoint(path):
        found = latest_checkpoint(path)
        if found is None:
            raise FileNotFoundError(
                f"{path} holds no checkpoint (a step-XXXXXXXX dir with trainer_state.pt)"
            )
        path = found
    try:
        load_model(model, str(path / "model.safetensors"), device=str(map_location))
        return torch.load(
            path / "trainer_state.pt", map_location=map_location, weights_only=True
        )
    except (OSError, RuntimeError, ValueError) as e:
        if isinstance(e, FileNotFoundError):
            raise FileNotFoundError(f"checkpoint {path} is incomplete: {e}") from None
        raise CheckpointError(
            f"checkpoint {path} is corrupt or does not fit this model "
            f"({type(e).__name__}: {str(e)[:300]})"
        ) from None


def restore(
    path,
    model,
    optimizer,
    scheduler,
    scaler,
    collate_fn,
    config: TrainConfig,
    device: torch.device,
) -> tuple[int, History, int | None]:
    """Put every piece of a run back as it was after the checkpoint's step; returns
    (step, history, the CPU threads the run used: None on a GPU or in an older
    checkpoint).
    """
    state = load_checkpoint(path, model, map_location=device)
    for key in ("batch_size", "grad_accum_steps", "seed", "shuffle"):
        if state["config"][key] != getattr(config, key):
            raise ValueError(
                f"cannot resume exactly: the checkpoint used {key}={state['config'][key]!r} "
                f"but this config has {getattr(config, key)!r}"
            )
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    if hasattr(collate_fn, "load_state_dict") and state.get("collate"):
        # e.g. the MLM collator's masking generator
        collate_fn.load_state_dict(state["collate"])
    set_rng_state(state["rng"])  # dropout continues where it stopped
    return state["step"], History.from_dict(state["history"]), state.get("threads")


# -------------------------------------------------------------------------- distributed
def init_distributed(
    device: torch.device | None,
) -> tuple[int, int, torch.device | None, bool]:
    """(rank, world_size, device, we_started_it); starts a process group if torchrun
    asked for one.
    """
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, device, False
    started = False
    if not dist.is_initialized():
        use_cuda = torch.cuda.is_available() and (
            device is None or torch.device(device).type == "cuda"
        )
        dist.init_process_group("nccl" if use_cuda else "gloo")
        started = True
    if device is None and torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    elif device is None:
        device = torch.device("cpu")
    return dist.get_rank(), dist.get_world_size(), device, started


def mean_over_ranks(values: torch.Tensor, world_size: int) -> torch.Tensor:
    if world_size > 1:
        import torch.distributed as dist

        dist.all_reduce(values)
        values = values / world_size
    return values


def resolve_precision(precision: str, device: torch.device) -> str:
    if precision == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if supports_bf16(device) else "fp16"
    if precision == "fp16" and device.type != "cuda":
        raise ValueError(
            f"precision='fp16' needs a CUDA GPU (it uses a gradient scaler); on {device.type} "
            "use 'bf16' or 'fp32'"
        )
    if precision == "bf16" and not supports_bf16(device):
        raise ValueError(
            f"this {device.type} device does not support bf16; use 'fp16' or 'fp32'"
        )
    return precision


# ----------------------------------------------------------------------------- the loop
def check_examples(name: str, data: Any) -> None:
    """A non-empty sequence of examples (list, tuple, torch or HF Dataset). A dict or a
    string has a length and indexing too, but not by position: data[0] fails later."""
    if (
        isinstance(data, (str, bytes, Mapping))
        or not hasattr(data, "__len__")
        or not hasattr(data, "__getitem__")
    ):
        raise TypeError(
            f"{name} must be a sequence (list, Dataset) of examples, "
            f"got {type(data).__name__}"
        )
    if len(data) == 0:
        raise ValueError(f"{name} is empty")


def eval_metrics(result: Any) -> dict[str, float]:
    """eval_fn's result as {name: float}; a clear error (not an AttributeError deep in
    fit) when eval_fn returns something else. Checkpoints already written stay."""
    if not isinstance(result, Mapping):
        raise TypeError(
            "eval_fn must return a dict {name: number}, e.g. {'accuracy': 0.9}, "
            f"got {type(result).__name__}"
        )
    metrics = {}
    for k, v in result.items():
        try:
            metrics[k] = float(v)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(
                f"eval_fn must return a dict {{name: number}}, got {k!r}: "
                f"{type(v).__name__}"
            ) from None
    return metrics


def fit(
    model: nn.Module,
    train_data: Sequence,
    config: TrainConfig,
    *,
    collate_fn: Callable | None = None,
    eval_data: Sequence | None = None,
    eval_fn: Callable[[nn.Module], dict] | None = None,
    callbacks: Sequence[Callable[[int, dict], Any]] = (),
    resume_from: str | os.PathLike | None = None,
    resume: bool = False,
    lengths: Sequence[int] | None = None,
) -> History:
    """Train `model` on `train_data` and return its History.

    `eval_fn(model) -> {name: number}` (by default, the mean loss on `eval_data`) runs
    in eval mode after the steps that `config.eval_every` or `config.eval_steps`
    choose, and at the end unless `config.eval_steps` is given; its results go to
    `history.eval`, and the time it takes is kept out of `history.time`. `callbacks`
    are called as `cb(step, logs)` after every optimizer step (raise StopTraining to
    end early). `resume=True` continues from the newest checkpoint in
    `config.checkpoint_dir` (if any); `resume_from` names a checkpoint (or a directory
    of them) explicitly. `lengths` (one per example, e.g. its number of tokens) makes
    the batches length-grouped (see `epoch_batches`): with a collator that pads to the
    longest in the batch, less padding is computed on, and the step gets cheaper.

    On a CPU, fit trains with as many threads as there are idle cores (`threads`; a
    resumed run keeps the count of the run it resumes, which an exact resume needs), and
    lets the C allocator keep freed memory for the next step (`keep_freed_memory`: a
    process-wide setting, and it changes no number).
    """
    from torch.utils.data import DataLoader, default_collate
    from tqdm.auto import tqdm

    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_examples("train_data", train_data)
    if eval_data is not None:
        check_examples("eval_data", eval_data)
    if eval_fn is not None and not callable(eval_fn):
        raise TypeError(f"eval_fn must be callable, got {type(eval_fn).__name__}")
    if callbacks is not None and (
        isinstance(callbacks, (str, Mapping)) or not isinstance(callbacks, Sequence)
    ):
        raise TypeError(
            "callbacks must be a list of functions cb(step, logs) (for one, write "
            f"callbacks=[cb]), got {type(callbacks).__name__}"
        )
    for cb in callbacks or ():
        if not callable(cb):
            raise TypeError(
                f"callbacks must be a list of functions cb(step, logs), got an item "
                f"{cb!r} ({type(cb).__name__})"
            )
    check_bool("resume", resume)
    check_collate_fn(collate_fn)
    if lengths is not None:
        lengths = check_lengths(lengths, len(train_data))
    if (
        (config.eval_every or config.eval_steps)
        and eval_fn is None
        and eval_data is None
    ):
        raise ValueError(
            "TrainConfig.eval_every/eval_steps ask for evaluations: pass fit an eval_fn "
            "or eval_data"
        )
    checkpoint_dir = (
        as_path("checkpoint_dir", config.checkpoint_dir)
        if config.checkpoint_dir
        else None
    )
    if resume_from is not None:
        resume_from = as_path("resume_from", resume_from)
        if not resume_from.exists():
            raise FileNotFoundError(f"resume_from={str(resume_from)!r} does not exist")
    if resume and resume_from is None and checkpoint_dir is None:
        raise ValueError(
            "resume=True needs config.checkpoint_dir (or pass resume_from=...)"
        )
    earlier = latest_checkpoint(checkpoint_dir) if checkpoint_dir is not None else None
    if earlier is not None and not resume and resume_from is None:
        # A fresh run would overwrite (and used to prune) the earlier run's checkpoints.
        raise FileExistsError(
            f"checkpoint_dir {str(checkpoint_dir)!r} already holds checkpoints of an earlier run "
            f"(latest: {earlier.name}); pass resume=True to continue that run, or choose a new "
            "checkpoint_dir. Nothing was changed."
        )
    # Explains a missing GPU
    requested = get_device(config.device) if config.device else None
    rank, world, device, started_group = init_distributed(requested)
    device = device or get_device()
    precision = resolve_precision(config.precision, device)
    default_batches = collate_fn is None
    collate_fn = collate_fn or default_collate
    if eval_fn is None and eval_data is not None:
        eval_fn = lambda m: {
            "eval_loss": evaluate_loss(m, eval_data, collate_fn, config.batch_size)
        }

    batches_per_epoch = len(
        epoch_batches(len(train_data), config.batch_size, 0, 0, False, rank, world)
    )
    steps_per_epoch = math.ceil(batches_per_epoch / config.grad_accum_steps)
    total_steps = config.max_steps or config.epochs * steps_per_epoch
    warmup = (
        config.warmup_steps
        if config.warmup_steps is not None
        else round(config.warmup_ratio * total_steps)
    )
    if warmup > total_steps:
        raise ValueError(
            f"TrainConfig.warmup_steps={warmup} is more than this run's {total_steps} "
            "steps: the lr would never reach its peak; use fewer warmup steps"
        )
    if config.eval_steps and config.eval_steps[-1] > total_steps:
        raise ValueError(
            f"TrainConfig.eval_steps has step {config.eval_steps[-1]}, after the last "
            f"step of this run ({total_steps}): it would never be evaluated"
        )

    seed_everything(config.seed)
    model.to(device).train()
    optimizer = adamw(param_groups(model, config.weight_decay), config.lr)
    scheduler = linear_schedule(optimizer, warmup, total_steps)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    history, step, elapsed_before = History(), 0, 0.0
    resumed_threads = None  # the CPU threads of the run a checkpoint came from

    if resume and resume_from is None:
        resume_from = earlier  # None: nothing yet, start fresh
    previous = None  # the checkpoint of this run that the next one replaces
    if resume_from is not None:
        if (
            checkpoint_dir is not None
            and Path(resume_from).parent.resolve() == checkpoint_dir.resolve()
        ):
            # Continuing that run: its checkpoint is ours to replace
            previous = Path(resume_from)
        step, history, resumed_threads = restore(
            resume_from, model, optimizer, scheduler, scaler, collate_fn, config, device
        )
        elapsed_before = history.time[-1] if history.time else 0.0

    train_model = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        train_model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    def checkpoint() -> Path | None:
        nonlocal previous
        if checkpoint_dir is None or rank != 0:
            return None
        state = {
            "step": step,
            "config": dataclasses.asdict(config),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if scaler else {},
            "collate": collate_fn.state_dict()
            if hasattr(collate_fn, "state_dict")
            else {},
            "history": history.to_dict(),
            "rng": rng_state(),
            # A matrix product sums in a different order with another thread count:
            # an exact resume needs the same count
            "threads": torch.get_num_threads() if device.type == "cpu" else None,
        }
        previous = save_checkpoint(
            checkpoint_dir, step, model, state, replaces=previous
        )
        return previous

    eval_seconds = 0.0  # spent evaluating in this call: not training time

    def evaluate() -> dict:
        nonlocal eval_seconds
        began = time.perf_counter()
        # Measuring must not change the run: torch's random streams (dropout's among
        # them) continue after an evaluation as if it had not happened.
        cuda = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda), evaluating(model):  # no dropout
            metrics = eval_metrics(eval_fn(model))
        eval_seconds += time.perf_counter() - began
        history.eval_step.append(step)
        for name, value in metrics.items():
            history.eval.setdefault(name, []).append(value)
        return metrics

    # On a CPU, as many compute threads as there are idle cores (see default_threads):
    # with a busy neighbour, torch's one-thread-per-core default makes every step wait
    # for a thread that shares a core. The caller's setting is restored when fit
    # returns.
    # A resumed run keeps the checkpointed run's count, so that it stays bit-exact.
    if device.type != "cpu":
        n_threads = None
    elif config.threads is not None:
        n_threads = config.threads
        if resumed_threads is not None and resumed_threads != n_threads:
            warnings.warn(
                f"resuming with threads={n_threads} a run that used {resumed_threads}: "
                "matrix products then sum in another order, so the losses will agree "
                "with an uninterrupted run to float rounding, not to the last bit",
                stacklevel=2,
            )
    else:
        n_threads = resumed_threads or default_threads()
    threads = num_threads(n_threads)
    if device.type == "cpu":
        # Reuse the step's big buffers (the embeddings' gradient) instead of having the
        # kernel map and zero them again every step: see keep_freed_memory.
        keep_freed_memory()
    threads.__enter__()
    # At most one refresh a second: in a notebook every refresh is a message to the
    # front end, and thousands of them queued behind a long cell can overflow the
    # kernel's output channel.
    bar = tqdm(
        total=total_steps,
        initial=step,
        disable=not config.progress or rank != 0,
        desc="train",
        mininterval=1.0,
    )
    start = time.perf_counter()
    try:
        while step < total_steps:
            epoch, done = divmod(step, steps_per_epoch)
            batches = epoch_batches(
                len(train_data),
                config.batch_size,
                config.seed,
                epoch,
                config.shuffle,
                rank,
                world,
                lengths,
            )[done * config.grad_accum_steps :]
            loader = DataLoader(
                train_data,
                batch_sampler=batches,
                collate_fn=collate_fn,
                num_workers=config.num_workers,
                generator=torch.Generator().manual_seed(config.seed + epoch),
            )
            micro = iter(loader)
            for _ in range(steps_per_epoch - done):
                group = [
                    check_batch(b, default_batches)
                    for _, b in zip(range(config.grad_accum_steps), micro)
                ]
                logs = train_step(
                    train_model,
                    group,
                    optimizer,
                    scaler,
                    config,
                    device,
                    precision,
                    world,
                )
                if not math.isfinite(logs["loss"]):
                    last = latest_checkpoint(checkpoint_dir) if checkpoint_dir else None
                    raise TrainingDivergedError(
                        f"the loss became {logs['loss']} at step {step + 1} (epoch {epoch}); the weights "
                        f"were not updated. Last good checkpoint: {last}. Try a lower lr, more warmup, "
                        "or precision='fp32'."
                    )
                logs["lr"] = scheduler.get_last_lr()[0]
                scheduler.step()
                step += 1
                trained = time.perf_counter() - start - eval_seconds
                history.record(step, logs, elapsed_before + trained)
                if eval_fn is not None and (
                    (config.eval_every and step % config.eval_every == 0)
                    or (config.eval_steps and step in config.eval_steps)
                ):
                    logs.update(evaluate())
                if config.checkpoint_every and step % config.checkpoint_every == 0:
                    checkpoint()
                bar.update(1)
                if step % config.log_every == 0 or step == total_steps:
                    bar.set_postfix(loss=f"{logs['loss']:.4f}", lr=f"{logs['lr']:.2e}")
                for callback in callbacks or ():
                    callback(step, logs)
                if step >= total_steps:
                    break
        if (
            eval_fn is not None
            and config.eval_steps is None
            and (not history.eval_step or history.eval_step[-1] != step)
        ):
            evaluate()
        if not config.checkpoint_every or step % config.checkpoint_every:
            checkpoint()
    except StopTraining:
        pass
    finally:
        bar.close()
        threads.__exit__(None, None, None)
        if started_group:
            import torch.distributed as dist

            dist.destroy_process_group()
    return history


def train_step(
    model: nn.Module,
    group: list[dict],
    optimizer,
    scaler,
    config: TrainConfig,
    device: torch.device,
    precision: str,
    world: int,
) -> dict:
    """Forward and backward over the micro-batches of one step, then one (clipped)
    update.

    Each micro-batch loss is divided by the number of micro-batches, so the summed
    gradients are those of the mean loss over the whole group: accumulation = one big
    batch, in less memory. The update is skipped (and the caller raises) if the loss is
    not finite.
    """
    totals: dict[str, torch.Tensor] = {}
    for i, batch in enumerate(group):
        sync = i == len(group) - 1 or world == 1
        # DDP: all-reduce once per step
        context = model.no_sync() if not sync else contextlib.nullcontext()
        with context:
            with autocast(device, precision):
                out = model(**to_device(batch, device))
            if out.loss is None:
                raise ValueError(
                    "the model returned no loss: does every batch carry its labels?"
                )
            loss = out.loss / len(group)
            (scaler.scale(loss) if scaler else loss).backward()
        fields = out if isinstance(out, dict) else vars(out)
        for name, value in fields.items():
            if name.endswith("loss") and isinstance(value, torch.Tensor):
                totals[name] = totals.get(name, 0.0) + value.detach().float() / len(
                    group
                )
    # One all-reduce of [loss, mlm_loss, ...] for the global means
    names = sorted(totals)
    values = mean_over_ranks(torch.stack([totals[n] for n in names]), world).tolist()
    logs = dict(zip(names, values))
    if math.isfinite(logs["loss"]):
        if scaler:
            scaler.unscale_(optimizer)
        if config.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        scaler.step(optimizer) if scaler else optimizer.step()
        if scaler:
            scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return {"loss": logs.pop("loss"), "components": logs}
