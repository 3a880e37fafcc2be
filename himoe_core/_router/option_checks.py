"""Checks for router options from config: each names the key and the bad value."""

from __future__ import annotations

import math
import os
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


MEMORY_SHARE = 4
"""A router's d×d matrices may take at most a quarter of the machine's memory: saving the state
copies them twice more (the stacked arrays, then their bytes)."""
_ASSUMED_MEMORY = 8 * 2**30  # where the OS does not say (os.sysconf is POSIX)


def physical_memory() -> int:
    """The machine's memory in bytes (8 GiB where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return _ASSUMED_MEMORY


def matrices_fit(router: Any, features: int, *, config: bool) -> str | None:
    """Why a router keeping a (features+1)² float64 matrix per expert (LinUCB's A⁻¹, a full
    logistic posterior) cannot, on this machine, with the fix; None when it fits.

    `config`: the dim comes from the encoder's options (the fix is a smaller dim), else from
    an input's feature vector (the fix is an encoder that checks the dim, or shorter vectors)."""
    side = features + 1  # the bias
    experts = max(len(router.experts), 1)
    need = 8 * side * side * experts
    memory = physical_memory()
    budget = memory // MEMORY_SHARE
    if need <= budget:
        return None
    largest = max(int(math.isqrt(budget // (8 * experts))) - 1, 1)
    where = f"routers.{router.id}.encoder"
    fix = (
        f"set {where}.dim to at most {largest}"
        if config
        else f'send at most {largest} features, or set {where} = {{ id = "features", dim = N }} with N <= {largest}'
    )
    return (
        f"a {router.kind} router keeps a {side}×{side} float64 matrix per expert: {_size(8 * side * side)} each, "
        f"{_size(need)} for its {experts} expert{'s' if experts != 1 else ''}, more than a quarter of this machine's "
        f"memory ({_size(budget)} of {_size(memory)}); {fix}"
    )


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    size = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        size /= 1024
        if size < 1024 or unit == "TiB":
            break
    return f"{size:.1f} {unit}"
