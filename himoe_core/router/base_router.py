from __future__ import annotations

import inspect
import math
from functools import partial
from typing import Any, Sequence

import attrs
import numpy as np
import trio

from ..aggregator.aggregated_out import AggregatedOut
from ..aggregator.aggregator_trait import Aggregator
from ..context import Context
from ..encoder.encoder_trait import Encoder
from ..errors import BudgetExceeded, DeadlineExceeded, NoExpertSelected
from ..experts.expert_out import ExpertOut
from ..experts.expert_ref import ExpertRef
from .call_outcome import CallOutcome
from .call_status import CallStatus
from .expert_stats import ExpertStats
from .fanout_result import FanoutResult
from .gate_scores import GateScores
from .gating import gate_with_policy
from .gating_policy import GatingPolicy
from .router_feedback import RouterFeedback
from .router_input import RouterInput

DEFAULT_THREAD_CAPACITY = 4


class BaseRouter:
    """The execution every router kind shares: candidate filtering, policy gating, bounded
    top-k, the parallel fan-out under deadline, budget and cancel token, and aggregation.

    A router kind overrides `logits(input, candidates, ctx)` (and `train_signal` when it
    learns); everything else is here.
    """

    kind = "base"

    def __init__(self, *, id: str, experts: Sequence[ExpertRef], aggregator: Aggregator,
                 policy: GatingPolicy | None = None, k: int = 1, encoder: Encoder | None = None,
                 stats: ExpertStats | None = None) -> None:
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"router {id!r}: k must be an integer >= 1, got {k!r}")
        self.id = id
        self.experts = tuple(experts)
        self._aggregator = aggregator
        self.policy = policy or GatingPolicy()
        self.k = k
        self.encoder = encoder
        self.stats = stats or ExpertStats()
        self._is_async = {ref.id: inspect.iscoroutinefunction(ref.handle.infer) for ref in self.experts}
        self._limiters: dict[Any, dict[Any, trio.CapacityLimiter]] = {}

    # -- gating ----------------------------------------------------------------------------------
    def candidates(self, input: RouterInput) -> list[ExpertRef]:
        """The experts whose `can_handle` accepts this request's routing key."""
        key = input.input.routing_key()
        return [ref for ref in self.experts if _can_handle(ref, key)]

    def logits(self, input: RouterInput, candidates: list[ExpertRef], ctx: Context) -> np.ndarray:
        """One score per candidate; higher is better. The base scores all alike."""
        return np.zeros(len(candidates))

    def gate(self, input: RouterInput, ctx: Context) -> GateScores:
        candidates = self.candidates(input)
        if not candidates:
            raise NoExpertSelected(
                f"router {self.id!r} has no expert that can handle {_describe_key(input)}; "
                f"its experts are {', '.join(r.name for r in self.experts) or 'none'}"
            )
        return gate_with_policy([r.id for r in candidates], self.logits(input, candidates, ctx), self.policy)

    def pick_topk(self, scores: GateScores, k: int | None = None) -> list[ExpertRef]:
        if len(scores) == 0:
            raise NoExpertSelected(f"router {self.id!r} has no candidate to pick from")
        k = max(1, min(self.k if k is None else k, len(scores)))
        by_id = {ref.id: ref for ref in self.experts}
        return [by_id[eid] for eid in scores.ids[:k]]

    # -- calling -----------------------------------------------------------------------------------
    def plan_calls(self, picks: list[ExpertRef], ctx: Context) -> tuple[list[ExpertRef], list[CallOutcome]]:
        """Shrink the picks to what the remaining time and cost budget can cover.

        Uses observed latency and cost (or an expert's declared `cost_units` before any call).
        When every pick is predicted to overrun the deadline, the fastest is still tried —
        estimates are noisy and the deadline cuts it anyway.
        """
        remaining = ctx.remaining_ms()
        kept: list[ExpertRef] = []
        dropped: list[CallOutcome] = []
        spent = 0.0
        cheapest = math.inf
        for ref in picks:
            cost = self.expected_cost(ref)
            cheapest = min(cheapest, cost)
            if spent + cost > ctx.cost_budget:
                dropped.append(CallOutcome(ref, CallStatus.DROPPED,
                                           cause=f"cost budget: needs ~{cost:g} units, {ctx.cost_budget - spent:g} left"))
                continue
            latency = self.stats.latency_ms(ref.id)
            if latency is not None and latency > remaining:
                dropped.append(CallOutcome(ref, CallStatus.DROPPED,
                                           cause=f"deadline: takes ~{latency:.0f} ms, {remaining:.0f} ms left"))
                continue
            kept.append(ref)
            spent += cost
        if not kept:
            timed = [o for o in dropped if o.cause.startswith("deadline")]
            if not timed:
                raise BudgetExceeded(ctx.cost_budget, cheapest)
            fastest = min(timed, key=lambda o: self.stats.latency_ms(o.expert.id) or 0.0)
            dropped.remove(fastest)
            kept.append(fastest.expert)
        return kept, dropped

    def expected_cost(self, ref: ExpertRef) -> float:
        observed = self.stats.cost_units(ref.id)
        if observed is not None:
            return observed
        declared = getattr(ref.handle, "cost_units", 0.0)
        return float(declared) if isinstance(declared, (int, float)) and math.isfinite(declared) else 0.0

    async def call_experts(self, input: RouterInput, picks: list[ExpertRef], ctx: Context) -> FanoutResult:
        """Call the picks at once in a nursery; return what finished by the deadline.

        Failures, drops and stragglers are recorded as outcomes, never raised. The experts get a
        child of the request's cancel token, cancelled when the fan-out ends, so cooperative
        work in worker threads stops too.
        """
        if ctx.cancel.is_cancelled():
            return FanoutResult([CallOutcome(r, CallStatus.CANCELLED, cause="request cancelled") for r in picks])
        if ctx.expired():
            raise DeadlineExceeded(ctx.budget_ms, f"router {self.id!r} started after the deadline")
        kept, dropped = self.plan_calls(picks, ctx)
        started = trio.current_time()
        token, detach = ctx.cancel.child()
        call_ctx = ctx.derive(cancel=token)
        outcomes: dict[int, CallOutcome] = {}
        with trio.move_on_after(ctx.remaining_ms() / 1000.0) as scope:
            unsubscribe = _cancel_scope_on(token, scope)
            try:
                async with trio.open_nursery() as nursery:
                    for index, ref in enumerate(kept):
                        nursery.start_soon(self._call_one, index, ref, input, call_ctx, outcomes)
            finally:
                unsubscribe()
                token.cancel("request finished")
                detach()
        ended = trio.current_time()
        cancelled = ctx.cancel.is_cancelled()
        results = []
        for index, ref in enumerate(kept):
            outcome = outcomes.get(index)
            if outcome is None:
                status = CallStatus.CANCELLED if cancelled else CallStatus.TIMED_OUT
                cause = "request cancelled" if cancelled else f"cut at the deadline ({ctx.budget_ms:g} ms budget)"
                outcome = CallOutcome(ref, status, latency_ms=(ended - started) * 1000.0, cause=cause)
                self.stats.observe(ref.id, outcome.latency_ms, None, ok=False)
            results.append(outcome)
        return FanoutResult(results + dropped, elapsed_ms=(ended - started) * 1000.0)

    async def _call_one(self, index: int, ref: ExpertRef, input: RouterInput, ctx: Context,
                        outcomes: dict[int, CallOutcome]) -> None:
        started = trio.current_time()
        try:
            if self._is_async.get(ref.id, False):
                result = await ref.handle.infer(input.input, ctx)
            else:
                result = await trio.to_thread.run_sync(
                    partial(ref.handle.infer, input.input, ctx), abandon_on_cancel=True,
                    limiter=self._limiter(ref))
                if inspect.isawaitable(result):
                    raise TypeError("a plain `def infer` returned an awaitable; declare it `async def`")
            out = ExpertOut.of(result, cost_units=self.expected_cost(ref))
        except Exception as exc:
            latency = (trio.current_time() - started) * 1000.0
            outcomes[index] = CallOutcome(ref, CallStatus.FAILED, latency_ms=latency, cause=_cause(exc))
            self.stats.observe(ref.id, latency, None, ok=False)
            return
        latency = (trio.current_time() - started) * 1000.0
        out = attrs.evolve(out, aux=attrs.evolve(out.aux, latency_ms=latency, trace_id=ctx.trace_id))
        outcomes[index] = CallOutcome(ref, CallStatus.OK, out, latency_ms=latency)
        self.stats.observe(ref.id, latency, out.aux.cost_units, ok=True)

    def _limiter(self, ref: ExpertRef) -> trio.CapacityLimiter:
        """A per-expert thread limiter, per trio run (trio primitives belong to one run)."""
        run = trio.lowlevel.current_trio_token()
        per_run = self._limiters.get(run)
        if per_run is None:
            if len(self._limiters) >= 8:
                self._limiters.pop(next(iter(self._limiters)))
            per_run = self._limiters[run] = {}
        limiter = per_run.get(ref.id)
        if limiter is None:
            capacity = getattr(ref.handle, "max_concurrency", DEFAULT_THREAD_CAPACITY)
            limiter = per_run[ref.id] = trio.CapacityLimiter(capacity)
        return limiter

    # -- aggregation and learning --------------------------------------------------------------
    @property
    def aggregator(self) -> Aggregator:
        return self._aggregator

    def aggregate(self, calls: list[tuple[ExpertRef, ExpertOut]], scores: GateScores) -> AggregatedOut:
        return self._aggregator.combine(calls, scores)

    def train_signal(self, fb: RouterFeedback) -> None:
        """The base router does not learn."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, experts={len(self.experts)}, k={self.k})"


def _can_handle(ref: ExpertRef, key: str) -> bool:
    try:
        return bool(ref.handle.can_handle(key))
    except Exception:  # a faulty can_handle excludes its expert, it does not fail the request
        return False


def _describe_key(input: RouterInput) -> str:
    x = input.input
    if x.task is not None:
        return f"task {x.task!r}"
    text = x.as_text()
    if text is not None:
        return f"text {text[:40]!r}" + ("…" if len(text) > 40 else "")
    return f"a {x.kind.value} input without a task hint"


def _cause(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _cancel_scope_on(token, scope: trio.CancelScope):
    """Cancel `scope` from whatever thread cancels `token`."""
    trio_token = trio.lowlevel.current_trio_token()

    def cancel() -> None:
        try:
            trio_token.run_sync_soon(scope.cancel)
        except trio.RunFinishedError:
            pass

    return token.on_cancel(cancel)
