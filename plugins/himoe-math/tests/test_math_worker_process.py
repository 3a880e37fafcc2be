"""The sympy worker process's life: started without the app's main module, given up when it
never gets ready, gone with its parent, not shared with a forked child."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from multiprocessing import spawn

import pytest
from himoe_math.compute import sympy_worker, sympy_worker_pool
from himoe_math.compute.sympy_worker_pool import SympyWorkerPool

from himoe_core import ExpertFailed

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads process states from /proc")


def test_a_worker_exits_when_its_parent_is_killed_mid_computation(tmp_path):
    """kill -9 of the application runs no clean-up: the worker, busy with a runaway integral,
    must notice that its parent is gone and exit instead of burning a core for hours."""
    script = tmp_path / "parent.py"
    script.write_text(
        "import os, signal, threading, time\n"
        "from himoe_math.compute.sympy_worker_pool import SympyWorkerPool\n"
        "pool = SympyWorkerPool(max_workers=1)\n"
        "assert pool.warm_up(60)\n"
        "print(pool.worker_pids()[0], flush=True)\n"
        "threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGKILL)).start()\n"
        "pool.run('math: integrate exp(x**7)*sin(x**5)', None, deadline=time.monotonic() + 600, budget_ms=600000)\n"
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    worker = int(parent.stdout.readline())
    try:
        assert parent.wait(timeout=60) == -9
        started = time.monotonic()
        while _running(worker) and time.monotonic() - started < 10:
            time.sleep(0.05)
        assert not _running(worker), "the worker outlived its killed parent"  # it polls every half second
    finally:
        if _running(worker):
            os.kill(worker, signal.SIGKILL)


def test_a_worker_whose_parent_was_gone_before_it_started_exits_at_once(tmp_path):
    """The worker is told its parent's pid: one read in the worker would be the reaper's if
    the parent died during the start-up, and the worker would then wait forever."""
    code = (
        "from multiprocessing import Pipe\n"
        "from himoe_math.compute.worker_main import worker_for\n"
        "mine, its = Pipe()\n"  # this process holds both ends: no end-of-file will come
        "worker_for(2**22 + 12345, its, None, 100)\n"
    )
    # Watching the wrong parent, it would serve its pipe forever: the run would time out.
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == ""


def test_a_worker_that_never_reports_ready_is_given_up_and_replaced(tmp_path, monkeypatch):
    silent = tmp_path / "silent-python"
    silent.write_text("#!/bin/sh\nexec sleep 30\n")
    silent.chmod(0o755)
    boot_timeout_s = sympy_worker.BOOT_TIMEOUT_S
    monkeypatch.setattr(sympy_worker, "BOOT_TIMEOUT_S", 0.5)  # the silent worker is given up after 0.5 s
    interpreter = spawn.get_executable()
    spawn.set_executable(str(silent))
    pool = SympyWorkerPool(max_workers=1)
    try:
        assert not pool.warm_up(wait_s=5)
        with pytest.raises(
            ExpertFailed,
            match=r"the sympy worker process failed to start \(TimeoutError: it did not "
            r"report ready within 0\.5 s, killed by signal 9|\(TimeoutError: it did "
            r"not report ready within 0\.5 s\)",
        ):
            pool.run("math: 2 + 2", None, deadline=time.monotonic() + 5, budget_ms=5000)
        # the replacement is a real worker: it gets the real start-up allowance, which a loaded
        # machine needs (importing sympy can take seconds there)
        spawn.set_executable(interpreter)
        monkeypatch.setattr(sympy_worker, "BOOT_TIMEOUT_S", boot_timeout_s)
        assert pool.run("math: 2 + 2", None, deadline=time.monotonic() + 120, budget_ms=120_000)["result"] == "4"
    finally:
        spawn.set_executable(interpreter)
        pool.close()


def test_a_worker_that_dies_at_start_says_how_it_ended(tmp_path):
    interpreter = spawn.get_executable()
    spawn.set_executable("/bin/false")
    pool = SympyWorkerPool(max_workers=1)
    try:
        with pytest.raises(
            ExpertFailed,
            match=r"failed to start \(\w+(: .*)?, exit code 1\); its own error, if it "
            r"printed one, is on stderr \(is sympy installed\?\)",
        ):
            pool.run("math: 2 + 2", None, deadline=time.monotonic() + 10, budget_ms=10_000)
    finally:
        spawn.set_executable(interpreter)
        pool.close()


def test_a_worker_that_cannot_be_made_takes_no_slot(monkeypatch):
    pool = SympyWorkerPool(max_workers=1)

    def no_worker(**options):
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(sympy_worker_pool, "SympyWorker", no_worker)
    for _ in range(3):
        with pytest.raises(OSError, match="Too many open files"):
            pool.run("math: 2 + 2", None, deadline=time.monotonic() + 5, budget_ms=5000)
    assert pool._live == 0
    pool.close()


def test_a_forked_child_does_not_share_its_parents_workers():
    pool = SympyWorkerPool(max_workers=1)
    try:
        assert pool.warm_up(wait_s=60)
        [worker] = pool.worker_pids()
        child = os.fork()
        if child == 0:  # the child: its own, empty pool; the parent's worker left alone
            os._exit(0 if (pool.worker_pids(), pool._live) == ([], 0) else 1)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert pool.worker_pids() == [worker] and _running(worker)
        assert pool.run("math: 2 + 2", None, deadline=time.monotonic() + 60, budget_ms=60_000)["result"] == "4"
    finally:
        pool.close()


def _running(pid: int) -> bool:
    """Whether `pid` is a live process (an exited one waiting to be reaped is not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
