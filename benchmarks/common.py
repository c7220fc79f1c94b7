"""Shared by the benchmarks: interleaved timing, medians, and a header that says where it ran."""

from __future__ import annotations

import os
import statistics
import time
from typing import Callable

import torch

from bertmini.device import cpu_flags, cpu_name


def cpu_description() -> str:
    """The CPU's model and the widest vector instructions it has: two machines with the
    same core count can differ twice over in float32 speed (AVX2 against AVX-512), and
    bfloat16 is fast only with avx512_bf16 or AMX. Linux lists these in /proc/cpuinfo;
    elsewhere the architecture alone."""
    flags = cpu_flags()
    if flags is None:
        return cpu_name()
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
    found = [flag for flag in wanted if flag in flags]
    return f"{cpu_name()} ({', '.join(found) or 'no AVX2'})"


def machine_header(name: str, dtype: str = "fp32") -> str:
    import transformers

    cpu = cpu_description()
    if torch.cuda.is_available():
        cpu += f", GPU {torch.cuda.get_device_name()}"
    return (
        f"# {name}: {cpu}, {os.cpu_count()} cpus, threads={torch.get_num_threads()}, {dtype}, "
        f"torch {torch.__version__}, transformers {transformers.__version__}"
    )


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def interleaved_medians(
    fns: dict[str, Callable[[], None]], repeats: int, warmup: int = 1
) -> dict[str, float]:
    """Median seconds per call of each function, measured round-robin so that a slow
    spell of the machine hits every contender alike.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    sync()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(v) for name, v in times.items()}
