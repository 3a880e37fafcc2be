from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import attrs

from himoe_core import (
    ConfigError,
    Context,
    DeadlineExceeded,
    ExpertAux,
    ExpertOut,
    InputData,
    InvalidInput,
    Value,
)

from ...compute.operations import DEFAULT_MAX_RESULT_CHARS
from ...compute.sympy_worker_pool import SympyWorkerPool
from ...parsing.expression_error import ExpressionError
from ...parsing.request_parsing import is_math_task, parse_request

_CONFIG_KEYS = ("workers", "memory_limit_mb", "max_result_chars")


def _positive_int(low: int, high: int):
    def check(instance, attribute, value) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(f"MathSympy.{attribute.name} must be an integer in [{low}, {high}], got {value!r}")

    return check


def _memory_limit(instance, attribute, value) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 64):
        raise ConfigError(
            f"MathSympy.memory_limit_mb must be an integer >= 64 (or 0 / none for no limit), got {value!r}"
        )


@attrs.define(eq=False)
class MathSympy:
    """Exact symbolic math with sympy: solve, simplify, factor, expand, diff, integrate, evaluate."""

    workers: int = attrs.field(default=2, validator=_positive_int(1, 16))
    memory_limit_mb: int | None = attrs.field(default=2048, validator=_memory_limit)
    max_result_chars: int = attrs.field(default=DEFAULT_MAX_RESULT_CHARS, validator=_positive_int(100, 10_000_000))
    name: str = "math_sympy"
    domain: str = "math"
    example: str = "math: solve x**2 - 4 = 0"
    cost_units: float = 1.0
    handles: tuple[str, ...] = ("math",)  # routers look it up; can_handle then checks "math:", "math ", "math"
    _pool: SympyWorkerPool | None = attrs.field(default=None, init=False, repr=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> MathSympy:
        """Build from the plugin's ``[plugins.himoe-math]`` table: workers, memory_limit_mb, max_result_chars."""
        config = dict(config or {})
        unknown = sorted(set(config) - set(_CONFIG_KEYS))
        if unknown:
            raise ConfigError(
                f"[plugins.himoe-math] has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(_CONFIG_KEYS)}"
            )
        if config.get("memory_limit_mb") == 0:
            config["memory_limit_mb"] = None
        return cls(**config)

    def can_handle(self, task: str) -> bool:
        return is_math_task(task)

    async def infer(self, x: InputData, ctx: Context) -> ExpertOut:
        import trio

        text = x.as_text()
        if text is None:
            raise InvalidInput(f"{self.name} needs text such as 'math: solve x**2 - 4 = 0', got {x.kind.value} input")
        try:
            request = parse_request(text, x.task)  # validated here; the worker parses it again itself
        except ExpressionError as exc:
            raise InvalidInput(str(exc)) from None
        remaining_ms = ctx.remaining_ms()
        if remaining_ms <= 0:
            raise DeadlineExceeded(ctx.budget_ms, f"no time left to start {self.name}")
        # ctx's clock may be trio's, which worker threads cannot read: convert to a monotonic instant.
        deadline = time.monotonic() + remaining_ms / 1000.0
        pool = self.worker_pool()

        def run() -> dict:
            return pool.run(
                text,
                x.task,
                deadline=deadline,
                budget_ms=ctx.budget_ms,
                cancel=ctx.cancel,
                check_cancelled=trio.from_thread.check_cancelled,
            )

        result = await trio.to_thread.run_sync(run)
        confidence = 1.0 if result.get("exact") else 0.5
        result.setdefault("operation", request.operation)
        return ExpertOut(Value.json(result), ExpertAux(cost_units=self.cost_units, confidence=confidence))

    def worker_pool(self) -> SympyWorkerPool:
        """The pool of sympy worker processes, created on first use (no process starts before)."""
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = SympyWorkerPool(
                        self.name,
                        max_workers=self.workers,
                        memory_limit_mb=self.memory_limit_mb,
                        max_result_chars=self.max_result_chars,
                    )
        return self._pool

    def warm_up(self, wait_s: float | None = 60.0) -> bool:
        """Start a worker now (it imports sympy, ~0.2 s) instead of on the first request, and
        wait up to `wait_s` seconds for it to be ready (None: do not wait)."""
        return self.worker_pool().warm_up(wait_s)

    def close(self) -> None:
        """Stop the worker processes (they also stop when this process exits)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
