from __future__ import annotations

from collections.abc import Iterable
from typing import SupportsFloat

import attrs
from himoe_registry import ExpertId

from .._learning.regularizers import entropy


def _ids(items: Iterable[ExpertId]) -> tuple[ExpertId, ...]:
    return tuple(items)  # a named converter types the __init__ parameter for mypy's attrs plugin


def _floats(values: Iterable[SupportsFloat]) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def _optional_floats(values: Iterable[SupportsFloat] | None) -> tuple[float, ...] | None:
    return None if values is None else tuple(float(v) for v in values)


@attrs.frozen
class GateScores:
    """A router's gate over its candidate experts, ranked best first.

    `ids`, `logits` and `probs` are parallel; `probs` sum to 1 and already include the
    exploration floor. The order is the deterministic tie-broken ranking, so the top-k picks are
    the first k ids.

    `estimates`, when the router has them, are parallel too: each candidate's *estimated* value
    in the logits' units without the exploration a logit may carry — the posterior mean where the
    logit is a Thompson draw, the UCB score without its bonus — so a ranking of requests by
    estimated advantage is not blurred by exploration noise. None for routers that do not
    estimate (their logits are their estimates).
    """

    ids: tuple[ExpertId, ...] = attrs.field(converter=_ids)
    logits: tuple[float, ...] = attrs.field(converter=_floats)
    probs: tuple[float, ...] = attrs.field(converter=_floats)
    estimates: tuple[float, ...] | None = attrs.field(default=None, converter=_optional_floats)
    _index: dict[ExpertId, int] = attrs.field(init=False, repr=False, eq=False)
    _entropy: float | None = attrs.field(init=False, default=None, repr=False, eq=False)
    _pairs: tuple[tuple[ExpertId, float], ...] | None = attrs.field(init=False, default=None, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if not len(self.ids) == len(self.logits) == len(self.probs) or (
            self.estimates is not None and len(self.estimates) != len(self.ids)
        ):
            raise ValueError(
                f"GateScores needs as many logits, probs and estimates as ids, got {len(self.ids)} ids, "
                f"{len(self.logits)} logits, {len(self.probs)} probs, "
                f"{'no' if self.estimates is None else len(self.estimates)} estimates"
            )
        object.__setattr__(self, "_index", {eid: i for i, eid in enumerate(self.ids)})

    def __len__(self) -> int:
        return len(self.ids)

    def estimate(self, expert_id: ExpertId) -> float | None:
        """An expert's estimated value (its logit when the router gives no estimates); None for
        one that was not a candidate."""
        index = self._index.get(expert_id)
        if index is None:
            return None
        return (self.logits if self.estimates is None else self.estimates)[index]

    def prob(self, expert_id: ExpertId) -> float:
        """The gate probability of an expert; 0.0 for one that was not a candidate."""
        index = self._index.get(expert_id)
        return 0.0 if index is None else self.probs[index]

    def rank(self, expert_id: ExpertId) -> int:
        """An expert's place in the ranking (0 is the best); len(self) for one that was not a
        candidate."""
        return self._index.get(expert_id, len(self.ids))

    def pairs(self) -> tuple[tuple[ExpertId, float], ...]:
        """(expert id, probability) in rank order."""
        pairs = self._pairs
        if pairs is None:  # made once: a memoised gate serves many requests
            pairs = tuple(zip(self.ids, self.probs))
            object.__setattr__(self, "_pairs", pairs)
        return pairs

    def entropy(self) -> float:
        """Shannon entropy (nats) of the gate distribution."""
        value = self._entropy
        if value is None:  # computed once: a memoised gate serves many requests
            value = entropy(self.probs)
            object.__setattr__(self, "_entropy", value)
        return value
