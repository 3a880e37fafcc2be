from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from himoe_registry import ExpertId

from .._experts.expert_info import declared
from .._experts.expert_ref import ExpertRef
from .gating import tie_break_keys

logger = logging.getLogger("himoe.router")

_EMPTY = np.zeros(0, dtype=np.intp)
_MAX_LEADING_SPACE = 64
"""How much leading whitespace of a routing key is skipped before its prefix is looked up."""


class CandidateIndex:
    """A router's experts, indexed for the question asked on every request: which of them may
    handle this routing key and input kind.

    - An expert that declares `handles` (task prefixes) and/or `input_kinds` is looked up: a
      dict per prefix length and a dict per kind, so a request costs what it matches, not
      what the router holds. Its `can_handle`, when it has one, then has the last word.
    - An expert that declares nothing is asked `can_handle` on every request, as before.

    Positions are into `experts` (the router's order); arrays of them stay in that order.
    """

    def __init__(self, experts: Sequence[ExpertRef]) -> None:
        self.experts = experts
        count = len(experts)
        self.refs = np.empty(count, dtype=object)
        self.refs[:] = list(experts)
        self.ids = np.empty(count, dtype=object)
        self.ids[:] = [ref.id for ref in experts]
        self.by_id = {ref.id: ref for ref in experts}
        self.position = {ref.id: i for i, ref in enumerate(experts)}
        self._id_values = np.fromiter((int(ref.id) for ref in experts), dtype=np.uint64, count=count)
        self.prefixes: dict[str, list[int]] = {}
        self.kinds: dict[str, list[int]] = {}
        asks: list[int] = []
        self.refined: set[int] = set()
        for i, ref in enumerate(experts):
            handles, kinds = declared(ref.handle)
            if not handles and not kinds:
                asks.append(i)
                continue
            for prefix in handles:
                self.prefixes.setdefault(prefix.lower(), []).append(i)
            for kind in kinds:
                self.kinds.setdefault(kind, []).append(i)
            if callable(getattr(ref.handle, "can_handle", None)):
                self.refined.add(i)
        self.lengths = sorted({len(prefix) for prefix in self.prefixes})
        self.asks = np.asarray(asks, dtype=np.intp)
        self.asks.setflags(write=False)  # handed out as it is (and remembered by identity)
        self._checks = [experts[i].handle.can_handle for i in asks]
        self._keys: dict[int, np.ndarray] = {}

    def keys(self, seed: int) -> np.ndarray:
        """Every expert's tie-break key for `seed`, made once per seed."""
        keys = self._keys.get(seed)
        if keys is None:
            keys = self._keys[seed] = tie_break_keys(self._id_values, seed)
        return keys

    def select(self, key: str, kind: str) -> np.ndarray:
        """The positions of the experts that handle this routing key and input kind, in order."""
        declared_rows = self._declared(key, kind) if self.prefixes or self.kinds else ()
        asked = self._asked(key) if self._checks else _EMPTY
        if not declared_rows:
            return asked
        if not len(asked):
            return np.asarray(declared_rows, dtype=np.intp)
        return np.union1d(np.asarray(declared_rows, dtype=np.intp), asked)

    def _declared(self, key: str, kind: str) -> list[int]:
        rows: list[int] = []
        if self.prefixes:
            start = key[: self.lengths[-1] + _MAX_LEADING_SPACE].lstrip()[: self.lengths[-1]].lower()
            for length in self.lengths:
                if length > len(start):
                    break
                hit = self.prefixes.get(start[:length])
                if hit is not None:
                    rows += hit
        if self.kinds:
            rows += self.kinds.get(kind, ())
        if not rows:
            return rows
        rows = sorted(set(rows))
        if self.refined:
            refs, refined = self.experts, self.refined
            rows = [i for i in rows if i not in refined or can_handle(refs[i], key)]
        return rows

    def _asked(self, key: str) -> np.ndarray:
        """The undeclared experts whose `can_handle` accepts the key: one tight loop over bound
        methods; when one raises, the loop is run again expert by expert, so that only that one
        is left out (and reported)."""
        try:
            answers = [check(key) for check in self._checks]  # the tightest loop Python has
            if all(answers):  # the common case: every expert takes it
                return self.asks
            accepted = [i for i, answer in enumerate(answers) if answer]
        except Exception:
            refs = self.experts
            accepted = [i for i, row in enumerate(self.asks) if can_handle(refs[row], key)]
            if len(accepted) == len(self.asks):
                return self.asks
        return self.asks[accepted] if accepted else _EMPTY


def can_handle(ref: ExpertRef, key: str) -> bool:
    """`ref.handle.can_handle(key)`; one that raises excludes its expert without failing the
    request, reported once per expert."""
    try:
        return bool(ref.handle.can_handle(key))
    except Exception as exc:
        if ref.id not in _WARNED:
            _WARNED.add(ref.id)
            logger.warning(
                "expert %r: can_handle raised %s; the expert is left out of routing until it "
                "stops raising (NoExpertSelected names the cause)",
                ref.name,
                _cause(exc),
            )
        return False


_WARNED: set[ExpertId] = set()
"""Experts whose faulty can_handle was already reported (once per process each)."""


def _cause(exc: BaseException) -> str:
    from .base_router import _cause as cause

    return cause(exc)
