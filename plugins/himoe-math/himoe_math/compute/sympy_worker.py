from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time

from .worker_main import worker_main
from .worker_process import WorkerProcess

BOOT_TIMEOUT_S = 60.0
"""A worker that has not reported ready by then (sympy imports in ~0.2 s) is given up: killed,
and replaced by the next request."""


class SympyWorker:
    """One sympy worker process and the pipe to it; it can be killed at any moment.

    Construction returns at once: a daemon thread starts the process and waits for its "ready"
    message (sympy imported), so no request thread ever blocks on a start-up.
    """

    def __init__(self, *, memory_limit_mb: int | None, max_result_chars: int) -> None:
        self._conn, child_conn = multiprocessing.Pipe(duplex=True)
        self._process: WorkerProcess | multiprocessing.process.BaseProcess
        if os.name == "posix" and not getattr(sys, "frozen", False):
            self._process = WorkerProcess(child_conn, self._conn, memory_limit_mb, max_result_chars)
        else:
            # No descriptor to inherit (Windows), or a frozen app whose executable is the app:
            # multiprocessing's spawn, whose freeze_support() the app calls; its script needs a
            # __main__ guard.
            self._process = multiprocessing.get_context("spawn").Process(
                target=worker_main,
                args=(child_conn, memory_limit_mb, max_result_chars),
                name="himoe-math-sympy-worker",
                daemon=True,
            )
        self._child_conn = child_conn
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._killed = False
        self.failure: str | None = None
        self.warmup_ms: float | None = None
        self.created = time.monotonic()
        self.jobs = 0
        threading.Thread(target=self._boot, name="himoe-math-worker-boot", daemon=True).start()

    def _boot(self) -> None:
        try:
            with self._lock:
                if self._killed:
                    return
                self._process.start()
            self._child_conn.close()  # keep only the child's copy, so its death reads as EOF here
            if not self._conn.poll(BOOT_TIMEOUT_S):
                raise TimeoutError(f"it did not report ready within {BOOT_TIMEOUT_S:g} s")
            message = self._conn.recv()
            if message.get("status") != "ready":
                raise RuntimeError(f"unexpected first message {message!r}")
            self.warmup_ms = float(message["warmup_ms"])
        except Exception as exc:  # EOFError when the process died while starting
            if not self._killed:
                self.failure = self._start_failure(exc)
        finally:
            self._ready.set()
            if self._killed:
                self._close()

    def _start_failure(self, exc: Exception) -> str:
        """Why the worker did not start: the error here, and how the process ended."""
        self._process.join(timeout=0.5)
        code = self._process.exitcode
        ended = "" if code is None else f", exit code {code}" if code >= 0 else f", killed by signal {-code}"
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return (
            f"the sympy worker process failed to start ({detail}{ended}); its own error, if it printed one, "
            "is on stderr (is sympy installed?)"
        )

    # -- state ---------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def is_alive(self) -> bool:
        return not self._killed and self._process.is_alive()

    # -- jobs ------------------------------------------------------------------------------------
    def send(self, message: dict) -> None:
        self.jobs += 1
        self._conn.send(message)

    def poll(self, timeout: float) -> bool:
        return self._conn.poll(timeout)

    def receive(self) -> dict:
        return self._conn.recv()

    def kill(self) -> None:
        """Stop the process now (SIGKILL: sympy cannot be interrupted politely) and reap it."""
        with self._lock:
            self._killed = True
            started = self._process.pid is not None
        if started:
            self._process.kill()
            self._process.join(timeout=5)
        if self._ready.is_set():  # else the boot thread, still reading, closes the pipe when it ends
            self._close()

    def _close(self) -> None:
        with self._lock:
            for conn in (self._conn, self._child_conn):
                try:
                    conn.close()
                except OSError:
                    pass

    def stop(self) -> None:
        """Ask an idle process to exit, then make sure it did."""
        if self.ready and self.failure is None and self.is_alive():
            try:
                self._conn.send(None)
                self._process.join(timeout=1)
            except (OSError, ValueError):
                pass
        self.kill()
