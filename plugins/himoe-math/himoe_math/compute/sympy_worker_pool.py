from __future__ import annotations

import itertools
import os
import threading
import time
import weakref
from collections.abc import Callable

from himoe_core import Cancelled, CancelToken, DeadlineExceeded, ExpertFailed, InvalidInput

from .deadline_waiter import POLL_S, DeadlineWaiter
from .operations import DEFAULT_MAX_RESULT_CHARS
from .sympy_worker import SympyWorker

_POOLS: weakref.WeakSet[SympyWorkerPool] = weakref.WeakSet()


class SympyWorkerPool:
    """A small, lazily started pool of sympy worker processes that a deadline can kill.

    sympy cannot be interrupted inside a thread, so each computation runs in a worker process;
    the request thread waits for the answer, checking the deadline, the request's CancelToken
    and (under trio) the caller's cancellation every few milliseconds. When any of them fires
    while a job runs, the worker is killed at once — nothing keeps burning CPU — and a fresh one
    starts in the background. The first request pays the start-up (a new process that
    imports sympy); later ones reuse warm workers.

    Why not ``concurrent.futures.ProcessPoolExecutor``: it can neither cancel a running task nor
    kill one of its processes, and a killed process breaks the whole executor.
    """

    def __init__(
        self,
        name: str = "math_sympy",
        *,
        max_workers: int = 2,
        memory_limit_mb: int | None = 2048,
        max_result_chars: int = DEFAULT_MAX_RESULT_CHARS,
    ) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        self.name = name
        self.max_workers = max_workers
        self.memory_limit_mb = memory_limit_mb
        self.max_result_chars = max_result_chars
        self._cond = threading.Condition()
        self._idle: list[SympyWorker] = []
        self._live = 0
        self._closed = False
        self._jobs = itertools.count(1)
        self.replaced = 0  # workers killed mid-job (deadline, cancellation, crash) and replaced
        _POOLS.add(self)

    # -- public --------------------------------------------------------------------------------
    def warm_up(self, wait_s: float | None = None) -> bool:
        """Start one worker now if none exists; with `wait_s`, wait that long for it to be ready."""
        with self._cond:
            if self._live == 0 and not self._closed:
                self._idle.append(self._new_worker())
            workers = list(self._idle)
        if wait_s is None:
            return any(w.ready for w in workers)
        deadline = time.monotonic() + wait_s
        return any(w.wait_ready(max(0.0, deadline - time.monotonic())) and w.failure is None for w in workers)

    def worker_pids(self) -> list[int]:
        """The process ids of the idle workers (for tests and diagnostics)."""
        with self._cond:
            return [w.pid for w in self._idle if w.pid is not None]

    def run(
        self,
        text: str,
        task: str | None,
        *,
        deadline: float,
        budget_ms: float,
        cancel: CancelToken | None = None,
        check_cancelled: Callable[[], None] | None = None,
    ) -> dict:
        """Compute `text` in a worker before `deadline` (a `time.monotonic()` instant).

        Blocks the calling thread. Raises DeadlineExceeded, Cancelled (or whatever
        `check_cancelled` raises, e.g. ``trio.Cancelled``), InvalidInput for requests the worker
        refuses, ExpertFailed when a worker fails.
        """
        started = time.monotonic()
        waiter = DeadlineWaiter(deadline, cancel, check_cancelled)
        worker = self._acquire(waiter, budget_ms)
        keep = True  # a worker still warming up is kept, whatever happens to this request
        try:
            if not worker.ready and not waiter.wait(worker.wait_ready):
                raise self._stopped(
                    waiter,
                    budget_ms,
                    "the sympy worker process is still starting (the first "
                    "call after start-up imports sympy); nothing was computed, retry",
                )
            if worker.failure is not None:
                keep = False
                raise ExpertFailed(self.name, worker.failure)
            job = next(self._jobs)
            keep = False  # from here until its answer arrives, the worker is killed if we stop waiting
            try:
                worker.send({"job": job, "text": text, "task": task})
                if not waiter.wait(worker.poll):
                    elapsed = (time.monotonic() - started) * 1000.0
                    raise self._stopped(
                        waiter,
                        budget_ms,
                        f"{self.name} stopped the sympy computation after "
                        f"{elapsed:.0f} ms; its worker process was killed and a fresh one is "
                        "starting",
                    )
                reply = worker.receive()
            except (EOFError, OSError) as exc:
                raise ExpertFailed(
                    self.name, f"the sympy worker process died ({type(exc).__name__}); a fresh one is starting"
                ) from None
            if reply.get("job") != job:
                raise ExpertFailed(self.name, f"the sympy worker answered job {reply.get('job')}, expected {job}")
            keep = not reply.get("retire", False)
            status = reply.get("status")
            if status == "ok":
                return reply["result"]
            if status == "invalid":
                raise InvalidInput(reply["message"])
            raise ExpertFailed(self.name, reply.get("message", f"unexpected reply {reply!r}"))
        finally:
            if keep:
                self._release(worker)
            else:
                self._discard(worker)

    def close(self) -> None:
        """Stop every idle worker; busy ones stop when their job ends. The pool cannot be reused."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._live -= len(idle)
            self._cond.notify_all()
        for worker in idle:
            worker.stop()

    # -- workers ---------------------------------------------------------------------------------
    def _new_worker(self) -> SympyWorker:
        """A new worker (booting in the background); call with the lock held."""
        worker = SympyWorker(memory_limit_mb=self.memory_limit_mb, max_result_chars=self.max_result_chars)
        self._live += 1  # counted once it exists: a worker that could not be made holds no slot
        return worker

    def _acquire(self, waiter: DeadlineWaiter, budget_ms: float) -> SympyWorker:
        with self._cond:
            while True:
                if self._closed:
                    raise ExpertFailed(self.name, "the math worker pool was closed")
                ready = [w for w in self._idle if w.ready]
                if ready or self._idle:
                    worker = (ready or self._idle)[-1]
                    self._idle.remove(worker)
                    return worker
                if self._live < self.max_workers:
                    return self._new_worker()
                if waiter.stopped():
                    raise self._stopped(
                        waiter,
                        budget_ms,
                        f"all {self.max_workers} sympy worker processes were busy with other requests",
                    )
                self._cond.wait(POLL_S)

    def _release(self, worker: SympyWorker) -> None:
        with self._cond:
            if not self._closed and worker.failure is None:
                self._idle.append(worker)
                self._cond.notify()
                return
            self._live -= 1
        worker.kill()

    def _discard(self, worker: SympyWorker) -> None:
        """Kill `worker` and, unless it never started, start its replacement right away."""
        was_running = worker.failure is None
        worker.kill()
        with self._cond:
            self._live -= 1
            if was_running:
                self.replaced += 1
                if not self._closed and self._live < self.max_workers:
                    self._idle.append(self._new_worker())
            self._cond.notify()

    def _forget_workers(self) -> None:
        """In a forked child: the parent's workers are not this process's (another reader on
        their pipes would take the parent's answers); start afresh."""
        self._cond = threading.Condition()
        self._idle = []
        self._live = 0

    def _stopped(self, waiter: DeadlineWaiter, budget_ms: float, detail: str) -> Exception:
        if waiter.cancel is not None and waiter.cancel.is_cancelled():
            return Cancelled(waiter.cancel.reason or detail)
        return DeadlineExceeded(budget_ms, detail)


def _forget_inherited_workers() -> None:
    for pool in list(_POOLS):
        pool._forget_workers()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_workers)
