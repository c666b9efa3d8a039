"""Training and inference speed of a model on a device, optionally against a PyTorch twin.

One concept a module: what to measure (:mod:`~lenet_xp.tools.bench.config`), lenet_xp's
runner (:mod:`~lenet_xp.tools.bench.lenet_runner`), its PyTorch autograd twin
(:mod:`~lenet_xp.tools.bench.autograd_twin`), the run over batch sizes and repeats
(:mod:`~lenet_xp.tools.bench.benchmark`), what was measured
(:mod:`~lenet_xp.tools.bench.results`), where (:mod:`~lenet_xp.tools.bench.machine`), the
printed report (:mod:`~lenet_xp.tools.bench.report`), how many operations a training step
launches on a GPU, counted on PyTorch's CPU tensors (:mod:`~lenet_xp.tools.bench.launches`),
and the web app under load (:mod:`~lenet_xp.tools.bench.web_load`, ``scripts/serve_load.py``).

:func:`run_benchmark` trains a freshly built model on synthetic data (random images and labels,
made once on the device, so no MNIST is needed and no host-to-device copy is timed) and, for
each batch size, measures several repeats of:

- **training**: ``batches`` steps of forward, loss, backward and optimiser step (exactly the
  step of a training run, :class:`lenet_xp.training.step.TrainingStep`, without the
  loop's loss/accuracy bookkeeping), after
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
:func:`~lenet_xp.tools.bench.autograd_twin.import_torch`, only when asked for, and a missing
torch is a note, not an error. GPU facts (the memory pool, the GPU's name) come from
:class:`lenet_xp.backend.Backend`.

Threads: ``threads`` sets ``torch.set_num_threads`` and, for each batch size, either numpy's
BLAS threads (:func:`lenet_xp.backend.limit_cpu_threads`) or, where lenet_xp splits the batch
(``split_batch`` True, or None and the training runs' rule says so,
:class:`lenet_xp.training.placement.CpuPlan`), that many worker threads (SplitBatch) with one
BLAS thread each: both frameworks use the same number of cores. Each result records how
lenet_xp used them.

Operations: with ``launches`` (``scripts/bench.py`` by default) the report ends with the
operations of one training step of the model with its recipe, per batch size, on the GPU's
path and on the CPU's (:func:`~lenet_xp.tools.bench.launches.count_step`): on a GPU each is a
kernel launch of a few microseconds, so for small networks the count is the step's time.

MPI ranks: with ``ranks`` = N (the process one of N ranks, ``scripts/bench.py --ranks N``
launches them) lenet_xp's step is data-parallel over the ranks (DataParallel),
each with its share of the batch and ``threads`` // N threads (one by default); in each repeat
all ranks time it together, then rank 0 alone times the same model on one rank (the 1-rank
reference: speed-up and scaling efficiency T₁ / (N·T_N)) and PyTorch with ``threads`` (N by
default) threads, while the other ranks sleep. The all-reduce of one step's buffer is timed
on its own (median of 200 calls). Only rank 0 returns results.
"""

from .autograd_twin import TorchAutogradTwin
from .benchmark import run_benchmark
from .config import BenchConfig, BenchError
from .lenet_runner import LenetRunner
from .machine import machine_info
from .report import BenchReport, format_report, header_line
from .results import EPOCH_IMAGES, BatchResult, FrameworkResult, Repeat, Spread

__all__ = ["EPOCH_IMAGES", "BatchResult", "BenchConfig", "BenchError", "BenchReport",
           "FrameworkResult", "LenetRunner", "Repeat", "Spread", "TorchAutogradTwin",
           "format_report", "header_line", "machine_info", "run_benchmark"]
