"""PNG figures of a training run: loss and evaluation curves, the confusion matrix (classes) or
predicted against true scores (regression).

matplotlib figures made without pyplot (written by its Agg renderer), so plotting works on a
server with no display and leaves a notebook's own pyplot state alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class _Figures:
    """The two pyplot calls these plots make, on `matplotlib.figure.Figure` objects: no backend is
    switched and no global state touched, so a notebook's own `plt.show()` keeps working after a
    training run (PNG files are written by Agg whatever the backend)."""

    @staticmethod
    def subplots(*args, figsize=None, **kwargs):
        from matplotlib.figure import Figure

        figure = Figure(figsize=figsize)
        return figure, figure.subplots(*args, **kwargs)

    @staticmethod
    def MaxNLocator(*args, **kwargs):  # noqa: N802  (pyplot's name)
        from matplotlib.ticker import MaxNLocator

        return MaxNLocator(*args, **kwargs)

    @staticmethod
    def close(figure) -> None:  # nothing holds a pyplot-free figure: it goes with its last reference
        pass


def _pyplot() -> type[_Figures]:
    return _Figures


def _save(plt, figure, path: str | Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)


def training_curves(history: dict, metric: str, path: str | Path) -> Path:
    """Training loss per step (left) and the evaluation loss and `metric` per epoch (right)."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    steps = history["steps"]
    left.plot([s["step"] for s in steps], [s["loss"] for s in steps], linewidth=0.8, label="training loss")
    left.set(xlabel="optimizer step", ylabel="loss", title="training loss")
    epochs = history["epochs"]
    numbers = [e["epoch"] + 1 for e in epochs]
    if epochs and "loss" in epochs[0]:
        right.plot(numbers, [e["loss"] for e in epochs], "o-", label="evaluation loss")
    if metric != "loss" and epochs:
        twin = right.twinx()
        twin.plot(numbers, [e[metric] for e in epochs], "s-", color="tab:green", label=metric)
        twin.set_ylabel(metric)
        twin.legend(loc="upper right")
    right.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    right.set(xlabel="epoch", ylabel="loss", title="evaluation")
    right.legend(loc="upper left")
    return _save(plt, figure, path)


def confusion_matrix(matrix: Sequence[Sequence[int]], labels: Sequence[str], path: str | Path) -> Path:
    """Rows: true label; columns: predicted label; each cell with its count."""
    plt = _pyplot()
    size = max(4.0, 0.6 * len(labels) + 2)
    figure, axes = plt.subplots(figsize=(size, size))
    image = axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels=labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels=labels)
    axes.set(xlabel="predicted", ylabel="true", title="confusion matrix")
    top = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            axes.text(j, i, str(count), ha="center", va="center", color="white" if count > top / 2 else "black")
    figure.colorbar(image, ax=axes, fraction=0.046)
    return _save(plt, figure, path)


def scatter(gold: Sequence[float], predicted: Sequence[float], metrics: dict, path: str | Path) -> Path:
    """Each evaluation example's predicted score against its true one, with the diagonal."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.scatter(gold, predicted, s=6, alpha=0.4)
    low, high = min(min(gold), min(predicted)), max(max(gold), max(predicted))
    axes.plot([low, high], [low, high], color="gray", linewidth=0.8)
    title = f"spearman {metrics['spearman']:.3f}  pearson {metrics['pearson']:.3f}  mse {metrics['mse']:.3f}"
    axes.set(xlabel="true score", ylabel="predicted score", title=title)
    return _save(plt, figure, path)


def pretraining_curves(history: dict, path: str | Path) -> Path:
    """MLM and NSP loss per step (left); MLM and NSP accuracy per step, running averages, with
    the held-out figures of each evaluation as markers (right). Reads the step entries that
    `bertkit.train.pretrain.PretrainingObjective.progress` adds to the history."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    steps = history["steps"]
    x = [s["step"] for s in steps]
    left.plot(x, [s["loss"] for s in steps], linewidth=0.6, alpha=0.5, label="training loss (MLM + NSP)")
    if steps and "mlm_loss" in steps[0]:
        left.plot(x, [s["mlm_loss"] for s in steps], linewidth=1.2, label="MLM loss (running)")
    evaluations = history["epochs"]
    left.plot([e["step"] for e in evaluations], [e["mlm_loss"] for e in evaluations], "o", label="held-out MLM loss")
    left.set(xlabel="optimizer step", ylabel="loss", title="loss")
    left.legend()
    for key, held_out, label in (("mlm_acc", "mlm_accuracy", "MLM"), ("nsp_acc", "nsp_accuracy", "NSP")):
        if steps and key in steps[0]:
            (line,) = right.plot(x, [s[key] for s in steps], linewidth=1.2, label=f"{label} accuracy (running)")
            points = [(e["step"], e[held_out]) for e in evaluations if held_out in e]
            if points:
                right.plot(*zip(*points), "o", color=line.get_color(), label=f"held-out {label} accuracy")
    right.set(xlabel="optimizer step", ylabel="accuracy", ylim=(0, 1), title="accuracy")
    right.legend()
    return _save(plt, figure, path)
