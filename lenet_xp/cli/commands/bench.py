"""Benchmark training and inference speed of a lenet_xp model (synthetic data, no MNIST needed).

    python scripts/bench.py                                   # lenet5, cpu, batches 64 and 256
    python scripts/bench.py --vs-torch                        # against the same net in PyTorch
    python scripts/bench.py --device cpu,torch:cpu --vs-torch # numpy and torch tensors side by side
    python scripts/bench.py --device cuda --batch-size 256,1024 --json bench.json
    python scripts/bench.py --epochs 1 --repeats 3            # time whole epochs
    python scripts/bench.py --vs-torch --ranks 2              # 2 MPI ranks vs PyTorch, 2 threads
    python scripts/bench.py --count-only                      # operations a step, four models

Reports, per batch size, the median and min–max of the repeats: seconds per 60,000-image
epoch (extrapolated from the timed batches), training and inference images per second, and
peak memory. Progress goes to stderr, the table to stdout. With --ranks N the benchmark
launches itself on N MPI ranks (mpiexec -n N): lenet_xp's step is data-parallel across them,
and it also reports one rank alone (the scaling efficiency) and the all-reduce per step;
PyTorch gets N threads. Then, where PyTorch is installed, the operations of one training
step of the model with its recipe, per batch size: what a GPU launches (counted on torch:cpu
told to take the GPU's path) and the CPU path's count (``--no-launches`` skips it;
``--count-only`` prints them for lenet5, bn_cnn, simard_cnn and deep_cnn, without timing).
See lenet_xp/tools/bench/ for details.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# lenet_xp.backend.THREAD_ENV_VARS, repeated: importing lenet_xp would load numpy (and its BLAS)
# before _early_threads could set them.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _early_threads(argv) -> None:
    """Apply --threads N (shared out between --ranks R: N // R each) to the environment before
    numpy is imported (its BLAS reads it once); without it the threads are set once the plan
    is known (every core, as a training run takes)."""
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--threads", type=int)
    early.add_argument("--ranks", default="1")
    early.add_argument("--split-batch", action=argparse.BooleanOptionalAction)
    known, _ = early.parse_known_args(argv)
    ranks = max(1, int(known.ranks)) if known.ranks.isdigit() else 1
    threads = known.threads
    if threads is not None and threads >= 1 and "numpy" not in sys.modules:
        # torch.set_num_threads comes later; where the batch size decides (no flag), the
        # benchmark lowers BLAS to one thread per worker for the batch sizes it splits.
        blas_threads = 1 if known.split_batch else max(1, threads // ranks)
        for var in THREAD_ENV_VARS:
            os.environ[var] = str(blas_threads)


def _batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"batch sizes are positive integers, got {text!r}") from None
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"batch sizes are positive integers, got {text!r}")
    return sizes


def _devices(text: str) -> list[str]:
    devices = [part.strip() for part in text.split(",") if part.strip()]
    if not devices:
        raise argparse.ArgumentTypeError(f"expected device strings, got {text!r}")
    return devices


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command's flags; ``prog`` names it in the usage line (default: the script's name)."""
    from lenet_xp.backend import DEVICE_STRINGS
    from lenet_xp.cli.argtypes import auto_or, non_negative_int, positive_float, positive_int
    from lenet_xp.models import MODELS
    from lenet_xp.models.recipe import OPTIMIZERS
    from lenet_xp.settings import keys
    from lenet_xp.training.placement import Placement

    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="lenet5", choices=sorted(MODELS),
                        help="model to benchmark (default: lenet5)")
    parser.add_argument("--device", type=_devices, action="append", metavar="DEVICE[,DEVICE...]",
                        help=f"{DEVICE_STRINGS}; several (repeat the flag or give a comma "
                             "list) run side by side, interleaved, on the first one's hardware "
                             "(default: cpu)")
    parser.add_argument("--batch-size", type=_batch_sizes, action="append", metavar="B[,B...]",
                        help="batch size(s): repeat the flag or give a comma list (default: 64,256)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--batches", type=positive_int, default=200,
                      help="timed batches per repeat (default: 200)")
    size.add_argument("--epochs", type=positive_float,
                      help="time whole epochs instead: ceil(E × 60000 / batch) batches per repeat")
    parser.add_argument("--warmup", type=non_negative_int, default=20,
                        help="untimed batches before the repeats (default: 20)")
    parser.add_argument("--repeats", type=positive_int, default=5, help="timed repeats (default: 5)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS),
                        help="optimiser (default: the model's recipe, adam for lenet5)")
    parser.add_argument("--lr", type=positive_float, help="learning rate (default: the model's recipe)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seeds the weights and the synthetic data")
    parser.add_argument("--threads", type=positive_int,
                        help="BLAS/OpenMP threads for numpy (and torch.set_num_threads); "
                             "default: the libraries' own")
    parser.add_argument("--split-batch", action=argparse.BooleanOptionalAction,
                        help="split each lenet_xp batch across the --threads threads, one BLAS "
                             "thread each (lenet_xp.training.split_batch.SplitBatch), or never; "
                             f"default: {keys(Placement)['split_batch'].declared.shown}. PyTorch keeps its "
                             "--threads intra-op threads")
    parser.add_argument("--ranks", type=auto_or(positive_int), default="auto",
                        help="run lenet_xp data-parallel on N MPI ranks (launches mpiexec -n N; "
                             "--threads, default every core, are shared out between them), "
                             "PyTorch with all the threads; auto (default): what a training run "
                             "takes for the smallest batch size (lenet_xp.training.placement)")
    parser.add_argument("--distort", default="none",
                        choices=["none", "affine", "elastic", "affine+elastic"],
                        help="also time distorting a batch (lenet_xp.data.augment, the recipe "
                             "field distort) against the training step (default: none)")
    parser.add_argument("--vs-torch", action="store_true",
                        help="also run the same network in PyTorch, interleaved, and print the ratio")
    parser.add_argument("--launches", action=argparse.BooleanOptionalAction, default=True,
                        help="after the timings, count the operations of one training step per "
                             "batch size on torch:cpu, on the GPU's path and the CPU's (needs "
                             "PyTorch; default: on)")
    parser.add_argument("--count-only", action="store_true",
                        help="only print the operations of one training step of lenet5, bn_cnn, "
                             "simard_cnn and deep_cnn at their recipes' batch sizes (issue 30's "
                             "table), as a GPU launches them; no timing")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser


def parse_args(argv=None, prog: str | None = None) -> argparse.Namespace:
    """The command line read, ``batch_sizes`` and ``devices`` flat lists."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    args.batch_sizes = [b for group in (args.batch_size or [[64, 256]]) for b in group]
    args.devices = [d for group in (args.device or [["cpu"]]) for d in group]
    return args


def main(argv=None, prog: str | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    _early_threads(argv)
    args = parse_args(argv, prog)
    if args.count_only:
        return _count_only()

    from lenet_xp.backend import DeviceError, get_backend
    from lenet_xp.cli.mpi_launch import (
        guard_rank,
        launch_command,
        run_on_ranks,
        under_launcher,
        without_option,
    )
    from lenet_xp.cli.signals import exit_code, stopping_on_signals
    from lenet_xp.tools.bench import BenchConfig, BenchError, format_report, run_benchmark
    from lenet_xp.training.communicators import abort_all, launched_rank, launched_ranks
    from lenet_xp.training.placement import auto_ranks

    ranks = args.ranks
    if ranks == "auto":
        if launched_ranks() > 1:
            ranks = launched_ranks()
        elif len(args.devices) > 1:
            ranks = 1  # devices side by side run in one process
        else:
            try:
                ranks, why = auto_ranks(get_backend(args.devices[0]), min(args.batch_sizes),
                                        args.threads)
            except DeviceError:
                ranks, why = 1, ""  # config.validate() reports the device
            if ranks > 1:
                print(f"--ranks auto: {why}", file=sys.stderr, flush=True)
    config = BenchConfig(model=args.model, devices=tuple(args.devices),
                         batch_sizes=tuple(dict.fromkeys(args.batch_sizes)),
                         batches=args.batches, epochs=args.epochs, warmup=args.warmup,
                         repeats=args.repeats, dtype=args.dtype, optimizer=args.optimizer,
                         lr=args.lr, threads=args.threads, seed=args.seed, vs_torch=args.vs_torch,
                         split_batch=args.split_batch, ranks=ranks,
                         distort=args.distort, launches=args.launches)
    try:
        config.validate()
        if ranks > 1 and launched_ranks() == 1:
            # each rank runs `python -m lenet_xp bench ...` (as train's ranks do)
            return run_on_ranks(launch_command(ranks, "-m", [
                "lenet_xp", "bench", *without_option(argv, "--ranks"), "--ranks", str(ranks)]))
    except (BenchError, DeviceError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:  # the launcher was stopped: so were its ranks
        print("interrupted", file=sys.stderr)
        return exit_code(stop)
    guard_rank()
    with stopping_on_signals():  # `kill` stops it as Ctrl-C does
        try:
            report = run_benchmark(config, progress=None if args.quiet else
                                   (lambda line: print(line, file=sys.stderr, flush=True)))
        except KeyboardInterrupt as stop:
            if launched_rank() == 0 and not under_launcher():
                print("interrupted", file=sys.stderr)
            return exit_code(stop)
        except Exception as exc:
            if launched_ranks() > 1:  # the other ranks would wait for this one forever
                print(f"error (MPI rank {launched_rank()} of {launched_ranks()}): {exc}",
                      file=sys.stderr, flush=True)
                abort_all(1)
            raise
    if launched_rank() != 0:
        return 0
    print(format_report(report))
    if args.json:
        path = Path(args.json)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot write {path} ({exc.strerror or exc})", file=sys.stderr)
            return 1
        print(f"results written to {path}")
    return 0


def _count_only() -> int:
    """Print issue 30's table of operations a training step (exit 2 without PyTorch)."""
    from lenet_xp.tools.bench.autograd_twin import TORCH_VERSION_HINT, import_torch
    from lenet_xp.tools.bench.launches import COUNTED, count_step, format_counts

    if import_torch() is None:
        print(f"error: --count-only counts on PyTorch's tensors, and PyTorch is not installed: "
              f"{TORCH_VERSION_HINT}", file=sys.stderr)
        return 2
    print(format_counts([count_step(model, batch) for model, batch in COUNTED.items()],
                        [count_step(model, batch, launch_bound=False)
                         for model, batch in COUNTED.items()]))
    return 0

