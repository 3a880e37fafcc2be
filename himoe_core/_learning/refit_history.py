from __future__ import annotations

from collections import deque
from typing import Any, TypeAlias

import attrs
import numpy as np

from .._errors import ConfigError

RefitEvent: TypeAlias = tuple[int, tuple[np.ndarray, np.ndarray], int, float, float]
"""(dim, sparse features (indices, values), expert id, reward, the predicted probability of success)."""


def _positive(instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"refit.{attribute.name} must be a whole number >= 1, got {value!r}")


def _fraction(instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
        raise ConfigError(f"refit.holdout must be a fraction in (0, 1), got {value!r}")


@attrs.define
class RefitHistory:
    """A learning router's last `window` learned events, for its periodic batch refit: each is
    (features, expert id, reward, the probability of success the model predicted before it
    learned the event). Bounded memory: a deque of `window` events.

    Every `every` events a refit is due (one at a time). It fits on the older events of the
    window and scores on the newest `holdout` share of them against the predictions the online
    model made for them before learning them — its out-of-sample record on the same events — and
    is published only when it is no worse; then it is fitted on the whole window.
    """

    every: int = attrs.field(default=200, validator=_positive)
    window: int = attrs.field(default=5000, validator=_positive)
    holdout: float = attrs.field(default=0.2, validator=_fraction)
    events: deque[RefitEvent] = attrs.field(init=False)
    seen: int = attrs.field(default=0, init=False)
    """Events ever added."""
    _due_at: int = attrs.field(init=False)
    running: bool = attrs.field(default=False, init=False)
    refits: int = attrs.field(default=0, init=False)
    published: int = attrs.field(default=0, init=False)
    seconds: float = attrs.field(default=0.0, init=False)
    """CPU seconds the refits took, in their worker thread."""

    def __attrs_post_init__(self) -> None:
        self.events = deque(maxlen=self.window)
        self._due_at = self.every

    @classmethod
    def of(cls, options: Any) -> RefitHistory | None:
        """From a router's `refit` option: None or false (off), true (the defaults) or a table
        of `every`, `window` and `holdout`."""
        if options is None or options is False:
            return None
        if options is True:
            return cls()
        if not isinstance(options, dict):
            raise ConfigError(f"refit must be true, false or a table of every, window and holdout, got {options!r}")
        unknown = sorted(set(options) - {"every", "window", "holdout"})
        if unknown:
            raise ConfigError(f"refit has no option {unknown[0]!r}; its options are every, window and holdout")
        return cls(**options)

    def add(self, event: RefitEvent) -> None:
        self.events.append(event)
        self.seen += 1

    def take_due(self) -> tuple[list[RefitEvent], int] | None:
        """The events to refit on and how many had been seen, when a refit is due (it is then
        running until `finished`); else None."""
        if self.running or self.seen < self._due_at:
            return None
        self.running = True
        self._due_at = self.seen + self.every
        return list(self.events), self.seen

    def since(self, seen: int) -> list[RefitEvent]:
        """The events added after the first `seen` (those still in the window)."""
        count = min(self.seen - seen, len(self.events))
        return list(self.events)[len(self.events) - count :] if count > 0 else []

    def finished(self, published: bool, seconds: float) -> None:
        self.running = False
        self.refits += 1
        self.published += int(published)
        self.seconds += seconds
