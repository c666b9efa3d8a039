"""The benchmark's run: every batch size's repeats, lenet_xp and its peers interleaved
(see :mod:`lenet_xp.tools.bench`)."""

from __future__ import annotations

import dataclasses
import gc
import math
import sys
from collections.abc import Callable
from typing import Any

from ...backend import Backend, Random
from ...data.augment import Distortion
from ...training.communicators import SingleProcess, create_communicator, rank_backend
from .autograd_twin import TORCH_VERSION_HINT, TorchAutogradTwin, import_torch, torch_device
from .config import BenchConfig, BenchError
from .launches import count_step
from .lenet_runner import LenetRunner
from .machine import busy_note, machine_info
from .report import BenchReport
from .results import BatchResult, FrameworkResult, Repeat

POOL_BATCHES = 8
"""Distinct synthetic batches made per batch size; the timed loop cycles through them."""

ONE_RANK = "lenet_xp_1rank"  # the framework name of the 1-rank reference in a run on ranks



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
    backends = [rank_backend(device, comm) for device in config.devices]
    backend = backends[0]  # the hardware all devices share: its GPU is made current
    backend.use()
    for note in (backend.note, busy_note() if lead else None):
        if note:
            notes.append(note)
            say(f"note: {note}")
    torch, torch_dev = _torch_peer(config, backend, notes, say) if lead else (None, None)
    machine = machine_info(backend, torch)  # before any batch size changes the BLAS threads
    if config.ranks > 1:
        machine["mpi_ranks"] = config.ranks

    measured = [_bench_batch_size(config, comm, backends, batch_size, torch, torch_dev, notes,
                                  say) for batch_size in config.batch_sizes]
    if not lead:
        return BenchReport(config, machine, [], notes)
    results = [result for result in measured if result is not None]  # rank 0 has every one
    if not backend.is_gpu and any(r.torch for r in results):
        notes.append("peak mem on the CPU is the whole process's peak RSS (lenet_xp and "
                     "PyTorch together, all batch sizes so far)")
    launches = _launches(config, notes, say) if config.launches else []
    return BenchReport(config, machine, results, notes, launches)


def _launches(config: BenchConfig, notes: list[str], say) -> list:
    """(GPU's path, CPU's path) operation counts of one recipe training step per batch size
    (:func:`~lenet_xp.tools.bench.launches.count_step`), after the timings; none, with a note
    saying why, without PyTorch."""
    if import_torch() is None:
        notes.append(f"operations a step not counted: PyTorch is not installed ({TORCH_VERSION_HINT})")
        return []
    say("counting the operations of a training step on torch:cpu")
    return [(count_step(config.model, batch_size), count_step(config.model, batch_size,
                                                              launch_bound=False))
            for batch_size in config.batch_sizes]


def _communicator(config: BenchConfig):
    """MPI's communicator for a run on ``config.ranks`` ranks (checked), else SingleProcess."""
    comm = create_communicator() if config.ranks > 1 else SingleProcess()
    if comm.size != config.ranks:
        raise BenchError(f"ranks={config.ranks} but this process is one of {comm.size} MPI "
                         f"rank(s): launch it with mpiexec -n {config.ranks} (scripts/bench.py "
                         "--ranks does)")
    return comm


def _torch_peer(config: BenchConfig, backend: Backend, notes: list[str], say) -> tuple[Any, Any]:
    """(torch, torch device) for ``--vs-torch``, or (None, None) with a note saying why not."""
    if not config.vs_torch:
        return None, None
    torch = import_torch()
    if torch is None:
        notes.append(f"--vs-torch skipped: PyTorch is not installed ({TORCH_VERSION_HINT})")
        say(notes[-1])
        return None, None
    if config.torch_threads is not None:
        torch.set_num_threads(config.torch_threads)
    torch_dev, why = torch_device(torch, backend)
    if torch_dev is None:
        notes.append(f"--vs-torch skipped: {why}")
        say(notes[-1])
        return None, None
    return torch, torch_dev


def _bench_batch_size(config: BenchConfig, comm, backends: list[Backend], batch_size: int, torch,
                      torch_dev, notes: list[str], say) -> BatchResult | None:
    """Every repeat at one batch size: the (data-parallel) lenet_xp runner on all ranks, one per
    device, then, on rank 0 alone, the 1-rank reference (several ranks only) and PyTorch."""
    batches = config.timed_batches(batch_size)
    pool_batches = max(1, min(POOL_BATCHES, batches + config.warmup))
    gc.collect()
    for backend in backends:
        backend.free_memory_pool()
    lenets = [LenetRunner(config, backend, batch_size, Random(config.seed), pool_batches, comm,
                          framework="lenet_xp" if k == 0 else f"lenet_xp[{backend.name}]")
              for k, backend in enumerate(backends)]
    lenet = lenets[0]
    solo: list = []  # what rank 0 runs alone while the other ranks sleep
    if comm.rank == 0 and comm.size > 1:
        one_rank = dataclasses.replace(config, ranks=1, threads=config.rank_threads)
        solo.append(LenetRunner(one_rank, backends[0], batch_size, Random(config.seed),
                                pool_batches, framework=ONE_RANK))
    if torch is not None:
        solo.append(TorchAutogradTwin(torch, torch_dev, config, twin_of=lenet))
    runners = [*lenets, *solo]
    say(f"batch {batch_size}: warm-up {config.warmup} batches, then {config.repeats} "
        f"repeats of {batches} batches" + (f" on {comm.size} ranks" if comm.size > 1 else ""))
    for runner in runners:
        runner.warm_up(config.warmup)
    step_alloc = lenet.step_alloc_peak_bytes()
    allreduce_us = lenet.allreduce_microseconds() if comm.size > 1 else None
    distort_ms = None
    if config.distort != "none" and comm.rank == 0:
        distort_ms = lenet.distortion_milliseconds(Distortion(config.distort), Random(config.seed))
    comm.idle_barrier()
    timings: dict[str, list[Repeat]] = {runner.framework: [] for runner in runners}
    for repeat in range(config.repeats):
        parts = []
        for runner in runners:  # interleaved, so that machine noise hits all alike
            timing = runner.run(batches)
            timings[runner.framework].append(timing)
            parts.append(f"{runner.framework} {timing.epoch_seconds:.2f} s/epoch")
            if not math.isfinite(timing.final_loss):
                notes.append(f"{runner.framework}, batch {batch_size}: the training loss "
                             f"became {timing.final_loss} (the timing is still valid)")
        comm.idle_barrier()
        say(f"batch {batch_size}: repeat {repeat + 1}/{config.repeats}: " + ", ".join(parts))
    results = {}
    for runner in runners:
        memory, kind = runner.peak_memory()
        results[runner.framework] = FrameworkResult(
            runner.framework, timings[runner.framework], memory, kind,
            step_alloc if runner is lenet else None, device=runner.device_name,
            workers=runner.workers)
        runner.close()
    if comm.rank != 0:
        return None
    return BatchResult(batch_size, batches, results["lenet_xp"], results.get("torch"),
                       lenet.workers, ranks=comm.size, one_rank=results.get(ONE_RANK),
                       allreduce_us=allreduce_us, distort_ms=distort_ms,
                       others=[results[runner.framework] for runner in lenets[1:]])
