"""Training and inference speed of a model on a device, optionally against a PyTorch twin.

:func:`run_benchmark` trains a freshly built model on synthetic data (random images and labels,
made once on the device, so no MNIST is needed and no host-to-device copy is timed) and, for
each batch size, measures several repeats of:

- **training**: ``batches`` steps of forward, loss, backward and optimiser step (exactly the
  step of :func:`lenet_xp.train.train_epoch`, without its loss/accuracy bookkeeping), after
  ``warmup`` untimed steps (per-epoch optimiser hooks, SDLM's curvature estimate, run once
  before them and are not timed); reported as seconds per 60,000-image epoch (time per batch ×
  60000 / batch size) and images per second;
- **inference**: ``batches`` forward passes in evaluation mode (no caches kept);
- **peak memory**: on the CPU the process's peak resident set (``getrusage``; process-wide and
  never decreasing, so it includes everything run before, PyTorch too); on CUDA the peak held by
  CuPy's default memory pool (``total_bytes()``, which only grows until ``free_all_blocks``;
  freed before each batch size) and, for PyTorch, ``torch.cuda.max_memory_reserved``. On numpy
  it also records ``step_alloc_peak_bytes``: the peak of numpy allocations during one training
  step (``tracemalloc``, in a separate untimed step), which shows what the layers allocate.

The medians and spread (min–max and quartiles) of the repeats are reported. With
``vs_torch`` the same network, initial weights, data, batch size, optimiser and dtype run in
PyTorch in the same process, interleaved repeat by repeat (lenet_xp, torch, lenet_xp, ...), so
machine noise hits both alike; the ratio is lenet_xp's median epoch time over PyTorch's.

PyTorch is only a peer to measure against, never a dependency: it is imported inside
:func:`_import_torch`, only when asked for, and a missing torch is a note, not an error.
GPU facts (the memory pool, the GPU's name) come from :class:`lenet_xp.backend.Backend`.

Threads: ``threads`` sets ``torch.set_num_threads`` and, for each batch size, either numpy's
BLAS threads (:func:`lenet_xp.backend.limit_cpu_threads`) or, where lenet_xp splits the batch
(``split_batch`` True, or None and :func:`lenet_xp.parallel.choose_split` says so), that many
worker threads (:class:`lenet_xp.parallel.SplitBatch`) with one BLAS thread each: both
frameworks use the same number of cores. Each result records how lenet_xp used them.

MPI ranks: with ``ranks`` = N (the process one of N ranks, ``scripts/bench.py --ranks N``
launches them) lenet_xp's step is :class:`lenet_xp.distributed.DataParallel` over the ranks,
each with its share of the batch and ``threads`` // N threads (one by default); in each repeat
all ranks time it together, then rank 0 alone times the same model on one rank (the 1-rank
reference: speed-up and scaling efficiency T₁ / (N·T_N)) and PyTorch with ``threads`` (N by
default) threads, while the other ranks sleep. The all-reduce of one step's buffer is timed
on its own (median of 200 calls). Only rank 0 returns results.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import gc
import math
import os
import platform
import resource
import statistics
import sys
import time
from typing import Any, Callable

import array_api_compat
import numpy as np

from .backend import (THREAD_ENV_VARS, Backend, Random, blas_info, get_backend,
                      limit_cpu_threads, to_numpy)
from .data import DeviceDataset
from .data.distort import DISTORTION_KINDS, Distortion
from .distributed import DataParallel, SingleProcess, create_communicator, rank_device, shard
from .models import get_model
from .parallel import SplitBatch, choose_split, forward_backward, split_batch_problems
from .recipe import OPTIMIZERS, make_optimizer

EPOCH_IMAGES = 60_000
"""Images in one epoch (MNIST's training set), for the seconds-per-epoch extrapolation."""

POOL_BATCHES = 8
"""Distinct synthetic batches made per batch size; the timed loop cycles through them."""

TORCH_VERSION_HINT = "pip install torch==2.13.0 for the comparison"
ONE_RANK = "lenet_xp_1rank"  # the framework name of the 1-rank reference in a run on ranks
ALLREDUCE_CALLS = 200  # all-reduces timed (after 20 untimed) for the cost per step


class BenchError(ValueError):
    """A benchmark configuration that cannot run; the message says why."""


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """What to measure. ``optimizer``/``lr`` of None take the model's recipe.

    ``epochs``, when set, replaces ``batches``: each repeat then times
    ``ceil(epochs × 60000 / batch_size)`` batches.
    """

    model: str = "lenet5"
    device: str = "cpu"
    batch_sizes: tuple[int, ...] = (64, 256)
    batches: int = 200
    epochs: float | None = None
    warmup: int = 20
    repeats: int = 5
    dtype: str = "float32"
    optimizer: str | None = None
    lr: float | None = None
    threads: int | None = None
    seed: int = 0
    vs_torch: bool = False
    split_batch: bool | None = None  # None: split where lenet_xp.parallel.choose_split says
    ranks: int = 1  # MPI ranks lenet_xp runs on (the benchmark runs under mpiexec -n ranks)
    distort: str = "none"  # also time this distortion of a batch (lenet_xp.data.distort kinds)

    @property
    def on_cpu(self) -> bool:
        return self.device.strip().lower() == "cpu"

    @property
    def rank_threads(self) -> int | None:
        """lenet_xp's threads per rank: ``threads`` on one rank; on several, ``threads`` (all
        of them by default, one per rank) shared out between the ranks."""
        if self.ranks == 1:
            return self.threads
        return max(1, (self.threads or self.ranks) // self.ranks)

    @property
    def torch_threads(self) -> int | None:
        """PyTorch's intra-op threads: ``threads``, or one per rank when ranks are used."""
        return self.threads if self.ranks == 1 else (self.threads or self.ranks)

    def workers(self, batch_size: int) -> int:
        """Threads that split each lenet_xp batch (a rank's share of it) across them (1: no
        split, BLAS threads do the work)."""
        split = choose_split(self.split_batch, self.rank_threads, batch_size // self.ranks,
                             self.device)
        return (self.rank_threads or 1) if split else 1

    def blas_threads(self, batch_size: int) -> int | None:
        """numpy's BLAS threads: one per worker when batches are split, else ``rank_threads``."""
        return 1 if self.workers(batch_size) > 1 else self.rank_threads

    def validate(self) -> None:
        """Raise :class:`BenchError` (or the device's DeviceError) for anything that cannot run."""
        problems = []
        if not self.batch_sizes or any(int(b) < 1 for b in self.batch_sizes):
            problems.append(f"batch sizes must be >= 1 (got {list(self.batch_sizes)})")
        if self.epochs is None and self.batches < 1:
            problems.append(f"batches must be >= 1 (got {self.batches})")
        if self.epochs is not None and not self.epochs > 0:
            problems.append(f"epochs must be > 0 (got {self.epochs})")
        if self.warmup < 0:
            problems.append(f"warmup must be >= 0 (got {self.warmup})")
        if self.repeats < 1:
            problems.append(f"repeats must be >= 1 (got {self.repeats})")
        if self.threads is not None and self.threads < 1:
            problems.append(f"threads must be >= 1 (got {self.threads})")
        if self.distort not in DISTORTION_KINDS:
            problems.append(f"unknown distortion {self.distort!r} (choose "
                            f"{', '.join(DISTORTION_KINDS)})")
        if self.ranks < 1:
            problems.append(f"ranks must be >= 1 (got {self.ranks})")
        if self.ranks > 1 and any(int(b) < self.ranks for b in self.batch_sizes):
            problems.append(f"every batch size must be >= the {self.ranks} ranks sharing it")
        if self.split_batch:
            problems += split_batch_problems(self.threads, self.device)
        if self.optimizer is not None and self.optimizer not in OPTIMIZERS:
            problems.append(f"unknown optimizer {self.optimizer!r} (choose {', '.join(OPTIMIZERS)})")
        if self.lr is not None and not self.lr > 0:
            problems.append(f"lr must be > 0 (got {self.lr})")
        try:
            get_model(self.model)
        except KeyError as exc:
            raise BenchError(exc.args[0]) from None
        if self.vs_torch and self.model not in TORCH_TWINS:
            problems.append(f"--vs-torch: no PyTorch twin of model {self.model!r} is written "
                            f"(twins: {', '.join(sorted(TORCH_TWINS))})")
        if self.vs_torch and self.recipe_optimizer() not in TORCH_OPTIMIZERS:
            problems.append(f"--vs-torch: no PyTorch counterpart of optimizer "
                            f"{self.recipe_optimizer()!r} (have: {', '.join(TORCH_OPTIMIZERS)})")
        if problems:
            raise BenchError("; ".join(problems))
        get_backend(self.device).dtype(self.dtype)  # DeviceError / ValueError for bad ones

    def recipe(self):
        """The model's recipe with this config's optimizer and lr."""
        recipe = get_model(self.model).recipe
        changes = {k: v for k, v in (("optimizer", self.optimizer), ("lr", self.lr)) if v is not None}
        return recipe.replace(**changes) if changes else recipe

    def recipe_optimizer(self) -> str:
        return self.optimizer or get_model(self.model).recipe.optimizer

    def timed_batches(self, batch_size: int) -> int:
        if self.epochs is not None:
            return max(1, math.ceil(self.epochs * EPOCH_IMAGES / batch_size))
        return self.batches


# ---------------------------------------------------------------------------------------------
# Results


@dataclasses.dataclass(frozen=True)
class Timing:
    """One repeat: ``batches`` training steps and ``batches`` inference passes."""

    batch_size: int
    batches: int
    train_seconds: float
    inference_seconds: float
    final_loss: float

    @property
    def epoch_seconds(self) -> float:
        return self.train_seconds / self.batches * EPOCH_IMAGES / self.batch_size

    @property
    def images_per_second(self) -> float:
        return self.batches * self.batch_size / self.train_seconds

    @property
    def inference_images_per_second(self) -> float:
        return self.batches * self.batch_size / self.inference_seconds

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "epoch_seconds": self.epoch_seconds,
                "images_per_second": self.images_per_second,
                "inference_images_per_second": self.inference_images_per_second}


@dataclasses.dataclass(frozen=True)
class Spread:
    """Median, extremes and quartiles of repeated measurements."""

    median: float
    min: float
    max: float
    q1: float
    q3: float

    @classmethod
    def of(cls, values) -> "Spread":
        values = sorted(float(v) for v in values)
        if not values:
            raise ValueError("no values to summarise")
        if len(values) == 1:
            q1 = q3 = values[0]
        else:
            q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
        return cls(statistics.median(values), values[0], values[-1], q1, q3)

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1


@dataclasses.dataclass
class FrameworkResult:
    """One framework's repeats at one batch size, with their summaries."""

    framework: str  # "lenet_xp" or "torch"
    timings: list[Timing]
    peak_memory_bytes: int | None
    peak_memory_kind: str
    step_alloc_peak_bytes: int | None = None

    @property
    def epoch_seconds(self) -> Spread:
        return Spread.of(t.epoch_seconds for t in self.timings)

    @property
    def images_per_second(self) -> Spread:
        return Spread.of(t.images_per_second for t in self.timings)

    @property
    def inference_images_per_second(self) -> Spread:
        return Spread.of(t.inference_images_per_second for t in self.timings)

    def to_dict(self) -> dict:
        return {"framework": self.framework,
                "epoch_seconds": dataclasses.asdict(self.epoch_seconds),
                "images_per_second": dataclasses.asdict(self.images_per_second),
                "inference_images_per_second": dataclasses.asdict(self.inference_images_per_second),
                "peak_memory_bytes": self.peak_memory_bytes,
                "peak_memory_kind": self.peak_memory_kind,
                "step_alloc_peak_bytes": self.step_alloc_peak_bytes,
                "repeats": [t.to_dict() for t in self.timings]}


@dataclasses.dataclass
class BatchResult:
    batch_size: int
    timed_batches: int
    lenet_xp: FrameworkResult
    torch: FrameworkResult | None = None
    workers: int = 1  # threads each lenet_xp batch (a rank's share) was split across
    ranks: int = 1  # MPI ranks lenet_xp ran on
    one_rank: FrameworkResult | None = None  # several ranks: lenet_xp on rank 0 alone
    allreduce_us: float | None = None  # several ranks: one step's all-reduce, median µs
    distort_ms: float | None = None  # config.distort: distorting one batch, median ms

    def step_seconds(self, result: FrameworkResult) -> float:
        """``result``'s median seconds per training step (from its median epoch time)."""
        return result.epoch_seconds.median * self.batch_size / EPOCH_IMAGES

    @property
    def scaling_efficiency(self) -> float | None:
        """T₁ / (N·T_N): 1 when N ranks are N times as fast as one (several ranks only)."""
        if self.one_rank is None:
            return None
        return (self.one_rank.epoch_seconds.median
                / (self.ranks * self.lenet_xp.epoch_seconds.median))

    @property
    def allreduce_share(self) -> float | None:
        """The all-reduce's part of the median step time (several ranks only)."""
        if self.allreduce_us is None:
            return None
        return self.allreduce_us / (1e6 * self.step_seconds(self.lenet_xp))

    @property
    def distort_share(self) -> float | None:
        """Distorting a batch over a lenet_xp training step (one process's step)."""
        if self.distort_ms is None:
            return None
        return self.distort_ms / (1e3 * self.step_seconds(self.one_rank or self.lenet_xp))

    @property
    def ratio(self) -> float | None:
        """lenet_xp's median epoch time / PyTorch's (> 1: lenet_xp is slower)."""
        if self.torch is None:
            return None
        return self.lenet_xp.epoch_seconds.median / self.torch.epoch_seconds.median

    @property
    def inference_ratio(self) -> float | None:
        """PyTorch's median inference throughput / lenet_xp's (same sense as ``ratio``)."""
        if self.torch is None:
            return None
        return (self.torch.inference_images_per_second.median
                / self.lenet_xp.inference_images_per_second.median)

    def to_dict(self) -> dict:
        return {"batch_size": self.batch_size, "timed_batches": self.timed_batches,
                "workers": self.workers, "lenet_xp": self.lenet_xp.to_dict(),
                "torch": self.torch.to_dict() if self.torch else None,
                "ratio_epoch_seconds": self.ratio, "ratio_inference": self.inference_ratio,
                "ranks": self.ranks,
                "one_rank": self.one_rank.to_dict() if self.one_rank else None,
                "scaling_efficiency": self.scaling_efficiency,
                "allreduce_us": self.allreduce_us, "allreduce_share": self.allreduce_share,
                "distort_ms": self.distort_ms, "distort_share": self.distort_share}


@dataclasses.dataclass
class BenchReport:
    config: BenchConfig
    machine: dict
    results: list[BatchResult]
    notes: list[str]

    def to_dict(self) -> dict:
        config = dataclasses.asdict(self.config)
        config["batch_sizes"] = list(self.config.batch_sizes)
        config["recipe"] = self.config.recipe().to_dict()
        return {"lenet_xp_bench": 1, "machine": self.machine, "config": config,
                "epoch_images": EPOCH_IMAGES, "results": [r.to_dict() for r in self.results],
                "notes": self.notes}


# ---------------------------------------------------------------------------------------------
# Machine description and threads


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _blas() -> dict:
    """numpy's BLAS and its live thread count; numpy's build record when threadpoolctl sees none."""
    blas = blas_info()
    if blas["name"] is not None:
        return blas
    try:
        built = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return {"name": built.get("name"), "version": built.get("version"), "threads": None}
    except Exception:  # old numpy or an unusual build: the version line still says enough
        return blas


def machine_info(backend: Backend | None = None, torch=None) -> dict:
    """A JSON-able description of where the numbers were taken."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": _cpu_model(), "cpu_count": os.cpu_count(), "usable_cpus": usable,
        "platform": platform.platform(), "python": platform.python_version(),
        "numpy": np.__version__, "blas": _blas(),
        "thread_env": {k: os.environ[k] for k in THREAD_ENV_VARS if k in os.environ},
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "torch": None, "torch_threads": None, "gpu": None,
    }
    if torch is not None:
        info["torch"], info["torch_threads"] = torch.__version__, torch.get_num_threads()
    if backend is not None:
        info.update(backend.describe())
    return info


def _busy_note() -> str | None:
    """A warning when other processes already keep the usable cores busy (noisy timings)."""
    if not hasattr(os, "getloadavg"):
        return None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    load = os.getloadavg()[0]
    if load < usable - 0.5:
        return None
    return (f"the 1-minute load average was {load:.1f} on {usable} usable core(s) before the "
            "run: other processes compete for the CPU, so timings are noisy, and multi-threaded "
            "OpenMP pools (PyTorch on the CPU above all) can slow down sharply; --threads 1 "
            "or an idle machine gives steadier numbers")


# ---------------------------------------------------------------------------------------------
# Runners: one model, optimiser and synthetic data set per framework and batch size


def _host_peak_rss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)  # bytes on macOS, KiB on Linux


def synthetic_data(random: Random, batch_size: int, pool_batches: int, input_size: int,
                   num_classes: int, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Host images (B·pool, 1, S, S) ~ N(0, 1) and labels in [0, num_classes)."""
    n = batch_size * pool_batches
    images = random.host.standard_normal((n, 1, input_size, input_size)).astype(dtype)
    labels = random.host.integers(0, num_classes, size=n).astype(np.int64)
    return images, labels


class LenetRunner:
    """A lenet_xp model, loss, optimiser and on-device synthetic batches; on several MPI ranks
    (``comm``) a :class:`lenet_xp.distributed.DataParallel` step, and inference on the rank's
    share of each batch. ``framework`` names it in the results."""

    def __init__(self, config: BenchConfig, backend: Backend, batch_size: int, random: Random,
                 pool_batches: int, comm=None, framework: str = "lenet_xp"):
        self.framework = framework
        self.comm = comm or SingleProcess()
        spec = get_model(config.model)
        self.backend, self.batch_size = backend, batch_size
        self.model = spec.build(random, config.dtype).to(backend)
        self.model.train()
        self.loss = spec.loss()
        self.optimizer = make_optimizer(config.recipe(), self.model.parameters())
        self.dtype = config.dtype
        self.workers = workers = config.workers(batch_size)
        self.split = SplitBatch(self.model, self.loss, workers) if workers > 1 else None
        self.forward_backward = self.split or functools.partial(forward_backward, self.model,
                                                                self.loss)
        if self.comm.size > 1:
            self.forward_backward = DataParallel(self.model, self.loss, self.comm,
                                                 inner=self.split)
        self.share = slice(*shard(batch_size, self.comm.rank, self.comm.size))
        probe = backend.asarray(np.zeros((1, 1, spec.input_size, spec.input_size)),
                                dtype=backend.dtype(config.dtype))
        self.model.eval()
        self.num_classes = int(self.model.forward(probe).shape[1])
        self.model.train()
        self.host_images, self.host_labels = synthetic_data(
            random, batch_size, pool_batches, spec.input_size, self.num_classes, config.dtype)
        images = backend.asarray(self.host_images, dtype=backend.dtype(config.dtype))
        labels = backend.asarray(self.host_labels, dtype=backend.xp.int64)
        self.batches = [(images[i * batch_size:(i + 1) * batch_size, ...],
                         labels[i * batch_size:(i + 1) * batch_size]) for i in range(pool_batches)]
        # Per-epoch hooks (SDLM's curvature estimate) run once here, untimed.
        self.optimizer.before_epoch(self.model, self.loss, DeviceDataset(images, labels, backend))
        self._pool_peak = None

    def initial_state(self) -> dict[str, np.ndarray]:
        """Host copies of the parameters, in order, for the twin to start from."""
        return {name: to_numpy(value) for name, value in self.model.state_dict().items()}

    def _step(self, x, y):
        _, batch_loss = self.forward_backward(x, y)
        self.optimizer.step()
        return batch_loss

    def close(self) -> None:
        if self.split is not None:
            self.split.close()

    def _median_seconds(self, work: Callable[[], object], warmup: int, calls: int) -> float:
        """Median seconds of ``work()`` over ``calls`` timed calls after ``warmup`` untimed
        ones, the device synchronised around each."""
        sync, times = self.backend.synchronize, []
        for call in range(warmup + calls):
            sync()
            start = time.perf_counter()
            work()
            sync()
            if call >= warmup:
                times.append(time.perf_counter() - start)
        return statistics.median(times)

    def distortion_milliseconds(self, distortion, random: Random, calls: int = 50) -> float:
        """Median ms of ``distortion`` on one batch (after 5 untimed calls), on the device."""
        images = self.batches[0][0]
        return 1e3 * self._median_seconds(lambda: distortion(images, random), 5, calls)

    def allreduce_microseconds(self) -> float:
        """Median µs of one all-reduce of a step's buffer (every gradient, the loss and the
        batch's (N, K) outputs), on every rank together."""
        xp = self.backend.xp
        n = sum(math.prod(p.data.shape) for p in self.model.parameters().values())
        n += 1 + self.batch_size * self.num_classes
        buffer = xp.zeros((n,), dtype=self.backend.dtype(self.dtype), device=self.backend.device)
        return 1e6 * self._median_seconds(lambda: self.comm.allreduce(buffer), 20, ALLREDUCE_CALLS)

    def _note_memory(self) -> None:
        pool = self.backend.memory_pool_bytes()
        if pool is not None:
            self._pool_peak = max(self._pool_peak or 0, pool)

    def warm_up(self, steps: int) -> None:
        for i in range(steps):
            self._step(*self.batches[i % len(self.batches)])
        self.backend.synchronize()
        self._note_memory()

    def step_alloc_peak_bytes(self) -> int | None:
        """Peak numpy allocation during one (untimed) training step, by tracemalloc; numpy only."""
        if not array_api_compat.is_numpy_array(self.batches[0][0]):
            return None
        import tracemalloc

        if tracemalloc.is_tracing():
            return None
        tracemalloc.start()
        try:
            self._step(*self.batches[0])
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return int(peak)

    def run(self, batches: int) -> Timing:
        sync, pool = self.backend.synchronize, self.batches
        sync()
        start = time.perf_counter()
        for i in range(batches):
            batch_loss = self._step(*pool[i % len(pool)])
        sync()
        train_seconds = time.perf_counter() - start
        self._note_memory()
        final_loss = float(batch_loss)
        self.model.eval()
        sync()
        start = time.perf_counter()
        for i in range(batches):
            self.model.forward(pool[i % len(pool)][0][self.share, ...])
        sync()
        inference_seconds = time.perf_counter() - start
        self.model.train()
        self._note_memory()
        return Timing(self.batch_size, batches, train_seconds, inference_seconds, final_loss)

    def peak_memory(self) -> tuple[int, str]:
        if self._pool_peak is not None:
            return self._pool_peak, "CuPy memory pool peak"
        return _host_peak_rss_bytes(), "process peak RSS"


# ---------------------------------------------------------------------------------------------
# PyTorch: imported lazily, only with --vs-torch


def _import_torch():
    """The torch module, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def torch_lenet5(torch):
    """The modern LeNet-5 of :mod:`lenet_xp.models.lenet5` in PyTorch, layer for layer (ReLU
    after max-pooling there too, so both frameworks do the same work)."""
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(6, 16, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(16, 120, 5), nn.ReLU(), nn.Flatten(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )


TORCH_TWINS: dict[str, Callable] = {"lenet5": torch_lenet5}
"""Model name -> ``build(torch) -> torch.nn.Module`` with the same parameters in the same order
(shapes checked when lenet_xp's initial weights are copied in); its loss is cross-entropy."""


def _torch_optimizer(torch, model, recipe):
    """The recipe's optimiser in PyTorch, with L2 decay on weights only, as lenet_xp does."""
    params = list(model.parameters())
    groups = [{"params": [p for p in params if p.ndim > 1], "weight_decay": recipe.weight_decay},
              {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}]
    return TORCH_OPTIMIZERS[recipe.optimizer](torch, groups, recipe)


TORCH_OPTIMIZERS = {
    "sgd": lambda torch, groups, r: torch.optim.SGD(groups, lr=r.lr, momentum=r.momentum,
                                                    nesterov=r.nesterov),
    "adam": lambda torch, groups, r: torch.optim.Adam(groups, lr=r.lr),
    "adagrad": lambda torch, groups, r: torch.optim.Adagrad(groups, lr=r.lr),
}


def torch_device(torch, device: str) -> tuple[Any, str | None]:
    """(torch device, None) for a lenet_xp device string, or (None, why not)."""
    if device.strip().lower().startswith("cuda"):
        if not torch.cuda.is_available():
            return None, (f"this PyTorch ({torch.__version__}) sees no CUDA GPU, so the "
                          "comparison on the GPU is skipped")
        return torch.device(device.strip().lower()), None
    return torch.device("cpu"), None


class TorchRunner:
    """The PyTorch twin of a :class:`LenetRunner`: same weights, data, optimiser and dtype."""

    framework = "torch"

    def __init__(self, torch, device, config: BenchConfig, twin_of: LenetRunner):
        self.torch, self.device, self.batch_size = torch, device, twin_of.batch_size
        dtype = getattr(torch, config.dtype)
        self.model = TORCH_TWINS[config.model](torch).to(device=device, dtype=dtype)
        load_twin_weights(torch, self.model, twin_of.initial_state())
        self.model.train()
        self.optimizer = _torch_optimizer(torch, self.model, config.recipe())
        self.loss = torch.nn.CrossEntropyLoss()
        images = torch.from_numpy(twin_of.host_images).to(device=device, dtype=dtype)
        labels = torch.from_numpy(twin_of.host_labels).to(device=device)
        b = self.batch_size
        self.batches = [(images[i * b:(i + 1) * b], labels[i * b:(i + 1) * b])
                        for i in range(len(twin_of.batches))]
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)

    def close(self) -> None:
        """Nothing to release (the twin has no worker threads)."""

    def _sync(self):
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def _step(self, x, y):
        self.optimizer.zero_grad(set_to_none=True)
        batch_loss = self.loss(self.model(x), y)
        batch_loss.backward()
        self.optimizer.step()
        return batch_loss

    def warm_up(self, steps: int) -> None:
        for i in range(steps):
            self._step(*self.batches[i % len(self.batches)])
        self._sync()

    def run(self, batches: int) -> Timing:
        pool = self.batches
        self._sync()
        start = time.perf_counter()
        for i in range(batches):
            batch_loss = self._step(*pool[i % len(pool)])
        self._sync()
        train_seconds = time.perf_counter() - start
        final_loss = float(batch_loss.item())
        self.model.eval()
        with self.torch.inference_mode():
            self._sync()
            start = time.perf_counter()
            for i in range(batches):
                self.model(pool[i % len(pool)][0])
            self._sync()
            inference_seconds = time.perf_counter() - start
        self.model.train()
        return Timing(self.batch_size, batches, train_seconds, inference_seconds, final_loss)

    def peak_memory(self) -> tuple[int, str]:
        if self.device.type == "cuda":
            return int(self.torch.cuda.max_memory_reserved(self.device)), "torch CUDA reserved peak"
        return _host_peak_rss_bytes(), "process peak RSS"


def load_twin_weights(torch, module, state: dict[str, np.ndarray]) -> None:
    """Copy lenet_xp's parameters, in order, into the PyTorch twin's (same shapes required)."""
    params = list(module.parameters())
    values = list(state.values())
    if len(params) != len(values):
        raise BenchError(f"the PyTorch twin has {len(params)} parameters, lenet_xp's model "
                         f"{len(values)}")
    with torch.no_grad():
        for (name, value), param in zip(state.items(), params):
            if tuple(param.shape) != tuple(value.shape):
                raise BenchError(f"twin parameter for {name} has shape {tuple(param.shape)}, "
                                 f"lenet_xp's {tuple(value.shape)}")
            param.copy_(torch.from_numpy(np.ascontiguousarray(value)))


# ---------------------------------------------------------------------------------------------
# The benchmark


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_benchmark(config: BenchConfig, progress: Callable[[str], None] | None = _stderr) -> BenchReport:
    """Measure ``config`` (see the module docstring); ``progress`` gets one line per step.

    With ``config.ranks`` > 1 the process must be one of that many MPI ranks: every rank runs
    the data-parallel step together, then rank 0 alone runs the 1-rank reference and PyTorch
    while the others wait asleep; only rank 0 reports (the others return its config and no
    results).

    Raises:
        BenchError, DeviceError, ValueError: a configuration that cannot run (checked first).
    """
    config.validate()
    comm = _communicator(config)
    lead = comm.rank == 0
    say = (progress or (lambda message: None)) if lead else (lambda message: None)
    notes: list[str] = []
    backend = get_backend(rank_device(config.device))
    busy = _busy_note() if lead else None
    if busy:
        notes.append(busy)
        say(f"note: {busy}")
    torch, torch_dev = _torch_peer(config, notes, say) if lead else (None, None)
    machine = machine_info(backend, torch)  # before any batch size changes the BLAS threads
    if config.ranks > 1:
        machine["mpi_ranks"] = config.ranks

    results = [_bench_batch_size(config, comm, backend, batch_size, torch, torch_dev, notes, say)
               for batch_size in config.batch_sizes]
    if not lead:
        return BenchReport(config, machine, [], notes)
    if backend.is_cuda is False and any(r.torch for r in results):
        notes.append("peak mem on the CPU is the whole process's peak RSS (lenet_xp and "
                     "PyTorch together, all batch sizes so far)")
    return BenchReport(config, machine, results, notes)


def _communicator(config: BenchConfig):
    """MPI's communicator for a run on ``config.ranks`` ranks (checked), else SingleProcess."""
    comm = create_communicator() if config.ranks > 1 else SingleProcess()
    if comm.size != config.ranks:
        raise BenchError(f"ranks={config.ranks} but this process is one of {comm.size} MPI "
                         f"rank(s): launch it with mpiexec -n {config.ranks} (scripts/bench.py "
                         "--ranks does)")
    return comm


def _torch_peer(config: BenchConfig, notes: list[str], say) -> tuple[Any, Any]:
    """(torch, torch device) for ``--vs-torch``, or (None, None) with a note saying why not."""
    if not config.vs_torch:
        return None, None
    torch = _import_torch()
    if torch is None:
        notes.append(f"--vs-torch skipped: PyTorch is not installed ({TORCH_VERSION_HINT})")
        say(notes[-1])
        return None, None
    if config.torch_threads is not None:
        torch.set_num_threads(config.torch_threads)
    torch_dev, why = torch_device(torch, config.device)
    if torch_dev is None:
        notes.append(f"--vs-torch skipped: {why}")
        say(notes[-1])
        return None, None
    return torch, torch_dev


def _bench_batch_size(config: BenchConfig, comm, backend: Backend, batch_size: int, torch,
                      torch_dev, notes: list[str], say) -> BatchResult | None:
    """Every repeat at one batch size: the (data-parallel) lenet_xp runner on all ranks, then,
    on rank 0 alone, the 1-rank reference (several ranks only) and PyTorch."""
    batches = config.timed_batches(batch_size)
    pool_batches = max(1, min(POOL_BATCHES, batches + config.warmup))
    gc.collect()
    backend.free_memory_pool()
    blas_threads = config.blas_threads(batch_size)
    if blas_threads is not None:
        limit_cpu_threads(blas_threads)
    lenet = LenetRunner(config, backend, batch_size, Random(config.seed), pool_batches, comm)
    solo: list = []  # what rank 0 runs alone while the other ranks sleep
    if comm.rank == 0 and comm.size > 1:
        one_rank = dataclasses.replace(config, ranks=1, threads=config.rank_threads)
        solo.append(LenetRunner(one_rank, backend, batch_size, Random(config.seed), pool_batches,
                                framework=ONE_RANK))
    if torch is not None:
        if config.torch_threads is not None:  # limit_cpu_threads resizes its pool too
            torch.set_num_threads(config.torch_threads)
        solo.append(TorchRunner(torch, torch_dev, config, twin_of=lenet))
    say(f"batch {batch_size}: warm-up {config.warmup} batches, then {config.repeats} "
        f"repeats of {batches} batches" + (f" on {comm.size} ranks" if comm.size > 1 else ""))
    for runner in [lenet, *solo]:
        runner.warm_up(config.warmup)
    step_alloc = lenet.step_alloc_peak_bytes()
    allreduce_us = lenet.allreduce_microseconds() if comm.size > 1 else None
    distort_ms = None
    if config.distort != "none" and comm.rank == 0:
        distort_ms = lenet.distortion_milliseconds(Distortion(config.distort), Random(config.seed))
    comm.idle_barrier()
    timings: dict[str, list[Timing]] = {runner.framework: [] for runner in [lenet, *solo]}
    for repeat in range(config.repeats):
        parts = []
        for runner in [lenet, *solo]:  # interleaved, so that machine noise hits all alike
            timing = runner.run(batches)
            timings[runner.framework].append(timing)
            parts.append(f"{runner.framework} {timing.epoch_seconds:.2f} s/epoch")
            if not math.isfinite(timing.final_loss):
                notes.append(f"{runner.framework}, batch {batch_size}: the training loss "
                             f"became {timing.final_loss} (the timing is still valid)")
        comm.idle_barrier()
        say(f"batch {batch_size}: repeat {repeat + 1}/{config.repeats}: " + ", ".join(parts))
    results = {}
    for runner in [lenet, *solo]:
        memory, kind = runner.peak_memory()
        results[runner.framework] = FrameworkResult(runner.framework, timings[runner.framework],
                                                    memory, kind,
                                                    step_alloc if runner is lenet else None)
        runner.close()
    if comm.rank != 0:
        return None
    return BatchResult(batch_size, batches, results["lenet_xp"], results.get("torch"),
                       lenet.workers, ranks=comm.size, one_rank=results.get(ONE_RANK),
                       allreduce_us=allreduce_us, distort_ms=distort_ms)


# ---------------------------------------------------------------------------------------------
# Output


def _mib(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 2**20:,.1f} MiB"


def _spread(s: Spread) -> str:
    digits = 2 if s.max < 100 else 1
    return f"{s.median:.{digits}f} [{s.min:.{digits}f}–{s.max:.{digits}f}]"


def header_line(report: BenchReport) -> str:
    m = report.machine
    blas = m["blas"]
    blas_text = " ".join(str(v) for v in (blas.get("name"), blas.get("version")) if v) or "BLAS ?"
    if blas.get("threads"):
        blas_text += f", threads={blas['threads']}"
    cores = f"{m['cpu_count']} cores" + (f", {m['usable_cpus']} usable"
                                         if m["usable_cpus"] != m["cpu_count"] else "")
    torch_text = (f"torch {m['torch']} (threads={m['torch_threads']})" if m["torch"]
                  else "torch not used")
    parts = [m["date"], f"{m['cpu']} ({cores})"]
    if m.get("gpu"):
        parts.append(f"{m['gpu']} (CuPy {m.get('cupy')})")
    parts += [m["platform"], f"Python {m['python']}", f"numpy {m['numpy']} ({blas_text})",
              torch_text]
    return "# " + " | ".join(parts)


def _threads_cell(config: BenchConfig, result: BatchResult) -> str:
    ranks = f"{result.ranks} ranks × " if result.ranks > 1 else ""
    if result.workers > 1:
        return f"{ranks}split {result.workers}"
    if not config.on_cpu:
        return ranks.removesuffix(" × ") or "-"
    threads = config.rank_threads
    return ranks + (f"BLAS {threads}" if threads is not None else "BLAS")


def _ranks_lines(report: BenchReport) -> list[str]:
    """Scaling from 1 rank to N and the all-reduce's cost, per batch size (runs on ranks)."""
    lines = []
    for r in report.results:
        if r.one_rank is None:
            continue
        lines.append(f"batch {r.batch_size} on {r.ranks} ranks: {_spread(r.lenet_xp.epoch_seconds)}"
                     f" s/epoch; 1 rank alone {_spread(r.one_rank.epoch_seconds)} s/epoch; "
                     f"speed-up {r.one_rank.epoch_seconds.median / r.lenet_xp.epoch_seconds.median:.2f}"
                     f", scaling efficiency {r.scaling_efficiency:.2f}; all-reduce "
                     f"{r.allreduce_us:,.0f} µs a step ({100 * r.allreduce_share:.0f} % of it)")
    return lines


def format_report(report: BenchReport) -> str:
    """The header lines, the table, and the notes, as printed by scripts/bench.py."""
    c = report.config
    recipe = c.recipe()
    size = (f"{c.epochs:g} epoch(s)" if c.epochs is not None else f"{c.batches} batches")
    lines = [header_line(report),
             f"# {c.model} on {c.device}, {c.dtype}, {recipe.optimizer} lr {recipe.lr:g}"
             + f"; {c.repeats} repeats of {size} after {c.warmup} warm-up batches"
             + (", interleaved with PyTorch" if any(r.torch for r in report.results) else "")
             + f"; epoch s = time per batch × {EPOCH_IMAGES:,} / batch; spread = min–max", ""]
    head = ["model", "device", "batch", "threads", "epoch s median [min–max]", "img/s",
            "infer img/s", "peak mem", "torch epoch s [min–max]", "ratio"]
    rows = []
    for r in report.results:
        x = r.lenet_xp
        rows.append([c.model, c.device, str(r.batch_size), _threads_cell(c, r),
                     _spread(x.epoch_seconds),
                     f"{x.images_per_second.median:,.0f}",
                     f"{x.inference_images_per_second.median:,.0f}", _mib(x.peak_memory_bytes),
                     _spread(r.torch.epoch_seconds) if r.torch else "n/a",
                     f"{r.ratio:.2f}" if r.ratio is not None else "n/a"])
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    right = {2, 5, 6, 7, 9}
    for row in [head, *rows]:
        lines.append("  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                               for i, (cell, w) in enumerate(zip(row, widths))).rstrip())
    if any(r.torch for r in report.results):
        lines.append("")
        lines.append("ratio = lenet_xp / PyTorch median epoch time (> 1: lenet_xp slower). PyTorch: "
                     + "; ".join(f"batch {r.batch_size}: {r.torch.images_per_second.median:,.0f} "
                                 f"img/s, infer {r.torch.inference_images_per_second.median:,.0f} "
                                 f"img/s, peak {_mib(r.torch.peak_memory_bytes)}"
                                 for r in report.results if r.torch))
    lines += _ranks_lines(report)
    for r in report.results:
        if r.distort_ms is not None:
            lines.append(f"distortion {c.distort}: {r.distort_ms:.2f} ms a batch of {r.batch_size}"
                         f" ({100 * r.distort_share:.0f} % of a training step)")
    if c.on_cpu:
        lines.append("threads: how lenet_xp used the CPU threads, BLAS N (matrix products) or "
                     "split N (each batch split across N threads, one BLAS thread each)")
    kinds = sorted({r.lenet_xp.peak_memory_kind for r in report.results})
    lines.append(f"peak mem: {', '.join(kinds)}")
    traced = [r for r in report.results if r.lenet_xp.step_alloc_peak_bytes is not None]
    if traced:
        lines.append("lenet_xp numpy allocations in one training step (tracemalloc peak): "
                     + "; ".join(f"batch {r.batch_size}: {_mib(r.lenet_xp.step_alloc_peak_bytes)}"
                                 for r in traced))
    for note in report.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)
