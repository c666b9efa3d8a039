"""How many operations a training step launches on a GPU, counted on PyTorch's CPU tensors told
to take the GPU's path (lenet_xp.tools.bench.launches): the counts issue 30 set as goals, and
the counter itself."""

from __future__ import annotations

import pytest

from lenet_xp.tools.bench.launches import COUNTED, GOALS, PHASES, count_step, operation_counter

pytestmark = pytest.mark.torch

#: the most operations one step may take: the goals of issue 30 (lenet5 353 -> 150, bn_cnn
#: 692 -> 300), and for the other two models the count at the time (2026-12, 306 and 574
#: before) with a margin, so that a change that adds launches is seen
LIMITS = {**GOALS, "simard_cnn": 125, "deep_cnn": 210}


@pytest.mark.parametrize("model", sorted(COUNTED))
def test_a_training_step_launches_no_more_than_its_limit(model):
    count = count_step(model, COUNTED[model])
    detail = ", ".join(f"{phase} {count.phases[phase]}" for phase in PHASES)
    assert count.total <= LIMITS[model], f"{model}: {count.total} operations a step ({detail})"
    assert not (count.data_dependent or count.host_reads or count.host_copies)


def test_the_gpu_path_launches_fewer_operations_than_the_cpu_path():
    """The counter sees the choice: LeNet-5's CPU path (strided slice copies, col2im) launches
    more than twice what the GPU's does."""
    gpu, cpu = count_step("lenet5", 64), count_step("lenet5", 64, launch_bound=False)
    assert gpu.launch_bound and not cpu.launch_bound
    assert cpu.total > 2 * gpu.total
    assert cpu.operations.get("copy_", 0) > 40 > gpu.operations.get("copy_", 0)


def test_the_counter_counts_computations_not_views():
    torch = pytest.importorskip("torch")
    x = torch.ones((4, 6))
    counter = operation_counter(torch)
    with counter:
        with counter.phase("two"):
            y = x + 1.0  # one kernel
            z = y.reshape(6, 4).T[1:, :]  # views: none
            float((z * 2.0).sum())  # two kernels, and a host read: a copy to the host
    assert counter.total == 4
    assert counter.tally.phases == {"two": 4}
    assert counter.tally.host_reads == ["_local_scalar_dense"]


def test_the_counter_sees_data_dependent_shapes_and_host_copies():
    torch = pytest.importorskip("torch")
    x = torch.arange(6.0)
    counter = operation_counter(torch)
    with counter:
        x[x > 2.0]  # boolean-mask indexing: its size depends on the values
        torch.nonzero(x)
        torch.asarray(1.5)  # a Python number made a tensor
    assert counter.tally.data_dependent == ["index", "nonzero"]
    assert counter.tally.host_copies == ["lift_fresh"]
