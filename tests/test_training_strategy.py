"""How a run spreads its step over the machine (lenet_xp.training.strategy), in one place for
runs and the benchmark: threads shared out between ranks, the split decision, the step built
from them, and dropout streams spawned for every copy of a model, nested layers included."""

from __future__ import annotations

import types

import numpy as np
import pytest

from lenet_xp.backend import Random, available_cores, get_backend, to_numpy
from lenet_xp.layers import Dropout, Linear, ReLU, Sequential
from lenet_xp.losses import SoftmaxCrossEntropy
from lenet_xp.models import get_model
from lenet_xp.tools.bench import BenchConfig
from lenet_xp.training.loop import evaluate
from lenet_xp.training.split_batch import SPLIT_MIN_SLICE
from lenet_xp.training.step import forward_backward, random_layers, spawn_streams
from lenet_xp.training.strategy import CpuPlan, TrainingStep, threads_per_rank


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


def _lenet5(backend, n):
    spec = get_model("lenet5")
    model = spec.build(Random(0), "float64").to(backend)
    x = Random(1).normal(backend, (n, 1, 32, 32), dtype="float64")
    return model, spec.loss(), x, backend.asarray(np.arange(n) % 10)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_step_on_one_rank_is_one_pass(workers):
    backend = get_backend("cpu")
    model, loss, x, y = _lenet5(backend, 6)
    reference, _, _, _ = _lenet5(backend, 6)
    expected_outputs, expected_loss = forward_backward(reference, loss, x, y)
    with TrainingStep(model, loss, workers=workers) as step:
        outputs, batch_loss = step(x, y)
        assert step.evaluate is evaluate and step.workers == workers
    np.testing.assert_allclose(to_numpy(outputs), to_numpy(expected_outputs), rtol=1e-12)
    assert float(batch_loss) == pytest.approx(float(expected_loss), rel=1e-12)
    for name, param in model.parameters().items():
        np.testing.assert_allclose(to_numpy(param.grad),
                                   to_numpy(reference.parameters()[name].grad),
                                   rtol=1e-10, atol=1e-12, err_msg=name)


class TwoRanksSeenFromOne:
    """Rank ``rank`` of two, whose exchanges return its own buffer (enough to build a step)."""

    size = 2

    def __init__(self, rank):
        self.rank = rank

    def broadcast(self, buffer):
        return buffer

    def allreduce(self, buffer):
        return buffer


def _nested_dropout_model():
    inner = Sequential(Linear(4, 64, random=Random(1), dtype="float64"), ReLU(),
                       Dropout(0.5, random=Random(2)))
    return Sequential(("block", inner), ("out", Linear(64, 3, random=Random(3), dtype="float64")))


def test_random_layers_are_found_inside_nested_containers():
    model = _nested_dropout_model()
    assert random_layers(model) == [model["block"].layers[2]]


def test_each_rank_and_each_replica_draws_its_own_dropout_masks_in_nested_layers():
    backend = get_backend("cpu")
    x = backend.xp.ones((1, 4), dtype=backend.xp.float64)
    masks = []
    for rank in (0, 1):
        model = _nested_dropout_model()
        model.train()
        with TrainingStep(model, SoftmaxCrossEntropy(), TwoRanksSeenFromOne(rank)):
            (dropout,) = random_layers(model)
            assert dropout.random._key == rank  # spawned for the rank
            masks.append(to_numpy(model.forward(x)))
    assert not np.allclose(masks[0], masks[1]), "both ranks drew the same dropout mask"

    model, copy = _nested_dropout_model(), _nested_dropout_model()
    spawn_streams(copy, 1, source=model)
    assert random_layers(copy)[0].random is random_layers(model)[0].random._children[-1]
