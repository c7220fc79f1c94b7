"""CPU threads: fit uses no more compute threads than there are idle cores, and restores the caller's."""

from __future__ import annotations

import pytest
import torch

import bertmini.device as device
from bertmini.device import default_threads, idle_cpus, num_threads
from bertmini.train import TrainConfig, fit
from tests.test_train import quiet, tiny_data, tiny_model


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_idle_cpus_is_a_count_of_our_cores_or_unknown():
    idle = idle_cpus(0.05)
    if idle is not None:
        assert 0.0 <= idle <= len(__import__("os").sched_getaffinity(0))


@pytest.mark.parametrize(
    "idle, expected", [(2.0, 2), (1.1, 1), (0.6, 1), (0.0, 1), (7.0, 2), (None, 2)]
)
def test_default_threads_caps_torch_default_at_idle_cores(
    monkeypatch, two_threads, idle, expected
):
    monkeypatch.setattr(device, "idle_cpus", lambda interval=0.1: idle)
    assert default_threads() == expected


def test_num_threads_restores_the_setting_even_after_an_error(two_threads):
    with pytest.raises(RuntimeError):
        with num_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("boom")
    assert torch.get_num_threads() == 2
    with pytest.raises(ValueError, match="threads"):
        with num_threads(0):
            pass


@pytest.mark.parametrize(
    "bad, error",
    [(0, ValueError), (-1, ValueError), (1.5, TypeError), ("2", TypeError)],
)
def test_train_config_rejects_bad_threads(bad, error):
    with pytest.raises(error, match="TrainConfig.threads"):
        TrainConfig(threads=bad)


@pytest.mark.parametrize(
    "asked, idle, expected", [(1, 2.0, 1), (None, 1.0, 1), (None, 2.0, 2)]
)
def test_fit_trains_with_the_chosen_threads_then_restores(
    monkeypatch, two_threads, asked, idle, expected
):
    monkeypatch.setattr(device, "idle_cpus", lambda interval=0.1: idle)
    seen = []
    fit(
        tiny_model(),
        tiny_data(16),
        quiet(threads=asked, device="cpu"),
        callbacks=[lambda step, logs: seen.append(torch.get_num_threads())],
    )
    assert seen and set(seen) == {expected}
    assert torch.get_num_threads() == 2


def test_num_threads_reads_numpy_integers_and_warns_beyond_the_cores(two_threads):
    import os

    import numpy as np

    with num_threads(np.int64(1)):  # TrainConfig accepts it, so fit must too
        assert torch.get_num_threads() == 1
    cores = len(os.sched_getaffinity(0))
    with pytest.warns(
        UserWarning, match=f"threads={cores + 1} is more than the {cores}"
    ):
        with num_threads(cores + 1):
            assert torch.get_num_threads() == cores + 1
    assert torch.get_num_threads() == 2
    with pytest.raises(TypeError, match="threads must be an integer, got 1.5"):
        with num_threads(1.5):
            pass


def test_a_resumed_run_keeps_the_thread_count_of_its_checkpoint(
    monkeypatch, two_threads, tmp_path
):
    """The checkpointed run had one idle core, the resumed one finds two: it still
    trains with one thread, since another count sums in another order and the resume
    would no longer be bit-exact. Asking for another count explicitly warns."""
    from tests.test_train import Interrupt, interrupt_at

    config = quiet(max_steps=6, checkpoint_dir=str(tmp_path), checkpoint_every=2)
    monkeypatch.setattr(device, "idle_cpus", lambda interval=0.1: 1.0)
    with pytest.raises(Interrupt):
        fit(tiny_model(), tiny_data(16), config, callbacks=[interrupt_at(3)])
    monkeypatch.setattr(device, "idle_cpus", lambda interval=0.1: 2.0)
    seen = []
    fit(
        tiny_model(),
        tiny_data(16),
        config,
        resume=True,
        callbacks=[lambda step, logs: seen.append(torch.get_num_threads())],
    )
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == 2
    with pytest.warns(UserWarning, match="resuming with threads=2 a run that used 1"):
        fit(
            tiny_model(),
            tiny_data(16),
            quiet(max_steps=8, threads=2),
            resume_from=str(tmp_path),
        )


@pytest.mark.parametrize("native, warns", [(False, True), (True, False), (None, False)])
def test_bf16_on_a_cpu_without_bf16_instructions_warns(monkeypatch, native, warns):
    """Emulated bf16 is correct but many times slower than float32 (benchmarks'
    matmul table): asking for it there gets a warning, once per call site."""
    import warnings

    from bertmini.device import autocast

    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: native)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with autocast("cpu", "bf16"):
            x = torch.ones(2, 2) @ torch.ones(2, 2)
        with autocast("cpu", "fp32"):  # float32 never warns
            pass
    assert x.dtype == torch.bfloat16
    emulated = [w for w in caught if "emulated" in str(w.message)]
    assert len(emulated) == int(warns)
    if warns:
        assert "precision='fp32'" in str(emulated[0].message)


@pytest.mark.parametrize(
    "flags, native",
    [
        (["fpu", "avx2"], False),
        (["avx2", "amx_bf16"], True),
        (["fp", "bf16"], True),
        (None, None),
    ],
)
def test_cpu_has_native_bf16_reads_the_flags(monkeypatch, flags, native):
    """x86's avx512_bf16/amx_bf16 or Arm's bf16 count; no /proc/cpuinfo: unknown."""
    real = device.cpu_flags()  # this machine's: a list of flags on Linux
    assert real is None or (isinstance(real, list) and real)
    monkeypatch.setattr(device, "cpu_flags", lambda: flags)
    assert device.cpu_has_native_bf16() is native


def test_cpu_info_reads_the_named_line_and_says_none_where_absent(monkeypatch):
    """One reader of /proc/cpuinfo for the flags and the model name; a system without
    the file (or without the line) gives None, and cpu_name falls back to the
    architecture."""
    import builtins
    import io

    text = "processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu avx2\n"
    real_open = builtins.open

    def fake_open(path, *args, **kwargs):
        if str(path) == "/proc/cpuinfo":
            return io.StringIO(text)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    assert device.cpu_info("model name") == "Test CPU 9000"
    assert device.cpu_name() == "Test CPU 9000"
    assert device.cpu_flags() == ["fpu", "avx2"]
    assert device.cpu_info("no such line") is None
    text = "processor\t: 0\n"
    assert device.cpu_flags() is None
    assert device.cpu_name()  # the architecture, never empty
