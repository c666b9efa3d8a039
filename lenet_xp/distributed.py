"""Data-parallel training on MPI ranks: every core, every GPU, every host.

Launch any lenet_xp script under MPI (``mpiexec -n 2 python scripts/train.py ...``, or let
``scripts/train.py --ranks 2`` do it) and the run is shared out, ChainerMN's way:

- every rank holds the whole (small) dataset and the same :class:`Random` state, so all
  ranks draw the same global batches, shifts and SDLM samples; each takes its share of every
  global batch (the recipe's batch size stays the global one, so N ranks take the steps of
  one process, up to float rounding);
- :class:`DataParallel` is the training step: the share's forward and backward pass, then one
  all-reduce of one flat buffer that holds the weighted gradients, the weighted loss and the
  share's outputs (so every rank gets the whole batch's outputs for its accuracy count);
- weights start identical (rank 0's are broadcast), evaluation is sharded and its sums
  reduced, dropout draws a stream of its own per rank (:meth:`Random.spawn` with key = rank);
- batch normalisation normalises each rank's share by the share's own statistics, as PyTorch's
  DistributedDataParallel does without SyncBatchNorm (so N ranks no longer take exactly the
  steps of one process); rank 0's running statistics are the ones saved, and they are
  broadcast before every sharded evaluation, so that all ranks score the saved model;
- only rank 0 prints and writes files.

Arrays cross ranks through the host: a CPU rank hands its numpy buffer to MPI directly; a
device buffer (CuPy, array_api_strict's device1) is copied to the host, reduced, and copied
back. The communicator is chosen once, at start (:func:`create_communicator`); the training
loop does not know there are ranks.
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import sys
import time
from pathlib import Path

from array_api_compat import array_namespace, device

from .backend import Random, backend_of, to_numpy
from .parallel import forward_backward
from .train import evaluate_sums

#: environment variables by which the MPI launchers tell a process its rank count
SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MV2_COMM_WORLD_SIZE")
#: ... its rank
RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "MV2_COMM_WORLD_RANK")
#: ... and its rank among the ranks of its host (one GPU per local rank)
LOCAL_RANK_VARIABLES = ("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "MV2_COMM_WORLD_LOCAL_RANK")
ABORT_GRACE_S = 1.0  # seconds between a failed rank's last message and the end of the job
MPI_INSTALL_HINT = "pip install \"lenet_xp[mpi]\" (mpi4py with MPICH, no system MPI needed)"


class SingleProcess:
    """The communicator of a run without MPI: one rank, nothing to exchange."""

    rank, size = 0, 1

    def allreduce(self, buffer):
        return buffer

    def broadcast(self, buffer):
        return buffer

    def abort(self, code: int = 1) -> None:
        raise SystemExit(code)

    def idle_barrier(self) -> None:
        """Nothing to wait for."""


class MPICommunicator:
    """``MPI.COMM_WORLD`` through mpi4py; buffers are 1-D float arrays of any backend."""

    def __init__(self):
        from mpi4py import MPI

        self._mpi, self._comm = MPI, MPI.COMM_WORLD
        self.rank, self.size = self._comm.Get_rank(), self._comm.Get_size()

    def allreduce(self, buffer):
        """The element-wise sum of every rank's ``buffer``, on ``buffer``'s device (a numpy
        buffer is reduced in place)."""
        host = self._host(buffer)
        self._comm.Allreduce(self._mpi.IN_PLACE, host, op=self._mpi.SUM)
        return self._back(host, buffer)

    def broadcast(self, buffer):
        """Rank 0's ``buffer`` on every rank."""
        host = self._host(buffer)
        self._comm.Bcast(host, root=0)
        return self._back(host, buffer)

    @staticmethod
    def _host(buffer):
        host = to_numpy(buffer)  # the buffer itself on the CPU, a host copy of a device buffer
        return host if host.flags.writeable and host.flags.c_contiguous else host.copy()

    @staticmethod
    def _back(host, buffer):
        return buffer if host is buffer else backend_of(buffer).asarray(host, dtype=buffer.dtype)

    def abort(self, code: int = 1) -> None:
        """Stop every rank now (a rank that failed must not leave the others waiting)."""
        abort_all(code)

    def idle_barrier(self, poll_s: float = 0.002) -> None:
        """Wait for every rank, asleep: MPI's own barrier spins a core, which would slow down
        what one rank does alone meanwhile (the benchmark's single-rank and PyTorch runs)."""
        request = self._comm.Ibarrier()
        while not request.Test():
            time.sleep(poll_s)


def launched_ranks() -> int:
    """How many ranks the MPI launcher started (1 when not launched by one)."""
    return _launcher_number(SIZE_VARIABLES, 1)


def launched_rank() -> int:
    """This process's rank, from the MPI launcher (0 when not launched by one)."""
    return _launcher_number(RANK_VARIABLES, 0)


def local_rank() -> int:
    """This process's rank among the ranks on its host, from the launcher (0 without MPI)."""
    return _launcher_number(LOCAL_RANK_VARIABLES, 0)


def _launcher_number(names, default: int) -> int:
    for name in names:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return default


def abort_all(code: int = 1) -> None:
    """End every rank of this MPI job at once (MPI_Abort; no collective call, so it works
    while the other ranks wait in one), after giving the launcher a moment to pass on what
    this rank printed (it drops output still in flight when the job is ended)."""
    from mpi4py import MPI

    sys.stdout.flush()
    sys.stderr.flush()
    time.sleep(ABORT_GRACE_S)
    MPI.COMM_WORLD.Abort(code)


def create_communicator():
    """MPI's communicator when this process is one of several MPI ranks, else a
    :class:`SingleProcess`. Raises RuntimeError with the fix when mpi4py is missing."""
    if launched_ranks() <= 1:
        return SingleProcess()
    try:
        import mpi4py  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(f"launched on {launched_ranks()} MPI ranks, but mpi4py is not "
                           f"installed: {MPI_INSTALL_HINT}") from exc
    return MPICommunicator()


def rank_device(device: str) -> str:
    """One GPU per rank: ``cuda`` becomes ``cuda:{local rank}`` under MPI; others unchanged."""
    return f"cuda:{local_rank()}" if device.strip().lower() == "cuda" and launched_ranks() > 1 else device


def shard(n: int, rank: int, size: int) -> tuple[int, int]:
    """Rank ``rank``'s share [start, stop) of n items: contiguous, sizes differ by at most 1."""
    return n * rank // size, n * (rank + 1) // size


class DataParallel:
    """A training step over ranks: ``step(x, y) -> (outputs, batch_loss)`` on the global batch
    x (N, ...) and y (N,), as :func:`lenet_xp.parallel.forward_backward` on one process.

    Rank r runs its share x[a:b] and weights its gradients by (b − a)/N; one all-reduce sums
    the weighted gradients (the gradient of the global mean loss), the weighted losses (the
    global mean loss) and the outputs (each rank fills its rows of an (N, K) block, the
    others are 0). Builds with rank 0's weights broadcast to all. ``inner`` computes the
    share's pass (default one :func:`lenet_xp.parallel.forward_backward`; a
    :class:`lenet_xp.parallel.SplitBatch` to split it across the rank's threads). Call :meth:`separate_streams` first where the model
    draws random numbers (dropout), or every rank draws the same masks for its share.
    """

    def __init__(self, model, loss, communicator, inner=None):
        self.model, self.loss, self.comm = model, loss, communicator
        self.inner = inner or functools.partial(forward_backward, model, loss)
        self.params = list(model.parameters().values())
        for param in self.params:
            param.data[...] = communicator.broadcast(param.data)

    @staticmethod
    def separate_streams(model, rank: int) -> None:
        """Give each random layer (dropout) of ``model`` a stream of its own on this rank,
        spawned from its stream with key ``rank`` and re-seeded from it every epoch."""
        for layer in model.layers:
            if isinstance(getattr(layer, "random", None), Random):
                layer.random = layer.random.spawn(key=rank)

    def __call__(self, x, y):
        xp = array_namespace(x)
        n, size = x.shape[0], self.comm.size
        if n < size:
            raise ValueError(f"a batch of {n} cannot be shared by {size} ranks: use a batch size "
                             f"of at least {size} (and a dataset whose last batch is too)")
        start, stop = shard(n, self.comm.rank, size)
        outputs, batch_loss = self.inner(x[start:stop, ...], y[start:stop])
        weight = (stop - start) / n
        k = outputs.shape[1]
        where = device(x)
        block = [xp.zeros((start * k,), dtype=outputs.dtype, device=where),
                 xp.reshape(outputs, (-1,)),
                 xp.zeros(((n - stop) * k,), dtype=outputs.dtype, device=where)]
        parts = [xp.reshape(param.grad * weight, (-1,)) for param in self.params]
        parts += [xp.reshape(batch_loss * weight, (1,)), *block]
        total = self.comm.allreduce(xp.concat(parts))
        offset = 0
        for param in self.params:
            size = math.prod(param.data.shape)
            param.grad = xp.reshape(total[offset:offset + size], param.data.shape)
            offset += size
        batch_loss = total[offset]
        return xp.reshape(total[offset + 1:], (n, k)), batch_loss

    def evaluate(self, model, loss, dataset, batch_size: int = 1000) -> tuple[float, float]:
        """Mean loss and accuracy on ``dataset``, each rank evaluating its shard: the
        sharded counterpart of :func:`lenet_xp.train.evaluate`. Every rank first takes rank
        0's state arrays (batch normalisation's running statistics), the ones that are saved."""
        for value in model.state_arrays().values():  # rank 0's running statistics for all
            value[...] = self.comm.broadcast(value)
        start, stop = shard(len(dataset), self.comm.rank, self.comm.size)
        loss_sum, correct = evaluate_sums(model, loss, dataset, start, stop, batch_size)
        xp, where, dtype = dataset.backend.xp, dataset.backend.device, dataset.images.dtype
        sums = xp.stack([xp.asarray(loss_sum, dtype=dtype, device=where),
                         xp.astype(xp.asarray(correct, device=where), dtype)])
        total = to_numpy(self.comm.allreduce(sums))
        return float(total[0]) / len(dataset), int(round(float(total[1]))) / len(dataset)


def mpiexec() -> str | None:
    """The ``mpiexec`` beside this Python (the mpich wheel puts one in the virtual
    environment), else the first on PATH; None if there is none."""
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def launch_command(ranks: int, script: str, args: list[str]) -> list[str]:
    """The command that runs ``script args`` on ``ranks`` MPI ranks on this host (what
    ``scripts/train.py --ranks N`` runs, as ``torchrun`` launches its workers).

    Raises RuntimeError with the fix when no mpiexec is found."""
    launcher = mpiexec()
    if launcher is None:
        raise RuntimeError(f"--ranks needs MPI's mpiexec, which is not installed: {MPI_INSTALL_HINT}")
    return [launcher, "-n", str(ranks), sys.executable, script, *args]


def without_option(args: list[str], option: str) -> list[str]:
    """``args`` without ``option VALUE`` or ``option=VALUE`` (to pass the rest on)."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            kept.append(arg)
    return kept
