"""lenet_xp.cli.rank_watch: the launcher learns which process each rank is, which of them said
they ended, and which was killed first (without MPI: processes play the ranks, and the test
plays MPI's clean-up of the others; the real mpiexec runs in tests/test_hostile_inputs.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from lenet_xp.cli.rank_watch import RankLost, RankWatch, killing_signal
from lenet_xp.training.rank_report import REPORT_FD, say_started

# A rank: it says it started, then sleeps; SIGTERM ends it of its own accord (its end said at
# exit), as lenet_xp's ranks stop on it
RANK = ("import signal, sys, time; from lenet_xp.training.rank_report import say_started; "
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(143)); "
        "say_started(int(sys.argv[1])); print('started', flush=True); time.sleep(60)")
# MPI's launcher, played: it starts two ranks with the watch's pipe, writes their pids to the
# file argv[2] once both have said they started, waits for the file argv[3] (the launcher's
# watch has them), kills rank 1 with SIGKILL, ends rank 0 as MPICH's clean-up does (SIGTERM:
# rank 0 says it ended), and exits with the code argv[1]
FAKE_MPIEXEC = f"""
import os, signal, subprocess, sys, time
ranks = [subprocess.Popen([sys.executable, "-c", {RANK!r}, str(rank)], stdout=subprocess.PIPE,
                          text=True, close_fds=False) for rank in range(2)]
for rank in ranks:
    assert rank.stdout.readline() == "started\\n"
with open(sys.argv[2] + ".part", "w") as pids:
    pids.write(" ".join(str(rank.pid) for rank in ranks))
os.replace(sys.argv[2] + ".part", sys.argv[2])
while not os.path.exists(sys.argv[3]):
    time.sleep(0.01)
ranks[1].kill()
ranks[1].wait()
ranks[0].send_signal(signal.SIGTERM)
ranks[0].wait()
sys.exit(int(sys.argv[1]))
"""
needs_pidfds = pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs Linux's pidfds")


def _start(watch: RankWatch, count: int = 2) -> list[subprocess.Popen]:
    ranks = [subprocess.Popen([sys.executable, "-c", RANK, str(rank)], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, **watch.environment},
                              pass_fds=(watch.write,)) for rank in range(count)]
    watch.start()
    for rank in ranks:
        assert rank.stdout.readline() == "started\n"
    _until_watched(watch, count)
    return ranks


def _until_watched(watch: RankWatch, count: int, seconds: float = 30.0) -> None:
    """Until the watch's thread has read ``count`` ranks' start lines (and watches them)."""
    deadline = time.monotonic() + seconds
    while len(watch.started) < count:
        assert time.monotonic() < deadline, "the watch did not hear the ranks start"
        time.sleep(0.01)


def _end(ranks, first, how) -> None:
    """``first`` is killed with SIGKILL; then the others are ended by ``how``."""
    ranks[first].kill()
    ranks[first].wait()
    for rank in ranks:
        rank.send_signal(how)
        rank.wait()


@needs_pidfds
@pytest.mark.parametrize("clean_up", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_the_rank_killed_first_is_named_whatever_mpiexec_says(clean_up):
    """Rank 1 is killed; MPI ends rank 0, which cannot say it ended (SIGKILL) or can (its own
    SIGTERM handler): either way rank 1 is the one, and mpiexec's exit code (9, 143, 1)
    decides only what the line says of the signal."""
    watch = RankWatch()
    ranks = _start(watch)
    try:
        _end(ranks, 1, clean_up)
        lost = watch.lost(9)
    finally:
        for rank in ranks:
            rank.kill()
    assert watch.killed == (1, ranks[1].pid)
    assert watch.ended == ({0} if clean_up == signal.SIGTERM else set())
    assert str(lost) == (f"MPI rank 1 (pid {ranks[1].pid}) was ended by signal 9 (SIGKILL: "
                         "kill -9, or the system out of memory), and MPI stopped the other ranks")
    assert lost.code == 9
    for code in (143, 1):
        lost = watch.lost(code)
        assert str(lost) == (f"MPI rank 1 (pid {ranks[1].pid}) was ended by a signal (kill -9, "
                             f"or the system out of memory? mpiexec's exit code {code} does not "
                             "say which), and MPI stopped the other ranks")
        assert lost.code == code


@needs_pidfds
def test_a_rank_that_said_it_ended_leaves_the_others_unnamed():
    """Rank 1 ends of its own accord (having said what went wrong itself), then MPI kills
    rank 0, which has no time to say anything: nobody was killed first."""
    watch = RankWatch()
    ranks = _start(watch)
    try:
        ranks[1].send_signal(signal.SIGTERM)
        ranks[1].wait()
        ranks[0].kill()
        ranks[0].wait()
        assert watch.lost(1) is None
    finally:
        for rank in ranks:
            rank.kill()
    assert watch.ended == {1} and watch.killed is None


@needs_pidfds
@pytest.mark.parametrize("code", [9, 143, 1])
def test_the_launcher_names_the_killed_rank_whatever_mpiexec_exits_with(code, tmp_path,
                                                                       monkeypatch):
    """run_on_ranks with a fake mpiexec that kills rank 1 and cleans up rank 0, then exits
    with ``code``: RankLost names rank 1 each time."""
    import threading

    from lenet_xp.cli import mpi_launch

    watches: list[RankWatch] = []

    class Watch(RankWatch):  # the launcher's watch, within the test's reach
        def start(self):
            super().start()
            watches.append(self)

    def let_it_kill():  # once the fake mpiexec's ranks run and the watch has them
        deadline = time.monotonic() + 60
        while not (watches and (tmp_path / "pids").exists()):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        _until_watched(watches[0], 2)
        (tmp_path / "go").touch()

    monkeypatch.setattr(mpi_launch, "RankWatch", Watch)
    helper = threading.Thread(target=let_it_kill, daemon=True)
    helper.start()
    with pytest.raises(RankLost) as raised:
        mpi_launch.run_on_ranks([sys.executable, "-c", FAKE_MPIEXEC, str(code),
                                 str(tmp_path / "pids"), str(tmp_path / "go")])
    helper.join(10)
    pids = list(map(int, (tmp_path / "pids").read_text().split()))
    assert str(raised.value).startswith(f"MPI rank 1 (pid {pids[1]}) was ended by ")
    assert raised.value.code == code


def test_without_pidfds_the_reports_alone_decide():
    """Where the kernel has no pidfds (or the system is not Linux) the order of the ends is
    not known: a rank is named only where it alone never said it ended, and no rank did."""
    watch = RankWatch()
    watch.pidfds = False
    ranks = _start(watch)
    try:
        _end(ranks, 1, signal.SIGKILL)
        lost = watch.lost(9)
    finally:
        for rank in ranks:
            rank.kill()
    assert watch.killed is None and watch.started == {0: ranks[0].pid, 1: ranks[1].pid}
    assert str(lost) == ("an MPI rank was ended by signal 9 (SIGKILL: kill -9, or the system "
                         "out of memory), and MPI stopped the other ranks")


def test_what_is_not_a_report_is_passed_over():
    watch = RankWatch()
    assert watch._heard([b"", b"start 1", b"end x", b"hello", b"start 2 77", b"end 0"]) == [
        (2, 77)]
    assert watch.ended == {0}
    os.close(watch.read)
    os.close(watch.write)


def test_which_exit_codes_name_a_signal():
    assert {code: killing_signal(code) for code in (0, 1, 2, 6, 9, 11, 15, 129, 130, 137, 139,
                                                    143)} == {
        0: None, 1: None, 2: None, 6: 6, 9: 9, 11: 11, 15: None, 129: None, 130: None, 137: 9,
        139: 11, 143: None}
    assert str(RankLost(6, None)) == ("an MPI rank was ended by signal 6 (SIGABRT), and MPI "
                                      "stopped the other ranks")
    assert RankLost(0, None).code == 1  # the launcher exits non-zero


def test_a_rank_without_the_pipe_says_nothing(monkeypatch):
    monkeypatch.delenv(REPORT_FD, raising=False)
    say_started(0)  # no pipe: nothing to do, nothing raised
    monkeypatch.setenv(REPORT_FD, "987")  # a descriptor this process does not have
    say_started(0)
