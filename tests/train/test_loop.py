"""The training loop: optimizer groups, schedule, accumulation = one big batch, checkpoints that
are verified before use, kill -9 and resume = an uninterrupted run, 2 DDP processes = 1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tiny_models
import torch
import torch.multiprocessing as mp
from torch import nn

from bertkit.errors import CheckpointError  # noqa: E402
from bertkit.train.loop import Trainer, parameter_groups, warmup_then_linear_decay  # noqa: E402
from bertkit.train.options import TrainingOptions  # noqa: E402
from bertkit.train.state import read_state, write_state  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def test_no_weight_decay_on_biases_and_layer_norm():
    model = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Embedding(10, 4))
    decay, no_decay = parameter_groups(model, 0.01)
    assert {id(p) for p in decay["params"]} == {id(model[0].weight), id(model[2].weight)}
    assert {id(p) for p in no_decay["params"]} == {id(model[0].bias), id(model[1].weight), id(model[1].bias)}
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.01, 0.0)


def test_learning_rate_warms_up_linearly_then_decays_to_zero():
    factor = warmup_then_linear_decay(total_steps=10, warmup_steps=4)
    assert [round(factor(s), 3) for s in range(11)] == [0.2, 0.4, 0.6, 0.8, 1.0, 0.833, 0.667, 0.5, 0.333, 0.167, 0.0]


class Regression:
    """y = x . w on 16 fixed examples; the loss is a sum, as the loop expects."""

    def __init__(self, batches):
        torch.manual_seed(0)
        self.x, self.y = torch.randn(16, 3), torch.randn(16)
        self.batches = batches

    def train_batches(self, epoch):
        return self.batches

    def loss(self, model, batch):
        return ((model(self.x[batch]).squeeze(-1) - self.y[batch]) ** 2).sum(), len(batch)

    def evaluate(self, model):
        return {"loss": float(((model(self.x).squeeze(-1) - self.y) ** 2).mean())}


def _fit(batches, accumulation):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    options = TrainingOptions(epochs=3, learning_rate=0.1, accumulation=accumulation, progress=False, precision="fp32")
    Trainer(model, Regression(batches), options).fit()
    return torch.cat([model.weight.flatten(), model.bias])


def test_accumulating_uneven_micro_batches_steps_exactly_as_one_batch():
    one = _fit([list(range(16))], accumulation=1)
    many = _fit([[0, 1, 2], list(range(3, 11)), list(range(11, 16))], accumulation=3)
    torch.testing.assert_close(many, one, atol=1e-6, rtol=0)


# --- checkpoints --------------------------------------------------------------------------------


def test_a_checkpoint_round_trips_and_damage_is_detected(tmp_path):
    state = {"step": 3, "model": {"w": torch.arange(1000.0)}, "history": "{}"}
    write_state(tmp_path, state)
    assert torch.equal(read_state(tmp_path)["model"]["w"], state["model"]["w"])
    assert not list(tmp_path.glob(".*.tmp"))  # temporary files renamed away

    data = (tmp_path / "state.pt").read_bytes()
    (tmp_path / "state.pt").write_bytes(data[: len(data) // 2])  # truncated, as by a full disk
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        read_state(tmp_path)
    (tmp_path / "state.pt").write_bytes(data[:-9] + bytes(9))  # same size, damaged bytes
    with pytest.raises(CheckpointError, match="checksum"):
        read_state(tmp_path)
    (tmp_path / "state.pt").write_bytes(data)
    (tmp_path / "state.json").unlink()  # killed between the state and its manifest
    with pytest.raises(CheckpointError, match="partial write"):
        read_state(tmp_path)
    (tmp_path / "state.pt").unlink()
    with pytest.raises(CheckpointError, match="no checkpoint to resume from"):
        read_state(tmp_path)


RUN = textwrap.dedent(
    """
    import os, signal, sys, torch
    torch.set_num_threads(1)
    from bertkit.train.finetune import FinetuneOptions, finetune
    train, output, model, resume, kill_at = sys.argv[1:6]

    def on_step(step):
        if step == int(kill_at):
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no flush: as the OOM killer does

    finetune(FinetuneOptions(train=train, output=output, model=model, epochs=2, batch_size=8, save_every=1,
                             learning_rate=1e-3, progress=False, resume=resume == "1"), on_step=on_step)
    """
)


def _run(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", RUN, *map(str, args)], env=env, capture_output=True, text=True, timeout=300
    )


def test_a_run_killed_with_sigkill_and_resumed_ends_with_the_same_weights(tmp_path):
    base = tiny_models.tiny_bert_dir(tmp_path / "base", dropout=0.1)  # dropout: the RNG state matters
    train = tiny_models.write_csv(tmp_path / "train.csv", tiny_models.toy_spam(72))

    whole = _run(train, tmp_path / "whole", base, 0, -1)
    assert whole.returncode == 0, whole.stderr
    killed = _run(train, tmp_path / "resumed", base, 0, 11)  # in the second epoch, mid-way
    assert killed.returncode == -9
    assert read_state(tmp_path / "resumed" / "checkpoint")["step"] == 11
    resumed = _run(train, tmp_path / "resumed", base, 1, -1)
    assert resumed.returncode == 0, resumed.stderr

    expected = read_state(tmp_path / "whole" / "checkpoint")
    got = read_state(tmp_path / "resumed" / "checkpoint")
    assert got["step"] == expected["step"] == 18  # 65 training rows after the 10% held out: 9 steps an epoch
    for name, tensor in expected["model"].items():
        assert torch.equal(got["model"][name], tensor), name
    assert json.loads(got["history"])["epochs"] == json.loads(expected["history"])["epochs"]
    assert (tmp_path / "resumed" / "model.safetensors").read_bytes() == (
        tmp_path / "whole" / "model.safetensors"
    ).read_bytes()


def test_resuming_from_a_corrupt_checkpoint_is_a_clear_error(tmp_path):
    base = tiny_models.tiny_bert_dir(tmp_path / "base")
    train = tiny_models.write_csv(tmp_path / "train.csv", tiny_models.toy_spam(24))
    killed = _run(train, tmp_path / "out", base, 0, 2)
    assert killed.returncode == -9
    state = tmp_path / "out" / "checkpoint" / "state.pt"
    state.write_bytes(state.read_bytes()[:1000])

    result = subprocess.run(
        [sys.executable, "-m", "bertkit", "finetune", "--train", str(train), "--output", str(tmp_path / "out"),
         "--model", str(base), "--resume", "--no-progress"],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "state.pt: corrupt or truncated" in last and "Traceback" not in result.stderr


# --- DistributedDataParallel ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world_size: int, port: int, options: dict, results) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
    )  # fmt: skip
    torch.set_num_threads(1)
    import torch.distributed as dist

    from bertkit.train.finetune import FinetuneOptions, finetune
    from bertkit.train.loop import leave_distributed

    report = finetune(FinetuneOptions(**options))
    if rank == 0:
        results.put(report["best"])
    assert dist.is_initialized()
    leave_distributed()
    assert not dist.is_initialized()


def test_two_ddp_processes_match_one_process_at_the_same_global_batch(tmp_path):
    base = tiny_models.tiny_bert_dir(tmp_path / "base")
    rows = tiny_models.toy_spam(60)
    train = tiny_models.write_csv(tmp_path / "train.csv", rows[:44])
    test = tiny_models.write_csv(tmp_path / "test.csv", rows[44:])
    options = dict(train=str(train), eval=str(test), model=str(base), epochs=2, batch_size=8,
                   learning_rate=1e-3, progress=False, precision="fp32")  # fmt: skip

    context = mp.get_context("spawn")
    results = context.SimpleQueue()
    ddp = {**options, "output": str(tmp_path / "ddp")}
    mp.spawn(_ddp_worker, args=(2, _free_port(), ddp, results), nprocs=2, join=True)
    two = results.get()

    from bertkit.train.finetune import FinetuneOptions, finetune

    one = finetune(FinetuneOptions(**options, output=tmp_path / "single"))["best"]
    assert two["epoch"] == one["epoch"]
    assert two["accuracy"] == one["accuracy"] and two["macro_f1"] == one["macro_f1"]
    assert two["loss"] == pytest.approx(one["loss"], abs=1e-4)
    report = json.loads((tmp_path / "ddp" / "training" / "report.json").read_text())
    assert report["processes"] == 2
    a = torch.load(tmp_path / "ddp" / "checkpoint" / "state.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "single" / "checkpoint" / "state.pt", weights_only=True)["model"]
    for name in b:
        torch.testing.assert_close(a[name], b[name], atol=1e-4, rtol=0)
