from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

logger = logging.getLogger("himoe.learning")

Publisher = Callable[[str, Callable[[], bool]], None]


class RefitWorker:
    """Runs learning routers' batch refits (`LearningRouter.refit_job`) in a thread of its own,
    one after another, so that a refit never runs on a request's path nor in the caller of
    `feedback`. Owned by a FeedbackTrainer, which submits a router's job when its refit is due,
    waits for the queue in `drain`, and stops the thread on close.

    Each job fits on a snapshot of the router's history; its result is handed to `publish`
    (the trainer's), which applies it where learning is serialised and saves it."""

    def __init__(self, publish: Publisher) -> None:
        self._publish = publish
        self._queue: queue.Queue[tuple[str, Callable[[], Callable[[], bool]]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="himoe-refit", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                router_id, job = item
                try:
                    self._publish(router_id, job())
                except Exception:  # a refit that fails leaves the online model; nobody waits on it
                    logger.exception("router %r: publishing its refit failed", router_id)
            finally:
                self._queue.task_done()

    def submit(self, router_id: str, job: Callable[[], Callable[[], bool]]) -> None:
        self._queue.put((router_id, job))

    def drain(self) -> None:
        """Wait until every submitted refit is fitted and published (or failed)."""
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
