from __future__ import annotations

import time

import attrs


@attrs.define
class SnapshotStatus:
    """What a replica knows of its store and model (`/readyz`, `/metrics`): whether the shared
    store answered the last call (a write, a snapshot check) and, in learner mode, the snapshot
    version it routes with, when that was published, and when a check last confirmed that no
    newer snapshot existed — a replica is at most `now - confirmed` seconds (plus the learner's
    own lag) behind the learner."""

    version: int = 0
    published: float = 0.0
    store_up: bool = True
    confirmed: float = attrs.field(factory=time.time)
    error: str | None = None
    lag_s: float = 0.0
    """From the learner's commit of the snapshot in use to this replica routing with it."""

    def applied(self, version: int, published: float) -> None:
        now = time.time()
        if version != self.version and published:
            self.lag_s = max(0.0, now - published)
        self.version, self.published = version, published
        self.confirmed, self.store_up, self.error = now, True, None

    def down(self, error: str) -> None:
        self.store_up, self.error = False, error

    def reachable(self) -> None:
        """A call to the store succeeded (a write, opening it): up, whatever the last check said."""
        if not self.store_up:
            self.store_up, self.error = True, None

    def staleness_s(self) -> float:
        """Seconds since this replica last knew it routed with the newest snapshot."""
        return max(0.0, time.time() - self.confirmed)
