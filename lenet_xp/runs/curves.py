"""A run's learning curves, and several runs compared, from the records of their
``metrics.jsonl`` (:mod:`lenet_xp.runs.metrics`); needs matplotlib (``lenet_xp[plot]``).

    >>> from lenet_xp.runs.curves import plot_learning_curves
    >>> from lenet_xp.runs.metrics import read_metrics
    >>> plot_learning_curves(read_metrics("runs/lenet5/metrics.jsonl"), "curves.png")

Each ``plot_*`` function writes one image to ``path`` (see :func:`lenet_xp.canvas.save_figure`)
and returns that path. Error rates are in percent, 100·(1 − accuracy), on log scales.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..canvas import new_figure, save_figure
from .metrics import epochs_of, last_test

TRAIN_LABEL = "training (mean during the epoch)"
VAL_LABEL = "validation (end of the epoch)"


def plot_learning_curves(records, path, title=None) -> Path:
    """Loss and error rate per epoch of one run, side by side, both on log scales.

    ``records``: the dicts of the run's ``metrics.jsonl`` in file order. Epoch records
    (0-based ``epoch``, ``train_loss``, ``train_accuracy``, ``val_loss`` and
    ``val_accuracy``, the latter two None without a validation set) give the curves, drawn
    against 1-based epochs; a test record (``test_accuracy``, ``epochs``) adds the test error
    as a horizontal line; other events are ignored (see :mod:`lenet_xp.runs.metrics`).
    """
    return save_figure(_learning_curves_figure(records, title), path)


def plot_runs(runs, path, title=None) -> Path:
    """Validation error (solid) and training error (dashed, same colour) per epoch of
    several runs on one log-scale axis; ``runs`` maps a label to that run's records (as for
    :func:`plot_learning_curves`). The legend gives each run's test error where recorded."""
    return save_figure(_runs_figure(runs, title), path)


# ---- figure builders (each returns the Figure, so tests can read its texts) ----------------

def _learning_curves_figure(records, title):
    run, test = _epoch_columns(records), last_test(records)
    fig = new_figure((10, 4))
    loss_ax, error_ax = fig.subplots(1, 2)
    epochs = run["epoch"]
    train_error, val_error = _error_percent(run["train_accuracy"]), _error_percent(run["val_accuracy"])

    loss_ax.plot(epochs, run["train_loss"], "o-", color="C0", label=TRAIN_LABEL)
    error_ax.plot(epochs, train_error, "o-", color="C0", label=TRAIN_LABEL)
    if not np.isnan(run["val_accuracy"]).all():
        loss_ax.plot(epochs, run["val_loss"], "s-", color="C1", label=VAL_LABEL)
        error_ax.plot(epochs, val_error, "s-", color="C1", label=VAL_LABEL)
    error_values = [train_error, val_error]
    if test is not None:
        test_error = 100 * (1 - test["test_accuracy"])
        # a line across the panel: the test set is measured once, on the final model
        error_ax.axhline(test_error, color="C3", linestyle=":", linewidth=2,
                         label=f"test, after {test.get('epochs', len(epochs))} epochs: "
                               f"{test_error:.2f} %")
        error_values.append(np.array([test_error]))
    _log_axis(loss_ax, [run["train_loss"], run["val_loss"]])
    _log_axis(error_ax, error_values)
    for ax, name, ylabel in ((loss_ax, "(a) loss", "loss (log scale)"),
                             (error_ax, "(b) error rate", "error, % (log scale)")):
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        _epoch_ticks(ax, epochs)
    # one legend for both panels, below them: it never hides a point, however few epochs
    fig.legend(handles=error_ax.get_lines(), loc="outside lower center", ncols=3, fontsize=9)
    fig.suptitle(title or f"Learning curves ({len(epochs)} epoch{'s' * (len(epochs) != 1)})")
    return fig


def _runs_figure(runs, title):
    from matplotlib.lines import Line2D

    if not runs:
        raise ValueError("plot_runs needs at least one run")
    fig = new_figure((9, 4.5))
    ax = fig.subplots()
    handles, values, last_epoch = [], [], 1
    for index, (label, records) in enumerate(runs.items()):
        try:
            run = _epoch_columns(records)
        except ValueError as exc:
            raise ValueError(f"run {label!r}: {exc}") from None
        test, colour = last_test(records), f"C{index % 10}"
        train_error = _error_percent(run["train_accuracy"])
        val_error = _error_percent(run["val_accuracy"])
        text = label if test is None else f"{label}: test {100 * (1 - test['test_accuracy']):.2f} %"
        ax.plot(run["epoch"], train_error, "--", color=colour, alpha=0.8)
        ax.plot(run["epoch"], val_error, "o-", color=colour, markersize=4)
        handles.append(Line2D([], [], color=colour, linewidth=4, label=text))
        values += [train_error, val_error]
        last_epoch = max(last_epoch, int(run["epoch"][-1]))
    handles += [Line2D([], [], color="0.4", marker="o", markersize=4, label="validation error"),
                Line2D([], [], color="0.4", linestyle="--", label="training error")]
    _log_axis(ax, values)
    _epoch_ticks(ax, np.arange(1, last_epoch + 1))
    ax.set_xlabel("epoch")
    ax.set_ylabel("error, % (log scale)")
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9)
    fig.suptitle(title or "Validation (solid) and training (dashed) error per epoch")
    return fig


# ---- helpers --------------------------------------------------------------------------------

def _epoch_columns(records) -> dict[str, np.ndarray]:
    """The epoch records as columns: ``epoch`` 1-based, the losses and accuracies as floats
    with NaN where a record has None (no validation set)."""
    epochs = epochs_of(records)
    if not epochs:
        raise ValueError("no epoch records to plot (has the run finished an epoch?)")
    columns = {"epoch": np.array([r["epoch"] + 1 for r in epochs])}
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        columns[key] = np.array([np.nan if r.get(key) is None else r[key] for r in epochs],
                                dtype=float)
    return columns


def _error_percent(accuracy: np.ndarray) -> np.ndarray:
    return 100 * (1 - accuracy)


def _log_axis(ax, series) -> None:
    """Log y scale with plain tick labels (0.5, 1, 2 rather than 10⁰): from the 1-2-5 series
    over 0.8 to 2.5 decades of data, powers of ten beyond, finer steps below. The limits pad
    the data by 5 % of their span (in decades), to at least 0.3 decade, so every axis holds
    a tick. Stays linear where no value is > 0."""
    values = np.concatenate([np.asarray(s, dtype=float).reshape(-1) for s in series])
    values = values[np.isfinite(values) & (values > 0)]
    if values.size == 0:
        return
    ax.set_yscale("log")
    low, high = math.log10(values.min()), math.log10(values.max())
    pad = max(0.05 * (high - low), (0.3 - (high - low)) / 2)
    low, high = low - pad, high + pad
    steps = ((1,) if high - low > 2.5 else (1, 2, 5) if high - low > 0.8
             else (1, 1.5, 2, 3, 5, 7))  # (the widest gap, 3 to 5, is 0.22 decade)
    ticks = [m * 10.0 ** e for e in range(math.floor(low), math.ceil(high) + 1) for m in steps]
    ticks = [t for t in ticks if low <= math.log10(t) <= high]
    ax.set_yticks(ticks, labels=[f"{t:g}" for t in ticks])
    ax.tick_params(axis="y", which="minor", labelleft=False)
    ax.set_ylim(10 ** low, 10 ** high)
    ax.grid(True, which="major", alpha=0.3)


def _epoch_ticks(ax, epochs) -> None:
    """Integer epoch ticks, every one up to 12 epochs; limits half an epoch beyond the ends."""
    from matplotlib.ticker import MaxNLocator

    last = int(np.max(epochs))
    if last <= 12:
        ax.set_xticks(range(1, last + 1))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0.5, last + 0.5)
