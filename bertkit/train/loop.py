"""The one training loop of bertkit: fine-tuning, pretraining and distillation all run on it.

The loop does what every run needs: AdamW (no weight decay on biases and LayerNorm weights, as
BERT), linear warm-up then linear decay, gradient accumulation and clipping, bf16 autocast where
the hardware has it, evaluation every epoch, early stopping on a chosen metric, resumable
checkpoints written atomically (state.py), PyTorch DDP under `torchrun`, all as `TrainingOptions`
(options.py) say. What a run trains for is its `Objective`: the examples of each batch, the loss
of a batch, the metrics on held-out data.

An objective's `loss` returns the *sum* of its per-item losses and the number of items; the loop
divides the gradients by the number of items of the whole optimizer step, over every
micro-batch and every process. So accumulation and DDP give the gradient of one big batch:
2 processes x 8 examples step exactly as 1 process x 16 (up to float rounding).

    >>> import torch
    >>> from torch import nn
    >>> class Mean:  # learn the mean of 0..9 as a single weight
    ...     def train_batches(self, epoch): return [list(range(10))]  # one batch per epoch
    ...     def loss(self, model, batch):
    ...         x = torch.tensor(batch, dtype=torch.float32)
    ...         return ((model.weight - x) ** 2).sum(), len(batch)
    ...     def evaluate(self, model): return {"loss": abs(model.weight.item() - 4.5)}
    >>> model = nn.Linear(1, 1, bias=False)
    >>> options = TrainingOptions(epochs=40, learning_rate=0.5, weight_decay=0.0, progress=False)
    >>> history = Trainer(model, Mean(), options).fit()  # selects on the evaluation's "loss"
    >>> len(history.epochs), round(history.best["loss"], 1)
    (40, 0.0)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from bertkit.data.batches import shard
from bertkit.errors import CheckpointError, InputError
from bertkit.train.options import TrainingOptions
from bertkit.train.state import read_state, rng_state, set_rng_state, write_state


class Objective(Protocol):
    """What the loop needs from what it trains for (fine-tuning, pretraining, distillation)."""

    def train_batches(self, epoch: int) -> Sequence[list[int]]:
        """The global batches of one epoch (example indices), the same on every process."""

    def loss(self, model: nn.Module, batch: list[int]) -> tuple[torch.Tensor, int | torch.Tensor]:
        """(sum of the per-item losses of `batch`, number of items)."""

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Metrics on held-out data (called on the first process only)."""

    # Optional: `progress() -> dict[str, float]`, running training metrics the progress bar shows
    # and each step's history entry records (pretraining: MLM loss, MLM and NSP accuracy).


@dataclasses.dataclass
class History:
    steps: list[dict] = dataclasses.field(default_factory=list)  # {"step", "epoch", "loss", "lr"}
    epochs: list[dict] = dataclasses.field(default_factory=list)  # {"epoch", "step", metrics...}
    best: dict | None = None  # the epoch entry with the best metric
    stopped_early: bool = False
    examples_per_second: float = 0.0

    def summary(self) -> dict:
        """What every command's report says of the run."""
        return {"best": self.best, "epochs_run": len(self.epochs), "examples_per_second": self.examples_per_second}


# --- DDP under `torchrun` ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed() -> Distributed:
    """Join the process group `torchrun` describes in the environment (gloo on CPU, nccl on GPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Distributed()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def leave_distributed() -> None:
    """Leave the process group `init_distributed` joined, if any: the end of a command's run."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# --- pieces -------------------------------------------------------------------------------------


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """BERT's recipe: decay matrices, not biases or LayerNorm weights (nor any 1-D parameter)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or name.endswith(".bias") else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def warmup_then_linear_decay(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """Learning-rate factor: 0 -> 1 over the warm-up, then 1 -> 0 at the last step."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


def write_training_file(output_dir: str | Path, name: str, data: dict) -> None:
    """`output_dir/training/name` as JSON, replaced atomically: the history, a command's report."""
    path = Path(output_dir) / "training" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def write_report(output_dir: str | Path, report: dict, started: float) -> dict:
    """`report` with the seconds since `started` and the output, written as training/report.json."""
    report.update(seconds=time.perf_counter() - started, output=str(output_dir))
    if init_distributed().is_main:
        write_training_file(output_dir, "report.json", report)
    return report


# --- the loop -----------------------------------------------------------------------------------


class Trainer:
    """Trains `model` for `objective` as `options` say; `fit()` returns the `History`.

    `metric` is the evaluation metric to select and stop on: one with "loss" in its name, or an
    error ("mse", "mae"), is minimised, any other maximised. `output_dir` receives the resumable
    checkpoint and the history (None: nowhere).

    `on_improvement(model)` is called (first process only) each time the evaluation
    metric reaches a new best: the place to save the best model. `on_step(step)` is called
    after every optimizer step, once any checkpoint of that step is written.
    """

    def __init__(
        self,
        model: nn.Module,
        objective: Objective,
        options: TrainingOptions,
        metric: str = "loss",
        output_dir: str | Path | None = None,
        on_improvement: Callable[[nn.Module], None] | None = None,
        on_step: Callable[[int], None] | None = None,
    ):
        self.options, self.objective, self.metric = options, objective, metric
        self.higher_is_better = "loss" not in metric and metric not in ("mse", "mae")
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.on_improvement, self.on_step = on_improvement, on_step
        if options.threads:
            torch.set_num_threads(options.threads)  # on a shared machine, fewer threads than cores can be faster
        self.dist = init_distributed()
        default = torch.device("cuda", self.dist.local_rank) if torch.cuda.is_available() else torch.device("cpu")
        self.device = torch.device(options.device) if options.device is not None else default
        self.model = model.to(self.device)  # the bare model: what is evaluated and saved
        self.ddp = self.model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp = DistributedDataParallel(self.model, device_ids=ids)
        # "auto" picks bf16 autocast on GPUs that have bf16. On CPUs, even with AVX512-BF16, autocast's casts
        # cost more than they save at fine-tuning's batch sizes (measured in docs/finetuning.md): "bf16" forces it.
        auto_bf16 = self.device.type == "cuda" and torch.cuda.is_bf16_supported()
        self.bf16 = options.precision == "bf16" or (options.precision == "auto" and auto_bf16)
        # fused: one kernel for the whole update instead of a dozen passes over 22M+ parameters
        self.optimizer = torch.optim.AdamW(
            parameter_groups(self.model, options.weight_decay), lr=options.learning_rate, fused=True
        )
        self.checkpoint_dir = self.output_dir / "checkpoint" if self.output_dir else None

    # The plan of every epoch is fixed by the seed, so the total step count is known up front.
    def _steps_per_epoch(self, epoch: int) -> int:
        return math.ceil(len(self.objective.train_batches(epoch)) / self.options.accumulation)

    def fit(self) -> History:
        """Train (or, with `options.resume`, go on from the checkpoint in `output_dir`)."""
        options = self.options
        total = sum(self._steps_per_epoch(e) for e in range(options.epochs))
        if options.max_steps is not None:
            total = min(total, options.max_steps)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, warmup_then_linear_decay(total, round(options.warmup * total))
        )
        torch.manual_seed(options.seed + self.dist.rank)  # dropout differs across processes
        random.seed(options.seed + self.dist.rank)
        history, position = History(), {"epoch": 0, "batch": 0, "step": 0, "stale": 0}
        if options.resume:
            position = self._restore(scheduler, history)

        training_seconds, examples = 0.0, 0  # evaluation and checkpoint time left out
        step, stale = position["step"], position["stale"]
        for epoch in range(position["epoch"], options.epochs):
            batches = list(self.objective.train_batches(epoch))
            first = position["batch"] if epoch == position["epoch"] else 0
            bar = None
            if options.progress and self.dist.is_main:
                bar = tqdm(total=len(batches), initial=first, desc=f"epoch {epoch + 1}/{options.epochs}", unit="batch")
            for at in range(first, len(batches), options.accumulation):
                group = batches[at : at + options.accumulation]
                started = time.perf_counter()
                loss = self._step(group)
                scheduler.step()
                training_seconds += time.perf_counter() - started
                step += 1
                examples += sum(len(b) for b in group)
                rate = examples / max(1e-9, training_seconds)
                shown = self.objective.progress() if hasattr(self.objective, "progress") else {}  # optional metrics
                history.steps.append(
                    {"step": step, "epoch": epoch, "loss": loss, "lr": scheduler.get_last_lr()[0], **shown}
                )
                if bar is not None:
                    bar.set_postfix(
                        loss=f"{loss:.4f}", **{k: f"{v:.3f}" for k, v in shown.items()}, ex_per_s=f"{rate:.1f}"
                    )
                    bar.update(len(group))
                done = at + len(group)
                if options.save_every and step % options.save_every == 0 and done < len(batches):
                    self._save(scheduler, history, epoch, done, step, stale)
                if self.on_step is not None:
                    self.on_step(step)
                if options.max_steps is not None and step >= options.max_steps:
                    break
            if bar is not None:
                bar.close()
            history.examples_per_second = examples / max(1e-9, training_seconds)

            metrics = self._evaluate()
            entry = {"epoch": epoch, "step": step, **metrics}
            history.epochs.append(entry)
            if self._improved(metrics, history.best):
                history.best, stale = entry, 0
                if self.dist.is_main and self.on_improvement is not None:
                    self.on_improvement(self.model)
            else:
                stale += 1
            finished = options.max_steps is not None and step >= options.max_steps
            stop = options.patience is not None and stale >= options.patience
            self._save(scheduler, history, epoch + 1, 0, step, stale)
            if stop or finished:
                history.stopped_early = stop and epoch + 1 < options.epochs
                break
        self._write_history(history)
        return history

    def _step(self, group: list[list[int]]) -> float:
        """One optimizer step over the micro-batches of `group`; returns the mean loss."""
        self.ddp.train()
        self.optimizer.zero_grad(set_to_none=True)
        total_loss = torch.zeros((), dtype=torch.float64)
        total_items = torch.zeros((), dtype=torch.float64)
        for i, batch in enumerate(group):
            local = shard(batch, self.dist.rank, self.dist.world_size)
            weight = 1.0
            if not local:  # fewer examples than processes: run one, count nothing, so DDP syncs
                local, weight = batch[:1], 0.0
            sync = i == len(group) - 1 or not self.dist.enabled
            context = self.ddp.no_sync() if not sync else contextlib.nullcontext()
            with context:
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                    loss_sum, items = self.objective.loss(self.ddp, local)
                (loss_sum.float() * weight).backward()
            total_loss += loss_sum.detach().double().cpu() * weight
            total_items += float(items) * weight
        if self.dist.enabled:  # the step's item count (and loss) over all processes
            both = torch.stack([total_loss, total_items]).to(self.device if self.device.type == "cuda" else "cpu")
            dist.all_reduce(both)
            total_loss, total_items = both.cpu()
        # DDP averaged the gradients over processes; turn the sum into the mean over all items.
        scale = self.dist.world_size / max(1.0, float(total_items))
        for p in self.model.parameters():
            if p.grad is not None:
                p.grad.mul_(scale)
        if self.options.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.options.max_grad_norm)
        self.optimizer.step()
        return float(total_loss) / max(1.0, float(total_items))

    def _evaluate(self) -> dict[str, float]:
        metrics: dict = {}
        if self.dist.is_main:
            self.model.eval()
            with torch.no_grad(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                metrics = self.objective.evaluate(self.model)
        if self.dist.enabled:  # every process takes the same early-stopping decision
            shared = [metrics]
            dist.broadcast_object_list(shared, src=0)
            metrics = shared[0]
        if self.metric not in metrics:
            raise InputError(f"no metric {self.metric!r} in the evaluation; it reports {', '.join(metrics)}")
        return metrics

    def _improved(self, metrics: dict, best: dict | None) -> bool:
        if best is None:
            return True
        value, best_value = metrics[self.metric], best[self.metric]
        return value > best_value if self.higher_is_better else value < best_value

    # --- checkpoints ---------------------------------------------------------------------------

    def _save(self, scheduler, history: History, epoch: int, batch: int, step: int, stale: int) -> None:
        if self.checkpoint_dir is None:
            return
        rng = [rng_state()]
        if self.dist.enabled:
            rng = [None] * self.dist.world_size
            dist.all_gather_object(rng, rng_state())
        if self.dist.is_main:
            state = {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng,
                "epoch": epoch,
                "batch": batch,
                "step": step,
                "stale": stale,
                "world_size": self.dist.world_size,
                "history": json.dumps(dataclasses.asdict(history)),
            }
            write_state(self.checkpoint_dir, state)
            self._write_history(history)
        if self.dist.enabled:
            dist.barrier()

    def _restore(self, scheduler, history: History) -> dict:
        if self.checkpoint_dir is None:
            raise InputError("--resume needs an output directory holding a checkpoint")
        state = read_state(self.checkpoint_dir)
        if state["world_size"] != self.dist.world_size:
            raise CheckpointError(
                f"{self.checkpoint_dir}: written by {state['world_size']} processes, resumed with "
                f"{self.dist.world_size}; resume with the same number"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"][self.dist.rank])
        saved = json.loads(state["history"])
        history.steps, history.epochs, history.best = saved["steps"], saved["epochs"], saved["best"]
        return {k: state[k] for k in ("epoch", "batch", "step", "stale")}

    def _write_history(self, history: History) -> None:
        if self.output_dir is not None and self.dist.is_main:
            write_training_file(self.output_dir, "history.json", dataclasses.asdict(history))
