"""The lenet_xp side of a benchmark: a freshly built model trained on synthetic batches made
once on the device, its steps and inference passes timed."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import array_api_compat
import numpy as np

from ...backend import Backend, Random, to_numpy
from ...data import DeviceDataset
from ...models import get_model
from ...models.recipe import make_optimizer
from ...training.communicators import SingleProcess
from ...training.data_parallel import shard
from ...training.step import TrainingStep
from ..timing import median_seconds
from .config import BenchConfig
from .machine import host_peak_rss_bytes
from .results import Repeat

ALLREDUCE_CALLS = 200  # all-reduces timed (after 20 untimed) for the cost per step


def synthetic_data(random: Random, batch_size: int, pool_batches: int, input_size: int,
                   num_classes: int, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Host images (B·pool, 1, S, S) ~ N(0, 1) and labels in [0, num_classes)."""
    n = batch_size * pool_batches
    images = random.host.standard_normal((n, 1, input_size, input_size)).astype(dtype)
    labels = random.host.integers(0, num_classes, size=n).astype(np.int64)
    return images, labels


class LenetRunner:
    """A lenet_xp model, loss, optimiser and on-device synthetic batches, trained by the step
    a training run would build (:class:`lenet_xp.training.step.TrainingStep`: split
    across threads, data-parallel over the MPI ranks of ``comm``), and inference on the
    rank's share of each batch. ``framework`` names it in the results."""

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
        self.device_name = backend.name
        self.plan = config.cpu_plan(batch_size, backend)
        self.workers = self.plan.workers
        self.step = TrainingStep(self.model, self.loss, self.comm, self.workers)
        self.share = slice(*shard(batch_size, self.comm.rank, self.comm.size))
        self.num_classes = spec.classes
        self.host_images, self.host_labels = synthetic_data(
            random, batch_size, pool_batches, spec.input_size, self.num_classes, config.dtype)
        images = backend.asarray(self.host_images, dtype=backend.dtype(config.dtype))
        labels = backend.asarray(self.host_labels, dtype=backend.xp.int64)
        self.batches = [(images[i * batch_size:(i + 1) * batch_size, ...],
                         labels[i * batch_size:(i + 1) * batch_size]) for i in range(pool_batches)]
        # Per-epoch hooks (SDLM's curvature estimate) run once here, untimed.
        self.optimizer.before_epoch(self.model, self.loss, DeviceDataset(images, labels, backend))
        self._pool_peak: int | None = None

    def initial_state(self) -> dict[str, np.ndarray]:
        """Host copies of the parameters, in order, for the twin to start from."""
        return {name: to_numpy(value) for name, value in self.model.state_dict().items()}

    def _step(self, x, y):
        _, batch_loss = self.step(x, y)
        self.optimizer.step()
        return batch_loss

    def close(self) -> None:
        self.step.close()

    def _median_seconds(self, work: Callable[[], object], warmup: int, calls: int) -> float:
        """:func:`~lenet_xp.tools.timing.median_seconds`, the device synchronised around each call."""
        return median_seconds(work, warmup, calls, sync=self.backend.synchronize)

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
        self.plan.apply(self.backend)
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

    def run(self, batches: int) -> Repeat:
        self.plan.apply(self.backend)  # the threads are the process's: the runners take turns
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
        return Repeat(self.batch_size, batches, train_seconds, inference_seconds, final_loss)

    def peak_memory(self) -> tuple[int, str]:
        if self._pool_peak is not None:
            return self._pool_peak, f"{self.backend.name} memory pool peak"
        return host_peak_rss_bytes(), "process peak RSS"
