"""lenet_xp.cli.rank_watch: the launcher learns which process each rank is and which ended
first (without MPI: two sleeping processes play the ranks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from lenet_xp.cli.rank_watch import REPORT_FD, RankLost, RankWatch, ended_by_signal, say_who

SAY_AND_SLEEP = ("import os, sys, time; from lenet_xp.cli.rank_watch import say_who; "
                 "say_who(int(sys.argv[1])); time.sleep(60)")


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs Linux's pidfds")
def test_the_rank_killed_first_is_named():
    watch = RankWatch()
    ranks = [subprocess.Popen([sys.executable, "-c", SAY_AND_SLEEP, str(rank)],
                              env={**os.environ, **watch.environment}, pass_fds=(watch.write,))
             for rank in range(2)]
    watch.start()
    try:
        _wait_until_said(watch, ranks)
        ranks[1].send_signal(signal.SIGKILL)
        ranks[1].wait()
        ranks[0].send_signal(signal.SIGKILL)  # as MPI ends the others
        ranks[0].wait()
        lost = watch.lost(9)
    finally:
        for rank in ranks:
            rank.kill()
    assert watch.first == (1, ranks[1].pid)
    assert str(lost) == (f"MPI rank 1 (pid {ranks[1].pid}) was ended by signal 9 (SIGKILL: "
                         "kill -9, or the system out of memory), and MPI stopped the other ranks")
    assert lost.code == 9


def _wait_until_said(watch, ranks, seconds=30.0):
    """Until each rank has said who it is (its line read by the watch's thread)."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        fds = os.listdir("/proc/self/fd")
        if sum(os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[pidfd]" for fd in fds
               if os.path.exists(f"/proc/self/fd/{fd}")) >= len(ranks):
            return
        time.sleep(0.01)
    raise AssertionError("the ranks did not say who they are")


def test_what_is_a_signal_and_what_is_a_ranks_own_exit():
    assert [code for code in (0, 1, 2, 6, 9, 11, 15, 129, 130, 143) if ended_by_signal(code)] \
        == [6, 9, 11, 15]
    assert str(RankLost(15, None)) == ("an MPI rank was ended by signal 15 (SIGTERM), and MPI "
                                       "stopped the other ranks")


def test_a_rank_without_the_pipe_says_nothing(monkeypatch):
    monkeypatch.delenv(REPORT_FD, raising=False)
    say_who(0)  # no pipe: nothing to do, nothing raised
    monkeypatch.setenv(REPORT_FD, "987")  # a descriptor this process does not have
    say_who(0)
