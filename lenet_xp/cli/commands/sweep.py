"""Run a sweep: every combination of a grid file's models × recipe values × seeds, each an
independent training run, then a table of test and validation errors (mean ± std over seeds).

    python scripts/sweep.py sweeps/learning_rate.toml --data-dir ../shared/data/mnist
    python scripts/sweep.py sweeps/init.toml --workers 2          # 2 runs at a time (default: 1 a core)
    mpiexec -n 5 python -m mpi4py.futures scripts/sweep.py sweeps/depth.toml   # 4 workers on MPI

Runs go to OUT/<model>-<key=value...>-seed<N> (OUT defaults to runs/sweeps/<grid name>), each
on one CPU thread; a run whose model.npz exists is kept and skipped, so a sweep that stopped
continues where it was. A run that fails is reported and the others go on (exit code 1).
Writes OUT/results.md, OUT/results.csv and OUT/curves.png (validation error per epoch of
each configuration's first seed). Grid files: see lenet_xp/tools/sweep.py and sweeps/.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import multiprocessing
import sys
import textwrap
from pathlib import Path

from lenet_xp.backend import available_cores
from lenet_xp.cli.signals import as_pool_worker, stopped_in_one_line
from lenet_xp.runs.curves import plot_runs
from lenet_xp.runs.folder import RunFolderError, make_folder
from lenet_xp.tools.bench import machine_info
from lenet_xp.tools.sweep import (
    MAX_RUNS,
    GridError,
    csv_table,
    curves_by_configuration,
    failures,
    is_finished,
    load_grid,
    markdown_table,
    plan,
    run_one,
    summarise,
)
from lenet_xp.training.communicators import launched_ranks


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command's flags; ``prog`` names it in the usage line (default: the script's name)."""
    from lenet_xp.cli.argtypes import positive_int

    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("grid", help="grid file (.toml or .json)")
    parser.add_argument("--data-dir", help="folder with the MNIST IDX files (default: "
                                           "$LENET_XP_DATA, else ~/.cache/lenet_xp/mnist)")
    parser.add_argument("--out", help="sweep folder (default: runs/sweeps/<grid name>)")
    parser.add_argument("--workers", type=positive_int,
                        help="runs at a time on local processes (default: one per core); "
                             "under mpi4py.futures the MPI ranks are the workers")
    parser.add_argument("--dry-run", action="store_true", help="list the runs and stop")
    parser.add_argument("--max-runs", type=positive_int, default=MAX_RUNS,
                        help=f"the most runs the grid may make (default {MAX_RUNS:,}); they are "
                             "counted before any is listed or run")
    parser.add_argument("--no-plot", action="store_true", help="do not draw curves.png")
    return parser


def _executor(workers: int | None):
    """mpi4py's pool of the other ranks under ``python -m mpi4py.futures``, else processes
    that leave Ctrl-C to this one (:func:`lenet_xp.cli.signals.as_pool_worker`)."""
    if launched_ranks() > 1:
        from mpi4py.futures import MPIPoolExecutor

        return MPIPoolExecutor(), f"{launched_ranks() - 1} MPI worker rank(s)"
    workers = workers or available_cores()
    return (concurrent.futures.ProcessPoolExecutor(max_workers=workers,
                                                   initializer=as_pool_worker),
            f"{workers} worker process(es)")


def _stop_workers(executor) -> None:
    """End the pool's workers now (SIGTERM: each lets go of its run's folder and ends; every
    run keeps its last checkpoint) and cancel the runs not started."""
    executor.shutdown(wait=False, cancel_futures=True)
    for worker in multiprocessing.active_children():
        worker.terminate()
        worker.join()


def _line(index: int, total: int, label: str, seed: int, result: dict, skipped: bool) -> str:
    head = f"[{index}/{total}] {label} seed {seed}: "
    if result["status"] != "done":
        return head + "FAILED: " + result["error"]
    return head + (f"test error {100 * result['test_error']:.2f} % ({result['epochs']} epochs, "
                   f"{result['epoch_seconds']:.1f} s/epoch)" + (", finished before" if skipped else ""))


def main(argv=None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        grid = load_grid(args.grid, args.max_runs)
    except GridError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out or Path("runs") / "sweeps" / grid.name)
    return stopped_in_one_line(  # Ctrl-C: one line, 130
        lambda: sweep(args, grid, out),
        f"interrupted: {out} keeps the finished runs, and each run stopped its last finished "
        "epoch's checkpoint; run the same command to continue")


def sweep(args, grid, out: Path) -> int:
    runs = plan(grid, out)
    finished = [is_finished(run) for run in runs]
    print(f"sweep {grid.name}: {len(runs)} runs ({sum(finished)} finished before) in {out}",
          flush=True)
    if args.dry_run:
        for run, done in zip(runs, finished, strict=True):
            print(f"  {run.label} seed {run.seed}{' (finished)' if done else ''} -> {run.out}")
        return 0

    try:
        make_folder(out)  # before any run: a file of that name is said now, not at the end
    except RunFolderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    executor, what = _executor(args.workers)
    print(f"on {what}, one CPU thread each", flush=True)
    outcomes: dict[int, dict] = {}  # run's index -> its outcome, as each ends
    with executor:
        try:
            futures = {executor.submit(run_one, run, args.data_dir): i
                       for i, run in enumerate(runs)}
            for count, future in enumerate(concurrent.futures.as_completed(futures), start=1):
                i = futures[future]
                try:
                    outcomes[i] = future.result()
                except Exception as exc:  # noqa: BLE001 (the worker died: killed, out of memory)
                    outcomes[i] = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
                print(_line(count, len(runs), runs[i].label, runs[i].seed, outcomes[i],
                            finished[i]), flush=True)
        except KeyboardInterrupt:
            _stop_workers(executor)  # else leaving the block would wait for every run
            raise

    ended = [outcomes[i] for i in range(len(runs))]
    rows = summarise(runs, ended)
    table = markdown_table(grid, rows)
    out.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    stamp = f"{datetime.date.today().isoformat()} on {machine['cpu']} ({machine['usable_cpus']} cores)"
    (out / "results.md").write_text(
        f"# Sweep {grid.name}\n\n{grid.description}\n\n{table}\n"
        f"Errors: mean ± sample standard deviation over the seeds; test on the 10,000 test "
        f"images, val on the held-out validation images (last epoch). Measured {stamp}.\n",
        encoding="utf-8")
    (out / "results.csv").write_text(csv_table(grid, rows), encoding="utf-8")
    print("\n" + table)
    curves = curves_by_configuration(runs, ended)
    if curves and not args.no_plot:
        title = textwrap.fill(f"sweep {grid.name}: {grid.description}", 90)  # fits the figure
        plot_runs(curves, out / "curves.png", title=title)
    print(f"wrote {out / 'results.md'}, {out / 'results.csv'}"
          + (f", {out / 'curves.png'}" if curves and not args.no_plot else ""))
    failed = failures(runs, ended)
    for line in failed:
        print(f"failed: {line}", file=sys.stderr)
    return 1 if failed else 0

