from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from himoe_registry import ExpertId

if TYPE_CHECKING:
    from .call_outcome import CallOutcome


class ExpertStats:
    """Running per-expert latency, cost and success figures that budget guards plan with.

    Exponentially weighted (`alpha`) so that estimates follow an expert that slows down.
    Thread-safe: a HiMoE shares one across routers and across threads calling run_sync.
    """

    def __init__(self, alpha: float = 0.2) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"ExpertStats alpha must be in (0, 1], got {alpha!r}")
        self.alpha = alpha
        self._lock = threading.Lock()
        self._latency: dict[ExpertId, float] = {}
        self._cost: dict[ExpertId, float] = {}
        self._calls: dict[ExpertId, int] = {}
        self._failures: dict[ExpertId, int] = {}

    def observe(self, expert_id: ExpertId, latency_ms: float, cost_units: float | None, ok: bool) -> None:
        """Record one call: its latency, cost (None when unknown) and whether it succeeded."""
        with self._lock:
            self._record(expert_id, latency_ms, cost_units, ok)

    def observe_calls(self, outcomes: Iterable[CallOutcome]) -> None:
        """Record the calls of one fan-out at once (their latency, cost and success)."""
        with self._lock:
            for outcome in outcomes:
                out = outcome.out
                self._record(
                    outcome.expert_id, outcome.latency_ms, None if out is None else out.aux.cost_units, out is not None
                )

    def _record(self, expert_id: ExpertId, latency_ms: float, cost_units: float | None, ok: bool) -> None:
        self._latency[expert_id] = self._blend(self._latency.get(expert_id), latency_ms)
        if cost_units is not None:
            self._cost[expert_id] = self._blend(self._cost.get(expert_id), cost_units)
        self._calls[expert_id] = self._calls.get(expert_id, 0) + 1
        if not ok:
            self._failures[expert_id] = self._failures.get(expert_id, 0) + 1

    def _blend(self, old: float | None, new: float) -> float:
        return new if old is None else old + self.alpha * (new - old)

    def relax_latency(self, expert_id: ExpertId, towards_ms: float) -> None:
        """Move a latency estimate that kept an expert out one step towards `towards_ms`."""
        with self._lock:
            old = self._latency.get(expert_id)
            if old is not None and old > towards_ms:
                self._latency[expert_id] = old + self.alpha * (towards_ms - old)

    @property
    def latencies(self) -> Mapping[ExpertId, float]:
        """Every smoothed latency so far, by expert (read-only; for a fan-out's plan)."""
        return self._latency

    def latency_ms(self, expert_id: ExpertId) -> float | None:
        """The smoothed latency of an expert, or None before its first call."""
        return self._latency.get(expert_id)

    def cost_units(self, expert_id: ExpertId) -> float | None:
        """The smoothed cost of an expert, or None before its first priced call."""
        return self._cost.get(expert_id)

    def calls(self, expert_id: ExpertId) -> int:
        """How many calls of the expert were observed."""
        return self._calls.get(expert_id, 0)

    def failures(self, expert_id: ExpertId) -> int:
        """How many of them failed."""
        return self._failures.get(expert_id, 0)
