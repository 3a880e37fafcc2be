from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServeMetrics:
    """The server's Prometheus metrics, in a registry of its own (two servers in one process,
    as in tests, do not collide)."""

    content_type = CONTENT_TYPE_LATEST.encode()

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "himoe_requests", "Routing requests answered, by router and HTTP status", ["router", "status"], registry=r
        )
        self.latency = Histogram(
            "himoe_request_duration_seconds",
            "Routing request latency, by router",
            ["router"],
            buckets=_SECONDS,
            registry=r,
        )
        self.expert_latency = Histogram(
            "himoe_expert_duration_seconds", "Expert call latency, by expert", ["expert"], buckets=_SECONDS, registry=r
        )
        self.expert_calls = Counter(
            "himoe_expert_calls", "Expert calls, by expert and status", ["expert", "status"], registry=r
        )
        self.feedback = Counter("himoe_feedback", "Feedback received, by outcome", ["outcome"], registry=r)
        self.in_flight = Gauge("himoe_requests_in_flight", "Routing requests in flight", registry=r)
        self.rejections = Counter(
            "himoe_admission_rejections", "Requests refused at admission, by reason", ["reason"], registry=r
        )
        Gauge(
            "himoe_gc_frozen_objects", "Objects left out of garbage collection (gc.freeze after start-up)", registry=r
        ).set_function(gc.get_freeze_count)

    def follow_model(self, status: Callable[[], dict[str, Any] | None]) -> None:
        """Gauges of a replica on a shared store, read from `status` (HiMoE.model_status) at each
        scrape: whether the store is up, and in learner mode the snapshot's version and age."""
        shown = status() or {}

        def read(key: str) -> Callable[[], float]:
            def value() -> float:
                current = status() or {}
                found = current.get(key)
                if key == "state_store":
                    return 1.0 if found == "up" else 0.0
                return float(found or 0.0)

            return value

        for name, doc, key in (
            (
                "himoe_state_store_up",
                "1 while the shared state store answers the replica's last call to it, else 0",
                "state_store",
            ),
            ("himoe_model_version", "The version of the learner's snapshot this replica routes with", "model_version"),
            (
                "himoe_snapshot_age_seconds",
                "Seconds since this replica last confirmed that no newer snapshot existed",
                "snapshot_age_s",
            ),
        ):
            if key in shown:
                Gauge(name, doc, registry=self.registry).set_function(read(key))

    def observe_request(self, router: str, status: int, seconds: float) -> None:
        self.requests.labels(router, str(status)).inc()
        self.latency.labels(router).observe(seconds)

    def observe_calls(self, calls: Iterable[dict[str, Any]]) -> None:
        for call in calls:
            self.expert_calls.labels(call["expert"], call["status"]).inc()
            if call.get("latency_ms") is not None:
                self.expert_latency.labels(call["expert"]).observe(call["latency_ms"] / 1000.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
