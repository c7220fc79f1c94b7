"""Where to run, in what precision, and how to make runs repeatable."""

from __future__ import annotations

import contextlib
import os
import random
import time
import warnings

import torch

from ._validate import check_int

DEVICES = "'cpu', 'cuda', 'cuda:N' (N a GPU's index) or 'mps'"


def get_device(prefer: str | torch.device | None = None) -> torch.device:
    """CUDA if there is a GPU, else Apple's MPS, else the CPU. `prefer` (or
    $BERTMINI_DEVICE) overrides: one of 'cpu', 'cuda', 'cuda:N' or 'mps'.

    Only those: torch also parses 'meta', 'xpu' or 'cpu:5', which bertmini does not
    run on, and a run on them fails (or computes nothing) far from the typo.
    """
    where = ""
    if prefer is None or prefer == "":
        prefer = os.environ.get("BERTMINI_DEVICE")
        where = " (from the environment variable BERTMINI_DEVICE)"
    if prefer is not None and prefer != "":
        if not isinstance(prefer, (str, torch.device)):
            raise TypeError(
                f"device must be a string such as 'cpu', 'cuda' or 'mps', "
                f"got {type(prefer).__name__}"
            )
        try:
            device = torch.device(prefer)
        except RuntimeError:
            device = None
        if (
            device is None
            or device.type not in ("cpu", "cuda", "mps")
            or (device.type != "cuda" and device.index not in (None, 0))
        ):
            raise ValueError(
                f"unknown device {str(prefer)!r}{where}; use {DEVICES}"
            ) from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                "device 'cuda' was asked for but no CUDA GPU is available"
            )
        if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
            raise ValueError(
                f"device {str(prefer)!r}{where}: there are only "
                f"{torch.cuda.device_count()} CUDA GPUs (cuda:0 ...)"
            )
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError("device 'mps' was asked for but MPS is not available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if (
        getattr(torch.backends, "mps", None) is not None
        and torch.backends.mps.is_available()
    ):
        return torch.device("mps")
    return torch.device("cpu")


def _cpu_jiffies(cpus: set[int]) -> tuple[int, int]:
    """(busy, total) jiffies of the given cores since boot, from /proc/stat (Linux)."""
    busy = total = 0
    with open("/proc/stat") as f:
        for line in f:
            name, *fields = line.split()
            if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
                continue
            # user nice system idle iowait irq softirq steal
            values = [int(v) for v in fields[:8]]
            total += sum(values)
            busy += sum(values) - values[3] - values[4]
    return busy, total


def idle_cpus(interval: float = 0.1) -> float | None:
    """How many of this process's cores other programs leave idle, measured over
    `interval` s.

    Busy time of the cores we may run on (/proc/stat), minus our own CPU time over the
    same interval. None where this cannot be measured (not Linux). A busy-looping
    neighbour on one of two cores gives about 1.0; a quiet machine about 2.0.
    """
    try:
        cpus = os.sched_getaffinity(0)
        b0, t0 = _cpu_jiffies(cpus)
        own0, wall0 = time.process_time(), time.perf_counter()
        time.sleep(interval)
        b1, t1 = _cpu_jiffies(cpus)
        own1, wall1 = time.process_time(), time.perf_counter()
    except (AttributeError, OSError, ValueError):
        return None
    if t1 <= t0:
        return None
    busy_cores = len(cpus) * (b1 - b0) / (t1 - t0)  # every program, ours included
    # Ours (e.g. threads still spinning)
    own_cores = (own1 - own0) / max(wall1 - wall0, 1e-9)
    return max(0.0, len(cpus) - max(0.0, busy_cores - own_cores))


def default_threads() -> int:
    """Compute threads for a CPU run: torch's default, but no more than the idle cores.

    PyTorch starts one thread per core and its threads wait for each other at the end of
    every operation; if another program holds one of two cores, each step waits for the
    thread that shares it: beside a busy process, eight of chapter 6's training steps
    took 10.7 s with two threads and 6.3 s with one (the threads table of
    benchmarks/RESULTS.md). Counting the idle cores first avoids that.
    """
    idle = idle_cpus()
    wanted = torch.get_num_threads()
    if idle is None:
        return wanted
    return max(1, min(wanted, int(idle + 0.5)))


def _usable_cores() -> int:
    """The cores this process may run on (its affinity where the system says it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def num_threads(n: int | None):
    """Run a block with `torch.set_num_threads(n)` (None: leave it alone), restoring it
    afterwards.
    """
    n = check_int("threads", n, minimum=1, optional=True)
    before = torch.get_num_threads()
    if n is not None:
        cores = _usable_cores()
        if n > cores:
            warnings.warn(
                f"threads={n} is more than the {cores} cores this process may use: the "
                "extra threads share cores and every operation waits for the slowest "
                "(benchmarks/bench_threads.py measures what that costs)",
                stacklevel=3,
            )
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory(limit: int = 1 << 30) -> bool:
    """Let the C allocator keep freed blocks of up to `limit` bytes for reuse instead of
    handing them back to the operating system. True where that was done (Linux with
    glibc), False elsewhere (then nothing changes).

    Why: a training step frees and allocates the same large buffers every time; the
    biggest is the word embeddings' gradient (30,522 x 384 floats, 47 MB, for MiniLM).
    glibc's malloc serves every block above its mmap threshold (128 KiB at start, raised
    by itself up to 32 MB at most) with a fresh memory mapping and unmaps it on free,
    so every step the kernel has to fault in and zero each of its 4 KiB pages again
    (11,446 page faults for that one gradient).
    With both thresholds raised the memory stays in the process and the next step
    reuses it: 24 of chapter 6's training steps took 6.78 s instead of 7.49 s here
    (benchmarks/RESULTS.md). The price is that
    the process keeps its peak memory until it exits, which is what a training run
    does anyway. The setting lasts for the whole process, and results are bit for bit
    the same. (Loading another allocator, tcmalloc or jemalloc, with LD_PRELOAD is the
    other way to get this reuse; it needs an installation and a restart.)
    """
    if type(limit) is not int or limit < 1:
        raise ValueError(f"limit must be a positive number of bytes, got {limit!r}")
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(
        mallopt(_M_MMAP_THRESHOLD, min(limit, 2**31 - 1))
        and mallopt(_M_TRIM_THRESHOLD, min(limit, 2**31 - 1))
    )


def supports_bf16(device: torch.device | str) -> bool:
    """Whether `precision="bf16"` can run here: on a GPU it needs Ampere or newer; every
    CPU runs it.

    On a CPU, correct is not the same as faster: with native bf16 instructions
    (AVX512-BF16, AMX) torch multiplies matrices in bf16 at two to three times the
    float32 rate (the Speed appendix's grouping table); on a CPU without them it is
    emulated and many times slower (the matmul table; `warn_if_bf16_is_emulated`
    says so when it is asked for). That is why
    `precision="auto"` stays float32 on every CPU: most students' laptops lack those
    instructions, and the tested path should be the one they run.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type in ("cpu", "mps")


def cpu_info(*keys: str) -> str | None:
    """The first line of /proc/cpuinfo whose name starts with one of `keys`, its value
    only; None where the system does not say (not Linux, or no such line)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return next(
                line.split(":", 1)[-1].strip() for line in f if line.startswith(keys)
            )
    except (OSError, StopIteration):
        return None


def cpu_flags() -> list[str] | None:
    """The CPU's feature flags as Linux lists them in /proc/cpuinfo ("flags" on x86,
    "Features" on Arm); None where the system does not say."""
    flags = cpu_info("flags", "Features")
    return None if flags is None else flags.split()


def cpu_name() -> str:
    """The CPU's model name where the system says it (Linux), else its architecture:
    benchmark tables name the machine they ran on."""
    import platform

    return cpu_info("model name") or platform.processor() or platform.machine()


def cpu_has_native_bf16() -> bool | None:
    """Whether this CPU multiplies bfloat16 matrices natively (x86: avx512_bf16 or
    amx_bf16; Arm: bf16); None where it cannot tell."""
    flags = cpu_flags()
    if flags is None:
        return None
    return bool(set(flags) & {"avx512_bf16", "amx_bf16", "bf16"})


def warn_if_bf16_is_emulated(device: torch.device | str) -> None:
    """bf16 on a CPU without bf16 instructions is correct but emulated: a matrix product
    took 53 to 92 times as long as in float32 (the matmul table of benchmarks/RESULTS.md,
    an AVX2-only CPU), so asking for it there deserves a word."""
    if torch.device(device).type == "cpu" and cpu_has_native_bf16() is False:
        warnings.warn(
            "bfloat16 on this CPU is emulated (no avx512_bf16, amx_bf16 or Arm bf16 "
            "instructions): matrix products run many times slower than in float32; "
            "use precision='fp32' here",
            stacklevel=3,
        )


def autocast(
    device: torch.device | str,
    dtype: torch.dtype | str | None = "auto",
    enabled: bool = True,
):
    """Mixed precision where it pays: bf16 on GPUs that support it, fp16 on older GPUs,
    off on CPU.

    On the CPU autocast is off unless a dtype is asked for explicitly: fp32 is exact,
    and bf16 was measured faster only on a CPU with native bf16 instructions (see
    `supports_bf16`).
    Matrix multiplies run in low precision; softmax, LayerNorm and the losses stay in
    fp32.
    """
    device = torch.device(device)
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    if isinstance(dtype, str) and dtype != "auto":
        if dtype not in dtypes:
            raise ValueError(
                f"dtype must be one of 'bf16', 'fp16', 'fp32', 'auto' (or a torch "
                f"dtype), got {dtype!r}"
            )
        dtype = dtypes[dtype]
    if dtype == "auto":
        if device.type == "cuda":
            dtype = torch.bfloat16 if supports_bf16(device) else torch.float16
        else:
            dtype = torch.float32
    if not enabled or dtype == torch.float32:
        return contextlib.nullcontext()
    if dtype == torch.bfloat16:
        warn_if_bf16_is_emulated(device)
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and every GPU) in one call."""
    seed = check_int("seed", seed, minimum=0)  # NumPy takes seeds >= 0 only
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:
        pass
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


@contextlib.contextmanager
def evaluating(model: torch.nn.Module):
    """Run the block with `model` in eval mode (no dropout) and no gradients; restore
    its mode after.

    Every evaluation loop of the package uses it, so a model that was training goes back
    to training even when the block raises (a Ctrl-C in a notebook, a bad batch).
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)
