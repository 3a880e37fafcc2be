"""Gating: stable softmax with temperature, ε exploration floor, deterministic tie-break."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from himoe_registry import ExpertId

from .._learning.regularizers import entropy
from .gate_scores import GateScores
from .gating_policy import GatingPolicy

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)
FEW_CANDIDATES = 16
"""Up to this many candidates, a fully ranked gate is computed on Python floats (only the
exponentials in numpy): the same numbers to the bit, without a dozen numpy calls on tiny arrays.
A caller may then give the tie-break keys as a list of ints."""
_FEW = FEW_CANDIDATES  # the switch (tests force the array code with 0)
_SEQUENTIAL_SUM = 8
"""Below this many terms numpy's sum adds left to right; from it on, in blocks (pairwise)."""


def softmax_stable(xs: np.ndarray | Sequence[float], temperature: float = 1.0) -> np.ndarray:
    """softmax(xs / temperature), shifted by the max so that no exp overflows; float64."""
    logits = np.asarray(xs, dtype=np.float64)
    if logits.size == 0:
        return logits
    with np.errstate(over="ignore"):  # a gap beyond float range is -inf: its exp is 0, as it should be
        scaled = (logits - logits.max()) * (1.0 / max(float(temperature), 1e-6))
    exps = np.exp(scaled)
    probs: np.ndarray = exps / max(exps.sum(), 1e-300)
    return probs


def tie_break_keys(ids: Sequence[int] | np.ndarray, seed: int) -> np.ndarray:
    """hash(id ^ seed) for each id: the splitmix64 finaliser, vectorised (uint64 wraps)."""
    z = np.asarray(ids, dtype=np.uint64) ^ np.uint64(seed)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z & _MASK


@functools.lru_cache(maxsize=64)
def _keys(ids: tuple[int, ...], seed: int) -> np.ndarray:
    """`tie_break_keys`, kept for the few candidate sets a router sees again and again."""
    keys = tie_break_keys(ids, seed)
    keys.setflags(write=False)
    return keys


def gate_with_policy(
    ids: Sequence[ExpertId],
    logits: np.ndarray | Sequence[float],
    policy: GatingPolicy,
    estimates: np.ndarray | Sequence[float] | None = None,
    *,
    head: int | None = None,
    keys: np.ndarray | list[int] | None = None,
) -> GateScores:
    """Probabilities `(1 - ε)·softmax(logits / T) + ε / n`, ranked best first with ties broken
    by hash(id ^ seed): the same ids and logits give the same ranking in any input order.
    `estimates` (one per id, optional) are carried along in the ranking's order.

    With `head`, only the best `head` candidates are ranked and listed (numpy's argpartition,
    then a sort of the few at the top): the same first `head` entries as the full ranking, to
    the bit, and the rest summarised (`GateScores.count`, `.rest`, `.entropy()`). `keys` are
    the ids' tie-break keys when the caller keeps them (`tie_break_keys(ids, policy.seed)`).
    """
    n = len(ids)
    few = (head is None or n <= head) and 0 < n <= _FEW
    if few and type(logits) is list and len(logits) == n and all(type(v) is float for v in logits):
        return _small_gate(ids, logits, policy, estimates, keys)  # a router's own Python floats
    logits = np.asarray(logits, dtype=np.float64)
    if n != logits.shape[0]:
        raise ValueError(f"gate_with_policy needs one logit per id, got {n} ids and {logits.shape[0]} logits")
    if not n:
        return GateScores((), (), ())
    if few:
        return _small_gate(ids, logits.tolist(), policy, estimates, keys)
    if not np.isfinite(logits).all():
        shown = logits.tolist() if n <= 32 else [float(v) for v in logits[~np.isfinite(logits)][:8]]
        raise ValueError(f"gate logits must be finite, got {shown!r}")
    probs = (1.0 - policy.epsilon) * softmax_stable(logits, policy.temperature) + policy.epsilon / n
    if isinstance(keys, list):
        keys = np.array(keys, dtype=np.uint64)
    values = None if estimates is None else np.asarray(estimates, dtype=np.float64)
    if keys is None:
        keys = _keys(tuple(ids), policy.seed) if head is None or n <= head else tie_break_keys(ids, policy.seed)
    if head is None or n <= head:
        order = np.lexsort((keys, -probs))
        return GateScores(_take(ids, order), logits[order], probs[order], None if values is None else values[order])
    order = top_order(probs, keys, head)
    rest = float(probs.sum() - probs[order].sum())
    return GateScores(
        _take(ids, order),
        logits[order],
        probs[order],
        None if values is None else values[order],
        count=n,
        rest=min(max(rest, 0.0), 1.0),
        whole_entropy=entropy(probs),
    )


def _small_gate(
    ids: Sequence[ExpertId] | np.ndarray,
    logits: list[float],
    policy: GatingPolicy,
    estimates: np.ndarray | Sequence[float] | None,
    keys: np.ndarray | list[int] | None,
) -> GateScores:
    """`gate_with_policy`'s full ranking of a few candidates, on Python floats: every step is
    the same IEEE operation on the same operands, in the same order, as the array code (the
    exponentials are numpy's own, whose last bit can differ from `math.exp`), so the gate is the
    same to the bit."""
    if not all(map(math.isfinite, logits)):
        raise ValueError(f"gate logits must be finite, got {logits!r}")
    n = len(logits)
    # softmax_stable: (logits − max) / T, exponentiated, over their sum
    top = max(logits)
    inverse = 1.0 / max(float(policy.temperature), 1e-6)
    array = np.exp([(v - top) * inverse for v in logits])
    exps = array.tolist()
    if n < _SEQUENTIAL_SUM:
        total = exps[0]
        for e in exps[1:]:
            total += e
    else:
        total = float(array.sum())
    total = max(total, 1e-300)
    keep, floor = 1.0 - policy.epsilon, policy.epsilon / n
    probs = [keep * (e / total) + floor for e in exps]
    ranked_ids = ids.tolist() if isinstance(ids, np.ndarray) else list(ids)
    if keys is None:
        keys = _keys(tuple(ranked_ids), policy.seed)
    tie_break = keys if isinstance(keys, list) else keys.tolist()
    # np.lexsort((keys, -probs)): by probability, highest first, then by tie-break key; stable
    order = sorted(range(n), key=lambda i: (-probs[i], tie_break[i]))
    if estimates is None or (type(estimates) is list and all(type(v) is float for v in estimates)):
        values = estimates  # None, or a router's own Python floats
    else:
        values = np.asarray(estimates, dtype=np.float64).tolist()
    return GateScores._ranked(
        tuple([ranked_ids[i] for i in order]),
        tuple([logits[i] for i in order]),
        tuple([probs[i] for i in order]),
        None if values is None else tuple([values[i] for i in order]),
    )


def top_order(probs: np.ndarray, keys: np.ndarray, head: int) -> np.ndarray:
    """The positions of the `head` best entries, ranked as `np.lexsort((keys, -probs))` ranks
    them (probability, then tie-break key): every entry tied with the last one kept is sorted
    too, so that the tie-break decides among them exactly as in a full sort."""
    negative = -probs
    threshold = np.partition(negative, head - 1)[head - 1]
    chosen = np.flatnonzero(negative <= threshold)
    order: np.ndarray = chosen[np.lexsort((keys[chosen], negative[chosen]))][:head]
    return order


def _take(ids: Sequence[ExpertId] | np.ndarray, order: np.ndarray) -> list[ExpertId]:
    if isinstance(ids, np.ndarray):  # an object array of the router's ids: one C-level gather
        taken: list[ExpertId] = ids[order].tolist()
        return taken
    return [ids[i] for i in order]
