"""Where a run computes (lenet_xp.training.placement), decided in one place for runs, their
launcher and the benchmark: ranks chosen by the batch and the cores, threads shared out between
ranks, the split decision."""

from __future__ import annotations

import types

import pytest

from lenet_xp.backend import available_cores, get_backend
from lenet_xp.tools.bench import BenchConfig
from lenet_xp.training import placement
from lenet_xp.training.placement import (SPLIT_MIN_SLICE, CpuPlan, Placement, choose_split,
                                         threads_per_rank)


def test_threads_are_shared_out_evenly_at_least_one_each():
    assert [threads_per_rank(8, ranks) for ranks in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
    assert threads_per_rank(None, 4) is None  # the libraries' own threads stay theirs


#: what CpuPlan asks of a GPU's backend (none is needed to test the plan)
A_GPU = types.SimpleNamespace(name="cuda:0", cpu_threads=False, is_gpu=True)


def test_the_plan_splits_only_where_each_thread_gets_enough_of_its_share():
    cpu = get_backend("cpu")
    big = 2 * 2 * SPLIT_MIN_SLICE  # two ranks, two threads each: just enough
    plan = CpuPlan.choose(4, 2, big, cpu)
    assert (plan.threads, plan.split, plan.workers, plan.blas_threads) == (2, True, 2, 1)
    plan = CpuPlan.choose(4, 2, big - 2, cpu)
    assert (plan.split, plan.workers, plan.blas_threads) == (False, 1, 2)
    assert CpuPlan.choose(4, 2, 64, cpu, split_batch=True).workers == 2  # forced
    assert not CpuPlan.choose(4, 1, 4096, A_GPU).split  # the GPU keeps its one step


@pytest.mark.parametrize("device", ["cpu", pytest.param("torch:cpu", marks=pytest.mark.torch)])
def test_without_a_thread_count_a_cpu_library_gets_every_core(device):
    backend = get_backend(device)
    assert CpuPlan.choose(None, 1, 4096, backend) == CpuPlan.choose(available_cores(), 1, 4096,
                                                                   backend)
    # array_api_strict (a checker) and GPUs keep their libraries' own threads
    assert CpuPlan.choose(None, 1, 4096, get_backend("array_api_strict")) == CpuPlan(None, False)
    assert CpuPlan.choose(None, 1, 4096, A_GPU) == CpuPlan(None, False)


@pytest.mark.parametrize("threads, ranks", [(None, 1), (2, 1), (None, 2), (4, 2), (3, 2)])
def test_the_benchmark_plans_its_threads_as_a_run_does(threads, ranks):
    config = BenchConfig(threads=threads, ranks=ranks)
    for batch in (64, 256, 512):
        assert config.cpu_plan(batch) == CpuPlan.choose(config.total_threads, ranks, batch,
                                                        get_backend("cpu"))
        assert config.cpu_plan(batch).threads == config.rank_threads


def test_choose_split_by_images_per_thread_unless_told():
    cpu = get_backend("cpu")
    rule = [choose_split(None, 2, n, cpu) for n in (64, SPLIT_MIN_SLICE * 2 - 1,
                                                    SPLIT_MIN_SLICE * 2, 256)]
    assert rule == [False, False, True, True]
    assert choose_split(None, 4, 255, cpu) is False and choose_split(None, 4, 256, cpu)
    # no threads given (BLAS's own), one thread, or a library whose threads lenet_xp leaves
    # alone (a GPU's, array_api_strict's): no split
    a_gpu = types.SimpleNamespace(cpu_threads=False, is_gpu=True)
    assert not any(choose_split(None, threads, 4096, backend)
                   for threads, backend in [(None, cpu), (1, cpu), (2, a_gpu),
                                            (2, get_backend("array_api_strict"))])
    # the caller's choice wins either way
    assert choose_split(True, 2, 4, cpu) and not choose_split(False, 2, 4096, cpu)


def test_auto_ranks_choose_by_backend_cores_batch_and_mpi(monkeypatch):
    """--ranks auto: several ranks on a multi-core CPU with MPI where each rank gets at least
    MIN_RANK_SHARE images of every batch; one process otherwise, saying why."""
    cpu = get_backend("cpu")
    share = placement.MIN_RANK_SHARE
    monkeypatch.setattr(placement, "mpi_installed", lambda: True)
    assert placement.auto_ranks(cpu, 2 * share, threads=2)[0] == 2
    assert placement.auto_ranks(cpu, 2 * share, threads=16)[0] == 2  # the batch limits them
    assert placement.auto_ranks(cpu, 16 * share, threads=16)[0] == 16
    assert placement.auto_ranks(cpu, 16 * share, threads=4)[0] == 4  # the cores limit them
    for backend, batch, threads, why in [
            (cpu, 2 * share - 1, 2, f"fewer than {share} images"),
            (cpu, 1024, 1, "one core"),
            (get_backend("array_api_strict"), 1024, 2, "does not compute on this host's cores")]:
        chosen, reason = placement.auto_ranks(backend, batch, threads)
        assert chosen == 1 and reason.startswith("one process: ") and why in reason
    monkeypatch.setattr(placement, "mpi_installed", lambda: False)
    assert placement.auto_ranks(cpu, 1024, threads=2) == (
        1, 'one process: MPI is not installed (pip install "lenet_xp[mpi]")')


def test_a_placement_is_checked_and_its_threads_capped_before_a_run():
    cpu, lines = get_backend("cpu"), []
    cores = available_cores()
    resolved = Placement(threads=cores + 7).checked(cpu, lines.append)
    assert resolved.threads == cores and resolved.ranks == "auto" and resolved.split is None
    assert lines == [f"--threads {cores + 7} is more than the {cores} cores this process may "
                     f"use: using {cores} (threads beyond the cores only wait for each other)"]
    with pytest.raises(ValueError, match="--split-batch needs --threads N"):
        Placement(split=True).checked(cpu)
    assert Placement(ranks=3).launch(cpu, 64) == (3, "")
    assert Placement().launch(get_backend("array_api_strict"), 64)[0] == 1
