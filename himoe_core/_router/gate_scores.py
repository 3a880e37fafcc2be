from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, SupportsFloat

import attrs
import numpy as np
from himoe_registry import ExpertId

from .._learning.regularizers import entropy


def _ids(items: Iterable[ExpertId]) -> tuple[ExpertId, ...]:
    return tuple(items)  # a named converter types the __init__ parameter for mypy's attrs plugin


def _floats(values: Iterable[SupportsFloat] | np.ndarray) -> tuple[float, ...]:
    if isinstance(values, np.ndarray):  # the gate's own arrays: one C-level conversion
        return tuple(values.astype(np.float64, copy=False).tolist())
    return tuple(float(v) for v in values)


def _optional_floats(values: Iterable[SupportsFloat] | np.ndarray | None) -> tuple[float, ...] | None:
    return None if values is None else _floats(values)


def _count(instance: GateScores, attribute: Any, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < len(instance.ids)):
        raise ValueError(f"GateScores.count must be an integer >= len(ids) ({len(instance.ids)}), got {value!r}")


_SCAN = 64
"""Above this many listed candidates, looking an expert up scans the ids instead of building
a dict of them all."""
_SCANS = 8
"""After this many scans of one gate, a dict of its ids is made (many picks, k ~ n)."""


@attrs.frozen
class GateScores:
    """A router's gate over its candidate experts, ranked best first.

    `ids`, `logits` and `probs` are parallel, in the deterministic tie-broken ranking, so the
    top-k picks are the first k ids; the probabilities already include the exploration floor.

    Over many candidates the gate lists only the head of the ranking (the top m, and the picks
    wherever they ranked); `count` is then the number of candidates in all, `rest` the
    probability mass of those not listed, and `entropy()` that of the whole distribution. With
    every candidate listed, `count == len(ids)` and `rest == 0.0`.

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
    count: int = attrs.field(default=None, validator=_count)
    rest: float = attrs.field(default=0.0, converter=float)
    _entropy: float | None = attrs.field(default=None, alias="whole_entropy", eq=False)
    _index: dict[ExpertId, int] | None = attrs.field(init=False, default=None, repr=False, eq=False)
    _pairs: tuple[tuple[ExpertId, float], ...] | None = attrs.field(init=False, default=None, repr=False, eq=False)
    _scans: int = attrs.field(init=False, default=0, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if not len(self.ids) == len(self.logits) == len(self.probs) or (
            self.estimates is not None and len(self.estimates) != len(self.ids)
        ):
            raise ValueError(
                f"GateScores needs as many logits, probs and estimates as ids, got {len(self.ids)} ids, "
                f"{len(self.logits)} logits, {len(self.probs)} probs, "
                f"{'no' if self.estimates is None else len(self.estimates)} estimates"
            )
        if self.count is None:
            object.__setattr__(self, "count", len(self.ids))
        if not (0.0 <= self.rest <= 1.0 + 1e-9) or (self.count == len(self.ids) and self.rest > 1e-9):
            raise ValueError(
                f"GateScores.rest must be the mass of the unlisted candidates in [0, 1], got {self.rest!r}"
            )

    @classmethod
    def _ranked(
        cls,
        ids: tuple[ExpertId, ...],
        logits: tuple[float, ...],
        probs: tuple[float, ...],
        estimates: tuple[float, ...] | None,
    ) -> GateScores:
        """A gate listing every candidate, from `gate_with_policy`, whose tuples of Python floats
        are what the converters would make and whose lengths agree: no conversion, no re-check."""
        scores = object.__new__(cls)
        for name, value in (
            ("ids", ids),
            ("logits", logits),
            ("probs", probs),
            ("estimates", estimates),
            ("count", len(ids)),
            ("rest", 0.0),
            ("_entropy", None),
            ("_index", None),
            ("_pairs", None),
            ("_scans", 0),
        ):
            object.__setattr__(scores, name, value)
        return scores

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def truncated(self) -> bool:
        """Whether some candidates are summarised rather than listed."""
        return self.count > len(self.ids)

    def _positions(self) -> dict[ExpertId, int]:
        index = self._index
        if index is None:  # made on first use: most gates are read by rank, never by id
            index = {eid: i for i, eid in enumerate(self.ids)}
            object.__setattr__(self, "_index", index)
        return index

    def _find(self, expert_id: ExpertId) -> int | None:
        if self._index is None and len(self.ids) > _SCAN and self._scans < _SCANS:
            # a long ranking asked about its picks once or twice: scanning in C beats a dict
            object.__setattr__(self, "_scans", self._scans + 1)
            try:
                return self.ids.index(expert_id)
            except ValueError:
                return None
        return self._positions().get(expert_id)

    def estimate(self, expert_id: ExpertId) -> float | None:
        """An expert's estimated value (its logit when the router gives no estimates); None for
        one that was not listed."""
        index = self._find(expert_id)
        if index is None:
            return None
        return (self.logits if self.estimates is None else self.estimates)[index]

    def prob(self, expert_id: ExpertId) -> float:
        """The gate probability of a listed expert; 0.0 for one that was not a candidate (or
        was one of the unlisted tail)."""
        index = self._find(expert_id)
        return 0.0 if index is None else self.probs[index]

    def rank(self, expert_id: ExpertId) -> int:
        """An expert's place in the ranking (0 is the best); len(self) for one that is not listed."""
        index = self._find(expert_id)
        return len(self.ids) if index is None else index

    def pairs(self) -> tuple[tuple[ExpertId, float], ...]:
        """(expert id, probability) of the listed candidates, in rank order."""
        pairs = self._pairs
        if pairs is None:  # made once: a memoised gate serves many requests
            pairs = tuple(zip(self.ids, self.probs))
            object.__setattr__(self, "_pairs", pairs)
        return pairs

    def entropy(self) -> float:
        """Shannon entropy (nats) of the whole gate distribution, listed or not."""
        value = self._entropy
        if value is None:  # computed once: a memoised gate serves many requests
            value = entropy(self.probs)
            object.__setattr__(self, "_entropy", value)
        return value

    def bounded(self, top: int, keep: tuple[ExpertId, ...] | list[ExpertId] = ()) -> GateScores:
        """This gate listing only its `top` best candidates and those in `keep` (the picks),
        in rank order, the others summarised; itself when nothing would be left out."""
        if len(self.ids) <= top:
            return self
        found = (self._find(eid) for eid in keep)
        rows = sorted({*range(top), *(i for i in found if i is not None)})
        if len(rows) == len(self.ids):
            return self
        listed = math.fsum(self.probs[i] for i in rows)
        rest = self.rest + math.fsum(self.probs) - listed  # what the unlisted ones weigh
        return GateScores(
            [self.ids[i] for i in rows],
            [self.logits[i] for i in rows],
            [self.probs[i] for i in rows],
            None if self.estimates is None else [self.estimates[i] for i in rows],
            count=self.count,
            rest=min(max(rest, 0.0), 1.0),
            whole_entropy=self.entropy(),
        )
