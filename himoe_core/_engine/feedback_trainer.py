from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from himoe_registry import ExpertId

from .._decision import decision_codec
from .._decision.decision import Decision
from .._errors import ConfigError, InvalidInput, MoeError, StateError
from .._input import InputData
from .._input.input_data import check_unicode
from .._learning.feedback_values import check_feedback
from .._orchestrator.orchestration_feedback import OrchestrationFeedback
from .._router.router_feedback import RouterFeedback
from .._router.router_ref import RouterRef
from .._router.router_trait import Router
from .._value import Value, to_value
from ..state.decision_event import DecisionEvent
from ..state.joined_decision import JoinedDecision
from ..state.postgres_state_store import PostgresStateStore
from ..state.state_location import exists, is_url, open_state_store, redact_url, state_target
from ..state.state_schema import (
    DEFAULT_FLUSH_EVERY,
    DEFAULT_FLUSH_S,
    DEFAULT_MAX_TRACES,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_REWARD_WINDOW_S,
    split_state,
    trace_row,
)
from ..state.state_store_trait import StateStore
from .refit_worker import RefitWorker
from .snapshot import Snapshot
from .snapshot_status import SnapshotStatus
from .trace_record import TraceRecord
from .trace_store import TraceStore
from .trace_writer import TraceWriter

log = logging.getLogger("himoe.state")

UNREACHABLE_RETRY_S = 120.0
"""How long the writer keeps retrying a batch while the shared store cannot be reached."""
UNREACHABLE_BACKOFF_S = 0.5
SHARED_FEEDBACK_WAIT_S = 2.0
"""With a PostgreSQL store, how long feedback on a trace id this process does not hold waits for
the replica that decided to log it (`[state] feedback_wait_s`)."""
LOGGED_POLL_S = (0.005, 0.1)
"""The first and the longest pause between two looks for a decision another process logs."""


class FeedbackTrainer:
    """Turns feedback on a decision into learning, and keeps what was learned.

    Feedback reaches the router that decided (`Router.learn`, with its Decision: the features
    it gated on, the propensities, the outputs), the experts it credited (their optional
    `learn`), and the orchestrator when shadow answers are scored after the fact. With a state
    file, traces and decisions are written behind (every `flush_every` requests and on close),
    every feedback row is kept, and router and expert state is saved after each update —
    reloaded first when another process saved a newer version, so concurrent learners build on
    each other.
    """

    def __init__(
        self,
        *,
        routers: Mapping[str, RouterRef],
        orchestrator: Any,
        experts: Any,
        traces: TraceStore,
        state: Mapping[str, Any],
    ) -> None:
        self.routers = routers
        self.orchestrator = orchestrator
        self.experts = experts
        self.traces = traces
        self.enabled = bool(state.get("enabled", True))
        self.path = state_target(state)
        self.flush_every = int(state.get("flush_every", DEFAULT_FLUSH_EVERY))
        self.flush_s = float(state.get("flush_s", DEFAULT_FLUSH_S))
        self.retention = {key: state[key] for key in ("retention_days", "max_traces") if key in state}
        self.reward_window_s = float(state.get("reward_window_s", DEFAULT_REWARD_WINDOW_S))
        self.default_reward = state.get("default_reward")
        self.replica = str(state.get("replica") or f"{socket.gethostname()}:{os.getpid()}")
        # "learner": this process logs decisions and feedback, and `himoe learn` trains on the log.
        self.learning = str(state.get("learning", "inline"))
        self.sync_s = float(state.get("sync_s", 2.0))
        self.shared = is_url(self.path)  # PostgreSQL: replicas, possibly on other machines
        self.feedback_wait_s = float(state.get("feedback_wait_s", SHARED_FEEDBACK_WAIT_S if self.shared else 0.0))
        if self.learning == "learner" and not (self.enabled and is_url(self.path)):
            raise ConfigError(
                "state.learning = 'learner' needs the shared PostgreSQL store the learner reads: set "
                "[state] url (or HIMOE_STATE_URL), or use learning = 'inline'"
            )
        self.snapshot = SnapshotStatus()
        self._store: StateStore | None = None
        self._lock = threading.RLock()
        # Neither is ever held while waiting for the writer thread, which takes both: opening
        # the store, and the requests queued for it (the event loop queues every request).
        self._open_lock = threading.Lock()
        self._pending_lock = threading.Lock()
        # (trace, decision, when it was decided): the decision log's time is the decision's, not the write's
        self._pending: list[tuple[TraceRecord, Decision, float]] = []
        self._writer: TraceWriter | None = None
        self._armed = False  # the writer's timer runs (under the pending lock, as `_pending`)
        # The served decisions are rebuilt from the kept traces' atoms when feedback comes (a
        # Decision object per request would leave ~20 objects a request for the garbage
        # collector to walk); shadows, rarer, are kept as they are: trace id → router → decision.
        self._shadows: OrderedDict[str, dict[str, Decision]] = OrderedDict()
        # Without a state file: the feedback learned from, per trace still kept (the only
        # traces feedback can reach then).
        self._given: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._versions: dict[str, int] = {}
        self._expert_versions: dict[str, int] = {}
        # Each router's state before it learned anything (None: it keeps none), asked once:
        # whether it learns, and what to go back to when its first update goes wrong.
        self._fresh = {router_id: copy.deepcopy(ref.handle.state_dict()) for router_id, ref in routers.items()}
        self._learns = {router_id: state is not None for router_id, state in self._fresh.items()}
        self._refits: RefitWorker | None = None
        self.restored = False  # the saved state is loaded (an unreachable store defers it)
        if self.enabled and exists(self.path):
            try:
                self.restore()
            except StateError as exc:
                if not (self.shared and _unreachable(exc)):
                    raise
                # A replica starts without its store (down, or not up yet): it routes on the
                # routers' initial state, logs once the store is back, and says so meanwhile
                # (its SnapshotFollower does, once it runs: a one-shot command stops first).

    # -- state -------------------------------------------------------------------------------------
    @property
    def location(self) -> str:
        """Where the state is, as messages show it: the file, or the URL without its password."""
        return redact_url(str(self.path)) if is_url(self.path) else str(self.path)

    @property
    def store(self) -> StateStore:
        store = self._store
        if store is not None:
            return store
        with self._open_lock:
            if self._store is None:
                try:
                    self._store = open_state_store(self.path, **self.retention)
                except StateError as exc:
                    if _unreachable(exc):
                        self.snapshot.down(str(exc))
                    raise
                self.snapshot.reachable()
            return self._store

    def require_store(self) -> None:
        """Open the store and load the saved state now, or raise StateError (one-shot commands:
        no point answering when what they do cannot be kept)."""
        if self.enabled and exists(self.path):
            with self._lock:
                self._restore_once()

    def _restore_once(self) -> None:
        if not self.restored:
            self.restore()

    def restore(self) -> None:
        """Load every saved router and expert state that matches this configuration."""
        store = self.store
        if self.learning == "learner":
            assert isinstance(store, PostgresStateStore), "learning = 'learner' is checked to use PostgreSQL"
            self.snapshot.applied(*store.snapshot())  # read first: the state loaded below is at least as new
        for router_id, ref in self.routers.items():
            saved = store.load_router(router_id)
            if saved is not None and saved[0].get("kind") == ref.handle.kind:
                ref.handle.load_state_dict(saved[0])
                ref.handle.model_version = self._versions[router_id] = saved[1]
        for eid, _name, expert in self.experts.items():
            loader = getattr(expert, "load_state_dict", None)
            if loader is not None:
                saved = store.load_expert(str(eid))
                if saved is not None:
                    loader(saved[0])
                    self._expert_versions[str(eid)] = saved[1]
        self.restored = True

    def remember(self, record: TraceRecord, decision: Decision) -> None:
        """Queue a request's trace and decision for the state file (written behind by the
        TraceWriter's thread, every `flush_every` requests); without one, the kept trace is
        what feedback reads."""
        if self.enabled:
            self._queue(record, decision)

    def remember_shadow(self, decision: Decision) -> None:
        """Keep a shadow router's decision beside the served one (it can be scored later), and
        queue the changed trace again."""
        with self._lock:
            self._shadows.setdefault(decision.trace_id, {})[decision.router] = decision
            while len(self._shadows) > self.traces.capacity:
                self._shadows.popitem(last=False)
            record = self.traces.record(decision.trace_id)
            if record is not None and self.enabled:
                self._queue(record, decision)

    def _queue(self, record: TraceRecord, decision: Decision) -> None:
        with self._pending_lock:
            if self._writer is None:
                self._writer = TraceWriter(self._write_batch, every_s=self.flush_s, due=self._submit_due)
            self._pending.append((record, decision, time.time()))
            if len(self._pending) >= self.flush_every:
                self._submit()
            elif not self._armed:  # written within flush_s, if flush_every requests do not come first
                self._armed = True
                self._writer.arm()

    def recorded(self, trace_id: str) -> bool:
        """Whether the state file already holds a trace with this id."""
        if not self.enabled or (self._store is None and not exists(self.path)):
            return False
        if not self.snapshot.store_up:  # known down: not waited for on the request's path
            return False
        with self._pending_lock:  # not flushed: this runs on the request's path; pending traces are looked at
            if any(record.trace_id == trace_id for record, _, _ in self._pending):
                return True
        try:
            return self.store.trace(trace_id) is not None
        except StateError:  # an unreadable state file fails the write, reported then; not the request
            return False

    def _submit(self) -> None:
        """Hand the pending requests to the writer (under the pending lock: batches reach the
        writer in the order they were queued, whoever submits them)."""
        assert self._writer is not None, "a request was queued, so the writer was started"
        batch, self._pending = self._pending, []
        self._writer.submit(batch)

    def _submit_due(self) -> bool:
        """The writer's timer (every `flush_s`): what waited in memory that long is written now,
        so another replica finds a decision within `flush_s` of its answer however slow the
        traffic. True: the timer keeps running; False (nothing waited): it stops until the next
        request arms it again."""
        with self._pending_lock:
            if self._pending:
                self._submit()
                return True
            self._armed = False
            return False

    def _write_batch(self, batch: list[tuple[TraceRecord, Decision, float]]) -> None:
        """Write one batch (in the writer's thread); a shared store that cannot be reached (a
        restart, a failover, or not up yet when this process started) is retried for up to
        UNREACHABLE_RETRY_S, so that an outage delays the log rather than losing from it (both
        writes are idempotent: a trace id or decision seen is kept once)."""
        deadline = time.monotonic() + (UNREACHABLE_RETRY_S if is_url(self.path) else 0.0)
        tries = 0
        while True:
            try:
                self._write_batch_once(self.store, batch)
                self.snapshot.reachable()
                return
            except StateError as exc:
                if not _unreachable(exc) or time.monotonic() >= deadline:
                    raise
                self.snapshot.down(str(exc))
                tries += 1
                (log.warning if tries == 1 else log.debug)("%s; the log's next %d rows wait for it", exc, len(batch))
                time.sleep(UNREACHABLE_BACKOFF_S)

    def _write_batch_once(self, store: StateStore, batch: list[tuple[TraceRecord, Decision, float]]) -> None:
        # Each trace rendered, encoded and summarised for `himoe stats` in turn, its dict let go
        # at once (see state_schema.trace_row), before the transaction: not under the log's lock.
        now = time.time()
        traces = [
            trace_row(self.traces.owned(record), *_recorded_input(decision.input), now) for record, decision, _ in batch
        ]
        # Only answered decisions can be learned from; a failed one is in the trace alone.
        decisions = [
            DecisionEvent(
                uuid.uuid4().hex,
                d.trace_id,
                d.router,
                decision_codec.encode(d),
                self.replica,
                d.model_version,
                when,
            )
            for _, d, when in batch
            if d.ok
        ]
        # One transaction: another replica never finds a trace without its decision record.
        with store.appending():
            store.record_trace_rows(traces, created=now)
            store.record_decisions(decisions)

    def flush(self) -> None:
        """Write every pending trace now, and wait for it."""
        with self._lock:
            with self._pending_lock:
                if self._pending:
                    self._submit()
            if self._writer is not None:
                self._writer.drain()

    def wait_refits(self) -> None:
        """Wait until every refit started so far is fitted and published. Called without the
        lock: publishing takes it."""
        refits = self._refits
        if refits is not None:
            refits.drain()

    def close(self) -> None:
        refits, self._refits = self._refits, None
        if refits is not None:
            refits.close()  # its last publish may save state: before the store closes
        with self._lock:
            if self.enabled:
                self.flush()
            if self._writer is not None:
                writer, self._writer = self._writer, None
                writer.close()
            with self._pending_lock:
                self._armed = False  # its timer went with it: the next request arms the next writer's
            if self._store is not None:
                self._store.close()
                self._store = None

    # -- feedback ----------------------------------------------------------------------------------
    def feedback(
        self,
        trace_id: str,
        *,
        reward: float | None = None,
        task_loss: float | None = None,
        scores: Mapping[str, float] | None = None,
        expected: Any = None,
        shadow_scores: Mapping[str, float] | None = None,
    ) -> dict[str, Any]:
        # Everything is checked before anything learns: the range, and reward xor task_loss.
        if not isinstance(trace_id, str):
            raise InvalidInput(
                f"trace_id must be a str (a response's trace_id), got {type(trace_id).__name__} {trace_id!r}"
            )
        check_unicode(trace_id, "trace id")  # else the state file's query fails on it
        check_feedback(reward, task_loss, scores=scores, shadow_scores=shadow_scores)
        reward, task_loss = _reward_and_loss(reward, task_loss, scores)
        if self.enabled and self.shared and not self.snapshot.store_up:
            self._probe(trace_id)  # refused at once while it is down, not after the writer's retries
        waited = self._wait_until_logged(trace_id)  # not under the lock: the event loop queues requests under it
        with self._lock:
            if self.enabled:
                self.flush()
                if self.learning == "inline":
                    self._restore_once()  # the store was down when this process started
            decision, shadow_decisions = self._find(trace_id, waited)
            router_id = decision.router
            if router_id not in self.routers:
                raise InvalidInput(
                    f"trace {trace_id!r} was served by router {router_id!r}, which this config does not have"
                )
            names = self._names(decision)
            rewards = _rewards(decision, names, reward, scores)
            expected_value = to_value(expected) if expected is not None else None
            summary: dict[str, Any] = {
                "trace_id": trace_id,
                "router": router_id,
                "reward": reward,
                "task_loss": task_loss,
                "router_learns": self._learns[router_id],
                "rewards": {names[eid] if eid in names else str(eid): r for eid, r in rewards},
                "experts_updated": [],
            }
            primary = {
                "reward": reward,
                "task_loss": task_loss,
                "rewards": {str(eid): r for eid, r in rewards},
                "expected": expected_value.to_jsonable() if expected_value is not None else None,
            }
            shadows = _checked_shadow_scores(trace_id, shadow_decisions, shadow_scores)
            with self._transaction():
                # Everything is checked before anything learns: a call refused half-way would
                # have trained without leaving its row, and its retry would train again.
                learned, scored = self._earlier_feedback(trace_id)
                if learned is not None and not _same_feedback(learned, primary):

                    def shown(feedback: dict[str, Any]) -> str:
                        per_expert = {names.get(ExpertId.parse(eid), eid): r for eid, r in feedback["rewards"].items()}
                        return (
                            f"reward {feedback['reward']!r}, task_loss {feedback['task_loss']!r}, per expert "
                            f"{per_expert}, expected {feedback['expected']!r}"
                        )

                    raise InvalidInput(
                        f"trace {trace_id!r} already has feedback ({shown(learned)}), not ({shown(primary)}): "
                        "a decision is learned from once, so different feedback on it is refused; "
                        "repeat the same feedback to score shadows"
                    )
                if shadows and scored:
                    changed = sorted(r for r in shadows if r in scored and not math.isclose(scored[r], shadows[r]))
                    if changed:
                        raise InvalidInput(
                            f"trace {trace_id!r}: shadow {', '.join(changed)} already scored "
                            f"({', '.join(f'{r} {scored[r]!r}' for r in changed)}); a shadow is scored once"
                        )
                    shadows = {r: v for r, v in shadows.items() if r not in scored}
                first = learned is None
                summary["first_feedback"] = first
                summary["repeat"] = not first and not shadows
                if summary["repeat"]:
                    return summary
                # A row per new piece of learning; shadows scored later carry no reward, so the
                # quality metrics count each decision once.
                row = {**primary, "shadow_scores": shadows} if first else {"shadow_scores": shadows}
                if self.enabled:  # in the transaction: rolled back if learning fails below
                    self.store.record_feedback(
                        trace_id,
                        router_id,
                        reward if first else None,
                        task_loss if first else None,
                        row,
                        event_id=uuid.uuid4().hex,
                        replica=self.replica,
                    )
                if self.learning == "learner":
                    summary["learned_by"] = "learner"  # from the log, in order: `himoe learn`
                    shadows = {}
                elif first:
                    self._train(decision, rewards, task_loss)
                    summary["experts_updated"] = self._teach_experts(decision, rewards, expected_value)
                if shadows:
                    summary["shadows"] = self._score_shadows(decision, shadow_decisions, reward, shadows)
                if not self.enabled:
                    self._given.setdefault(trace_id, []).append(row)
                    while self._given and self.traces.record(next(iter(self._given))) is None:
                        self._given.popitem(last=False)  # its trace is gone: no feedback can reach it
        return summary

    def learn_joined(self, event: JoinedDecision) -> None:
        """Learn from one logged decision joined with its reward, as `feedback` learns from the
        first feedback on it (the learner's path: the same `_train` and `_teach_experts`). The
        feedback row gives the per-expert rewards, task loss and expected answer; a default
        reward (the window passed without one) credits every counted expert."""
        decision = decision_codec.decode(event.record)
        if decision.router not in self.routers:
            log.warning(
                "decision %s was made by router %r, which this config does not have; skipped",
                event.trace_id,
                decision.router,
            )
            return
        row = None
        if not event.defaulted:
            row = next((r for r in self.store.feedback_for(event.trace_id) if r.get("rewards") is not None), None)
        if row is not None:
            rewards = [(ExpertId.parse(eid), float(r)) for eid, r in row["rewards"].items()]
            task_loss = float(row["task_loss"]) if row.get("task_loss") is not None else 1.0 - event.reward
            expected = Value.from_jsonable(row["expected"]) if row.get("expected") is not None else None
        else:
            rewards = _rewards(decision, self._names(decision), event.reward, None)
            task_loss, expected = 1.0 - event.reward, None
        self._train(decision, rewards, task_loss)
        self._teach_experts(decision, rewards, expected)

    def newer_snapshot(self) -> Snapshot | None:
        """The newest published snapshot when it is newer than the one in use (blocking: called
        from a worker thread); None when this one is the newest. Raises StateError when the store
        cannot be reached. Before the saved state was first loaded (the store was down when this
        process started), inline too: everything saved, as `restore` would load it."""
        store = self.store
        assert isinstance(store, PostgresStateStore), "a follower runs on a shared (PostgreSQL) store"
        version, published = store.snapshot()
        if version <= self.snapshot.version and self.restored:  # else: the store was down at the start
            return Snapshot(version, published, {}, {}) if version == self.snapshot.version else None
        with store.exclusive():  # one transaction: every router and expert of the same snapshot
            version, published = store.snapshot()
            routers = {rid: saved for rid in self.routers if (saved := store.load_router(rid)) is not None}
            experts = {}
            for eid, _name, expert in self.experts.items():
                if getattr(expert, "load_state_dict", None) is not None:
                    saved_expert = store.load_expert(str(eid))
                    if saved_expert is not None:
                        experts[str(eid)] = saved_expert
        return Snapshot(version, published, routers, experts)

    def listener(self) -> Any:
        """A connection LISTENing for the learner's snapshot notices (blocking)."""
        store = self.store
        assert isinstance(store, PostgresStateStore), "learning = 'learner' is checked to use PostgreSQL"
        return store.listener()

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        """Route with `snapshot` from now on (called on the loop that routes: no request sees
        half of it)."""
        for router_id, (state, version) in snapshot.routers.items():
            handle = self.routers[router_id].handle
            if state.get("kind") == handle.kind:
                # The learned parameters, not the learner's exploration stream: the learner never
                # samples, so its "rng" stays at the seed's start, and every replica taking it at
                # every snapshot would draw the same few numbers over and over.
                handle.load_state_dict({key: value for key, value in state.items() if key != "rng"})
                handle.model_version = self._versions[router_id] = version
        for eid, _name, expert in self.experts.items():
            saved = snapshot.experts.get(str(eid))
            if saved is not None:
                expert.load_state_dict(saved[0])
                self._expert_versions[str(eid)] = saved[1]
        self.snapshot.applied(snapshot.version, snapshot.published)
        self.restored = True

    def _earlier_feedback(self, trace_id: str) -> tuple[dict[str, Any] | None, dict[str, float]]:
        """What feedback on `trace_id` was already learned from — by any process, with a state
        file: the primary feedback (None if none yet) and the shadow scores."""
        rows = self.store.feedback_for(trace_id) if self.enabled else self._given.get(trace_id)
        if not rows:
            return None, {}
        learned = next(
            (
                {key: row.get(key) for key in ("reward", "task_loss", "rewards", "expected")}
                for row in rows
                if row.get("rewards") is not None
            ),
            None,
        )
        scored = {router: score for row in rows for router, score in (row.get("shadow_scores") or {}).items()}
        return learned, scored

    def _transaction(self) -> contextlib.AbstractContextManager[None]:
        return self.store.exclusive() if self.enabled else contextlib.nullcontext()

    def _wait_until_logged(self, trace_id: str) -> float:
        """Feedback may reach this process before the one that decided has logged the decision
        (replicas behind a balancer: it writes within `flush_s`). A trace id this process does
        not hold is looked for in the store until it is there with its decision record, for up
        to `feedback_wait_s`, sleeping in between (this runs in the caller's thread: `himoe
        serve` calls feedback in a worker thread). Returns the seconds waited in vain (0.0 when
        found, or not waited for)."""
        if not self.enabled or self.feedback_wait_s <= 0 or self.traces.record(trace_id) is not None:
            return 0.0
        deadline = time.monotonic() + self.feedback_wait_s
        pause, longest = LOGGED_POLL_S
        while not self._logged(trace_id):
            left = deadline - time.monotonic()
            if left <= 0:
                return self.feedback_wait_s
            time.sleep(min(pause, left))
            pause = min(pause * 2, longest)
        return 0.0

    def _probe(self, trace_id: str) -> None:
        """Ask the shared store something small: StateError if it still cannot be reached."""
        try:
            self.store.trace(trace_id)
        except StateError as exc:
            if _unreachable(exc):
                self.snapshot.down(str(exc))
            raise
        self.snapshot.reachable()

    def _logged(self, trace_id: str) -> bool:
        """Whether the store holds the trace and, when it was answered, its decision record."""
        stored = self.store.trace(trace_id)
        if stored is None:
            return False
        served_by = stored[0].get("router")
        return served_by is None or any(
            decision_codec.decode(record).router == served_by for record in self.store.decisions(trace_id)
        )

    def _find(self, trace_id: str, waited: float = 0.0) -> tuple[Decision, dict[str, Decision]]:
        """The serving decision of `trace_id` and its shadows' decisions, by router id."""
        record = self.traces.record(trace_id)
        kept = record.decision() if record is not None else None
        if kept is not None:
            served, shadows = kept, self._shadows.get(trace_id, {})
        elif self.enabled and (stored := self._stored(trace_id)) is not None:
            served, shadows = stored
        else:
            raise InvalidInput(
                f"unknown trace id {trace_id!r}: it was never recorded here"
                + (f" (nor by another process sharing the store within {waited:g} s)" if waited else "")
                + f", or is older than the state file keeps ({_retention(self.retention)}); use the "
                "trace_id of a recent response (himoe run --json shows it)"
            )
        if not served.ok:
            error = served.error if type(served.error) is MoeError else f"{type(served.error).__name__}: {served.error}"
            raise InvalidInput(f"trace {trace_id!r} ended in an error ({error}); there is nothing to score")
        return served, {router: d for router, d in shadows.items() if d.ok}

    def _stored(self, trace_id: str) -> tuple[Decision, dict[str, Decision]] | None:
        stored = self.store.trace(trace_id)
        if stored is None:
            return None
        trace = stored[0]
        served_by = trace.get("router")
        if served_by is None:
            raise InvalidInput(
                f"trace {trace_id!r} ended in an error ({trace.get('error')}); there is nothing to score"
            )
        decisions = {d.router: d for d in map(decision_codec.decode, self.store.decisions(trace_id))}
        if served_by not in decisions:
            # Written with its trace in one transaction since the decision log exists: only a
            # himoe older than that (or one mid-upgrade, which wrote them apart) leaves a trace alone.
            raise InvalidInput(
                f"trace {trace_id!r} is stored without the decision record of its router {served_by!r} "
                "that learning reads (a himoe older than the decision log wrote it, or its decision "
                "was not written yet); it cannot take feedback — retry shortly, or route the request again"
            )
        served = decisions.pop(served_by)
        return served, decisions

    def _names(self, decision: Decision) -> dict[ExpertId, str]:
        names = {
            eid: self.experts.get_by_id(eid).name for eid in decision.picks if self.experts.get_by_id(eid) is not None
        }
        names.update(decision.names())
        return names

    def _train(self, decision: Decision, rewards: list[tuple[ExpertId, float]], task_loss: float) -> None:
        router_id = decision.router
        router = self.routers[router_id].handle
        learns = self._learns[router_id]
        if self.enabled and learns:
            saved_version = self.store.router_version(router_id)
            if saved_version > self._versions.get(router_id, 0):
                saved_state = self.store.load_router(router_id)
                assert saved_state is not None, "a router with a saved version has its state saved"
                state, version = saved_state
                # State saved by a router of another kind (the config changed) is replaced, as
                # `restore` ignores it, rather than failing every feedback on this router.
                if state.get("kind") == router.kind:
                    router.load_state_dict(state)
                router.model_version = self._versions[router_id] = version
        router.learn(decision, RouterFeedback(decision.trace_id, task_loss, rewards))
        refit_job = getattr(router, "refit_job", None)  # the learning routers that refit from history
        job = refit_job() if refit_job is not None else None
        if job is not None:
            if self._refits is None:
                self._refits = RefitWorker(self._publish_refit)
            self._refits.submit(router_id, job)
        if self.enabled and learns:
            self._save(router, router_id, decision.trace_id)

    def _publish_refit(self, router_id: str, publish: Callable[[], bool]) -> None:
        """A refit's result, applied under the lock (no feedback learns meanwhile) and saved as a
        new version of the router's state when it replaced the model."""
        with self._lock:
            if not publish():
                return
            if self.enabled and self._learns[router_id]:
                with self.store.exclusive():
                    self._save(self.routers[router_id].handle, router_id, None)

    def _save(self, router: Router, router_id: str, trace_id: str | None) -> None:
        learned = router.state_dict()
        assert learned is not None, "a router that learns has a state (see self._learns)"
        bad = _non_finite(learned)
        if bad:
            # Never saved, and undone here: the feedback row rolls back with the transaction.
            saved = self.store.load_router(router_id)
            fresh = self._fresh[router_id]
            assert fresh is not None, "a router that learns had a state from the start"
            router.load_state_dict(
                saved[0] if saved is not None and saved[0].get("kind") == router.kind else copy.deepcopy(fresh)
            )
            raise StateError(
                f"router {router_id!r} learned non-finite parameters ({bad}) from "
                + (f"the feedback on trace {trace_id!r}" if trace_id else "a refit")
                + "; the update was rejected and nothing was saved"
            )
        version = self._versions.get(router_id, 0) + 1
        self.store.save_router(router_id, learned, version)
        router.model_version = self._versions[router_id] = version

    def _teach_experts(self, decision: Decision, rewards: list[tuple[ExpertId, float]], expected: Any) -> list[str]:
        """Each credited expert learns; with a state store, from the newest saved state (another
        process may have saved one since this one loaded it: inside the learning transaction, so
        no update is lost), and saves the next version."""
        taught = []
        for eid, reward in rewards:
            expert = self.experts.get_by_id(eid)
            learn = getattr(expert, "learn", None)
            if learn is None:
                continue
            output = decision.output_of(eid)
            if output is None:
                continue
            state = getattr(expert, "state_dict", None)
            loader = getattr(expert, "load_state_dict", None)
            key = str(eid)
            if self.enabled and state is not None and loader is not None:
                saved = (
                    self.store.load_expert(key)
                    if self.store.expert_version(key) > self._expert_versions.get(key, 0)
                    else None
                )
                if saved is not None:
                    loader(saved[0])
                    self._expert_versions[key] = saved[1]
            learn(decision.input, output, reward, expected=expected)
            taught.append(expert.name)
            if self.enabled and state is not None:
                version = self._expert_versions.get(key, 0) + 1
                self.store.save_expert(key, expert.name, state(), version)
                self._expert_versions[key] = version
        return taught

    def _score_shadows(
        self,
        served: Decision,
        shadow_decisions: Mapping[str, Decision],
        reward: float,
        shadow_scores: Mapping[str, float],
    ) -> dict[str, Any]:
        """Offline credit assignment: each scored shadow learns from its own answer, and the
        orchestrator hears which shadow beat the primary."""
        for router_id, score in shadow_scores.items():
            if router_id in self.routers:
                shadow = shadow_decisions[router_id]
                self._train(shadow, _rewards(shadow, self._names(shadow), score, None), 1.0 - score)
        best = max(shadow_scores, key=shadow_scores.__getitem__)
        better = best if shadow_scores[best] > reward else None
        self.orchestrator.feedback(
            OrchestrationFeedback(
                served.trace_id,
                served.router,
                shadow_better=better,
                notes=f"primary {reward:g}; " + ", ".join(f"{k} {v:g}" for k, v in sorted(shadow_scores.items())),
                scored=sorted(shadow_scores),
            )
        )
        return {"shadow_better": better, "scores": dict(shadow_scores)}


def _checked_shadow_scores(
    trace_id: str, answered: Mapping[str, Decision], shadow_scores: Mapping[str, float] | None
) -> dict[str, float]:
    """The shadow scores, each for a shadow that answered in this trace."""
    if not shadow_scores:
        return {}
    shadows = dict(shadow_scores)  # each a number in range: check_feedback saw them first
    unknown = sorted(set(shadows) - set(answered))
    if unknown:
        raise InvalidInput(
            f"trace {trace_id!r} has no finished shadow answer from {', '.join(unknown)}; "
            f"shadows with answers: {', '.join(sorted(answered)) or 'none'}"
        )
    return {router_id: float(score) for router_id, score in shadows.items()}


def _same_feedback(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The same feedback, up to float rounding (reward 0.7 and task_loss 0.3 say the same)."""

    def close(x: float | None, y: float | None) -> bool:
        return x == y or (x is not None and y is not None and math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12))

    return (
        close(a["reward"], b["reward"])
        and close(a["task_loss"], b["task_loss"])
        and a["rewards"].keys() == b["rewards"].keys()
        and all(close(a["rewards"][k], b["rewards"][k]) for k in a["rewards"])
        and a["expected"] == b["expected"]
    )


def _reward_and_loss(
    reward: float | None, task_loss: float | None, scores: Mapping[str, float] | None
) -> tuple[float, float]:
    # the values were checked by check_feedback (finite, in range, not both) before this
    if reward is None:
        if task_loss is not None:
            reward = 1.0 - task_loss
        elif not scores:
            raise InvalidInput("give reward=…, task_loss=… or per-expert scores to learn from")
        else:
            reward = max(scores.values())
    return float(reward), float(1.0 - reward if task_loss is None else task_loss)


def _rewards(
    decision: Decision, names: Mapping[ExpertId, str], reward: float, scores: Mapping[str, float] | None
) -> list[tuple[ExpertId, float]]:
    """(expert id, reward) for each pick to credit: the given per-expert scores, else the
    overall reward for every expert whose output counted in the answer."""
    if scores:
        picks = set(decision.picks)
        by_name = {name: eid for eid, name in names.items() if eid in picks}
        unknown = sorted(set(scores) - set(by_name))
        if unknown:
            raise InvalidInput(
                f"no output from {', '.join(unknown)} in this trace; scored experts must be among "
                f"its picks: {', '.join(sorted(by_name))}"
            )
        return [(by_name[name], float(value)) for name, value in scores.items()]
    return [(eid, reward) for eid in decision.credited()]


def _non_finite(state: dict[str, Any]) -> str | None:
    """The first array or number of a router state that is not finite, by name; None if none."""
    scalars, arrays = split_state(state)
    for name, array in arrays.items():
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            return name
    stack = [("", scalars)]
    while stack:
        prefix, table = stack.pop()
        for key, value in table.items():
            if isinstance(value, dict):
                stack.append((f"{prefix}{key}.", value))
            elif isinstance(value, float) and not math.isfinite(value):
                return prefix + key
    return None


def _recorded_input(x: InputData) -> tuple[str, str | None, bytes]:
    """The input's columns in the state file: kind, task, bytes."""
    text, data, features = x.as_text(), x.as_bytes(), x.as_features()  # one of them, by `x.kind`
    if text is not None:
        return x.kind.value, x.task, text.encode("utf-8", "surrogatepass")
    if data is not None:
        return x.kind.value, x.task, data
    assert features is not None
    return x.kind.value, x.task, features.tobytes()


def _unreachable(exc: StateError) -> bool:
    """The store cannot be reached (down, restarting, not up yet): it may come back."""
    return str(exc).startswith("cannot reach")


def _retention(retention: Mapping[str, Any]) -> str:
    days = retention.get("retention_days", DEFAULT_RETENTION_DAYS)
    count = retention.get("max_traces", DEFAULT_MAX_TRACES)
    return (
        f"[state] retention_days = {days:g}, max_traces = {count}"
        if days or count
        else "[state] keeps every trace; it may have been evicted from memory"
    )
