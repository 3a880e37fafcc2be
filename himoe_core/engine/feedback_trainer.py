from __future__ import annotations

import contextlib
import math
import threading
from collections import OrderedDict
from typing import Any, Mapping

import numpy as np
from himoe_registry import ExpertId

from ..errors import InvalidInput
from ..input import InputData, InputKind, InputLimits
from ..orchestrator.orchestration_feedback import OrchestrationFeedback
from ..router.router_feedback import RouterFeedback
from ..router.router_ref import RouterRef
from ..state.state_store import StateStore, default_state_path
from ..value import to_value
from .trace_record import TraceRecord
from .trace_store import TraceStore
from .trace_writer import TraceWriter

RecordedInput = tuple[str, "str | None", bytes]
"""A routed input as kept for feedback and written to the state file: kind, task, payload bytes."""


class FeedbackTrainer:
    """Turns feedback on a trace into learning, and keeps what was learned.

    Feedback reaches the router that served the trace (`train_signal`, with the input it routed
    and the gate propensities), the experts it selected (their optional `learn`), and the
    orchestrator when shadow answers are scored after the fact. With a state file, traces are
    written behind (every `flush_every` requests and on close), every feedback row is kept, and
    router and expert state is saved after each update — reloaded first when another process
    saved a newer version, so concurrent learners build on each other.
    """

    def __init__(self, *, routers: Mapping[str, RouterRef], orchestrator: Any, experts: Any,
                 traces: TraceStore, state: Mapping[str, Any]) -> None:
        self.routers = routers
        self.orchestrator = orchestrator
        self.experts = experts
        self.traces = traces
        self.enabled = bool(state.get("enabled", True))
        self.path = state.get("path") or default_state_path()
        self.flush_every = int(state.get("flush_every", 64))
        self._store: StateStore | None = None
        self._lock = threading.RLock()
        self._pending: list[tuple[TraceRecord, RecordedInput]] = []
        self._writer: TraceWriter | None = None
        self._inputs: OrderedDict[str, RecordedInput] = OrderedDict()
        # Without a state file: the feedback learned from, per trace still in _inputs (the only
        # traces feedback can reach then).
        self._given: dict[str, list[dict[str, Any]]] = {}
        self._versions: dict[str, int] = {}
        if self.enabled and (str(self.path) == ":memory:" or _exists(self.path)):
            self.restore()

    # -- state -------------------------------------------------------------------------------------
    @property
    def store(self) -> StateStore:
        with self._lock:
            if self._store is None:
                self._store = StateStore(self.path)
            return self._store

    def restore(self) -> None:
        """Load every saved router and expert state that matches this configuration."""
        store = self.store
        for router_id, ref in self.routers.items():
            loader = getattr(ref.handle, "load_state_dict", None)
            saved = store.load_router(router_id) if loader else None
            if saved is not None and saved[0].get("kind") == getattr(ref.handle, "kind", None):
                loader(saved[0])
                self._versions[router_id] = saved[1]
        for eid, name, expert in self.experts.items():
            loader = getattr(expert, "load_state_dict", None)
            saved = store.load_expert(str(eid)) if loader else None
            if saved is not None:
                loader(saved)

    def remember(self, trace: TraceRecord | dict[str, Any], x: InputData) -> None:
        """Keep the input for feedback and queue the trace for the state file (written behind,
        as JSON, by the TraceWriter's thread, every `flush_every` traces)."""
        # Kept as (kind, task, bytes): a tuple of atoms the garbage collector stops walking,
        # where 10,000 InputData objects would be walked by every full collection.
        self._keep(TraceRecord.of(trace), (x.kind.value, x.task, _input_bytes(x)))

    def _keep(self, record: TraceRecord, recorded: RecordedInput) -> None:
        with self._lock:
            self._inputs[record.trace_id] = recorded
            while len(self._inputs) > self.traces.capacity:
                evicted, _ = self._inputs.popitem(last=False)
                self._given.pop(evicted, None)
            if self.enabled:
                self._pending.append((record, recorded))
                if len(self._pending) >= self.flush_every:
                    self._submit()

    def resave(self, trace_id: str) -> None:
        """Queue a trace again after it changed (a shadow's answer arrived)."""
        with self._lock:
            record, recorded = self.traces.record(trace_id), self._inputs.get(trace_id)
            if record is not None and recorded is not None:
                self._keep(record, recorded)

    def _submit(self) -> None:
        batch, self._pending = self._pending, []
        if self._writer is None:
            # The store is opened here, under the lock: the writer thread must never need the
            # lock that `flush` holds while it waits for the writer.
            store = self.store
            self._writer = TraceWriter(lambda rows: self._write_batch(store, rows))
        self._writer.submit(batch)

    def _write_batch(self, store: StateStore, batch: list[tuple[TraceRecord, RecordedInput]]) -> None:
        rows = [(record.trace_id, record.router, kind, task, data, self.traces.json(record))
                for record, (kind, task, data) in batch]
        store.record_trace_rows(rows)

    def flush(self) -> None:
        """Write every pending trace now, and wait for it."""
        with self._lock:
            if self._pending:
                self._submit()
            if self._writer is not None:
                self._writer.drain()

    def close(self) -> None:
        with self._lock:
            if self.enabled:
                self.flush()
            if self._writer is not None:
                writer, self._writer = self._writer, None
                writer.close()
            if self._store is not None:
                self._store.close()
                self._store = None

    # -- feedback ----------------------------------------------------------------------------------
    def feedback(self, trace_id: str, *, reward: float | None = None, task_loss: float | None = None,
                 scores: Mapping[str, float] | None = None, expected: Any = None,
                 shadow_scores: Mapping[str, float] | None = None) -> dict[str, Any]:
        reward, task_loss = _reward_and_loss(reward, task_loss, scores)
        with self._lock:
            if self.enabled:
                self.flush()
            trace, x = self._find(trace_id)
            router_id = trace.get("router")
            if router_id is None:
                raise InvalidInput(f"trace {trace_id!r} ended in an error ({trace.get('error')}); there is nothing to score")
            if router_id not in self.routers:
                raise InvalidInput(f"trace {trace_id!r} was served by router {router_id!r}, which this config does not have")
            served = next(a for a in reversed(trace["attempts"]) if a["status"] == "ok")
            rewards = _rewards(served, reward, scores)
            expected_value = to_value(expected) if expected is not None else None
            names = {c["id"]: c["expert"] for c in served.get("calls", [])}
            summary: dict[str, Any] = {"trace_id": trace_id, "router": router_id, "reward": reward,
                                       "task_loss": task_loss,
                                       "router_learns": hasattr(self.routers[router_id].handle, "state_dict"),
                                       "rewards": {names.get(eid, eid): r for eid, r in rewards},
                                       "experts_updated": []}
            primary = {"reward": reward, "task_loss": task_loss, "rewards": dict(rewards),
                       "expected": expected_value.to_jsonable() if expected_value is not None else None}
            shadows = _checked_shadow_scores(trace, shadow_scores)
            with self._transaction():
                # Everything is checked before anything learns: a call refused half-way would
                # have trained without leaving its row, and its retry would train again.
                learned, scored = self._earlier_feedback(trace_id)
                if learned is not None and not _same_feedback(learned, primary):
                    def shown(feedback: dict[str, Any]) -> str:
                        per_expert = {names.get(eid, eid): r for eid, r in feedback["rewards"].items()}
                        return (f"reward {feedback['reward']!r}, task_loss {feedback['task_loss']!r}, per expert "
                                f"{per_expert}, expected {feedback['expected']!r}")
                    raise InvalidInput(f"trace {trace_id!r} already has feedback ({shown(learned)}), not ({shown(primary)}): "
                                       "a decision is learned from once, so different feedback on it is refused; "
                                       "repeat the same feedback to score shadows")
                changed = sorted(r for r in shadows if r in scored and not math.isclose(scored[r], shadows[r]))
                if changed:
                    raise InvalidInput(f"trace {trace_id!r}: shadow {', '.join(changed)} already scored "
                                       f"({', '.join(f'{r} {scored[r]!r}' for r in changed)}); a shadow is scored once")
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
                    self.store.record_feedback(trace_id, router_id, reward if first else None,
                                               task_loss if first else None, row)
                if first:
                    self._train(router_id, served, rewards, task_loss, trace_id, x)
                    summary["experts_updated"] = self._teach_experts(served, rewards, x, expected_value)
                if shadows:
                    summary["shadows"] = self._score_shadows(trace, router_id, reward, shadows, x)
                if not self.enabled:
                    self._given.setdefault(trace_id, []).append(row)
        return summary

    def _earlier_feedback(self, trace_id: str) -> tuple[dict[str, Any] | None, dict[str, float]]:
        """What feedback on `trace_id` was already learned from — by any process, with a state
        file: the primary feedback (None if none yet) and the shadow scores."""
        rows = self.store.feedback_for(trace_id) if self.enabled else self._given.get(trace_id, [])
        learned = next(({key: row.get(key) for key in ("reward", "task_loss", "rewards", "expected")}
                        for row in rows if row.get("rewards") is not None), None)
        scored = {router: score for row in rows for router, score in (row.get("shadow_scores") or {}).items()}
        return learned, scored

    def _transaction(self):
        return self.store.exclusive() if self.enabled else contextlib.nullcontext()

    def _find(self, trace_id: str) -> tuple[dict[str, Any], InputData]:
        trace = self.traces.get(trace_id)
        recorded = self._inputs.get(trace_id)
        x = _input_from_bytes(*recorded) if recorded is not None else None
        if (trace is None or x is None) and self.enabled:
            stored = self.store.trace(trace_id)
            if stored is not None:
                trace, (kind, task, data) = stored[0], stored[1:]
                x = _input_from_bytes(kind, task, data)
        if trace is None or x is None:
            raise InvalidInput(f"unknown trace id {trace_id!r}: it was never recorded here, or has been evicted; "
                               "use the trace_id of a recent response (himoe run --json shows it)")
        return trace, x

    def _train(self, router_id: str, attempt: dict[str, Any], rewards: list[tuple[str, float]],
               task_loss: float, trace_id: str, x: InputData) -> None:
        router = self.routers[router_id].handle
        if self.enabled and hasattr(router, "load_state_dict"):
            saved_version = self.store.router_version(router_id)
            if saved_version > self._versions.get(router_id, 0):
                state, version = self.store.load_router(router_id)
                # State saved by a router of another kind (the config changed) is replaced, as
                # `restore` ignores it, rather than failing every feedback on this router.
                if state.get("kind") == getattr(router, "kind", None):
                    router.load_state_dict(state)
                self._versions[router_id] = version
        probs = np.array([g["prob"] for g in attempt.get("gate", [])])
        util = attempt.get("mix", {}).get("util_by_expert", {})
        router.train_signal(RouterFeedback(
            trace_id=trace_id,
            task_loss=task_loss,
            load_balance_grad=_cv_squared(list(util.values())),
            entropy_grad=-float(-(probs * np.log(np.clip(probs, 1e-12, 1))).sum()) if probs.size else 0.0,
            util_by_expert=[(ExpertId.parse(g["id"]), g["prob"]) for g in attempt.get("gate", [])],
            rewards=[(ExpertId.parse(eid), r) for eid, r in rewards],
            input=x,
            propensities=[(ExpertId.parse(g["id"]), g["prob"]) for g in attempt.get("gate", [])],
        ))
        if self.enabled and hasattr(router, "state_dict"):
            version = self._versions.get(router_id, 0) + 1
            self.store.save_router(router_id, router.state_dict(), version)
            self._versions[router_id] = version

    def _teach_experts(self, attempt: dict[str, Any], rewards: list[tuple[str, float]], x: InputData,
                       expected: Any) -> list[str]:
        taught = []
        outputs = {c["id"]: c for c in attempt.get("calls", []) if c["status"] == "ok"}
        for eid, reward in rewards:
            expert = self.experts.get_by_id(ExpertId.parse(eid))
            learn = getattr(expert, "learn", None)
            if learn is None or eid not in outputs:
                continue
            learn(x, _value_from_json(outputs[eid]["value"]), reward, expected=expected)
            taught.append(expert.name)
            state = getattr(expert, "state_dict", None)
            if self.enabled and state is not None:
                self.store.save_expert(eid, expert.name, state())
        return taught

    def _score_shadows(self, trace: dict[str, Any], primary: str, reward: float,
                       shadow_scores: Mapping[str, float], x: InputData) -> dict[str, Any]:
        """Offline credit assignment: each scored shadow learns from its own answer, and the
        orchestrator hears which shadow beat the primary."""
        shadows = {s["router"]: s for s in trace.get("shadows", []) if s.get("status") == "ok"}
        for router_id, score in shadow_scores.items():
            if router_id in self.routers:
                self._train(router_id, shadows[router_id], _rewards(shadows[router_id], score, None),
                            1.0 - score, trace["trace_id"], x)
        best = max(shadow_scores, key=shadow_scores.__getitem__)
        better = best if shadow_scores[best] > reward else None
        self.orchestrator.feedback(OrchestrationFeedback(
            trace["trace_id"], primary, shadow_better=better,
            notes=f"primary {reward:g}; " + ", ".join(f"{k} {v:g}" for k, v in sorted(shadow_scores.items())),
            scored=sorted(shadow_scores),
        ))
        return {"shadow_better": better, "scores": dict(shadow_scores)}


def _checked_shadow_scores(trace: dict[str, Any], shadow_scores: Mapping[str, float] | None) -> dict[str, float]:
    """The shadow scores, each a finite number for a shadow that answered in this trace."""
    shadows = dict(shadow_scores or {})
    for router_id, score in shadows.items():
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise InvalidInput(f"shadow score for {router_id!r} must be a finite number, got {score!r}")
    answered = {s["router"] for s in trace.get("shadows", []) if s.get("status") == "ok"}
    unknown = sorted(set(shadows) - answered)
    if unknown:
        raise InvalidInput(f"trace {trace['trace_id']!r} has no finished shadow answer from {', '.join(unknown)}; "
                           f"shadows with answers: {', '.join(sorted(answered)) or 'none'}")
    return {router_id: float(score) for router_id, score in shadows.items()}


def _same_feedback(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The same feedback, up to float rounding (reward 0.7 and task_loss 0.3 say the same)."""
    def close(x: float | None, y: float | None) -> bool:
        return x == y or (x is not None and y is not None and math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12))

    return (close(a["reward"], b["reward"]) and close(a["task_loss"], b["task_loss"])
            and a["rewards"].keys() == b["rewards"].keys()
            and all(close(a["rewards"][k], b["rewards"][k]) for k in a["rewards"])
            and a["expected"] == b["expected"])


def _reward_and_loss(reward: float | None, task_loss: float | None,
                     scores: Mapping[str, float] | None) -> tuple[float, float]:
    for name, value in (("reward", reward), ("task_loss", task_loss)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
            raise InvalidInput(f"{name} must be a finite number, got {value!r}")
    if reward is None and task_loss is None:
        if not scores:
            raise InvalidInput("give reward=…, task_loss=… or per-expert scores to learn from")
        reward = max(scores.values())
    if reward is None:
        reward = 1.0 - task_loss
    return float(reward), float(1.0 - reward if task_loss is None else task_loss)


def _rewards(attempt: dict[str, Any], reward: float, scores: Mapping[str, float] | None) -> list[tuple[str, float]]:
    """(expert id, reward) for each pick to credit: the given per-expert scores, else the
    overall reward for every expert whose output counted in the answer."""
    by_name = {c["expert"]: c["id"] for c in attempt.get("calls", [])}
    if scores:
        unknown = sorted(set(scores) - set(by_name))
        if unknown:
            raise InvalidInput(f"no output from {', '.join(unknown)} in this trace; scored experts must be among "
                               f"its picks: {', '.join(sorted(by_name))}")
        for name, value in scores.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InvalidInput(f"score for {name!r} must be a finite number, got {value!r}")
        return [(by_name[name], float(value)) for name, value in scores.items()]
    weights = attempt.get("mix", {}).get("weights", {})
    return [(by_name[name], reward) for name, weight in weights.items() if weight > 0 and name in by_name]


def _cv_squared(values: list[float]) -> float:
    array = np.asarray(values, dtype=np.float64)
    mean = array.mean() if array.size else 0.0
    return 0.0 if array.size < 2 or mean == 0 else float(array.var() / mean**2)


def _input_bytes(x: InputData) -> bytes:
    if x.kind is InputKind.TEXT:
        return x.payload.encode("utf-8")
    if x.kind is InputKind.BYTES:
        return x.payload
    return x.payload.tobytes()


def _input_from_bytes(kind: str, task: str | None, data: bytes) -> InputData:
    """The recorded input again. It passed the configured limits when it was routed: it is not
    checked against the default ones (a 150,000-character text routed under raised limits must
    still take feedback)."""
    if kind == InputKind.TEXT.value:
        return InputData.text(data.decode("utf-8"), task=task, limits=_RECORDED)
    if kind == InputKind.BYTES.value:
        return InputData.bytes(data, task=task, limits=_RECORDED)
    return InputData.features(np.frombuffer(data, dtype=np.float32), task=task, limits=_RECORDED)


_RECORDED = InputLimits(max_text_chars=2**62, max_bytes=2**62, max_features=2**62, max_task_chars=2**62)


def _value_from_json(data: dict[str, Any]):
    from ..value import Plan, PlanStep, Value

    kind = data["kind"]
    if kind == "text":
        return Value.text(data["data"], data["schema"])
    if kind == "json":
        return Value.json(data["data"], data["schema"])
    if kind == "plan":
        plan = Plan(data["data"]["goal"], [PlanStep(s["description"], s["done"]) for s in data["data"]["steps"]])
        return Value.plan(plan, data["schema"])
    if kind == "embedding":
        return Value.embedding(data["data"], data["schema"])
    if kind == "bytes":
        import base64

        return Value.bytes(base64.b64decode(data["data"]), data["schema"])
    return Value.none()


def _exists(path: Any) -> bool:
    from pathlib import Path

    return Path(path).exists()
