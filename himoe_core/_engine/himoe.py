from __future__ import annotations

import contextvars
import math
import os
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio

from .._config.config_parsing import load_config
from .._context import CancelToken, Context, Memory, current_clock, new_trace_id
from .._decision.decision import Decision
from .._errors import Cancelled, ConfigError, DeadlineExceeded, InvalidInput, MoeError, NoExpertSelected
from .._input import InputData
from .._orchestrator.orchestration_feedback import OrchestrationFeedback
from .._router.expert_stats import ExpertStats
from .._router.router_ref import RouterRef
from .._value import Value
from ..plugins.plugin_host import PluginHost
from .assembly import build_orchestrator, build_routers
from .background_loop import BackgroundLoop
from .explicit_experts import ExplicitExperts
from .feedback_trainer import FeedbackTrainer
from .lag_limit import INITIAL, LagLimit
from .request_slots import RequestSlots
from .response import Response
from .snapshot_follower import SnapshotFollower
from .state_calls import state_call
from .trace_record import TraceRecord, attempt_atoms, render_attempt, request_atoms
from .trace_store import TraceStore

if TYPE_CHECKING:
    from ..state import StateStore

ROUTER_GRACE_S = 0.005
"""How long past the request's deadline a router written from scratch (not a BaseRouter) is
given before the engine cuts it from outside (RouterRef.guarded). A BaseRouter is not guarded:
it cuts its own fan-out at the deadline and returns what finished, and a guard around it would
throw those answers away whenever an overloaded loop wakes both deadlines at once."""
_ISSUED_KEPT = 4096
"""How many ids from `HiMoE.new_trace_id` wait for their request at most; past it the oldest are
forgotten, and a forgotten id is only checked against the store like a caller's own."""
_GRACE_TAKEN: contextvars.ContextVar[float] = contextvars.ContextVar("himoe_grace_taken", default=0.0)
"""How far past its deadline the current request may end by design, so that an adaptive
admission limit does not read that as the loop running late."""


class HiMoE:
    """A mixture of experts, ready to answer: plugins loaded, routers and orchestrator built.

    Three ways in:

    - ``async with HiMoE.open(config=...) as moe: r = await moe.run("plan: …")`` in a trio app;
    - ``moe = HiMoE(config=...); r = moe.run_sync("plan: …")`` from plain code, or from the
      threads of an asyncio or threaded app (safe from many threads at once);
    - ``HiMoE(experts=[MyExpert()], entry_points=False)`` for an explicit set of experts.

    `config` is a TOML file path or a dict (see docs/configuration.md); with none, one static
    router over every installed expert serves every request.
    """

    def __init__(
        self,
        *,
        config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        experts: Iterable[Any] = (),
        plugins: Iterable[Any] = (),
        entry_points: bool = True,
        plugins_dir: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = load_config(config)
        experts = list(experts)
        self.host = PluginHost(
            plugins=[*plugins, *([ExplicitExperts(experts)] if experts else [])],
            entry_points=entry_points,
            plugins_dir=plugins_dir or self.config["himoe"].get("plugins_dir"),
            environ=environ,
            config=self.config,
        )
        settings = self.config["himoe"]
        self.budget_ms: float = settings["budget_ms"]
        self.cost_budget: float = settings["cost_budget"]
        self.chain_plans: bool = settings["chain_plans"]
        self.max_chain_depth: int = settings["max_chain_depth"]
        self.max_in_flight: int | str = settings["max_in_flight"]
        # trio primitives belong to one run: each run (run_sync's own loop, an app's) gets its slots.
        self._slots: trio.lowlevel.RunVar[RequestSlots] | None = (
            trio.lowlevel.RunVar("himoe_request_slots") if self.max_in_flight else None
        )
        self.limits = self.config["limits"]
        self.expert_stats = ExpertStats()
        self.routers: dict[str, RouterRef] = build_routers(self.host, self.config, self.expert_stats)
        self.orchestrator = build_orchestrator(self.host, self.config, self.routers)
        self._names = {eid: name for eid, name, _ in self.host.experts.items()}
        self.traces = TraceStore(settings["trace_capacity"])
        self.trainer = FeedbackTrainer(
            routers=self.routers,
            orchestrator=self.orchestrator,
            experts=self.host.experts,
            traces=self.traces,
            state=self.config["state"],
        )
        self.memory = Memory()
        self._issued: OrderedDict[str, None] = OrderedDict()  # ids from new_trace_id not yet used
        self._nursery: trio.Nursery | None = None
        self._loop: BackgroundLoop | None = None
        self._loop_lock = threading.Lock()

    @staticmethod
    def load_config(config: str | os.PathLike[str] | Mapping[str, Any] | None) -> dict[str, Any]:
        """The checked configuration a HiMoE would run with — defaults filled in — from a TOML
        file path or a dict; ConfigError naming the bad key and what to write instead. For
        tools that read their own section (`[serve]`) before building the engine."""
        return load_config(config)

    def new_trace_id(self) -> str:
        """A new trace id for `run` or `decide`, for a caller that needs the id before the
        request ends (a server's response headers, its access log). The engine made it, so the
        request skips the state store lookup that proves a caller's own id was never used."""
        trace_id = new_trace_id()
        issued = self._issued
        issued[trace_id] = None
        if len(issued) > _ISSUED_KEPT:
            issued.popitem(last=False)  # one call: safe beside other threads issuing ids
        return trace_id

    # -- lifecycles -------------------------------------------------------------------------------
    @classmethod
    @asynccontextmanager
    async def open(cls, **options: Any) -> AsyncIterator[HiMoE]:
        """Build a HiMoE whose shadow routers run in a nursery owned by this block."""
        moe = cls(**options)
        async with trio.open_nursery() as nursery:
            moe._nursery = nursery
            following = trio.CancelScope()
            if moe.trainer.enabled and moe.trainer.shared:
                nursery.start_soon(moe._follow_snapshots, following)
            try:
                yield moe
            finally:
                following.cancel()
                moe._nursery = None
        moe.trainer.close()

    async def _follow_snapshots(self, scope: trio.CancelScope) -> None:
        """On a shared store (until `scope` is cancelled): in learner mode, route with the newest
        snapshot the learner published; inline, watch the store while it is down."""
        with scope:
            await SnapshotFollower(self.trainer).run()

    def model_status(self) -> dict[str, Any] | None:
        """With a shared (PostgreSQL) store: `state_store` ("up" or "down": a replica whose store is
        unreachable keeps routing, on its last snapshot or, if the store was down from its start,
        the routers' initial state) and `error` (why it is down). In learner mode (`[state]
        learning = "learner"`) also the model this process routes with: `model_version` (the
        learner's snapshot), `snapshot_published` (seconds since the epoch), `snapshot_age_s`
        (seconds since a check last confirmed no newer snapshot existed: how stale this replica
        may be) and `snapshot_lag_s` (from the learner's commit of this snapshot to this process
        routing with it). None with a state file, or none."""
        status = self.trainer.snapshot
        if self.trainer.learning != "learner":
            if not (self.trainer.enabled and self.trainer.shared):
                return None
            return {"state_store": "up" if status.store_up else "down", "error": status.error}
        return {
            "model_version": status.version,
            "snapshot_published": status.published,
            "state_store": "up" if status.store_up else "down",
            "snapshot_age_s": status.staleness_s(),
            "snapshot_lag_s": status.lag_s,
            "error": status.error,
        }

    def close(self) -> None:
        """Stop the background loop that `run_sync` uses (shadows in flight are cancelled) and
        write pending traces to the state file."""
        with self._loop_lock:
            loop, self._loop = self._loop, None
        if loop is not None:
            loop.close()
        self.trainer.close()

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
        """Learn from how good the answer of `trace_id` was.

        `reward` (higher is better, typically 0..1) or `task_loss` (= 1 − reward), not both,
        scores the answer (each a number in [-1000, 1000]); `scores` scores individual experts' outputs by name; `expected` is the right
        answer when known (experts with `learn` use it); `shadow_scores` scores the shadow
        routers' answers by router id (offline credit assignment). The router that served the
        trace learns, the selected experts learn, and with a state file everything is saved.
        Returns a summary of what was updated.
        """
        return self.trainer.feedback(
            trace_id, reward=reward, task_loss=task_loss, scores=scores, expected=expected, shadow_scores=shadow_scores
        )

    def __enter__(self) -> HiMoE:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def stats(self, window: int = 500) -> dict[str, Any]:
        """Guardrail metrics over the traces and feedback in the state file (`himoe stats`):
        quality, calibration (ECE), load balance, utilisation, latency, cost, gating drift over
        the last `window` requests, disagreement."""
        from .._learning.metrics import stored_stats

        store = self._state_for("stats")
        self.trainer.flush()
        stats = stored_stats(store, window=window)
        # Rewards given after their decision's reward window: kept (and learned from inline),
        # but a learner joining the log in SQL sees the decision without them.
        on_time, late = store.feedback_timeliness(self.trainer.reward_window_s)
        stats["feedback_late"] = late
        stats["reward_window_s"] = self.trainer.reward_window_s
        return stats

    def reset_state(
        self, *, router: str | None = None, expert: str | None = None, everything: bool = False
    ) -> dict[str, list[str]]:
        """Forget learned state (`himoe state reset`): one router's, one expert's, or every
        router's and expert's. A reset router starts again from its initial state — here, and in
        every process sharing the state file at its next update; an expert's saved state is
        deleted (an engine already running keeps what its expert holds in memory). Traces and
        feedback stay. Returns the routers and experts whose saved state was reset."""
        import copy

        if [router is not None, expert is not None, everything].count(True) != 1:
            raise InvalidInput("reset_state: give exactly one of router=…, expert=… or everything=True")
        for name, value in (("router", router), ("expert", expert)):
            if value is not None and not isinstance(value, str):
                raise InvalidInput(
                    f"reset_state: {name} must be a {name} id (a str), got {type(value).__name__} {value!r}"
                )
        store, trainer = self._state_for("reset_state"), self.trainer
        with trainer._lock, store.exclusive():
            saved_routers, saved_experts = store.saved_routers(), store.saved_experts()
            if router is not None and router not in self.routers and router not in saved_routers:
                raise InvalidInput(
                    f"no router {router!r} in this config or the state file; routers: "
                    f"{', '.join(sorted(set(self.routers) | set(saved_routers))) or 'none'}"
                )
            if expert is not None and expert not in {n for pair in saved_experts for n in pair}:
                raise InvalidInput(
                    f"no saved state for expert {expert!r}; experts with saved state: "
                    f"{', '.join(sorted({name for _, name in saved_experts})) or 'none'}"
                )
            reset: dict[str, list[str]] = {"routers": [], "experts": []}
            for router_id in (
                sorted(set(self.routers) | set(saved_routers)) if everything else [router] if router else []
            ):
                fresh = trainer._fresh.get(router_id)
                if store.reset_router(router_id, copy.deepcopy(fresh) if fresh is not None else None):
                    reset["routers"].append(router_id)
                if fresh is not None:
                    handle = self.routers[router_id].handle
                    handle.load_state_dict(copy.deepcopy(fresh))
                    handle.model_version = trainer._versions[router_id] = store.router_version(router_id)
            if everything or expert is not None:
                reset["experts"] = sorted({name for eid, name in saved_experts if everything or expert in (eid, name)})
                store.reset_experts(None if everything else expert)
        return reset

    def evaluate(self, router: str, *, resamples: int = 1000) -> dict[str, Any]:
        """Off-policy estimates (IPS, SNIPS, DR, with 95 % bootstrap intervals) of how `router`
        would have done on the logged, scored decisions (`himoe evaluate`)."""
        from .evaluation import evaluate_router

        self._state_for("evaluate")
        return evaluate_router(self, router, resamples=resamples)

    def _state_for(self, what: str) -> StateStore:
        if not self.trainer.enabled:
            raise ConfigError(f"{what} reads the state file, and this config has [state] enabled = false")
        return self.trainer.store

    # -- answering ----------------------------------------------------------------------------------
    def run_sync(self, x: Any, **options: Any) -> Response:
        """`run` for code outside trio; safe to call from many threads at once."""
        loop = self._loop
        if loop is None:
            with self._loop_lock:  # threads calling at once must share one loop
                if self._loop is None:
                    self._loop = BackgroundLoop()
                    if self.trainer.enabled and self.trainer.shared:
                        self._loop.start_soon(self._follow_snapshots, trio.CancelScope())
                loop = self._loop
        if loop.is_current():
            raise RuntimeError("run_sync was called from inside HiMoE's own loop; use `await moe.run(...)`")
        return loop.call(lambda: self.run(x, **options))

    async def run(
        self,
        x: Any,
        *,
        task: str | None = None,
        context: Mapping[str, Any] | None = None,
        budget_ms: float | None = None,
        cost_budget: float | None = None,
        router: str | None = None,
        k: int | None = None,
        cancel: CancelToken | None = None,
        trace_id: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Response:
        """Answer one request: choose a router, gate, call the top-k in parallel under the
        deadline, aggregate, synthesise; start shadow routers when budget is left.

        `task` is a routing hint such as "fr:tag"; `context` is the caller's metadata about
        the request — categories (str, bool) and numbers, e.g. `{"tenant": "acme", "subject":
        "anatomy", "priority": 2}` — that learning routers' encoders turn into features of their
        own (`task=…`, `ctx:subject=anatomy`) and that the decision record keeps, so feedback and
        off-policy evaluation see the same features. `options` reach the experts as
        `ctx.options` (generation settings, conversation history, a streaming callback: see
        Context).

        Raises InvalidInput for bad input, NoExpertSelected when no expert can handle it or all
        failed (naming each and why), DeadlineExceeded, BudgetExceeded, Cancelled.
        """
        x = self._request(x, task, k, context)
        ctx = Context.start(
            self.budget_ms if budget_ms is None else budget_ms,
            trace_id=trace_id,
            cancel=cancel,
            memory=self.memory,
            cost_budget=self.cost_budget if cost_budget is None else cost_budget,
            clock=current_clock(),
            options=options,
        )
        await self._check_ids(router, trace_id)
        if self._slots is None:
            return await self._answer(x, ctx, router=router, k=k)
        slots, deadline = await self._admit(ctx, watch_token=cancel is not None)
        grace = _GRACE_TAKEN.set(0.0)
        try:
            return await self._answer(x, ctx, router=router, k=k)
        finally:
            slots.release(deadline + _GRACE_TAKEN.get())
            _GRACE_TAKEN.reset(grace)

    def _request(self, x: Any, task: str | None, k: int | None, context: Any = None) -> InputData:
        """The request as InputData, checked: InvalidInput for bad input, an empty text or a bad k."""
        data = InputData.coerce(x, task=task, context=context, limits=self.limits)
        text = data.as_text()
        if text is not None and (not text or text.isspace()):
            raise InvalidInput("the request text is empty; give a request such as 'plan: ship the release'")
        if k is not None and (type(k) is not int or k < 1):
            raise InvalidInput(f"k must be a whole number >= 1 (the number of experts to call), got {k!r}")
        return data

    async def _check_ids(self, router: Any, trace_id: Any) -> None:
        """The caller's router must be configured, and its trace id (a str: Context.start checked
        the type of any but a falsy one) new: reused, a later feedback would pair its reward with
        another input than the one it scores. (The store is asked from a worker thread.)"""
        if router is not None and (not isinstance(router, str) or router not in self.routers):
            raise NoExpertSelected(f"unknown router {router!r}; configured routers: {', '.join(sorted(self.routers))}")
        if trace_id is None:
            return
        if not isinstance(trace_id, str):  # [] or 0: Context.start made a new id rather than use it
            raise InvalidInput(f"trace_id must be a str, got {type(trace_id).__name__} {trace_id!r}")
        if self._issued.pop(trace_id, 0) is None:
            return
        if self.traces.record(trace_id) is not None or await state_call(self.trainer.recorded, trace_id):
            raise InvalidInput(
                f"trace id {trace_id!r} was already used for another request; give each request a "
                "new trace_id (or none: himoe makes one)"
            )

    async def _admit(self, ctx: Context, watch_token: bool) -> tuple[RequestSlots, float]:
        """Take one of the `max_in_flight` request slots of this trio run, waiting at most until
        the request's deadline (the newest waiter first: see RequestSlots).

        A request that cannot start in time fails at its deadline, waiting without using the
        CPU, instead of slowing every request in flight past theirs.
        """
        slots_var = self._slots
        assert slots_var is not None, "requests are admitted only under a max_in_flight"
        try:
            slots = slots_var.get()
        except LookupError:
            nursery = self._shadow_nursery()
            max_in_flight = self.max_in_flight  # a whole number, or "auto"
            auto = max_in_flight == "auto"
            # The limit grows on the reaper's wake-ups, and the reaper needs a nursery: without
            # one, "auto" is a fixed limit rather than one that could only shrink.
            limit = LagLimit() if auto and nursery is not None else None
            capacity = limit.value if limit else max_in_flight if isinstance(max_in_flight, int) else INITIAL
            slots = RequestSlots(capacity, nursery.start_soon if nursery is not None else None, limit)
            slots_var.set(slots)
        deadline = trio.current_time() + ctx.remaining_ms() / 1000.0
        if slots.in_use < slots.capacity or not watch_token:
            admitted = await slots.acquire(deadline)
        else:  # the caller's token may cancel the wait
            admitted = False
            with trio.CancelScope() as waiting:
                unlink = ctx.cancel.link(waiting)
                try:
                    admitted = await slots.acquire(deadline)
                finally:
                    unlink()
        if admitted:
            return slots, deadline
        if ctx.cancel.is_cancelled():
            raise Cancelled(ctx.cancel.reason)
        setting = "adapted to the event loop's lag" if slots.limit else "[himoe] max_in_flight"
        raise DeadlineExceeded(
            ctx.budget_ms,
            f"it could not start in time: all {slots.capacity} request slots "
            f"({setting}) stayed busy — the process is overloaded",
        )

    async def _answer(self, x: InputData, ctx: Context, *, router: str | None, k: int | None) -> Response:
        primary = self.routers[router] if router else self._ask_orchestrator("choose_router", x, ctx)
        attempts: list[Decision] = []
        if not ctx.cancel.is_cancelled():
            attempts.append(await self._route(primary, x, ctx, k))
            if router is None and self._worth_rerouting(attempts[-1], ctx):
                # The fallbacks are asked for only now: most requests never need them.
                for ref in self._ask_orchestrator("fallbacks", x, ctx, primary):
                    attempts.append(await self._route(ref, x, ctx, k))
                    if not self._worth_rerouting(attempts[-1], ctx):
                        break
        served = attempts[-1] if attempts and attempts[-1].error is None else None
        if served is None:
            error = self._failure(attempts, ctx)
            record = TraceRecord(
                ctx.trace_id, request_atoms(x, ctx, attempts, self._names, ctx.elapsed_ms(), error=error)
            )
            self.traces.put(record)
            if self.trainer.enabled:
                self.trainer.remember(
                    record, attempts[-1] if attempts else Decision(ctx.trace_id, primary.id, x, error=error)
                )
            try:
                raise error
            finally:
                # The error's traceback keeps this frame; were its locals to keep the error too
                # (through the attempts), every failed request would leave a reference cycle —
                # ~24 objects that only a full garbage collection frees.
                del error, record, attempts
        value = self._ask_orchestrator("synthesize", served)
        chain = None
        if self.chain_plans and value.as_plan() is not None and ctx.depth < self.max_chain_depth:
            value, chain = await self._chain(value, ctx)
        shadows, shadow_notes = self._plan_shadows(x, ctx, served)
        elapsed = ctx.elapsed_ms()
        record = TraceRecord(
            ctx.trace_id,
            request_atoms(
                x,
                ctx,
                attempts,
                self._names,
                elapsed,
                served=served.router,
                value=value,
                chain=chain,
                shadows=shadow_notes,
            ),
            router=served.router,
            decision=served,
        )
        self.traces.put(record)
        if self.trainer.enabled:  # with state off, the request never reaches the trainer
            self.trainer.remember(record, served)
        if shadows:
            nursery = self._shadow_nursery()
            assert nursery is not None, "_plan_shadows plans shadows only where a nursery can run them"
            for ref in shadows:
                nursery.start_soon(self._shadow, ref, x, ctx, served)
        # BaseRouter gives every answer its mix; the Router protocol does not make a plugin's router do so
        return Response(value, ctx.trace_id, served.router, served.mix, elapsed, record, served)  # type: ignore[arg-type]

    async def _route(self, ref: RouterRef, x: InputData, ctx: Context, k: int | None) -> Decision:
        """One router's decision on `x`, held to the request's deadline; whatever goes wrong in
        the router becomes the decision's error, never the caller's exception."""
        try:
            if not ref.guarded:
                return await ref.handle.route(x, ctx, k)
            _GRACE_TAKEN.set(ROUTER_GRACE_S)
            with trio.move_on_after(ctx.remaining_ms() / 1000.0 + ROUTER_GRACE_S):
                return await ref.handle.route(x, ctx, k)
            error: MoeError = DeadlineExceeded(ctx.budget_ms, f"router {ref.id!r} did not return by the deadline")
        except MoeError as exc:
            error = exc
        except Exception as exc:  # a faulty router fails its attempt, not the process
            error = NoExpertSelected(f"router {ref.id!r} raised {type(exc).__name__}: {exc}")
        return Decision(ctx.trace_id, ref.id, x, error=error)

    async def decide(
        self,
        x: Any,
        *,
        task: str | None = None,
        context: Mapping[str, Any] | None = None,
        router: str | None = None,
        k: int | None = None,
        trace_id: str | None = None,
    ) -> Decision:
        """Which experts would answer `x`, without calling any: the chosen router's gate, picks
        and propensity (`POST /v1/route`, for clients that call the models themselves). The
        decision is recorded like an answered one, so `feedback(decision.trace_id, reward=…)`
        trains the router on how the picks did."""
        x = self._request(x, task, k, context)
        ctx = Context.start(self.budget_ms, trace_id=trace_id, memory=self.memory, clock=current_clock())
        await self._check_ids(router, trace_id)
        ref = self.routers[router] if router else self._ask_orchestrator("choose_router", x, ctx)
        try:
            decision = ref.handle.decide(x, ctx, k)
        except MoeError:
            raise
        except Exception as exc:  # a faulty router fails the call with a MoeError, as in run
            raise NoExpertSelected(f"router {ref.id!r} raised {type(exc).__name__}: {exc}") from None
        record = TraceRecord(
            ctx.trace_id,
            request_atoms(x, ctx, [decision], self._names, ctx.elapsed_ms(), served=ref.id, value=Value.none()),
            router=ref.id,
        )
        self.traces.put(record)
        if self.trainer.enabled:
            self.trainer.remember(record, decision)
        return decision

    @staticmethod
    def _worth_rerouting(attempt: Decision, ctx: Context) -> bool:
        """Whether the next router should try after `attempt`: it failed, for another reason
        than the input (re-routing cannot mend an input the experts reject), and there is time."""
        return not (
            attempt.error is None
            or isinstance(attempt.error, InvalidInput)
            or ctx.cancel.is_cancelled()
            or ctx.expired()
        )

    def _failure(self, attempts: list[Decision], ctx: Context) -> MoeError:
        if ctx.cancel.is_cancelled():
            return Cancelled(ctx.cancel.reason)
        errors = [a.error for a in attempts if a.error is not None]
        if errors and isinstance(errors[-1], InvalidInput):
            return errors[-1]
        if len(errors) == 1:
            return errors[0]
        if not errors:
            return DeadlineExceeded(ctx.budget_ms, "no router could start")
        if all(isinstance(e, DeadlineExceeded) for e in errors) or ctx.expired():
            return DeadlineExceeded(ctx.budget_ms, "; ".join(f"{a.router}: {a.error}" for a in attempts))
        failures = {}
        for attempt in attempts:
            failures.update({f"{attempt.router}/{k}": v for k, v in getattr(attempt.error, "failures", {}).items()})
            if not getattr(attempt.error, "failures", None):
                failures[attempt.router] = str(attempt.error)
        return NoExpertSelected("no router produced a usable answer", failures)

    # -- chaining and shadows ---------------------------------------------------------------------
    async def _chain(self, value: Value, ctx: Context) -> tuple[Value, list[dict[str, Any]]]:
        """Route each step of a Plan again (depth + 1, the same deadline), in parallel; the
        answer, and each step's record for the trace."""
        plan = value.as_plan()
        assert plan is not None, "only a Plan is chained"
        answers: list[dict[str, Any]] = [{} for _ in plan.steps]

        async def answer(index: int) -> None:
            step = plan.steps[index]
            sub = ctx.derive(depth=ctx.depth + 1, trace_id=f"{ctx.trace_id}.{index + 1}")
            try:
                x = InputData.text(step.description, limits=self.limits)
                response = await self._answer(x, sub, router=None, k=None)
                answers[index] = {
                    "description": step.description,
                    "done": True,
                    "router": response.router,
                    "trace_id": sub.trace_id,
                    "answer": response.value.to_jsonable(),
                }
            except MoeError as exc:
                answers[index] = {
                    "description": step.description,
                    "done": False,
                    "trace_id": sub.trace_id,
                    "error": str(exc),
                }

        async with trio.open_nursery() as nursery:
            for index in range(len(plan.steps)):
                nursery.start_soon(answer, index)
        return Value.json({"goal": plan.goal, "steps": answers}), answers

    def _shadow_nursery(self) -> trio.Nursery | None:
        if self._loop is not None and self._loop.is_current():
            return self._loop.nursery
        return self._nursery

    def _ask_orchestrator(self, method: str, *args: Any) -> Any:
        """Call an orchestrator method; a plugin's exception becomes one precise MoeError."""
        try:
            return getattr(self.orchestrator, method)(*args)
        except MoeError:
            raise
        except Exception as exc:
            name = getattr(self.orchestrator, "kind", type(self.orchestrator).__name__)
            raise NoExpertSelected(f"orchestrator {name!r} raised {type(exc).__name__}: {exc} (in {method})") from exc

    def _plan_shadows(
        self, x: InputData, ctx: Context, served: Decision
    ) -> tuple[list[RouterRef], list[dict[str, Any]] | None]:
        """The shadow routers to start, and the trace's initial `shadows` entry (None: no shadows)."""
        try:  # a shadow must never affect the caller: the primary answer is ready
            shadows = self._ask_orchestrator("shadows", x, ctx, self.routers[served.router])
        except MoeError as exc:
            return [], [{"status": "skipped", "reason": str(exc)}]
        if not shadows:
            return [], None
        if self._shadow_nursery() is None:
            return [], [
                {"router": ref.id, "status": "skipped", "reason": "shadows run only under HiMoE.open() or run_sync"}
                for ref in shadows
            ]
        return list(shadows), []

    async def _shadow(self, ref: RouterRef, x: InputData, ctx: Context, served: Decision) -> None:
        """One shadow router on the same input and deadline; its answer only reaches the trace.

        Runs in a nursery the application (or run_sync's loop) owns, so nothing may escape it."""
        try:
            await self._shadow_unguarded(ref, x, ctx, served)
        except Exception as exc:
            failure = {"router": ref.id, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}
            self.traces.update(ctx.trace_id, lambda trace: trace.setdefault("shadows", []).append(failure))

    async def _shadow_unguarded(self, ref: RouterRef, x: InputData, ctx: Context, served: Decision) -> None:
        decision = await self._route(ref, x, ctx, None)
        record = render_attempt(iter(attempt_atoms(decision, self._names)))
        better = None
        if decision.ok:
            assert decision.value is not None, "a router's answered decision has its value"
            record["value"] = decision.value.to_jsonable()
            if _support(decision) > _support(served):
                better = ref.id
        self.traces.update(ctx.trace_id, lambda trace: trace.setdefault("shadows", []).append(record))
        self.trainer.remember_shadow(decision)
        self.orchestrator.feedback(
            OrchestrationFeedback(
                ctx.trace_id,
                served.router,
                shadow_better=better,
                notes=f"shadow {ref.id}: support {_support(decision):.3f} vs primary {_support(served):.3f}",
            )
        )


def _support(decision: Decision) -> float:
    """Gate-and-confidence weight behind an answer: a label-free signal of which of two routers
    was surer, used until feedback scores the shadow for real."""
    if not decision.ok:
        return -math.inf
    outs = {o.expert_id: o.out for o in decision.outcomes if o.out is not None}
    return sum(w * outs[eid].aux.confidence for eid, w in decision.weights if eid in outs)
