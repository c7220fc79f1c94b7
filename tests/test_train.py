"""The training loop: optimisation recipe, exact resume, atomic checkpoints, data parallelism."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from bertmini import BertConfig, BertForPreTraining, BertForSequenceClassification
from bertmini.train import (
    History,
    StopTraining,
    TrainConfig,
    TrainingDivergedError,
    adamw,
    epoch_batches,
    evaluate_loss,
    fit,
    latest_checkpoint,
    linear_schedule,
    load_checkpoint,
    param_groups,
    predict,
    save_checkpoint,
)

REPO = Path(__file__).resolve().parents[1]


def tiny_config(dropout: float = 0.0) -> BertConfig:
    return BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )


def tiny_model(dropout: float = 0.0, seed: int = 0) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    return BertForSequenceClassification(tiny_config(dropout), num_labels=2)


def tiny_data(n: int = 32, length: int = 8, seed: int = 0) -> list[dict]:
    """A learnable toy task: the label is the parity of the first word's id."""
    g = torch.Generator().manual_seed(seed)
    data = []
    for _ in range(n):
        ids = torch.randint(5, 100, (length,), generator=g)
        ids[0] = 2  # [CLS]
        data.append(
            {
                "input_ids": ids,
                "attention_mask": torch.ones(length, dtype=torch.long),
                "labels": torch.tensor(int(ids[1]) % 2),
            }
        )
    return data


def quiet(**kwargs) -> TrainConfig:
    defaults = dict(lr=1e-3, batch_size=8, progress=False, seed=0)
    return TrainConfig(**{**defaults, **kwargs})


def test_loss_falls_on_a_tiny_overfit_task():
    data = tiny_data()
    history = fit(tiny_model(), data, quiet(lr=3e-3, epochs=15, warmup_ratio=0.1))
    assert len(history.loss) == 15 * 4
    assert history.loss[0] > 0.6  # chance level is ln 2 = 0.69
    assert sum(history.loss[-4:]) / 4 < 0.15
    assert all(math.isfinite(x) for x in history.loss)


def test_no_weight_decay_on_biases_and_layernorms():
    model = BertForPreTraining(tiny_config())
    decay, no_decay = param_groups(model, 0.01)
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    ids = lambda group: {id(p) for p in group["params"]}  # noqa: E731
    norm_params = {
        id(p)
        for m in model.modules()
        if isinstance(m, nn.LayerNorm)
        for p in m.parameters()
    }
    biases = {id(p) for n, p in model.named_parameters() if n.endswith("bias")}
    assert norm_params and norm_params <= ids(no_decay)
    assert biases <= ids(no_decay)
    assert id(model.mlm.bias) in ids(no_decay)
    linear_weights = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}
    assert linear_weights <= ids(decay)
    assert id(model.bert.embeddings.word_embeddings.weight) in ids(decay)
    # Every parameter exactly once, the tied MLM decoder included only as the embedding.
    assert not ids(decay) & ids(no_decay)
    assert len(ids(decay) | ids(no_decay)) == len(list(model.parameters()))


def test_adamw_is_fused_where_torch_has_the_kernel_and_matches_the_plain_update():
    """fit's optimizer: the fused kernel on a CPU, the same AdamW arithmetic as the
    plain loop (to float rounding), and the plain loop where no kernel exists."""
    runs = {}
    for name in ("plain", "fused"):
        model = tiny_model(seed=1)
        groups = param_groups(model, 0.01)
        opt = (
            torch.optim.AdamW(groups, lr=1e-2)
            if name == "plain"
            else adamw(groups, 1e-2)
        )
        for batch in torch.utils.data.DataLoader(tiny_data(), batch_size=8):
            opt.zero_grad(set_to_none=True)
            model(**batch).loss.backward()
            opt.step()
        runs[name] = (model, opt)
    assert runs["fused"][1].defaults["fused"] is True
    assert runs["plain"][1].defaults["fused"] in (None, False)
    start = tiny_model(seed=1)
    moved = max(
        float((p - p0).detach().abs().max())
        for p, p0 in zip(runs["plain"][0].parameters(), start.parameters())
    )
    assert moved > 1e-2  # the steps moved the weights ...
    for p, q in zip(runs["plain"][0].parameters(), runs["fused"][0].parameters()):
        # ... alike: the fused and plain roundings differ by far less than a step
        torch.testing.assert_close(p, q, rtol=0, atol=2e-5)


def test_adamw_falls_back_to_the_plain_loop_where_torch_refuses_fused(monkeypatch):
    """A device without a fused kernel (or an older torch): torch raises at
    construction; adamw then builds the plain optimizer instead of failing."""
    plain = torch.optim.AdamW

    def no_fused_kernel(params, lr, fused=None, **kwargs):
        if fused:
            raise RuntimeError("`fused=True` requires all the params to be ...")
        return plain(params, lr=lr, **kwargs)

    monkeypatch.setattr(torch.optim, "AdamW", no_fused_kernel)
    opt = adamw(param_groups(tiny_model(), 0.01), 1e-3)
    assert isinstance(opt, plain) and not opt.defaults["fused"]
    assert [g["weight_decay"] for g in opt.param_groups] == [0.01, 0.0]


def test_warmup_then_linear_decay():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = linear_schedule(opt, warmup_steps=4, total_steps=12)
    lrs = []
    for _ in range(13):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    expected = [
        0,
        0.25,
        0.5,
        0.75,
        1,
        7 / 8,
        6 / 8,
        5 / 8,
        4 / 8,
        3 / 8,
        2 / 8,
        1 / 8,
        0,
    ]
    assert lrs == pytest.approx(expected)
    # fit records the lr of every step: warmup_ratio 0.25 of 16 steps = 4 warmup steps
    history = fit(
        tiny_model(),
        tiny_data(16),
        quiet(lr=0.1, epochs=4, batch_size=4, warmup_ratio=0.25),
    )
    expected = [0.1 * (s / 4 if s < 4 else (16 - s) / 12) for s in range(16)]
    assert history.lr == pytest.approx(expected)


def test_gradient_accumulation_equals_the_big_batch():
    data = tiny_data(32)
    big, accum = tiny_model(), tiny_model()
    h_big = fit(big, data, quiet(epochs=2, batch_size=8, warmup_steps=2))
    h_acc = fit(
        accum, data, quiet(epochs=2, batch_size=4, grad_accum_steps=2, warmup_steps=2)
    )
    assert len(h_big.loss) == len(h_acc.loss) == 8
    assert h_acc.loss == pytest.approx(h_big.loss, abs=1e-5)
    for p, q in zip(big.parameters(), accum.parameters()):
        torch.testing.assert_close(p, q, atol=1e-5, rtol=1e-4)


class Interrupt(Exception):
    pass


def interrupt_at(k: int):
    def callback(step: int, logs: dict) -> None:
        if step == k:
            raise Interrupt(f"simulated crash after step {step}")

    return callback


def test_resume_reproduces_the_uninterrupted_run_exactly(tmp_path):
    data = tiny_data(32)
    # dropout on, so the restored RNG state matters; 4 steps per epoch, so resuming
    # mid-epoch. One thread for both runs: the count fit would choose depends on the
    # idle cores at the time, and another count sums in another order
    # (tests/test_threads.py checks that a resumed run keeps its count).
    config = quiet(
        threads=1,
        max_steps=12,
        warmup_steps=3,
        checkpoint_dir=str(tmp_path / "a"),
        checkpoint_every=3,
        eval_every=4,
    )
    full = fit(tiny_model(dropout=0.1), data, config, eval_data=data[:8])

    config_b = dataclasses.replace(config, checkpoint_dir=str(tmp_path / "b"))
    with pytest.raises(Interrupt):
        fit(
            tiny_model(dropout=0.1),
            data,
            config_b,
            eval_data=data[:8],
            callbacks=[interrupt_at(5)],
        )
    assert latest_checkpoint(tmp_path / "b").name == "step-00000003"
    # A different initialisation: every weight must come from the checkpoint.
    resumed = fit(
        tiny_model(dropout=0.1, seed=123),
        data,
        config_b,
        eval_data=data[:8],
        resume=True,
    )
    assert resumed.step == list(range(1, 13))
    assert resumed.loss == full.loss  # bit-exact on CPU
    assert resumed.lr == full.lr
    assert resumed.eval == full.eval and resumed.eval_step == [4, 8, 12]
    assert latest_checkpoint(tmp_path / "b").name == "step-00000012"


@pytest.mark.parametrize(
    "when, expected_steps",
    [({"eval_steps": [7, 2]}, [2, 7]), ({"eval_every": 5}, [5, 10, 12])],
)
def test_evaluation_time_is_not_training_time(when, expected_steps):
    """Evaluations run after the chosen steps (eval_steps: exactly those, not at the
    end), in eval mode, and history.time leaves their time out."""
    pause = 1.0  # long enough that a slow step on a loaded machine cannot pass for it
    modes = []

    def slow_eval(m):
        modes.append(m.training)
        time.sleep(pause)
        return {"acc": 0.5}

    model = tiny_model()
    # 32 examples in batches of 8: 4 steps per epoch, 12 in all
    history = fit(model, tiny_data(32), quiet(epochs=3, **when), eval_fn=slow_eval)
    assert history.step == list(range(1, 13))
    assert history.eval_step == expected_steps and modes == [False] * len(modes)
    assert model.training
    gaps = [b - a for a, b in zip(history.time, history.time[1:])]
    assert all(g >= 0 for g in gaps)
    # the step after an evaluation is not `pause` seconds later (gaps[k] follows step k+1)
    for s in expected_steps:
        if s < 12:
            assert gaps[s - 1] < pause, (s, gaps)


def test_evaluation_does_not_change_the_run():
    """An eval_fn that draws random numbers leaves the training losses as they were."""
    data = tiny_data(32)

    def noisy_eval(m):
        return {"noise": float(torch.rand(1000).mean())}

    plain = fit(tiny_model(dropout=0.1), data, quiet(epochs=2))
    evaluated = fit(
        tiny_model(dropout=0.1),
        data,
        quiet(epochs=2, eval_steps=[2, 5]),
        eval_fn=noisy_eval,
    )
    assert evaluated.eval_step == [2, 5]
    assert evaluated.loss == plain.loss  # dropout masks unchanged after each evaluation


def test_eval_steps_survive_a_resume(tmp_path):
    data = tiny_data(32)
    config = quiet(
        max_steps=8,
        checkpoint_dir=str(tmp_path / "a"),
        checkpoint_every=3,
        eval_steps=[2, 5, 8],
    )
    full = fit(tiny_model(), data, config, eval_data=data[:8])
    config_b = dataclasses.replace(config, checkpoint_dir=str(tmp_path / "b"))
    with pytest.raises(Interrupt):
        fit(
            tiny_model(),
            data,
            config_b,
            eval_data=data[:8],
            callbacks=[interrupt_at(4)],
        )
    resumed = fit(tiny_model(seed=1), data, config_b, eval_data=data[:8], resume=True)
    assert resumed.eval_step == full.eval_step == [2, 5, 8]
    assert resumed.eval == full.eval and resumed.loss == full.loss


def test_eval_steps_and_eval_every_input_errors():
    with pytest.raises(TypeError, match="eval_steps"):
        quiet(eval_steps=5)
    with pytest.raises(ValueError, match="eval_steps"):
        quiet(eval_steps=[3, 0])
    with pytest.raises(ValueError, match="not both"):
        quiet(eval_every=2, eval_steps=[3])
    assert quiet(eval_steps=[5, 3, 5]).eval_steps == (3, 5)
    data = tiny_data(16)  # 2 steps per epoch
    for when in ({"eval_steps": [1]}, {"eval_every": 1}):
        with pytest.raises(ValueError, match="eval_fn"):
            fit(tiny_model(), data, quiet(epochs=1, **when))
    with pytest.raises(ValueError, match="never be evaluated"):
        fit(tiny_model(), data, quiet(epochs=1, eval_steps=[3]), eval_data=data)


def test_resume_rejects_a_different_batch_size(tmp_path):
    config = quiet(max_steps=2, checkpoint_dir=str(tmp_path))
    fit(tiny_model(), tiny_data(16), config)
    with pytest.raises(ValueError, match="batch_size"):
        fit(
            tiny_model(),
            tiny_data(16),
            dataclasses.replace(config, batch_size=4, max_steps=4),
            resume=True,
        )


class PoisonedModel(nn.Module):
    """Returns a NaN loss on its n-th forward call: a stand-in for a run that diverges."""

    def __init__(self, model: nn.Module, bad_call: int):
        super().__init__()
        self.model, self.bad_call, self.calls = model, bad_call, 0

    def forward(self, **batch):
        self.calls += 1
        out = self.model(**batch)
        if self.calls == self.bad_call:
            out = dataclasses.replace(out, loss=out.loss * float("nan"))
        return out


def test_non_finite_loss_stops_with_the_step_and_keeps_the_last_checkpoint(tmp_path):
    model = PoisonedModel(tiny_model(), bad_call=5)
    config = quiet(epochs=3, checkpoint_dir=str(tmp_path), checkpoint_every=2)
    with pytest.raises(TrainingDivergedError, match="at step 5 ") as info:
        fit(model, tiny_data(32), config)
    assert "step-00000004" in str(info.value)
    last = latest_checkpoint(tmp_path)
    assert last.name == "step-00000004"
    state = load_checkpoint(last, PoisonedModel(tiny_model(seed=9), bad_call=0))
    assert state["step"] == 4 and len(state["history"]["loss"]) == 4
    assert all(math.isfinite(x) for x in state["history"]["loss"])


CHILD_SAVER = """
import sys, torch
from torch import nn
from bertmini.train import save_checkpoint
model = nn.Linear(2048, 2048)  # 16 MB: each save takes long enough to be killed mid-write
step = 0
while True:
    step += 1
    with torch.no_grad():
        model.weight.fill_(step)
        model.bias.fill_(step)
    save_checkpoint(sys.argv[1], step, model, {"step": step, "note": [step, "x"]})
"""


def test_checkpoint_survives_sigkill_during_save(tmp_path):
    root = tmp_path / "ckpt"
    child = subprocess.Popen([sys.executable, "-c", CHILD_SAVER, str(root)], cwd=REPO)
    killed_mid_write = False
    try:
        deadline = time.time() + 60
        while latest_checkpoint(root) is None and time.time() < deadline:
            time.sleep(0.01)
        while time.time() < deadline and not killed_mid_write:
            tmp = [p for p in root.iterdir() if ".tmp-" in p.name]
            if tmp and any(
                f.stat().st_size > 0 for t in tmp for f in t.glob("*") if f.exists()
            ):
                child.send_signal(signal.SIGKILL)
                killed_mid_write = True
            time.sleep(0.001)
    finally:
        child.kill()
        child.wait()
    assert killed_mid_write
    leftovers = [p for p in root.iterdir() if ".tmp-" in p.name]
    assert leftovers, "the interrupted save should have left its temp dir behind"
    last = latest_checkpoint(root)
    assert last is not None and last.name.startswith("step-")
    step = int(last.name.split("-")[1])
    model = nn.Linear(2048, 2048)
    # A root directory resolves to its newest checkpoint
    state = load_checkpoint(root, model)
    assert state == {"step": step, "note": [step, "x"]}
    assert torch.all(model.weight == step) and torch.all(model.bias == step)
    # The next save replaces only the checkpoint it is told it supersedes; hidden
    # leftovers of the killed process stay (bertmini deletes only what the current run
    # wrote).
    save_checkpoint(root, step + 1, model, {"step": step + 1}, replaces=last)
    visible = sorted(p.name for p in root.iterdir() if not p.name.startswith("."))
    assert visible == [f"step-{step + 1:08d}"]


def test_config_validation():
    with pytest.raises(ValueError, match="lr must be a positive number"):
        TrainConfig(lr=0)
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="grad_accum_steps"):
        TrainConfig(grad_accum_steps=1.5)
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp8")
    with pytest.raises(ValueError, match="checkpoint_dir"):
        TrainConfig(checkpoint_every=10)
    with pytest.raises(ValueError, match="fp16"):
        fit(tiny_model(), tiny_data(8), quiet(precision="fp16", device="cpu"))


def test_bf16_autocast_on_cpu_trains():
    history = fit(
        tiny_model(), tiny_data(16), quiet(precision="bf16", device="cpu", epochs=2)
    )
    assert len(history.loss) == 4 and all(math.isfinite(x) for x in history.loss)


def test_eval_callbacks_stop_and_history():
    data = tiny_data(32)
    seen = []

    def stop_at_6(step, logs):
        seen.append((step, round(logs["lr"], 8)))
        if step == 6:
            raise StopTraining

    calls = []
    history = fit(
        tiny_model(),
        data,
        quiet(epochs=3, eval_every=4),
        callbacks=[stop_at_6],
        eval_fn=lambda m: calls.append(m.training) or {"acc": 0.5},
    )
    assert [s for s, _ in seen] == list(range(1, 7)) and history.step == list(
        range(1, 7)
    )
    assert (
        calls == [False] and history.eval_step == [4] and history.eval == {"acc": [0.5]}
    )
    model = tiny_model()
    h = fit(model, data, quiet(epochs=1, eval_every=3), eval_data=data[:8])
    # Every 3 steps, and at the end
    assert h.eval_step == [3, 4] and len(h.eval["eval_loss"]) == 2
    assert h.eval["eval_loss"][-1] == pytest.approx(
        evaluate_loss(model, data[:8], batch_size=3)
    )
    again = History.from_dict(json.loads(json.dumps(h.to_dict())))
    assert again == h
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    ax = h.plot()
    assert ax.get_xlabel() == "step"


def test_pretraining_losses_are_recorded_and_predict_batches():
    torch.manual_seed(0)
    model = BertForPreTraining(tiny_config())
    data = []
    for row in tiny_data(8):
        labels = torch.full_like(row["input_ids"], -100)
        labels[3] = row["input_ids"][3]
        data.append(
            {
                "input_ids": row["input_ids"],
                "labels": labels,
                "next_sentence_label": row["labels"],
            }
        )
    history = fit(model, data, quiet(epochs=2, batch_size=4))
    assert set(history.components) == {"mlm_loss", "nsp_loss"}
    total = [
        a + b
        for a, b in zip(history.components["mlm_loss"], history.components["nsp_loss"])
    ]
    assert total == pytest.approx(history.loss, abs=1e-5)
    out = predict(model, data, batch_size=3)
    assert out["seq_relationship_logits"].shape == (8, 2)
    assert out["prediction_logits"].shape == (8, 8, 100)

    def shorten(rows):  # dynamic padding: batches of different lengths
        n = 3 + len(rows)
        return {"input_ids": torch.stack([r["input_ids"][:n] for r in rows])}

    out = predict(model, data, collate_fn=shorten, batch_size=3)  # lengths 6, 6, 5
    logits = out["prediction_logits"]
    assert logits.shape == (8, 6, 100)
    assert torch.isinf(logits[6:, 5]).all() and torch.isfinite(logits[:6]).all()
    model.eval()
    with torch.no_grad():
        direct = model(
            torch.stack([d["input_ids"][:5] for d in data[6:]])
        ).prediction_logits
    torch.testing.assert_close(logits[6:, :5], direct)


def test_epoch_batches_shard_the_same_order():
    single = epoch_batches(20, 8, seed=3, epoch=1)
    shards = [
        epoch_batches(20, 4, seed=3, epoch=1, rank=r, world_size=2) for r in range(2)
    ]
    for k, batch in enumerate(single):
        assert sorted(shards[0][k] + shards[1][k]) == sorted(batch)
    assert epoch_batches(20, 8, seed=3, epoch=2) != single  # a new order every epoch
    assert sorted(sum(single, [])) == list(range(20))


def test_length_grouped_batches_cover_every_example_and_cut_padding():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(3, 65, (1000,), generator=g).tolist()
    plain = epoch_batches(1000, 8, seed=1, epoch=0)
    grouped = epoch_batches(1000, 8, seed=1, epoch=0, lengths=lengths)
    assert sorted(sum(grouped, [])) == list(range(1000))  # each example once
    assert [len(b) for b in grouped] == [len(b) for b in plain]

    def padded(batches):  # what a pad-to-longest collator computes on
        return sum(max(lengths[i] for i in b) * len(b) for b in batches)

    real = sum(lengths)
    assert padded(plain) > 1.5 * real and padded(grouped) < 1.1 * real
    # still a random order: the batches are not sorted by length across the epoch
    longest = [max(lengths[i] for i in b) for b in grouped]
    assert longest != sorted(longest) and longest != sorted(longest, reverse=True)
    again = epoch_batches(1000, 8, seed=1, epoch=0, lengths=lengths)
    assert again == grouped  # a pure function of (seed, epoch, lengths)
    assert epoch_batches(1000, 8, seed=1, epoch=1, lengths=lengths) != grouped


def test_length_grouped_batches_shard_like_one_process():
    lengths = [i % 17 for i in range(203)]  # the last global batch is short
    single = epoch_batches(203, 8, seed=3, epoch=0, lengths=lengths)
    shards = [
        epoch_batches(203, 4, seed=3, epoch=0, rank=r, world_size=2, lengths=lengths)
        for r in range(2)
    ]
    assert len(shards[0]) == len(shards[1]) == len(single)
    for k, batch in enumerate(single[:-1]):
        assert sorted(shards[0][k] + shards[1][k]) == sorted(batch)
    assert len(single[-1]) == 203 % 8  # the short batch stays last


def test_fit_with_lengths_trains_and_resumes_exactly(tmp_path):
    data = tiny_data(24)
    lengths = [i % 5 for i in range(24)]
    # dropout on, so the restored random state matters too
    full = fit(tiny_model(dropout=0.1), data, quiet(epochs=3), lengths=lengths)
    plain = fit(tiny_model(dropout=0.1), data, quiet(epochs=3))
    assert full.loss != plain.loss  # the lengths did change the batches
    config = quiet(epochs=3, checkpoint_dir=str(tmp_path / "run"), checkpoint_every=2)
    with pytest.raises(Interrupt):
        fit(
            tiny_model(dropout=0.1),
            data,
            config,
            lengths=lengths,
            callbacks=[interrupt_at(5)],
        )
    resumed = fit(
        tiny_model(dropout=0.1, seed=9), data, config, lengths=lengths, resume=True
    )
    assert resumed.loss == full.loss  # mid-epoch, bit-exact


@pytest.mark.parametrize(
    "lengths, error, words",
    [
        ([3] * 23, ValueError, "one length per training example (24), got 23"),
        ([3] * 23 + [-1], ValueError, "lengths[23] must be a non-negative int"),
        ([3] * 23 + [2.5], ValueError, "got 2.5"),
        ("abc", TypeError, "sequence of ints, got str"),
        (torch.ones(24), TypeError, "integer tensor"),
    ],
)
def test_fit_names_bad_lengths(lengths, error, words):
    with pytest.raises(error) as caught:
        fit(tiny_model(), tiny_data(24), quiet(), lengths=lengths)
    assert words in str(caught.value)


DDP_WORKER = """
import json, os, sys
import torch
sys.path.insert(0, sys.argv[2])
from test_train import tiny_data, tiny_model, quiet
from bertmini.train import fit
torch.set_num_threads(1)
model = tiny_model()
history = fit(model, tiny_data(32), quiet(epochs=2, batch_size=4, warmup_steps=2, device="cpu"))
if int(os.environ["RANK"]) == 0:
    json.dump({"loss": history.loss, "weight": model.classifier.weight.tolist()}, open(sys.argv[1], "w"))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.enable_socket  # gloo talks over loopback (pytest-socket would block it)
def test_two_process_ddp_matches_one_process_with_the_global_batch(tmp_path):
    reference_model = tiny_model()
    reference = fit(
        reference_model,
        tiny_data(32),
        quiet(epochs=2, batch_size=8, warmup_steps=2, device="cpu"),
    )
    out = tmp_path / "rank0.json"
    env = {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(free_port()),
        "WORLD_SIZE": "2",
        "GLOO_SOCKET_IFNAME": "lo",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(REPO),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", DDP_WORKER, str(out), str(REPO / "tests")],
            cwd=REPO,
            env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for r in range(2)
    ]
    logs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(logs)
    result = json.loads(out.read_text())
    assert len(result["loss"]) == len(reference.loss) == 8
    assert result["loss"] == pytest.approx(reference.loss, abs=1e-5)
    torch.testing.assert_close(
        torch.tensor(result["weight"]),
        reference_model.classifier.weight.detach(),
        atol=1e-5,
        rtol=1e-4,
    )


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_on_cuda_trains_and_resumes(precision, tmp_path):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    config = quiet(
        precision=precision,
        device="cuda",
        epochs=4,
        checkpoint_dir=str(tmp_path),
        checkpoint_every=2,
    )
    history = fit(tiny_model(), tiny_data(32), config)
    assert (
        all(math.isfinite(x) for x in history.loss)
        and history.loss[-1] < history.loss[0]
    )
    state = load_checkpoint(latest_checkpoint(tmp_path), tiny_model())
    # The GradScaler's scale is checkpointed
    assert bool(state["scaler"]) == (precision == "fp16")


@pytest.mark.parametrize("lr", [0.0, -1e-3, float("nan")])
def test_adamw_names_a_learning_rate_that_is_not_positive(lr):
    with pytest.raises(ValueError, match="adamw lr"):
        adamw(param_groups(tiny_model(), 0.01), lr)
