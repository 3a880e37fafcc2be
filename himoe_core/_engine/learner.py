from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .._errors import ConfigError, StateError
from ..state.postgres_state_store import PostgresStateStore
from ..state.state_location import is_url
from .himoe import HiMoE

RETRY_S = 2.0
"""How long a learner that lost the store (or its lead) waits before it tries to lead again."""


class Learner:
    """`himoe learn`: the one process that trains, for replicas with `[state] learning = "learner"`.

    One learner leads per schema at a time (a session advisory lock, held for its life); another
    waits as a standby and takes over when the leader's connection ends. The leader consumes the
    decision log joined with its rewards (`StateStore.joined_decisions`), in log order from a
    cursor kept in the store, and learns from each event through the FeedbackTrainer's own path
    (`learn_joined`: the `_train` and `_teach_experts` that inline feedback runs). A batch's state,
    the moved cursor and the snapshot's version commit in one transaction, whose NOTIFY tells the
    replicas; a batch that fails rolls back whole, and the next leader (or this one, with a new
    engine restored from the store) starts again from the cursor.

    `make_moe` builds the engine from the configuration: a new one each time this process starts
    to lead, so that nothing learned in a rolled-back batch survives in memory.
    """

    def __init__(
        self,
        make_moe: Callable[[], HiMoE],
        *,
        batch: int = 500,
        every_s: float = 0.2,
        report: Callable[[str], None] = print,
    ) -> None:
        self.make_moe = make_moe
        self.batch = batch
        self.every_s = every_s
        self.report = report
        self.consumed = 0
        self.version = 0

    def run(self, *, once: bool = False, stop: threading.Event | None = None) -> int:
        """Lead and learn until `stop` is set (with `once`: until the joined log is consumed, then
        return); retry after the store was lost. Returns the events consumed."""
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                self._lead(once, stop)
                return self.consumed
            except StateError as exc:
                if once:
                    raise
                self.report(f"learner stopped leading: {exc}; trying again in {RETRY_S:g} s")
                stop.wait(RETRY_S)
        return self.consumed

    def _lead(self, once: bool, stop: threading.Event) -> None:
        moe = self.make_moe()
        url, where = moe.trainer.path, moe.trainer.location
        moe.close()  # built before leading: what the leader saves meanwhile is read again below
        if not is_url(url):
            raise ConfigError(
                f"himoe learn needs the PostgreSQL store that replicas share; the state is {where!r} — "
                "set [state] url (or HIMOE_STATE_URL)"
            )
        lock = PostgresStateStore(str(url), pool_size=1)

        def standby() -> None:
            self.report(f"standby: another learner leads {where}; taking over when it stops")

        try:
            with lock.leadership(on_wait=standby, poll_s=min(1.0, self.every_s * 5)) as leading:
                moe = self.make_moe()
                try:
                    self._learn(moe, leading, once, stop)
                finally:
                    moe.close()
        finally:
            lock.close()

    def _learn(self, moe: HiMoE, leading: Callable[[], bool], once: bool, stop: threading.Event) -> None:
        trainer, where = moe.trainer, moe.trainer.location
        store = trainer.store
        assert isinstance(store, PostgresStateStore), "checked by _lead: the URL is a PostgreSQL one"
        position = store.learner_position()
        self.report(f"leading {where}: from log position {position}, snapshot {store.snapshot()[0]}")
        while not stop.is_set():
            started = time.monotonic()
            events = store.joined_decisions(
                reward_window_s=trainer.reward_window_s,
                default_reward=trainer.default_reward,
                now=time.time(),
                after=position,
                limit=self.batch,
            )
            if events:
                if not leading():
                    raise StateError(f"the learner lock on {where} was lost with its connection", transient=True)
                with store.exclusive():
                    for event in events:
                        trainer.learn_joined(event)
                    self.version = store.publish(position, events[-1].position)
                position = events[-1].position
                self.consumed += len(events)
                self.report(
                    f"consumed {self.consumed} events (log position {position}); published snapshot {self.version}"
                )
            elif once:
                return
            if len(events) < self.batch:
                stop.wait(max(0.0, self.every_s - (time.monotonic() - started)))
