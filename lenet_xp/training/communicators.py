"""Who a process is among MPI ranks, and how ranks exchange arrays.

A run launched under MPI (``mpiexec -n 2 python scripts/train.py ...``, or
``scripts/train.py --ranks 2``, see :mod:`lenet_xp.cli.mpi_launch`) learns its rank count and
its rank from the launcher's environment, and its place on its host (:func:`host_ranks`,
which chooses its GPU) from there or from MPI; :func:`create_communicator`
then chooses the transport once, at start: a :class:`SingleProcess` without MPI, else
:class:`MPICommunicator` (mpi4py, imported only then). Both have one interface: ``rank``,
``size``, ``allreduce``, ``broadcast``, ``broadcast_object``, ``abort``, ``idle_barrier``,
``host_ranks``. A failing MPI call raises :class:`MPIError`, one line for the user in place
of MPICH's error stack (the communicator's error handler returns errors, which mpi4py
raises); an error that MPICH deems fatal (a rank's process gone) still ends the job in MPI.
:func:`set_up_together` makes the ranks agree on how setting a run up went, so that a bad
flag or file stops every rank with one message.

Arrays cross ranks through the host: a CPU rank hands its numpy buffer to MPI directly; a
device buffer (CuPy, array_api_strict's device1) is copied to the host, reduced, and copied
back.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..backend import ALONE, Backend, HostRanks, backend_of, get_backend, to_numpy
from ..backends.gpu_choice import launcher_host_ranks
from .rank_report import say_ended

#: environment variables by which the MPI launchers tell a process its rank count
SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MV2_COMM_WORLD_SIZE")
#: ... and its rank (its rank on its host: lenet_xp.backends.gpu_choice.LAUNCHER_VARIABLES)
RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "MV2_COMM_WORLD_RANK")
ABORT_GRACE_S = 1.0  # seconds between a failed rank's last message and the end of the job
MPI_INSTALL_HINT = "pip install \"lenet_xp[mpi]\" (mpi4py with MPICH, no system MPI needed)"
#: what to do about an MPI call that failed
MPI_ERROR_FIX = ("the ranks did not exchange the same sizes, or MPI itself failed: run every rank "
                 "with the same lenet_xp and command, or train on one process with --ranks 1")


class MPIError(RuntimeError):
    """An MPI call that failed, in one line: which call, MPI's error class and its string,
    and what to do (:data:`MPI_ERROR_FIX`)."""


def mpi_error(call: str, error, mpi) -> MPIError:
    """The :class:`MPIError` of mpi4py's ``error`` (an ``MPI.Exception``) raised by ``call``
    (``"Bcast"``), with ``mpi`` the ``mpi4py.MPI`` module: its error class's string
    (``Message truncated``) and name (``MPI_ERR_TRUNCATE``), not the multi-line error stack
    that ``str(error)`` gives under MPICH."""
    number = error.Get_error_class()
    names = [name for name in dir(mpi) if name.startswith("ERR_") and getattr(mpi, name) == number]
    name = f"MPI_{names[0]}" if names else f"error class {number}"
    return MPIError(f"MPI's {call} failed: {mpi.Get_error_string(number)} ({name}); "
                    f"{MPI_ERROR_FIX}")


class SingleProcess:
    """The communicator of a run without MPI: one rank, nothing to exchange."""

    rank, size = 0, 1

    def allreduce(self, buffer):
        return buffer

    def broadcast(self, buffer):
        return buffer

    def broadcast_object(self, value, root: int = 0):
        return value

    def abort(self, code: int = 1) -> None:
        raise SystemExit(code)

    def idle_barrier(self) -> None:
        """Nothing to wait for."""

    def host_ranks(self) -> tuple[int, int]:
        return 0, 1


#: the communicator of every run without MPI (it has no state)
SINGLE_PROCESS = SingleProcess()


class MPICommunicator:
    """``MPI.COMM_WORLD`` through mpi4py; buffers are 1-D float arrays of any backend. A
    failing MPI call raises :class:`MPIError`."""

    def __init__(self):
        from mpi4py import MPI

        self._mpi, self._comm = MPI, MPI.COMM_WORLD
        self._comm.Set_errhandler(MPI.ERRORS_RETURN)  # an error is an exception, not an abort
        self.rank, self.size = self._comm.Get_rank(), self._comm.Get_size()

    @contextlib.contextmanager
    def _calling(self, call: str):
        """Around MPI's ``call``: its failure as an :class:`MPIError`."""
        try:
            yield
        except self._mpi.Exception as error:
            raise mpi_error(call, error, self._mpi) from error

    def allreduce(self, buffer):
        """The element-wise sum of every rank's ``buffer``, on ``buffer``'s device (a numpy
        buffer is reduced in place)."""
        host = self._host(buffer)
        with self._calling("Allreduce"):
            self._comm.Allreduce(self._mpi.IN_PLACE, host, op=self._mpi.SUM)
        return self._back(host, buffer)

    def broadcast(self, buffer):
        """Rank 0's ``buffer`` on every rank."""
        host = self._host(buffer)
        with self._calling("Bcast"):
            self._comm.Bcast(host, root=0)
        return self._back(host, buffer)

    def broadcast_object(self, value, root: int = 0):
        """Rank ``root``'s ``value`` (any picklable object: a small one) on every rank."""
        with self._calling("bcast"):
            return self._comm.bcast(value, root=root)

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
        with self._calling("Ibarrier"):
            request = self._comm.Ibarrier()
            while not request.Test():
                time.sleep(poll_s)

    def host_ranks(self) -> tuple[int, int]:
        """(this rank's rank, the number of ranks) among the ranks that share its host's
        memory: MPI's shared-memory split, which every MPI implementation has (a collective
        call: every rank makes it)."""
        with self._calling("Split_type"):
            local = self._comm.Split_type(self._mpi.COMM_TYPE_SHARED)
        try:
            return local.Get_rank(), local.Get_size()
        finally:
            local.Free()


def mpiexec() -> str | None:
    """The ``mpiexec`` beside this Python (the mpich wheel puts one in the virtual
    environment), else the first on PATH; None if there is none."""
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def launched_ranks() -> int:
    """How many ranks the MPI launcher started (1 when not launched by one)."""
    return _launcher_number(SIZE_VARIABLES, 1)


def launched_rank() -> int:
    """This process's rank, from the MPI launcher (0 when not launched by one)."""
    return _launcher_number(RANK_VARIABLES, 0)


def _launcher_number(names, default: int) -> int:
    for name in names:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return default


def abort_all(code: int = 1) -> None:
    """End every rank of this MPI job at once (MPI_Abort; no collective call, so it works
    while the other ranks wait in one), after telling the ``--ranks`` launcher that this rank
    ends of its own accord (it then takes none of the ranks that MPI ends for killed ones) and
    giving mpiexec a moment to pass on what this rank printed (it drops output still in
    flight when the job is ended)."""
    from mpi4py import MPI

    say_ended()
    sys.stdout.flush()
    sys.stderr.flush()
    time.sleep(ABORT_GRACE_S)
    MPI.COMM_WORLD.Abort(code)


@contextlib.contextmanager
def set_up_together(comm):
    """Run the block that sets a run up (data, model, output folder) on every rank, then agree
    on how it went before any rank goes on. Where one or more ranks failed, every rank raises
    the exception of the lowest such rank, its ``from_rank`` attribute naming that rank: all
    ranks stop together with one exit code, the rank it came from alone reports it
    (:func:`reports_error`), and no rank waits in the first training step for one that is gone.
    One process (``comm.size`` 1) runs the block as it is."""
    error = None
    try:
        yield
    except Exception as exc:  # noqa: BLE001 -- every rank must hear of any failure
        error = exc
    if comm.size > 1:
        failed = np.zeros(comm.size)
        failed[comm.rank] = error is not None
        failed = to_numpy(comm.allreduce(failed))
        if failed.any():
            root = int(np.flatnonzero(failed)[0])
            mine = _picklable(error) if comm.rank == root and error is not None else None
            shared = comm.broadcast_object(mine, root)
            error = error if comm.rank == root else shared
            error.from_rank = root  # type: ignore[union-attr]  # read back by getattr
    if error is not None:
        raise error


def _picklable(error: Exception) -> Exception:
    """``error``, or a RuntimeError with its message where it cannot cross to other ranks."""
    try:
        pickle.dumps(error)
        return error
    except Exception:  # noqa: BLE001 -- whatever pickling raises, the message still goes
        return RuntimeError(str(error))


def reports_error(error: BaseException) -> bool:
    """Whether this rank reports ``error``: one that :func:`set_up_together` shared is
    reported by the rank it came from alone; any other by the rank that raised it."""
    return getattr(error, "from_rank", launched_rank()) == launched_rank()


def on_rank_zero(log: Callable[[str], None], comm) -> Callable[[str], None]:
    """``log`` on rank 0 of ``comm``; elsewhere a log that prints nothing (rank 0 alone
    speaks for a run)."""
    return log if comm.rank == 0 else _silent


def _silent(line: str) -> None:
    """The log of ranks other than 0."""


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


def host_ranks(comm) -> HostRanks:
    """This rank's place among the ranks of its host: from the launcher's variables where it
    sets them (:data:`lenet_xp.backends.gpu_choice.LAUNCHER_VARIABLES`), else from ``comm``
    (MPI's shared-memory split; every rank calls this, as every launcher's ranks agree on
    which it is)."""
    if comm.size == 1:
        return ALONE
    rank, size = launcher_host_ranks()
    if rank is None or size is None:
        rank, size = comm.host_ranks()
    return HostRanks(rank, size)


def rank_backend(device: str, comm) -> Backend:
    """The backend of ``device`` for this process among ``comm``'s ranks: a device string that
    names no GPU number (``cuda``, ``torch:cuda``) takes the GPU of this rank's place on its
    host (:func:`lenet_xp.backends.gpu_choice.choose_gpu`; the first GPU for one process)."""
    return get_backend(device, host_ranks(comm))
