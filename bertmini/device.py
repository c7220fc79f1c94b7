"""Where to run, in what precision, and how to make runs repeatable."""

from __future__ import annotations

import contextlib
import os
import random

import torch


def get_device(prefer: str | None = None) -> torch.device:
    """CUDA if there is a GPU, else Apple's MPS, else the CPU. `prefer` (or $BERTMINI_DEVICE) overrides."""
    prefer = prefer or os.environ.get("BERTMINI_DEVICE")
    if prefer:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' was asked for but no CUDA GPU is available")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError("device 'mps' was asked for but MPS is not available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def supports_bf16(device: torch.device | str) -> bool:
    """bf16 needs an Ampere-or-newer GPU; CPUs emulate it (correct, rarely faster)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type in ("cpu", "mps")


def autocast(device: torch.device | str, dtype: torch.dtype | str | None = "auto", enabled: bool = True):
    """Mixed precision where it pays: bf16 on GPUs that support it, fp16 on older GPUs, off on CPU.

    On the CPU autocast is off unless a dtype is asked for explicitly: fp32 is usually as fast
    there, and exact. Matrix multiplies run in low precision; softmax, LayerNorm and the losses
    stay in fp32.
    """
    device = torch.device(device)
    if isinstance(dtype, str) and dtype != "auto":
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype]
    if dtype == "auto":
        if device.type == "cuda":
            dtype = torch.bfloat16 if supports_bf16(device) else torch.float16
        else:
            dtype = torch.float32
    if not enabled or dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and every GPU) in one call."""
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
    """Run the block with `model` in eval mode (no dropout) and no gradients; restore its mode after.

    Every evaluation loop of the package uses it, so a model that was training goes back to
    training even when the block raises (a Ctrl-C in a notebook, a bad batch).
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)
