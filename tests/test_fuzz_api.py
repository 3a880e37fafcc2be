"""API fuzzer (issue 17): random sequences of HiMoE.run, run_sync, decide and feedback — random
inputs, task hints, contexts, budgets, k, routers, trace ids (new, reused, unknown, of another type),
rewards, per-expert and shadow scores, expected answers — on an engine with a router of every
built-in kind, faulty experts from himoe_core.testing and a state file.

Each call gives an answer or a MoeError, never another exception (nor a BaseExceptionGroup);
after each feedback the state file holds exactly one row per feedback that succeeded and was not
a repeat; at the end the file passes `PRAGMA integrity_check`, holds every answered request's
trace, every saved router and expert state is finite, and a new engine on the file decides with
every router.

Profiles: a short one runs with the suite and fails at the first broken invariant (hypothesis
shrinks it); `HIMOE_FUZZ_CASES=20000 HIMOE_FUZZ_KEEP_GOING=1` runs the long one, which counts
every broken invariant and lists them at the end (docs/reliability.md#fuzzing has the command and
its figures)."""

from __future__ import annotations

import contextlib
import math
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from himoe_core import HiMoE, MoeError
from himoe_core.state import SqliteStateStore
from himoe_core.testing import (
    EchoExpert,
    FailingExpert,
    FlakyExpert,
    HangingExpert,
    LearningExpert,
    MalformedExpert,
    SleepyExpert,
)

if str(Path(__file__).parent) not in sys.path:  # --import-mode=importlib leaves tests/ off sys.path
    sys.path.insert(0, str(Path(__file__).parent))
from fuzz_profile import FUZZ, Tally  # noqa: E402

TALLY = Tally("api", "calls", "answers", "moe_errors", "feedback rows", "other exceptions", "inconsistent states")
found = TALLY.broken  # a broken invariant (fails the case, or is counted in the long profile)

LEARNING_KINDS = ("linear", "linucb", "thompson", "hybrid", "logistic")
ROUTERS = ("static", "symbolic", *LEARNING_KINDS)
PREFIXES = ("", "sym ", "lin ", "ucb ", "ts ", "hyb ", "log ")
SYNC_BUDGET_MS = 20.0  # run_sync runs on the real clock: a hanging expert holds it this long at most


def engine(path: Path, flush_every: int, fault: str, seed: int) -> HiMoE:
    encoded = {"encoder": {"id": "hashing", "dim": 8}}
    routers = {
        "static": {"kind": "static", "k": 2, "aggregator": "confidence"},
        "symbolic": {"kind": "symbolic", "k": 2},
        **{kind: {"kind": kind, **encoded} for kind in LEARNING_KINDS},
    }
    routers["linear"]["k"] = 2
    routers["logistic"]["aggregator"] = "weighted_vote"
    rules = [
        {"task_prefix": "sym", "router": "symbolic", "shadows": ["linucb"]},
        {"task_prefix": "lin", "router": "linear", "fallbacks": ["static"]},
        {"task_prefix": "ucb", "router": "linucb", "shadows": ["thompson", "logistic"]},
        {"task_prefix": "ts", "router": "thompson"},
        {"task_prefix": "hyb", "router": "hybrid"},
        {"task_prefix": "log", "router": "logistic", "fallbacks": ["symbolic"]},
    ]
    experts = [
        LearningExpert("learn_a", value="A", confidence=0.9),
        LearningExpert("learn_b", value="B", confidence=0.4, cost_units=2.0),
        EchoExpert("echo"),
        FlakyExpert("flaky", failure_rate=0.5, seed=seed),
        FailingExpert("failing"),
        MalformedExpert("malformed", fault=fault),
        SleepyExpert("sleepy", delay_s=0.05, value="slow"),
        HangingExpert("hanging"),
    ]
    return HiMoE(
        experts=experts,
        entry_points=False,
        config={
            "himoe": {"budget_ms": SYNC_BUDGET_MS},
            "routers": routers,
            "orchestrator": {"default": "static", "rules": rules, "shadow_min_remaining_ms": 0.0},
            "state": {"path": str(path), "flush_every": flush_every},
        },
    )


# -- strategies ----------------------------------------------------------------------------------------------
def mostly(good: st.SearchStrategy, bad: st.SearchStrategy, odds: int = 6) -> st.SearchStrategy:
    """`good` about `odds` times in `odds + 1`, else `bad`: most calls get far enough to route
    and learn, and every parameter is still sometimes wrong."""
    return st.integers(0, odds).flatmap(lambda i: good if i < odds else bad)


NASTY = ["x\udce9", "a\x00b", "two\nlines", "\u202eevil", "💥", "x" * 300, "' OR 1=1 --", "%s%n", "\\", ""]
any_text = st.one_of(st.text(st.characters(exclude_categories=()), max_size=40), st.sampled_from(NASTY))
garbage = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    any_text,
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from([object(), np.float32(0.5), np.int64(3), np.array([1.0, np.nan]), 1j, ..., b"\xff"]),
)
request_input = mostly(
    st.one_of(
        st.sampled_from(PREFIXES).map(lambda p: p + "hello"),
        st.tuples(st.sampled_from(PREFIXES), any_text).map("".join),
        st.sampled_from(["ucb plan: a then b", "sym x " * 50, "log 1 2 3", "hyb caf\udce9", " ", ""]),
        st.binary(max_size=30),
        st.lists(st.floats(-5, 5), min_size=1, max_size=10),
    ),
    st.one_of(
        st.lists(st.floats(width=32), min_size=1, max_size=10).map(lambda v: np.asarray(v, dtype=np.float32)),
        garbage,
    ),
    odds=4,
)
task = mostly(st.none(), st.one_of(st.sampled_from(["ucb", "sym", "lin", "ts", "hyb", "log"]), any_text, garbage))
budget = mostly(st.none(), st.one_of(st.floats(0, 1e6), st.floats(), st.integers(-5, 10**12), garbage))
sync_budget = mostly(  # never a long valid one: a hanging expert would hold the call that long
    st.none(),
    st.one_of(
        st.floats(0, SYNC_BUDGET_MS),
        st.floats(max_value=-1e-9),
        st.sampled_from([math.nan, math.inf, "5", True, [], {}, object(), np.float32(3.0), np.nan]),
    ),
)
router = mostly(st.none(), st.one_of(st.sampled_from(ROUTERS), any_text, garbage), odds=3)
k = mostly(st.none(), st.one_of(st.integers(-3, 12), garbage), odds=3)
trace_choice = mostly(
    st.tuples(st.just("known"), st.integers(0, 50)),
    st.one_of(st.tuples(st.just("new"), any_text), st.tuples(st.just("value"), garbage)),
    odds=5,
)
new_trace = mostly(st.none(), trace_choice, odds=5)
value = mostly(st.floats(-1.5, 1.5), st.one_of(st.floats(), st.integers(-2000, 2000), garbage))
scores = mostly(
    st.none(),
    st.one_of(
        st.dictionaries(st.sampled_from(["learn_a", "learn_b", "echo", "flaky", "nobody"]), value, max_size=3),
        garbage,
    ),
    odds=4,
)
shadow_scores = mostly(
    st.none(),
    st.one_of(
        st.dictionaries(st.sampled_from(["thompson", "logistic", "linucb", "static", "nope"]), value, max_size=2),
        garbage,
    ),
    odds=3,
)
expected = mostly(
    st.none(),
    st.one_of(
        st.recursive(
            st.one_of(st.integers(), st.text(max_size=5), st.floats(), st.none()),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
            max_leaves=8,
        ),
        garbage,
    ),
    odds=4,
)
score = mostly(  # reward or task_loss, now and then both or neither
    st.one_of(value.map(lambda v: {"reward": v}), value.map(lambda v: {"task_loss": v})),
    st.fixed_dictionaries({}, optional={"reward": value, "task_loss": value}),
)


def call(name: str, required: dict, optional: dict) -> st.SearchStrategy:
    return st.fixed_dictionaries(required, optional=optional).map(lambda kw: (name, kw))


context = mostly(
    st.none(),
    st.one_of(
        st.dictionaries(
            st.sampled_from(["tenant", "area", "tier", "n", "x=y", "", "two\nlines"]) | any_text,
            st.one_of(
                st.sampled_from(["a", "b", "gold"]), st.booleans(), st.floats(), st.integers(), any_text, garbage
            ),
            max_size=4,
        ),
        st.dictionaries(st.text(max_size=3), st.integers(), min_size=40, max_size=70),
        garbage,
    ),
    odds=2,
)
routing = {"task": task, "router": router, "k": k, "trace": new_trace, "context": context}
calls = st.lists(
    st.one_of(
        call("run", {"x": request_input}, {**routing, "budget_ms": budget, "cost_budget": budget}),
        call("run_sync", {"x": request_input}, {**routing, "budget_ms": sync_budget, "cost_budget": budget}),
        call("decide", {"x": request_input}, routing),
        *[
            st.tuples(
                call(
                    "feedback",
                    {"trace": trace_choice},
                    {"scores": scores, "expected": expected, "shadow_scores": shadow_scores},
                ),
                score,
            ).map(lambda pair: (pair[0][0], {**pair[0][1], **pair[1]}))
        ]
        * 2,
    ),
    min_size=1,
    max_size=12,
)


# -- the run -------------------------------------------------------------------------------------------------
class Session:
    """One engine on a fresh state file, the calls made on it, and what the file must hold."""

    def __init__(self, root: Path, flush_every: int, fault: str, seed: int) -> None:
        self.path = root / "state.sqlite3"
        self.moe = engine(self.path, flush_every, fault, seed)
        self.answered: list[str] = []  # trace ids of answered requests and decisions
        self.feedback_rows = 0

    def trace_id(self, choice: tuple[str, Any] | None) -> Any:
        if choice is None:
            return None
        how, value = choice
        if how == "known":
            return self.answered[value % len(self.answered)] if self.answered else "no-such-trace"
        return value

    def call(self, name: str, kw: dict[str, Any]) -> None:
        kw = dict(kw)
        trace_id = self.trace_id(kw.pop("trace", None))
        if trace_id is not None or name == "feedback":
            kw["trace_id"] = trace_id
        TALLY.add("calls")
        try:
            if name == "run_sync":
                result = self.moe.run_sync(kw.pop("x"), **kw)
            elif name == "feedback":
                result = self.moe.feedback(kw.pop("trace_id"), **kw)
            else:
                method = getattr(self.moe, name)
                result = trio.run(lambda: method(kw.pop("x"), **kw), clock=trio.testing.MockClock(autojump_threshold=0))
        except MoeError:
            TALLY.add("moe_errors")
            return
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # the finding: anything but a MoeError
            found("other exceptions", f"{name}({kw!r}) raised {type(exc).__name__}: {exc!r}", exc)
            return
        TALLY.add("answers")
        if name == "feedback":
            if not result["repeat"]:
                self.feedback_rows += 1
            rows = self.count("feedback")
            if rows != self.feedback_rows:
                found(
                    "inconsistent states",
                    f"feedback({kw!r}) -> {result}: {rows} feedback rows, not {self.feedback_rows}",
                )
                self.feedback_rows = rows
        else:
            self.answered.append(result.trace_id)

    def count(self, table: str) -> int:
        if not self.path.exists():
            return 0
        with contextlib.closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as db:
            return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def check_state(self) -> None:
        try:
            self.moe.close()  # writes what is pending; a healthy file takes every trace
        except BaseException as exc:
            found("inconsistent states", f"close() raised {type(exc).__name__}: {exc}", exc)
        if not self.path.exists():  # no request came through the door
            if self.answered or self.feedback_rows:
                found("inconsistent states", "answered requests, and no state file")
            return
        with contextlib.closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as db:
            integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
            stored = {row[0] for row in db.execute("SELECT trace_id FROM traces")}
            rows = db.execute("SELECT count(*) FROM feedback").fetchone()[0]
        missing = sorted(set(self.answered) - stored)
        problems = [
            f"integrity_check: {integrity}" if integrity != "ok" else "",
            f"{rows} feedback rows, not {self.feedback_rows}" if rows != self.feedback_rows else "",
            f"answered requests without a trace in the state file: {missing}" if missing else "",
        ]
        store = SqliteStateStore(self.path)
        try:
            for router_id in store.saved_routers():
                if not finite(store.load_router(router_id)[0]):
                    problems.append(f"router {router_id!r} saved non-finite state")
            for expert_id, name in store.saved_experts():
                if not finite(store.load_expert(expert_id)):
                    problems.append(f"expert {name!r} saved non-finite state")
        finally:
            store.close()
        again = engine(self.path, 1, "nan_json", 0)
        try:
            for router_id in ROUTERS:  # learned state that cannot gate would fail here
                try:
                    trio.run(lambda: again.decide("ucb hello again", router=router_id))  # noqa: B023
                except MoeError as exc:
                    problems.append(f"a new engine on the file cannot decide with {router_id!r}: {exc}")
        finally:
            again.close()
        for problem in filter(None, problems):
            found("inconsistent states", problem)


def finite(value: Any) -> bool:
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(finite(v) for v in value)
    if isinstance(value, np.ndarray):
        return value.dtype.kind not in "fc" or bool(np.isfinite(value).all())
    if isinstance(value, float):
        return math.isfinite(value)
    return True


@FUZZ
@given(
    calls=calls,
    flush_every=st.integers(1, 5),
    fault=st.sampled_from(["wrong_type", "nan_json", "nan_embedding", "nan_confidence", "negative_cost"]),
    seed=st.integers(0, 2**16),
)
def test_fuzz_api(calls, flush_every, fault, seed):
    TALLY.case()
    with tempfile.TemporaryDirectory(prefix="himoe-fuzz-api-") as root:
        session = Session(Path(root), flush_every, fault, seed)
        try:
            for name, kw in calls:
                session.call(name, kw)
        except BaseException:
            session.moe.close()
            raise
        session.check_state()
        TALLY.add("feedback rows", session.feedback_rows)


_report = TALLY.report_fixture(
    lambda t: (
        f"fuzz api: {t['cases']} cases, {t['calls']} calls ({t['answers']} answered, {t['moe_errors']} MoeError), "
        f"{t['feedback rows']} feedback rows checked; {t['other exceptions']} other exceptions, "
        f"{t['inconsistent states']} inconsistent states"
    )
)
