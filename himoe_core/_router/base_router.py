from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any, cast

import attrs
import numpy as np
import trio

from .._aggregator.aggregated_out import AggregatedOut
from .._aggregator.aggregator_trait import Aggregator
from .._aggregator.mix_meta import MixMeta
from .._context import Context
from .._decision.decision import Decision
from .._encoder.encoder_trait import Encoder
from .._errors import (
    AggregationFailed,
    BudgetExceeded,
    Cancelled,
    DeadlineExceeded,
    ExpertFailed,
    InvalidInput,
    MoeError,
    NoExpertSelected,
)
from .._experts.expert_info import expert_example
from .._experts.expert_out import ExpertOut
from .._experts.expert_ref import ExpertRef
from .._input import InputData
from .._input.input_limits import InputLimits
from .._value import Value, to_value
from .call_outcome import CallOutcome
from .call_status import CallStatus
from .candidate_index import CandidateIndex
from .expert_stats import ExpertStats
from .fanout_result import FanoutResult
from .gate_scores import GateScores
from .gating import FEW_CANDIDATES, gate_with_policy
from .gating_policy import GatingPolicy
from .router_feedback import RouterFeedback
from .router_input import RouterInput

DEFAULT_THREAD_CAPACITY = 4
_THREAD_LIMITERS: trio.lowlevel.RunVar[dict[int, tuple[Any, trio.CapacityLimiter]]] = trio.lowlevel.RunVar(
    "himoe_thread_limiters"
)
"""Per trio run: id(expert) → (expert, its CapacityLimiter)."""
_GATE_MEMO_SIZE = 256


class BaseRouter:
    """The Router protocol implemented once for every router kind: encoding, candidate
    filtering, policy gating, bounded top-k, the parallel fan-out under deadline, budget and
    cancel token, aggregation, and the Decision that records it all.

    A router kind overrides `logits(input, candidates, ctx)` (and `learn`, `state_dict` and
    `load_state_dict` when it learns); everything else is here.
    """

    kind = "base"

    model_version = 0
    """The version of the learned state that decides (the engine sets it when it loads or saves
    that state); 0 for a router that does not learn."""

    default_policy = GatingPolicy()
    """The gating a router kind uses for the keys its config's `gating` table leaves out."""

    trace_candidates: int = 16
    """How many candidates, best first, a decision (and so its trace) lists beside its picks;
    the others are summarised (count, probability mass, the whole gate's entropy). HiMoE sets
    it from the config's `[himoe] trace_candidates`."""

    max_output_bytes: int = InputLimits().max_output_bytes
    """An expert output larger than this (`Value.size_bytes`) fails the call; HiMoE sets it
    from the config's `[limits] max_output_bytes`."""

    def __init__(
        self,
        *,
        id: str,
        experts: Sequence[ExpertRef],
        aggregator: Aggregator,
        policy: GatingPolicy | None = None,
        gating: Mapping[str, Any] | None = None,
        k: int = 1,
        encoder: Encoder | None = None,
        stats: ExpertStats | None = None,
    ) -> None:
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"router {id!r}: k must be an integer >= 1, got {k!r}")
        self.id = id
        self.experts = tuple(experts)
        self._aggregator = aggregator
        self.policy = policy or attrs.evolve(self.default_policy, **(gating or {}))
        self.k = k
        self.encoder = encoder
        self.stats = stats or ExpertStats()
        self._is_async = {ref.id: inspect.iscoroutinefunction(ref.handle.infer) for ref in self.experts}
        # gate_with_policy is a pure function of (ids, logits, policy): a static gate repeats, so
        # its GateScores (immutable) are memoised; the numpy work costs ~15 µs for a handful of ids.
        self._gate_memo: dict[tuple[CandidateIndex, bytes, bytes, int | None], GateScores] = {}
        self._memo_policy: GatingPolicy | None = None
        self._candidate_index: CandidateIndex | None = None
        # (rows, index, policy, ids, keys) of the last few candidates gated: see _ids_and_keys
        self._last_candidates: tuple[Any, ...] | None = None

    def add_experts(self, experts: Sequence[ExpertRef]) -> None:
        """Add experts to this router while it runs (those it has already are skipped). What it
        learned is kept: a learning kind's per-arm matrices grow by a row for each new arm, at
        its prior, when it is first scored."""
        known = self.candidate_index().position
        new = [ref for ref in dict.fromkeys(experts) if ref.id not in known]
        if not new:
            return
        self._is_async.update({ref.id: inspect.iscoroutinefunction(ref.handle.infer) for ref in new})
        self.experts = (*self.experts, *new)  # the candidate index is made again on next use

    # -- the Router protocol -------------------------------------------------------------------
    def decide(self, x: InputData, ctx: Context, k: int | None = None) -> Decision:
        """Gate and pick for `x` without calling any expert: the decision's scores, picks and
        propensity, with no outcomes. Raises MoeError (NoExpertSelected, EncodeError…)."""
        rin = self.encode(x)
        scores = self.gate(rin, ctx) if k is None else self.gate(rin, ctx, k)
        picks = self.pick_topk(scores, k)
        return self._decision(ctx, x, rin, scores, picks)

    async def route(self, x: InputData, ctx: Context, k: int | None = None) -> Decision:
        """Decide, call the picks in parallel under the request's deadline, budget and cancel
        token, and aggregate their outputs: the whole Decision. A MoeError is returned as the
        decision's `error`, never raised, with whatever was decided before it."""
        rin = scores = None
        picks: list[ExpertRef] = []
        fanout = None
        try:
            rin = await self.encode_async(x, ctx) if self._remote_encoder else self.encode(x)
            scores = self.gate(rin, ctx) if k is None else self.gate(rin, ctx, k)
            picks = self.pick_topk(scores, k)
            scores = self._listed(scores, picks)
            fanout, kept = await self.call_experts(rin, picks, ctx)
            if ctx.cancel.is_cancelled():
                raise Cancelled(ctx.cancel.reason)  # the caller gave up: no partial answer
            calls = [
                (ref, o.out)
                for ref, o in zip(kept, fanout.outcomes)
                if o.status is CallStatus.OK and o.out is not None  # an OK outcome has its output
            ]
            if not calls:
                raise self._no_answer(fanout, ctx)
            answer = self.aggregate(calls, scores)
            mix = MixMeta.of(fanout, scores, calls, answer, getattr(self._aggregator, "id", "?"))
            return self._decision(ctx, x, rin, scores, picks, fanout, answer, mix)
        except MoeError as exc:
            return self._decision(ctx, x, rin, scores, picks, fanout, error=exc)

    @property
    def _remote_encoder(self) -> bool:
        return hasattr(self.encoder, "encode_async")

    async def encode_async(self, x: InputData, ctx: Context) -> RouterInput:
        """`encode` on a request's path: an encoder that calls a service (it has `encode_async`)
        is awaited under the request's deadline instead of blocking the event loop."""
        encoder = self.encoder
        if encoder is None or not hasattr(encoder, "encode_async"):
            return self.encode(x)
        return RouterInput(x, await encoder.encode_async(x, ctx))

    def encode(self, x: InputData) -> RouterInput:
        """What this router gates on: the input, with its encoding when the router has an
        encoder (encoded once per request; the decision keeps it for learning)."""
        encoder = self.encoder
        return RouterInput(x) if encoder is None else RouterInput(x, encoder.encode(x))

    def _decision(
        self,
        ctx: Context,
        x: InputData,
        rin: RouterInput | None,
        scores: GateScores | None,
        picks: list[ExpertRef],
        fanout: FanoutResult | None = None,
        answer: AggregatedOut | None = None,
        mix: Any = None,
        error: MoeError | None = None,
    ) -> Decision:
        propensity = scores.prob(picks[0].id) if self.samples_first and picks and scores is not None else 1.0
        if scores is not None:
            scores = self._listed(scores, picks)
        return Decision(
            ctx.trace_id,
            self.id,
            x,
            scores,
            [ref.id for ref in picks],
            propensity,
            () if fanout is None else fanout.outcomes,
            None if answer is None else answer.value,
            () if answer is None else answer.weights,
            None if rin is None else rin.encoded,
            self.model_version,
            mix,
            error,
        )

    def _no_answer(self, fanout: FanoutResult, ctx: Context) -> MoeError:
        """Why a fan-out in which no call succeeded gave no answer."""
        if ctx.expired():
            return DeadlineExceeded(
                ctx.budget_ms, "; ".join(f"{name}: {cause}" for name, cause in sorted(fanout.failures.items()))
            )
        rejected = [o for o in fanout.outcomes if isinstance(o.error, InvalidInput)]
        if rejected and len(rejected) == len(fanout.outcomes):
            # Every expert said the input itself is wrong: that is the caller's error to see.
            return InvalidInput("; ".join(_rejection(o) for o in rejected))
        return NoExpertSelected(f"every expert picked by router {self.id!r} failed", fanout.failures)

    # -- gating ----------------------------------------------------------------------------------
    def candidate_index(self) -> CandidateIndex:
        """The router's experts indexed for candidate lookup (made again when `experts` is
        reassigned)."""
        index = self._candidate_index
        if index is None or index.experts is not self.experts:
            index = self._candidate_index = CandidateIndex(self.experts)
        return index

    def candidates(self, input: RouterInput) -> list[ExpertRef]:
        """The experts that handle this request: those whose declared `handles` (task prefix)
        or `input_kinds` match it and whose `can_handle`, if any, accepts it; and those that
        declare nothing and whose `can_handle` accepts the request's routing key."""
        index = self.candidate_index()
        x = input.input
        refs: list[ExpertRef] = index.refs[index.select(x.routing_key(), x.kind.value)].tolist()
        return refs

    def _candidate_rows(self, index: CandidateIndex, input: RouterInput) -> np.ndarray:
        """Positions of the candidates among the router's experts, in order."""
        if type(self).candidates is BaseRouter.candidates:
            x = input.input
            return index.select(x.routing_key(), x.kind.value)
        position = index.position  # a router kind of its own filters: follow its choice
        return np.asarray([position[ref.id] for ref in self.candidates(input)], dtype=np.intp)

    def logits(self, input: RouterInput, candidates: list[ExpertRef], ctx: Context) -> np.ndarray:
        """One score per candidate; higher is better. The base scores all alike."""
        return np.zeros(len(candidates))

    def logits_and_estimates(
        self, input: RouterInput, candidates: list[ExpertRef], ctx: Context
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The logits, and each candidate's estimated value without exploration (see
        `GateScores.estimates`), or None when the logits are the estimates. Kinds whose logits
        explore (a bonus, a posterior draw) override this instead of `logits`."""
        return self.logits(input, candidates, ctx), None

    def logits_at(
        self, input: RouterInput, index: CandidateIndex, rows: np.ndarray, ctx: Context
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """`logits_and_estimates` for the candidates at `rows` of the index; a router kind that
        keeps its parameters by position overrides this to score them all in one array
        operation."""
        kind = type(self)
        if kind.logits is BaseRouter.logits and kind.logits_and_estimates is BaseRouter.logits_and_estimates:
            return np.zeros(len(rows)), None
        return self.logits_and_estimates(input, index.refs[rows].tolist(), ctx)

    def gate(self, input: RouterInput, ctx: Context, k: int | None = None) -> GateScores:
        """Score the capable experts for this input: GateScores ranked best first. A router
        that samples ranks every candidate; one that ranks deterministically ranks the `k`
        best (default its own k) and at least `trace_candidates`, the rest summarised."""
        index = self.candidate_index()
        rows = self._candidate_rows(index, input)
        if not len(rows):
            key = input.input.routing_key()
            raise NoExpertSelected(
                f"router {self.id!r} has no expert that can handle {_describe_key(input)}; "
                f"its experts are {_introductions(self.experts)}",
                _refusals(self.experts, key),
            )
        head = None if self.samples_first else max(self.k if k is None else k, self.trace_candidates, 1)
        logits, estimates = self.logits_at(input, index, rows, ctx)
        return self._gate_policy(index, rows, logits, head, estimates)

    def _gate_policy(
        self, index: CandidateIndex, rows: np.ndarray, logits: Any, head: int | None, estimates: Any = None
    ) -> GateScores:
        """`gate_with_policy` over the candidates at `rows`, memoised on its exact inputs."""
        policy = self.policy
        if self.samples_first or estimates is not None:
            # a sampling router's logits change with every decision: remembering them would only cost
            ids, keys = self._ids_and_keys(index, rows, policy)
            return gate_with_policy(ids, logits, policy, estimates, head=head, keys=keys)
        array = np.asarray(logits, dtype=np.float64)
        if array.ndim != 1:  # gate_with_policy's message
            return gate_with_policy(index.ids[rows], array, policy, head=head, keys=_keys_at(index, rows, policy))
        memo = self._gate_memo
        if self._memo_policy is not policy:  # the policy was replaced: start afresh
            memo.clear()
            self._memo_policy = policy
        key = (index, rows.tobytes(), array.tobytes(), head)
        scores = memo.get(key)
        if scores is None:
            scores = gate_with_policy(index.ids[rows], array, policy, head=head, keys=_keys_at(index, rows, policy))
            if len(memo) >= _GATE_MEMO_SIZE:
                memo.clear()
            memo[key] = scores
        return scores

    def _ids_and_keys(self, index: CandidateIndex, rows: np.ndarray, policy: GatingPolicy) -> tuple[Any, Any]:
        """The candidates' ids and tie-break keys; a few of them as Python values, kept for the
        rows array that the index hands out again and again (the gate reads them as such)."""
        last = self._last_candidates
        if last is not None and last[0] is rows and last[1] is index and last[2] is policy:
            return last[3], last[4]
        ids, keys = index.ids[rows], _keys_at(index, rows, policy)
        if len(rows) > FEW_CANDIDATES:
            return ids, keys
        few = tuple(ids.tolist()), keys.tolist()
        self._last_candidates = (rows, index, policy, *few)
        return few

    def _listed(self, scores: GateScores, picks: list[ExpertRef]) -> GateScores:
        """The gate as a decision records it: the top `trace_candidates` and the picks."""
        if len(scores.ids) <= self.trace_candidates:
            return scores
        return scores.bounded(self.trace_candidates, [ref.id for ref in picks])

    def pick_topk(self, scores: GateScores, k: int | None = None) -> list[ExpertRef]:
        """The first k ranked experts (k bounded to the candidates, never empty)."""
        count = len(scores.ids)
        if count == 0:
            raise NoExpertSelected(f"router {self.id!r} has no candidate to pick from")
        k = max(1, min(self.k if k is None else k, count))
        by_id = self.candidate_index().by_id
        first = self.choose_first(scores)
        if first == 0:
            return [by_id[eid] for eid in scores.ids[:k]]
        return [by_id[scores.ids[first]], *(by_id[eid] for eid in scores.ids[: k + 1] if eid != scores.ids[first])][:k]

    samples_first = False
    """Whether `choose_first` samples (its gate probabilities are then true propensities)."""

    def choose_first(self, scores: GateScores) -> int:
        """Index of the first pick; the best-ranked here. Learning routers sample it from the
        gate probabilities, so that the logged probability is the pick's true propensity."""
        return 0

    # -- calling -----------------------------------------------------------------------------------
    def plan_calls(
        self, picks: list[ExpertRef], ctx: Context, remaining: float | None = None
    ) -> tuple[list[ExpertRef], list[tuple[ExpertRef, CallOutcome]]]:
        """Shrink the picks to what the remaining time and cost budget can cover.

        Uses observed latency and cost (or an expert's declared `cost_units` before any call).
        When every pick is predicted to overrun the deadline, the fastest is still tried —
        estimates are noisy and the deadline cuts it anyway.
        """
        if remaining is None:
            remaining = ctx.remaining_ms()
        latencies = self.stats.latencies
        kept: list[ExpertRef] = []
        dropped: list[tuple[ExpertRef, CallOutcome]] = []
        spent = 0.0
        cheapest = math.inf
        priced = ctx.cost_budget != math.inf  # without a cost budget, costs need not be looked up
        for ref in picks:
            cost = self.expected_cost(ref) if priced else 0.0
            cheapest = min(cheapest, cost)
            if spent + cost > ctx.cost_budget:
                dropped.append(
                    (
                        ref,
                        CallOutcome(
                            ref.id,
                            ref.name,
                            CallStatus.DROPPED,
                            cause=f"cost budget: needs ~{cost:g} units, {ctx.cost_budget - spent:g} left",
                        ),
                    )
                )
                continue
            latency = latencies.get(ref.id)
            if latency is not None and latency > remaining:
                dropped.append(
                    (
                        ref,
                        CallOutcome(
                            ref.id,
                            ref.name,
                            CallStatus.DROPPED,
                            cause=f"deadline: takes ~{latency:.0f} ms, {remaining:.0f} ms left",
                        ),
                    )
                )
                # Forget a little each time, so an expert that got faster is tried again one day.
                self.stats.relax_latency(ref.id, remaining)
                continue
            kept.append(ref)
            spent += cost
        if not kept:
            timed = [(ref, o) for ref, o in dropped if o.cause.startswith("deadline")]
            if not timed:
                raise BudgetExceeded(ctx.cost_budget, cheapest)
            fastest = min(timed, key=lambda pair: self.stats.latency_ms(pair[0].id) or 0.0)
            dropped.remove(fastest)
            kept.append(fastest[0])
        return kept, dropped

    def expected_cost(self, ref: ExpertRef) -> float:
        """An expert's expected cost per call: observed, else its declared `cost_units`."""
        observed = self.stats.cost_units(ref.id)
        if observed is not None:
            return observed
        declared = getattr(ref.handle, "cost_units", 0.0)
        if isinstance(declared, bool) or not isinstance(declared, (int, float)) or math.isnan(declared):
            return 0.0
        return float(declared)  # an infinite declared cost is never affordable, not free

    async def call_experts(
        self, input: RouterInput, picks: list[ExpertRef], ctx: Context
    ) -> tuple[FanoutResult, list[ExpertRef]]:
        """Call the picks at once in a nursery; what finished by the deadline, and the experts
        in the order of the result's outcomes (those called, then those dropped before starting).

        Failures, drops and stragglers are recorded as outcomes, never raised. The experts get a
        child of the request's cancel token, cancelled when the fan-out ends, so cooperative
        work in worker threads stops too.
        """
        if ctx.cancel.is_cancelled():
            return FanoutResult(
                [CallOutcome(r.id, r.name, CallStatus.CANCELLED, cause="request cancelled") for r in picks]
            ), list(picks)
        remaining = ctx.remaining_ms()
        if remaining <= 0.0:
            raise DeadlineExceeded(ctx.budget_ms, f"router {self.id!r} started after the deadline")
        kept, dropped = self.plan_calls(picks, ctx, remaining)
        if all(self._is_async.get(ref.id, False) for ref in kept):
            # trio cancels async experts itself; only worker threads need a token of their own.
            token, detach, call_ctx = ctx.cancel, None, ctx
        else:
            token, detach = ctx.cancel.child()
            call_ctx = ctx.derive(cancel=token)
        outcomes: list[CallOutcome | None] = [None] * len(kept)
        unsubscribe = None
        started = trio.current_time()
        try:
            async with trio.open_nursery() as nursery:
                # The nursery's own scope carries the deadline (one cancel scope, not two). The
                # context's clock is read first: a thread switch between the two reads then moves
                # the cut later, never before the context itself expires (a call cut while
                # `ctx.expired()` was still false reported NoExpertSelected, not DeadlineExceeded).
                remaining = ctx.deadline - ctx.clock()
                nursery.cancel_scope.deadline = trio.current_time() + remaining
                unsubscribe = token.link(nursery.cancel_scope)
                for index in range(1, len(kept)):
                    nursery.start_soon(self._call_one, index, kept[index], input, call_ctx, outcomes)
                # The first pick runs in the nursery's own task while the others run in theirs:
                # the same concurrency, one task fewer to start.
                await self._call_one(0, kept[0], input, call_ctx, outcomes)
        finally:
            if unsubscribe is not None:
                unsubscribe()
            if detach is not None:
                token.cancel("request finished")
                detach()
        ended = trio.current_time()
        finished: list[CallOutcome] = []
        for index, outcome in enumerate(outcomes):
            if outcome is None:
                if ctx.cancel.is_cancelled():
                    status, cause = CallStatus.CANCELLED, "request cancelled"
                else:
                    status, cause = CallStatus.TIMED_OUT, f"cut at the deadline ({ctx.budget_ms:g} ms budget)"
                ref = kept[index]
                outcome = CallOutcome(ref.id, ref.name, status, latency_ms=(ended - started) * 1000.0, cause=cause)
            finished.append(outcome)
        self.stats.observe_calls(finished)
        result = FanoutResult((*finished, *(o for _, o in dropped)), elapsed_ms=(ended - started) * 1000.0)
        return result, [*kept, *(ref for ref, _ in dropped)]

    async def _call_one(
        self, index: int, ref: ExpertRef, input: RouterInput, ctx: Context, outcomes: list[CallOutcome | None]
    ) -> None:
        """Call one expert and record its outcome; nothing but trio's cancellation escapes."""
        started = trio.current_time()
        try:
            if self._is_async.get(ref.id, False):
                # `_is_async` saw a coroutine function: its call is awaitable
                result = await cast("Awaitable[Any]", ref.handle.infer(input.input, ctx))
            else:
                result = await trio.to_thread.run_sync(
                    partial(_infer_in_thread, ref.handle.infer, input.input, ctx),
                    abandon_on_cancel=True,
                    limiter=self._limiter(ref),
                )
            latency = (trio.current_time() - started) * 1000.0
            try:
                out = self._stamped(ref, result, latency, ctx.trace_id)
            except InvalidInput as exc:
                # The expert's output is at fault, not the request: a failed call, never an
                # InvalidInput that would tell the caller their input was wrong.
                raise ExpertFailed(ref.name, _cause(exc)) from exc
            size = out.value.size_bytes()
            if size > self.max_output_bytes:
                raise ExpertFailed(
                    ref.name,
                    f"output too large: {size} bytes, more than limits.max_output_bytes "
                    f"({self.max_output_bytes}); it was dropped",
                )
        except (Exception, SystemExit) as exc:  # sys.exit() in an expert (argparse…) fails its call, not the app
            latency = (trio.current_time() - started) * 1000.0
            outcomes[index] = CallOutcome(
                ref.id, ref.name, CallStatus.FAILED, latency_ms=latency, cause=_cause(exc), error=exc
            )
            del outcomes  # the error's traceback keeps this frame: it must not keep the list holding the error
            return
        outcomes[index] = CallOutcome(ref.id, ref.name, CallStatus.OK, out, latency_ms=latency)

    def _stamped(self, ref: ExpertRef, result: Any, latency_ms: float, trace_id: str) -> ExpertOut:
        """The expert's result as an ExpertOut whose aux carries the measured latency and the
        request's trace id (whatever the expert put there)."""
        if isinstance(result, ExpertOut):
            return result.stamped(latency_ms, trace_id)
        # most experts return a Value: nothing to convert; anything else as ExpertOut.of would
        return ExpertOut.measured(
            result if type(result) is Value else to_value(result), latency_ms, self.expected_cost(ref), trace_id
        )

    def _limiter(self, ref: ExpertRef) -> trio.CapacityLimiter:
        """The expert's thread limiter in this trio run (trio primitives belong to one run),
        shared by every router that calls the expert — shadows and fallbacks included — so that
        `max_concurrency` bounds the expert, not each router's share of it."""
        try:
            table = _THREAD_LIMITERS.get()
        except LookupError:
            table = {}
            _THREAD_LIMITERS.set(table)
        entry = table.get(id(ref.handle))
        if entry is None:
            if len(table) >= 1024:  # experts come and go in a long run: forget the idle ones
                for key in [key for key, (_, limiter) in table.items() if limiter.borrowed_tokens == 0]:
                    del table[key]
            capacity = getattr(ref.handle, "max_concurrency", DEFAULT_THREAD_CAPACITY)
            # the expert is kept with its limiter so that its id() is not reused meanwhile
            entry = table[id(ref.handle)] = (ref.handle, trio.CapacityLimiter(capacity))
        return entry[1]

    # -- aggregation and learning --------------------------------------------------------------
    @property
    def aggregator(self) -> Aggregator:
        return self._aggregator

    def aggregate(self, calls: list[tuple[ExpertRef, ExpertOut]], scores: GateScores) -> AggregatedOut:
        """Combine the successful calls with this router's aggregator."""
        try:
            return self._aggregator.combine(calls, scores)
        except MoeError:
            raise
        except Exception as exc:  # a faulty aggregator fails this router's attempt, named as such
            raise AggregationFailed(
                f"aggregator {getattr(self._aggregator, 'id', '?')!r} of router {self.id!r} raised {_cause(exc)}"
            ) from exc

    def learn(self, decision: Decision, feedback: RouterFeedback) -> None:
        """Learn from feedback on one of this router's decisions; the base router does not."""

    def state_dict(self) -> dict[str, Any] | None:
        """The learned state to keep (plain numbers, strings, numpy arrays), or None when the
        router learns nothing."""
        return None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, experts={len(self.experts)}, k={self.k})"


def _infer_in_thread(infer: Callable[[InputData, Context], Any], x: InputData, ctx: Context) -> Any:
    """A sync expert's call, in its worker thread; an awaitable result is refused here, before
    trio sees it (trio's own error would quote the whole input and context)."""
    result = infer(x, ctx)
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if callable(close):
            close()
        raise TypeError("a plain `def infer` returned an awaitable; declare it `async def`")
    return result


def _keys_at(index: CandidateIndex, rows: np.ndarray, policy: GatingPolicy) -> np.ndarray:
    keys: np.ndarray = index.keys(policy.seed)[rows]
    return keys


def _refusals(experts: Sequence[ExpertRef], key: str) -> dict[str, str]:
    """Why each expert whose `can_handle` raises for `key` is out: asked again, on the error
    path only, so that the error names the exception."""
    causes = {}
    for ref in experts:
        check = getattr(ref.handle, "can_handle", None)
        if check is None:
            continue
        try:
            check(key)
        except Exception as exc:
            causes[ref.name] = f"can_handle raised {_cause(exc)}"
    return causes


logger = logging.getLogger("himoe.router")
_INTRODUCED = 20
"""How many experts an error introduces by name before it says how many more there are."""


def _introductions(experts: Sequence[ExpertRef]) -> str:
    shown = ", ".join(_introduce(r) for r in experts[:_INTRODUCED]) or "none"
    more = len(experts) - _INTRODUCED
    return shown if more <= 0 else f"{shown}, … and {more} more"


def _rejection(outcome: CallOutcome) -> str:
    """An expert's refusal of the input, naming the expert once."""
    message = str(outcome.error)
    return message if message.startswith(f"{outcome.name}:") else f"{outcome.name}: {message}"


def _introduce(ref: ExpertRef) -> str:
    """An expert's name, with the request it gives as an example (how to reach it)."""
    example = expert_example(ref.handle)
    return ref.name if example is None else f"{ref.name} (e.g. {example!r})"


def _describe_key(input: RouterInput) -> str:
    x = input.input
    if x.task is not None:
        return f"task {x.task!r}"
    text = x.as_text()
    if text is not None:
        return f"text {text[:40]!r}" + ("…" if len(text) > 40 else "")
    return f"a {x.kind.value} input without a task hint"


_MAX_CAUSE_CHARS = 500
"""A cause is one line of a trace and of an error message: an expert's megabyte-long exception
message is cut, not copied into every trace and log line."""


def _cause(exc: BaseException) -> str:
    if isinstance(exc, ExpertFailed):  # its message already names the expert
        return _clip(exc.cause)
    try:
        text = str(exc).strip()
    except Exception:  # an exception whose __str__ raises must not fail the whole fan-out
        text = "<unprintable message>"
    message = text.splitlines()[0] if text else ""
    return _clip(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_CAUSE_CHARS else text[: _MAX_CAUSE_CHARS - 1] + "…"
