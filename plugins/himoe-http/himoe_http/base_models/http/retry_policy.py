from __future__ import annotations

import random

import attrs


def _non_negative_int(instance, attribute, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"RetryPolicy.{attribute.name} must be an integer >= 0, got {value!r}")


def _positive_number(instance, attribute, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"RetryPolicy.{attribute.name} must be a number > 0, got {value!r}")


@attrs.frozen
class RetryPolicy:
    """When to retry an HTTP call and how long to wait: exponential backoff with full jitter.

    Only 429 and 5xx replies (and connection errors) are retried, at most `max_retries` times.
    The wait before retry n (1-based) is uniform in [0, min(max_ms, base_ms * 2**(n-1))] ms,
    unless the server said how long with Retry-After.
    """

    max_retries: int = attrs.field(default=2, validator=_non_negative_int)
    base_ms: float = attrs.field(default=50.0, validator=_positive_number)
    max_ms: float = attrs.field(default=2000.0, validator=_positive_number)

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1

    @staticmethod
    def is_retryable_status(status: int) -> bool:
        return status == 429 or 500 <= status <= 599

    def backoff_s(self, retry: int, rng: random.Random | None = None) -> float:
        """The full-jitter wait, in seconds, before retry number `retry` (1 for the first)."""
        ceiling_ms = min(self.max_ms, self.base_ms * 2.0 ** max(0, retry - 1))
        return (rng or random).uniform(0.0, ceiling_ms) / 1000.0
