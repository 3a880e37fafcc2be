from __future__ import annotations

import contextlib
import logging
from typing import Any

import trio

from .._errors import StateError
from .feedback_trainer import FeedbackTrainer
from .state_calls import state_call

log = logging.getLogger("himoe.state")

WAIT_CHUNK_S = 0.5
"""The longest one blocking wait for a notice lasts: what closing the engine may wait for the
listening thread (it is not abandoned, so the connection is closed by the thread that used it)."""


class SnapshotFollower:
    """Keeps a replica in learner mode on the newest snapshot the learner published: it waits for
    the learner's NOTIFY on a connection of its own, and checks the snapshot version at least every
    `[state] sync_s` seconds whatever comes (the polling fallback: a notice is lost while the
    connection is down). A newer snapshot is read in a worker thread, in one transaction, and
    applied on the loop that routes. While the store is unreachable the replica keeps routing on
    its last snapshot and its `SnapshotStatus` says the store is down.

    Inline, on a shared store, it only watches a store that is down (every `sync_s`), and loads
    the saved state once the store answers if the replica started without it.

    `run()` is a background task: it runs in the nursery of the engine's owner (`HiMoE.open`,
    or the background loop of `run_sync`) until that is cancelled."""

    def __init__(self, trainer: FeedbackTrainer) -> None:
        self.trainer = trainer
        self._conn: Any = None

    async def run(self) -> None:
        if not self.trainer.restored:
            log.warning(
                "%s; routing on the routers' initial state until it is back, then logging and learning "
                "resume (decisions wait in memory meanwhile)",
                self.trainer.snapshot.error,
            )
        try:
            while True:
                if self.trainer.learning == "learner":
                    await self._wait_for_notice(self.trainer.sync_s)
                else:
                    # Inline, a replica learns (and reloads) through feedback: it only watches a
                    # store that is down, and loads the saved state if it started without it.
                    await trio.sleep(self.trainer.sync_s)
                    if self.trainer.restored and self.trainer.snapshot.store_up:
                        continue
                await self.check()
        finally:
            self._close()

    async def check(self) -> None:
        """Ask the store for a newer snapshot once, and apply it."""
        status = self.trainer.snapshot
        try:
            snapshot = await state_call(self.trainer.newer_snapshot)
        except StateError as exc:
            if status.store_up:
                log.warning("%s; routing goes on with the state it has (snapshot %d)", exc, status.version)
            status.down(str(exc))
            return
        if snapshot is None:
            return
        if not status.store_up:
            log.warning("state store %s is reachable again", self.trainer.location)
        if snapshot.version != status.version or not self.trainer.restored:
            self.trainer.apply_snapshot(snapshot)
            log.info("routing with model snapshot %d", snapshot.version)
        else:
            status.applied(snapshot.version, snapshot.published)

    async def _wait_for_notice(self, interval_s: float) -> None:
        deadline = trio.current_time() + interval_s
        while (left := deadline - trio.current_time()) > 0:
            if await trio.to_thread.run_sync(self._listen, min(left, WAIT_CHUNK_S)):
                return
            if self._conn is None:  # the store is down: wait out the interval rather than spin
                await trio.sleep(max(0.0, deadline - trio.current_time()))
                return

    def _listen(self, timeout: float) -> bool:
        """Block up to `timeout` for a snapshot notice (a worker thread); whether one came."""
        try:
            if self._conn is None:
                self._conn = self.trainer.listener()
            return any(True for _ in self._conn.notifies(timeout=timeout, stop_after=1))
        except Exception as exc:  # psycopg's errors, or StateError from connecting: poll instead
            log.debug("snapshot notices unavailable (%s); polling every %g s", exc, self.trainer.sync_s)
            self._close()
            return False

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # a connection already broken has nothing to release
                conn.close()
