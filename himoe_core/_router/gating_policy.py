from __future__ import annotations

import math
from typing import Any

import attrs

from .._errors import ConfigError


def _temperature(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"gating.temperature must be a finite number > 0, got {value!r}")


def _epsilon(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"gating.epsilon must be a number in [0, 1], got {value!r}")


def _seed(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise ConfigError(f"gating.seed must be an integer in [0, 2**64), got {value!r}")


@attrs.frozen
class GatingPolicy:
    """How logits become gate probabilities: softmax at `temperature`, an exploration floor of
    `epsilon / n` per candidate, and ties broken by hash(id ^ `seed`) so equal scores always rank
    the same way for a given seed."""

    temperature: float = attrs.field(default=1.0, validator=_temperature)
    epsilon: float = attrs.field(default=0.0, validator=_epsilon)
    seed: int = attrs.field(default=0, validator=_seed)
