"""What a benchmark measures (:class:`BenchConfig`), checked before anything runs."""

from __future__ import annotations

import dataclasses
import math

from ...backend import get_backend
from ...data.augment import DISTORTION_KINDS
from ...models import get_model
from ...models.recipe import OPTIMIZERS
from ...training.placement import CpuPlan, default_threads, split_batch_problems, threads_per_rank
from . import autograd_twin
from .results import EPOCH_IMAGES


class BenchError(ValueError):
    """A benchmark configuration that cannot run; the message says why."""


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """What to measure. ``optimizer``/``lr`` of None take the model's recipe.

    ``epochs``, when set, replaces ``batches``: each repeat then times
    ``ceil(epochs × 60000 / batch_size)`` batches. ``devices``: lenet_xp runs on each, side
    by side (``cpu`` and ``torch:cpu``, or ``cuda`` and ``torch:cuda``), all on the hardware
    of the first, where the PyTorch twin runs too.
    """

    model: str = "lenet5"
    devices: tuple[str, ...] = ("cpu",)
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
    split_batch: bool | None = None  # None: split where a run would (placement.choose_split)
    ranks: int = 1  # MPI ranks lenet_xp runs on (the benchmark runs under mpiexec -n ranks)
    distort: str = "none"  # also time this distortion of a batch (lenet_xp.data.augment kinds)
    # also count the operations of one recipe training step per batch size, on the GPU's path
    # and the CPU's, after the timings (needs PyTorch: lenet_xp.tools.bench.launches)
    launches: bool = False

    @property
    def device(self) -> str:
        """The first device: the one whose hardware sets the threads and the twin's device."""
        return self.devices[0]

    @property
    def backend(self):
        """The first device's backend (its first GPU where the string names none)."""
        return get_backend(self.device)

    @property
    def total_threads(self) -> int | None:
        """The CPU threads of the whole benchmark: ``threads``; by default what a training run
        takes (:func:`lenet_xp.training.placement.default_threads`: every core where lenet_xp
        sets the backend's threads, else the libraries' own, None)."""
        return self.threads if self.threads is not None else default_threads(self.backend)

    @property
    def rank_threads(self) -> int | None:
        """lenet_xp's threads per rank: :attr:`total_threads` shared out between the ranks,
        by the rule of training runs (:func:`lenet_xp.training.placement.threads_per_rank`)."""
        return threads_per_rank(self.total_threads, self.ranks)

    @property
    def torch_threads(self) -> int | None:
        """PyTorch's intra-op threads: all of them (:attr:`total_threads`)."""
        return self.total_threads

    def cpu_plan(self, batch_size: int, backend=None) -> CpuPlan:
        """How each lenet_xp rank on ``backend`` (default: the first device's) uses its threads
        at ``batch_size``, as a training run would (:class:`lenet_xp.training.placement.CpuPlan`)."""
        return CpuPlan.choose(self.total_threads, self.ranks, batch_size,
                              backend or self.backend, self.split_batch)

    def workers(self, batch_size: int) -> int:
        """Threads that split each lenet_xp batch (a rank's share of it) across them (1: no
        split, BLAS threads do the work)."""
        return self.cpu_plan(batch_size).workers

    def blas_threads(self, batch_size: int) -> int | None:
        """numpy's BLAS threads: one per worker when batches are split, else ``rank_threads``."""
        return self.cpu_plan(batch_size).blas_threads

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
        if not self.devices:
            problems.append("no device to run on")
        elif len(set(self.devices)) < len(self.devices):
            problems.append(f"a device is named twice: {', '.join(self.devices)}")
        if self.ranks > 1 and len(self.devices) > 1:
            problems.append("--ranks runs one device at a time: give one --device")
        if self.optimizer is not None and self.optimizer not in OPTIMIZERS:
            problems.append(f"unknown optimizer {self.optimizer!r} (choose {', '.join(OPTIMIZERS)})")
        if self.lr is not None and not self.lr > 0:
            problems.append(f"lr must be > 0 (got {self.lr})")
        try:
            get_model(self.model)
        except KeyError as exc:
            raise BenchError(exc.args[0]) from None
        twins, optimizers = autograd_twin.TORCH_TWINS, autograd_twin.TORCH_OPTIMIZERS
        if self.vs_torch and self.model not in twins:
            problems.append(f"--vs-torch: no PyTorch twin of model {self.model!r} is written "
                            f"(twins: {', '.join(sorted(twins))})")
        if self.vs_torch and self.recipe_optimizer() not in optimizers:
            problems.append(f"--vs-torch: no PyTorch counterpart of optimizer "
                            f"{self.recipe_optimizer()!r} (have: {', '.join(optimizers)})")
        if problems:
            raise BenchError("; ".join(problems))
        backends = [get_backend(device) for device in self.devices]  # DeviceError for bad ones
        for backend in backends:
            backend.dtype(self.dtype)  # DeviceError / ValueError for bad ones
            if self.split_batch:
                problems += split_batch_problems(self.threads, backend)
        if len({(b.hardware, b.index) for b in backends}) > 1:
            problems.append("the devices run side by side on one piece of hardware (the "
                            f"PyTorch twin's too): {', '.join(self.devices)} are not")
        if problems:
            raise BenchError("; ".join(dict.fromkeys(problems)))

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
