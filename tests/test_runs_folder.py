"""A run's folder: metrics restart from a checkpoint's history, curves drawn as the run goes."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys

import pytest

from lenet_xp.runs import curves
from lenet_xp.runs import folder as run_folder
from lenet_xp.runs.folder import DRAW_EVERY, RunFolder, RunFolderError
from lenet_xp.training.state import EpochStats


def _stats(epoch):
    return EpochStats(epoch, 1e-3, 0.5, 0.9, 0.4, 0.92, 1.0, 100.0, float(epoch + 1))


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_curves_are_redrawn_when_training_outlasts_drawing(tmp_path, monkeypatch):
    clock, drawn = Clock(), []

    def draw(records, path, title=None):
        drawn.append(len(records))
        clock.now += 1.0  # each drawing takes 1 s

    monkeypatch.setattr(run_folder.time, "perf_counter", clock)
    monkeypatch.setattr(curves, "plot_learning_curves", draw)
    folder = RunFolder(tmp_path, log=lambda line: None)
    folder.restart([])
    assert drawn == [], "nothing to draw yet"
    for epoch in range(6):
        clock.now += DRAW_EVERY / 3  # an epoch takes a third of the wait
        folder.add_epoch(_stats(epoch))
    assert drawn == [1, 4], "after the first epoch, then once 30 drawing-times have passed"
    folder.add_test({"test_accuracy": 0.99})
    assert drawn == [1, 4, 7], "the test result is always drawn"


def test_restart_rewrites_the_metrics_from_a_history(tmp_path):
    folder = RunFolder(tmp_path, plot=False)
    (tmp_path / "metrics.jsonl").write_text("a torn line from a killed run\n")
    folder.restart([_stats(0), _stats(1)])
    folder.add_epoch(_stats(2))
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["event"], r["epoch"]) for r in lines] == [("epoch", 0), ("epoch", 1), ("epoch", 2)]


def test_without_matplotlib_the_run_goes_on_and_says_so(tmp_path, monkeypatch):
    def missing(*args, **kwargs):
        raise ImportError("lenet_xp.plots needs matplotlib: pip install 'lenet_xp[plot]'")

    monkeypatch.setattr(curves, "plot_learning_curves", missing)
    told = []
    folder = RunFolder(tmp_path, log=told.append)
    folder.restart([])
    folder.add_epoch(_stats(0))
    folder.add_epoch(_stats(1))
    assert told == ["no curves.png: lenet_xp.plots needs matplotlib: pip install 'lenet_xp[plot]'"]
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2


# ---- owning a folder: one run at a time, no run overwritten ----------------------------------

def _claimed(path, **options) -> RunFolder:
    folder = RunFolder(path, plot=False, log=options.pop("log", lambda line: None))
    folder.claim(**options)
    return folder


def test_a_folder_is_owned_by_one_run_at_a_time(tmp_path):
    first = _claimed(tmp_path / "run")
    lock = tmp_path / "run" / "run.lock"
    owner = json.loads(lock.read_text())
    assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
    with pytest.raises(RunFolderError) as refused:
        _claimed(tmp_path / "run")
    assert str(refused.value) == (
        f"{tmp_path / 'run'} is in use by another run (pid {os.getpid()} on host "
        f"{socket.gethostname()}, started {owner['started']}; {lock} says so): wait for it "
        "to end, or choose another --out")
    first.close()
    assert not lock.exists(), "a released lock leaves no file"
    _claimed(tmp_path / "run").close()


def test_a_lock_held_by_another_process_refuses_and_is_free_when_it_dies(tmp_path):
    (tmp_path / "run").mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path / "run")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunFolderError, match=f"in use by another run \\(pid {holder.pid} "):
            _claimed(tmp_path / "run")
    finally:
        holder.kill()
        holder.wait()
    told = []
    _claimed(tmp_path / "run", log=told.append).close()  # the kernel let go of the dead one's lock
    assert len(told) == 1 and told[0].startswith(
        f"{tmp_path / 'run' / 'run.lock'}: taking over from a run that ended without releasing "
        f"it (pid {holder.pid} on host {socket.gethostname()}, started ")


def test_without_flock_the_file_is_the_lock(tmp_path, monkeypatch):
    from lenet_xp.runs import lock

    monkeypatch.setattr(lock, "fcntl", None)
    first = _claimed(tmp_path / "run")
    with pytest.raises(RunFolderError, match="in use by another run .*: wait for it to end, or "
                                             "choose another --out; if no run uses it any more, "
                                             "delete .*run.lock"):
        _claimed(tmp_path / "run")
    first.close()
    assert not (tmp_path / "run" / "run.lock").exists()
    _claimed(tmp_path / "run").close()


HOLD_LOCK = """
import sys, time
from lenet_xp.runs.lock import RunLock
lock = RunLock(sys.argv[1], log=print)
print("locked", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("left", ["model.npz", "checkpoint.npz"])
def test_a_new_run_does_not_overwrite_another_runs_files(tmp_path, left):
    run = tmp_path / "run"
    run.mkdir()
    (run / left).write_bytes(b"the other run's")
    (run / "metrics.jsonl").write_text("{}\n")
    with pytest.raises(RunFolderError) as refused:
        _claimed(run)
    expected = {"model.npz": f"{run} holds a finished run (model.npz): continue it with "
                             f"--resume {run} --epochs N, choose another --out, or replace it "
                             "with --overwrite",
                "checkpoint.npz": f"{run} holds a run that stopped before its end "
                                  f"(checkpoint.npz): continue it with --resume {run}, choose "
                                  "another --out, or replace it with --overwrite"}
    assert str(refused.value) == expected[left]
    assert sorted(p.name for p in run.iterdir()) == sorted([left, "metrics.jsonl"])
    assert (run / left).read_bytes() == b"the other run's"
    folder = _claimed(run, overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == ["run.lock"], "replaced: the old run is gone"
    folder.close()
    resumed = _claimed(run, new=False)  # a resumed run continues the folder's own run
    resumed.close()


def _read_only(monkeypatch, function: str, under) -> None:
    """``os.<function>`` fails with EROFS for paths under ``under``, as on a read-only file
    system (as root, chmod does not stop writes: the refusal is simulated at the OS boundary;
    tests/test_hostile_inputs.py mounts a real read-only file system where it may)."""
    real = getattr(os, function)

    def read_only(target, *args, **kwargs):
        if str(target).startswith(str(under)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(target))
        return real(target, *args, **kwargs)
    monkeypatch.setattr(os, function, read_only)


@pytest.mark.parametrize("case", ["a file", "under a file", "read-only", "read-only, existing"])
def test_a_folder_that_cannot_be_written_is_one_clear_error(tmp_path, monkeypatch, case):
    path = {"a file": tmp_path / "taken", "under a file": tmp_path / "taken" / "run",
            "read-only": tmp_path / "ro" / "run", "read-only, existing": tmp_path / "ro"}[case]
    (tmp_path / "taken").write_text("a file")
    (tmp_path / "ro").mkdir()
    if case.startswith("read-only"):
        _read_only(monkeypatch, "mkdir", tmp_path / "ro")
        _read_only(monkeypatch, "open", tmp_path / "ro")
    with pytest.raises(RunFolderError) as refused:
        _claimed(path)
    expected = {"a file": f"--out {path} is a file, not a folder: choose a folder for the run's "
                          "files",
                "under a file": f"cannot make the folder {path} (Not a directory): choose "
                                "another --out",
                "read-only": f"cannot make the folder {path} (Read-only file system): choose "
                             "another --out",
                "read-only, existing": f"cannot write in {path} (Read-only file system): choose "
                                       "another --out"}
    assert str(refused.value) == expected[case]
