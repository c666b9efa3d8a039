"""One training run from start to finish: data, model, recipe, loop, test, files.

``scripts/train.py`` parses flags into a :class:`RunConfig` and calls :func:`run`. The output
folder receives ``metrics.jsonl`` (one JSON object per epoch, then the test result),
``checkpoint.npz`` (weights, optimiser and RNG state after the last good epoch) and
``model.npz`` (the final weights), all written atomically.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable

from . import __version__
from .backend import Random, get_backend, limit_cpu_threads
from .checkpoint import save_checkpoint
from .data import prepare_mnist, random_shift
from .models import get_model
from .parallel import SplitBatch, choose_split, split_batch_problems
from .recipe import make_optimizer, make_schedule
from .train import EpochStats, evaluate, fit


@dataclasses.dataclass
class RunConfig:
    """Everything a run depends on. ``recipe`` holds overrides of the model's default recipe."""

    model: str = "lenet5"
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0
    data_dir: str | None = None
    val_size: int = 5000
    out: str | None = "runs/lenet5"
    recipe: dict = dataclasses.field(default_factory=dict)
    verify: bool = True
    download: bool = True
    train_limit: int | None = None  # train on the first N training images only (quick checks)
    progress: bool = True
    threads: int | None = None  # CPU threads (BLAS threads, or SplitBatch workers); None: BLAS default
    # Split each batch across `threads` threads (True), leave them to BLAS (False), or choose
    # by batch size (None: lenet_xp.parallel.choose_split).
    split_batch: bool | None = None


@dataclasses.dataclass
class RunResult:
    history: list[EpochStats]
    test_loss: float
    test_accuracy: float
    out: Path | None


def run(config: RunConfig, log: Callable[[str], None] = print) -> RunResult:
    """Train ``config.model`` on MNIST and evaluate it on the test set.

    Raises DeviceError (bad device or no GPU), DataError (missing or corrupt data),
    KeyError (unknown model), ValueError (bad recipe) before any training starts.
    """
    spec = get_model(config.model)
    recipe = spec.recipe.replace(**config.recipe)
    backend = get_backend(config.device)
    backend.dtype(config.dtype)
    problems = split_batch_problems(config.threads, backend.name) if config.split_batch else []
    if problems:
        raise ValueError("; ".join(problems))
    split_batch = choose_split(config.split_batch, config.threads, recipe.batch_size, backend.name)
    if config.threads is not None:
        limit_cpu_threads(1 if split_batch else config.threads)
    random = Random(config.seed)

    train_set, val_set, test_set = prepare_mnist(
        backend, config.data_dir, val_size=config.val_size, normalisation=spec.normalisation,
        pad_to=spec.input_size if spec.input_size != 28 else None, seed=config.seed,
        dtype=config.dtype, verify=config.verify, download=config.download)
    if config.train_limit is not None:
        train_set = dataclasses.replace(train_set, images=train_set.images[:config.train_limit, ...],
                                        labels=train_set.labels[:config.train_limit])

    model = spec.build(random, config.dtype).to(backend)
    loss = spec.loss()
    optimizer = make_optimizer(recipe, model.parameters(), random)
    log(f"lenet_xp {__version__}: {spec.name} ({model.num_parameters():,} parameters) on "
        f"{backend.name}, {config.dtype}, seed {config.seed}")
    log(f"data: {len(train_set):,} train / {len(val_set) if val_set else 0:,} validation / "
        f"{len(test_set):,} test images, {spec.normalisation} normalisation")
    log("recipe: " + ", ".join(f"{k}={v}" for k, v in recipe.to_dict().items()))
    if config.threads is not None:
        log(f"CPU threads: {config.threads}, " + ("each batch split across them" if split_batch
                                                  else "in the BLAS matrix products"))

    out = Path(config.out) if config.out else None
    meta = {"model": spec.name, "lenet_xp_version": __version__, "recipe": recipe.to_dict(),
            "config": dataclasses.asdict(config),
            "data": {"normalisation": spec.normalisation, "input_size": spec.input_size,
                     "pixel_stats": (dataclasses.asdict(train_set.pixel_stats)
                                     if train_set.pixel_stats is not None else None)}}
    metrics_path = None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        metrics_path = out / "metrics.jsonl"
        metrics_path.write_text("")

    def on_epoch(stats: EpochStats) -> None:
        log(stats.line(recipe.epochs))
        if out is not None:
            _append_json(metrics_path, {"event": "epoch", **dataclasses.asdict(stats)})
            save_checkpoint(out / "checkpoint.npz", model,
                            {**meta, "epoch": stats.epoch + 1, "rng_state": random.state(),
                             "metrics": dataclasses.asdict(stats)}, optimizer)

    augment = (lambda x: random_shift(x, recipe.shift, random)) if recipe.shift else None
    split = SplitBatch(model, loss, config.threads, random) if split_batch else None
    try:
        history = fit(model, loss, optimizer, make_schedule(recipe), train_set, val_set,
                      epochs=recipe.epochs, batch_size=recipe.batch_size, random=random,
                      patience=recipe.patience, augment=augment, forward_backward=split,
                      progress=config.progress, on_epoch=on_epoch)
    finally:
        if split is not None:
            split.close()
    test_loss, test_accuracy = evaluate(model, loss, test_set)
    log(f"test accuracy {100 * test_accuracy:.2f}% (error {100 * (1 - test_accuracy):.2f}%, "
        f"loss {test_loss:.4f}) after {len(history)} epochs, "
        f"{history[-1].elapsed:.1f} s of training")
    if out is not None:
        result = {"test_loss": test_loss, "test_accuracy": test_accuracy, "epochs": len(history)}
        _append_json(metrics_path, {"event": "test", **result})
        save_checkpoint(out / "model.npz", model, {**meta, "epoch": len(history), **result})
        log(f"wrote {out / 'model.npz'} and {metrics_path}")
    return RunResult(history, test_loss, test_accuracy, out)


def _append_json(path: Path, record: dict) -> None:
    with path.open("a") as file:
        file.write(json.dumps(record) + "\n")
