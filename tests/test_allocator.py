"""keep_freed_memory: big buffers freed by one training step are reused by the next, not
mapped and zeroed again by the kernel."""

from __future__ import annotations

import platform
import resource

import pytest
import torch

import bertmini.train as train
from bertmini.device import keep_freed_memory
from bertmini.train import fit
from tests.test_train import quiet, tiny_data, tiny_model

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def page_faults_per_buffer(repeats: int) -> float:
    """Minor page faults per allocate-fill-free of a 47 MB buffer (MiniLM's word-embedding
    gradient)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(repeats):
        buffer = torch.empty(30522, 384)
        buffer.fill_(1.0)
        del buffer
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / repeats


@pytest.mark.skipif(not GLIBC, reason="the setting exists only in glibc's malloc")
def test_a_freed_47_mb_buffer_is_reused_without_page_faults():
    assert keep_freed_memory() is True
    page_faults_per_buffer(10)  # the heap grows to hold the buffer once
    # Without the setting every round faults in all 11,446 of its 4 KiB pages
    assert page_faults_per_buffer(5) < 1000


@pytest.mark.skipif(GLIBC, reason="only where there is no glibc")
def test_elsewhere_nothing_is_changed():
    assert keep_freed_memory() is False


@pytest.mark.parametrize("bad", [0, -5, 1.5, "1GB", None, True])
def test_limit_must_be_a_positive_byte_count(bad):
    with pytest.raises(ValueError, match="limit must be a positive number of bytes"):
        keep_freed_memory(bad)


def test_fit_keeps_freed_memory_on_the_cpu(monkeypatch):
    calls = []
    monkeypatch.setattr(train, "keep_freed_memory", lambda: calls.append(1) or True)
    fit(tiny_model(), tiny_data(8), quiet(batch_size=4, epochs=1))
    assert calls == [1]
