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


@attrs.frozen
class GateScores:
    """A router's gate over its candidate experts, ranked best first.

    `ids`, `logits` and `probs` are parallel; `probs` sum to 1 and already include the
    exploration floor. The order is the deterministic tie-broken ranking, so the top-k picks are
    the first k ids.
    """

    ids: tuple[ExpertId, ...] = attrs.field(converter=_ids)
    logits: tuple[float, ...] = attrs.field(converter=_floats)
    probs: tuple[float, ...] = attrs.field(converter=_floats)
    _index: dict[ExpertId, int] = attrs.field(init=False, repr=False, eq=False)
    _entropy: float | None = attrs.field(init=False, default=None, repr=False, eq=False)
    _pairs: tuple[tuple[ExpertId, float], ...] | None = attrs.field(init=False, default=None, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if not len(self.ids) == len(self.logits) == len(self.probs):
            raise ValueError(
                f"GateScores needs as many logits and probs as ids, got {len(self.ids)} ids, "
                f"{len(self.logits)} logits, {len(self.probs)} probs"
            )
        object.__setattr__(self, "_index", {eid: i for i, eid in enumerate(self.ids)})

    def __len__(self) -> int:
        return len(self.ids)

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
