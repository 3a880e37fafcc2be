"""Checks for router options from config: each names the key and the bad value."""

from __future__ import annotations

import math
from typing import Any

from .._errors import ConfigError


def real(name: str, value: Any, *, minimum: float | None = None, strictly: bool = False) -> float:
    """A finite real number (never a bool), at least `minimum` (or above it when `strictly`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and (value <= minimum if strictly else value < minimum):
        raise ConfigError(f"{name} must be a number {'>' if strictly else '>='} {minimum:g}, got {value!r}")
    return float(value)


def count(name: str, value: Any, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value
