"""The loop a sympy worker process runs: receive request text, compute, send plain JSON back.

Messages are dicts. From the parent: ``{"job": int, "text": str, "task": str | None}`` or None
(stop). To the parent: ``{"status": "ready", "warmup_ms": float}`` once, then for each job
``{"status": "ok" | "invalid" | "error", "job": int, "result" | "message": …, "retire": bool}``;
``retire`` asks the parent to replace this process (after a MemoryError, for instance).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from ..parsing.expression_error import ExpressionError
from .operations import compute
from .sympy_building import load_sympy

PARENT_POLL_S = 0.5
"""How often a worker checks that its parent still lives."""

_WARM_UP = (
    "math: solve x**2 - 4 = 0",
    "math: simplify (x**2-1)/(x-1)",
    "math: factor x**2-5*x+6",
    "math: expand (x+1)**3",
    "math: diff sin(x)*x",
    "math: integrate x**2 from 0 to 1",
    "math: evaluate 2**10 + sqrt(16)",
)


def worker_main(conn: Any, memory_limit_mb: int | None, max_result_chars: int) -> None:
    """The worker's loop on `conn` (a multiprocessing Connection), until the parent stops it or leaves.

    Reports "ready" as soon as sympy is imported; the warm-up requests (which load the solver,
    polynomial, integration and printing code) then run only while no job is waiting, so an
    early request waits for at most one of them.
    """
    try:
        _serve(conn, memory_limit_mb, max_result_chars)
    except (EOFError, OSError, KeyboardInterrupt):
        # The parent went away (it exited, or the user pressed Ctrl-C, which reaches this
        # process too): there is no one left to answer, and a traceback would land on the
        # terminal after the command has already finished.
        return


def worker_for(parent: int, conn: Any, memory_limit_mb: int | None, max_result_chars: int) -> None:
    """Entry point of a worker that WorkerProcess started for the process `parent`: serve `conn`
    while that process lives."""
    _exit_with(parent)
    worker_main(conn, memory_limit_mb, max_result_chars)


def _exit_with(parent: int) -> None:
    """Exit as soon as `parent` is gone, even in the middle of a computation: a parent killed
    outright (kill -9, the OOM killer) cleans nothing up, and a runaway sympy job would go on
    burning a core until it ended, maybe hours later. Given the pid the parent had when it started
    this worker, not read here: by then the parent may be gone already."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(0)

    threading.Thread(target=watch, name="himoe-math-parent-watch", daemon=True).start()


def _serve(conn: Any, memory_limit_mb: int | None, max_result_chars: int) -> None:
    started = time.perf_counter()
    # Results up to max_result_chars may be long integers; Python refuses to print > 4300 digits.
    sys.set_int_max_str_digits(max(sys.get_int_max_str_digits(), max_result_chars + 16))
    load_sympy()
    conn.send({"status": "ready", "warmup_ms": (time.perf_counter() - started) * 1000.0, "pid": os.getpid()})
    warm_up = list(_WARM_UP)
    limited = False
    while True:
        if warm_up and not conn.poll(0):
            compute(warm_up.pop(0), max_result_chars=max_result_chars)
            continue
        if not limited:  # the limit counts from the warmed-up size
            _limit_memory(memory_limit_mb)
            limited = True
        message = conn.recv()
        if message is None:
            return
        conn.send(_answer(message, max_result_chars, memory_limit_mb))


def _answer(message: dict, max_result_chars: int, memory_limit_mb: int | None) -> dict:
    job = message.get("job")
    try:
        result = compute(message["text"], message.get("task"), max_result_chars=max_result_chars)
        return {"status": "ok", "job": job, "result": result, "retire": False}
    except ExpressionError as exc:
        return {"status": "invalid", "job": job, "message": str(exc), "retire": False}
    except NotImplementedError as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "no method applies"
        return {
            "status": "invalid",
            "job": job,
            "retire": False,
            "message": f"sympy cannot compute this: {detail}; try another form or operation",
        }
    except RecursionError:
        return {
            "status": "invalid",
            "job": job,
            "retire": True,
            "message": "expression is nested too deeply for sympy to compute; simplify it",
        }
    except (MemoryError, SystemError):
        # At the memory cap CPython may surface a failed allocation inside C code as a
        # SystemError ("returned NULL without setting an exception") instead of MemoryError;
        # either way this process is no longer trustworthy and is replaced.
        return {
            "status": "invalid",
            "job": job,
            "retire": True,
            "message": f"the computation needed more than the {memory_limit_mb} MB memory limit of a math "
            "worker; ask for a smaller computation",
        }
    except Exception as exc:  # report anything else as a failure of this request, keep serving
        return {
            "status": "error",
            "job": job,
            "retire": False,
            "message": f"sympy raised {type(exc).__name__}: {str(exc)[:500]}",
        }


def _limit_memory(memory_limit_mb: int | None) -> None:
    """Cap this process's address space at its warmed-up size plus `memory_limit_mb` (Linux)."""
    if not memory_limit_mb or not os.path.exists("/proc/self/statm"):
        return
    import resource

    with open("/proc/self/statm") as statm:
        current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = current + memory_limit_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
