"""How many operations one training step launches, counted on PyTorch's CPU tensors.

On a GPU every array operation is a kernel launch, a few microseconds whatever its size, so a
small network's step costs what it launches. PyTorch shows every operation it runs to a
``TorchDispatchMode``; :class:`OperationCounter` counts the aten operations that compute (a
kernel on a GPU), leaving out views (``view``, ``slice``, ``permute``, ``expand``, ...) and
the two that only allocate or relabel memory (:data:`NO_KERNEL`). It also records the
operations a GPU pays for in another way: those whose output shape depends on the data
(:data:`DATA_DEPENDENT`, boolean-mask indexing: the device must tell the host a count), host
reads (:data:`HOST_READS`: ``.item()``, ``float(x)``), each a wait for the device's queue,
and host data made a tensor (:data:`HOST_COPIES`: on CUDA a copy the host waits for).

:func:`count_step` builds a zoo model with its recipe on ``torch:cpu``, runs a few steps,
then counts one: the batch's shifts and distortions, forward, loss, backward, the optimiser
and the moving average. By default the backend is told to take the GPU's choices
(:attr:`lenet_xp.backend.Backend.launch_bound`), so the count is what a CUDA run launches;
``launch_bound=False`` counts the CPU's path. ``scripts/bench.py`` prints the counts
(``--launches``), tests/test_tools_bench_launches.py holds them, docs/benchmarks.md tabulates them.

PyTorch is imported only here, only when asked for (it is the benchmark's peer, never a
dependency).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses

from ...backend import Random, get_backend
from ...data import DeviceDataset
from ...models import get_model
from ...models.recipe import make_augmentation, make_average, make_optimizer

#: non-view aten operations that launch no kernel: allocation, and a reshape's relabelling
NO_KERNEL = frozenset({"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided",
                       "_unsafe_view", "lift_fresh"})
#: aten operations whose output shape depends on the values: the host must learn a count
DATA_DEPENDENT = frozenset({"nonzero", "nonzero_static", "masked_select", "masked_scatter",
                            "unique", "_unique", "_unique2", "unique_consecutive", "unique_dim",
                            "argwhere", "repeat_interleave"})
#: aten operations that read a value back to the host
HOST_READS = frozenset({"_local_scalar_dense", "item"})
#: aten operations that make host data (a numpy array, a Python number) a tensor
HOST_COPIES = frozenset({"lift_fresh"})

#: the models the issue counted, with their recipes' batch sizes, and the goals it set
COUNTED = {"lenet5": 64, "bn_cnn": 128, "simard_cnn": 32, "deep_cnn": 100}
GOALS = {"lenet5": 150, "bn_cnn": 300}

PHASES = ("distortion", "forward", "loss", "backward", "optimizer", "average")


def _name(func) -> str:
    return func.overloadpacket.__name__


def _boolean_index(func, args) -> bool:
    """An ``index``/``index_put`` whose indices hold a boolean mask (a data-dependent shape)."""
    if _name(func) not in ("index", "index_put", "index_put_", "_index_put_impl_"):
        return False
    indices = args[1] if len(args) > 1 else ()
    return any(index is not None and getattr(index, "dtype", None) is not None
               and str(index.dtype) == "torch.bool" for index in indices)


def operation_counter(torch):
    """A fresh :class:`OperationCounter` (the class is made once torch is imported)."""
    return _counter_class(torch)()


@dataclasses.dataclass
class _Tally:
    """What an OperationCounter saw: every counted operation by name and phase, and the
    data-dependent ones, host reads and host copies by name."""

    operations: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    phases: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    data_dependent: list = dataclasses.field(default_factory=list)
    host_reads: list = dataclasses.field(default_factory=list)
    host_copies: list = dataclasses.field(default_factory=list)


_CLASSES: dict = {}


def _counter_class(torch):
    if "counter" in _CLASSES:
        return _CLASSES["counter"]
    from torch.utils._python_dispatch import TorchDispatchMode

    class OperationCounter(TorchDispatchMode):
        """Counts the aten operations that launch a kernel (module docstring), by name and by
        the phase named with :meth:`phase`; ``total`` is their number."""

        def __init__(self):
            super().__init__()
            self.tally = _Tally()
            self._phase = "other"

        @property
        def total(self) -> int:
            return sum(self.tally.operations.values())

        @contextlib.contextmanager
        def phase(self, name: str):
            """Count what runs inside the block as phase ``name``."""
            before, self._phase = self._phase, name
            try:
                yield
            finally:
                self._phase = before

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = _name(func)
            if name in DATA_DEPENDENT or _boolean_index(func, args):
                self.tally.data_dependent.append(name)
            if name in HOST_READS:
                self.tally.host_reads.append(name)
            if name in HOST_COPIES:
                self.tally.host_copies.append(name)
            if not func.is_view and name not in NO_KERNEL:
                self.tally.operations[name] += 1
                self.tally.phases[self._phase] += 1
            return func(*args, **(kwargs or {}))

    _CLASSES["counter"] = OperationCounter
    return OperationCounter


@dataclasses.dataclass(frozen=True)
class StepCount:
    """The operations of one training step of ``model`` at ``batch_size``: ``total``, per
    phase (:data:`PHASES`) and per aten operation, and the data-dependent operations, host
    reads and host copies seen (all should be empty). ``launch_bound``: counted on the GPU's
    path."""

    model: str
    batch_size: int
    launch_bound: bool
    total: int
    phases: dict
    operations: dict
    data_dependent: tuple
    host_reads: tuple
    host_copies: tuple


@contextlib.contextmanager
def gpu_choices(backend, launch_bound: bool = True):
    """Within the block ``backend`` takes the GPU's choices (or the CPU's, with False)."""
    before, backend.launch_bound = backend.launch_bound, launch_bound
    try:
        yield backend
    finally:
        backend.launch_bound = before


class RecipeStep:
    """One training step of zoo model ``name`` with its recipe on ``backend``, on a synthetic
    batch of ``batch_size`` (the recipe's by default): the shifts and distortions, forward,
    loss, backward, optimiser step and moving average, as a training run takes them.
    ``run(phase)`` runs one step, naming each part with ``phase(name)`` (a context manager)."""

    def __init__(self, name: str, backend, batch_size: int | None = None, seed: int = 0):
        spec = get_model(name)
        self.recipe = recipe = spec.recipe
        self.batch_size = batch_size or recipe.batch_size
        self.random = random = Random(seed)
        self.model = spec.make(random).to(backend)
        self.loss = spec.loss()
        self.optimizer = make_optimizer(recipe, self.model.parameters(), random)
        self.average = make_average(recipe, self.model)
        self.augment = make_augmentation(recipe, random) or (lambda x: x)
        size = (self.batch_size, 1, spec.input_size, spec.input_size)
        self.images = random.normal(backend, size)
        self.labels = backend.asarray(random.integers(0, 10, self.batch_size), dtype=backend.xp.int64)
        self.optimizer.before_epoch(self.model, self.loss,
                                    DeviceDataset(self.images, self.labels, backend))
        self.model.train()

    def run(self, phase=lambda name: contextlib.nullcontext()) -> None:
        with phase("distortion"):
            x = self.augment(self.images)
        with phase("forward"):
            outputs = self.model.forward(x)
        with phase("loss"):
            self.loss.forward(outputs, self.labels)
            dy = self.loss.backward()
        with phase("backward"):
            self.model.backward(dy)
        with phase("optimizer"):
            self.optimizer.step()
        if self.average is not None:
            with phase("average"):
                self.average.update()


def count_step(name: str, batch_size: int | None = None, *, launch_bound: bool = True,
               warmup: int = 2, seed: int = 0) -> StepCount:
    """Count the operations of one training step of zoo model ``name`` with its recipe (see
    :class:`RecipeStep`) on ``torch:cpu``, after ``warmup`` steps (an optimiser's state and
    the layers' caches are made at the first), taking the GPU's choices where
    ``launch_bound``. Raises ImportError (or DeviceError) without PyTorch."""
    import torch

    backend = get_backend("torch:cpu")
    with gpu_choices(backend, launch_bound):
        step = RecipeStep(name, backend, batch_size, seed)
        for _ in range(warmup):
            step.run()
        counter = operation_counter(torch)
        with counter:
            step.run(counter.phase)
    tally = counter.tally
    return StepCount(name, step.batch_size, launch_bound, counter.total,
                     {phase: tally.phases.get(phase, 0) for phase in PHASES},
                     dict(tally.operations.most_common()), tuple(tally.data_dependent),
                     tuple(tally.host_reads), tuple(tally.host_copies))


def format_counts(counts: list[StepCount], cpu_counts: list[StepCount] | None = None) -> str:
    """A table of step counts (the GPU's path): one line per model, with its phases, and the
    CPU path's total from ``cpu_counts`` (the same models, in order) where given."""
    cpu = [count.total for count in cpu_counts] if cpu_counts else [None] * len(counts)
    width = max([5, *(len(count.model) for count in counts)])
    lines = [("operations per training step with the model's recipe, counted on torch:cpu "
              "(total and phases: the GPU's path; cpu: the CPU's path)"),
             f"  {'model':<{width}} {'batch':>5} {'total':>6}  " + " ".join(f"{p:>10}" for p in PHASES)
             + ("  " + f"{'cpu':>5}" if cpu_counts else "")]
    for count, cpu_total in zip(counts, cpu, strict=True):
        goal = GOALS.get(count.model)
        lines.append(f"  {count.model:<{width}} {count.batch_size:>5} {count.total:>6}  "
                     + " ".join(f"{count.phases[p]:>10}" for p in PHASES)
                     + (f"  {cpu_total:>5}" if cpu_total is not None else "")
                     + (f"   (goal <= {goal})" if goal else ""))
    return "\n".join(lines)


__all__ = ["COUNTED", "DATA_DEPENDENT", "GOALS", "HOST_COPIES", "HOST_READS", "NO_KERNEL", "PHASES",
           "RecipeStep", "StepCount", "count_step", "format_counts", "gpu_choices",
           "operation_counter"]
