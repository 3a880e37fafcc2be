"""Gating: stable softmax with temperature, ε exploration floor, deterministic tie-break."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from himoe_registry import ExpertId

from .gate_scores import GateScores
from .gating_policy import GatingPolicy

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


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


def tie_break_keys(ids: Sequence[int], seed: int) -> np.ndarray:
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
) -> GateScores:
    """Probabilities `(1 - ε)·softmax(logits / T) + ε / n`, ranked best first with ties broken
    by hash(id ^ seed): the same ids and logits give the same ranking in any input order.
    `estimates` (one per id, optional) are carried along in the ranking's order."""
    ids = list(ids)
    logits = np.asarray(logits, dtype=np.float64)
    if len(ids) != logits.shape[0]:
        raise ValueError(f"gate_with_policy needs one logit per id, got {len(ids)} ids and {logits.shape[0]} logits")
    if not ids:
        return GateScores((), (), ())
    if not np.isfinite(logits).all():
        raise ValueError(f"gate logits must be finite, got {logits.tolist()!r}")
    probs = (1.0 - policy.epsilon) * softmax_stable(logits, policy.temperature) + policy.epsilon / len(ids)
    order = np.lexsort((_keys(tuple(ids), policy.seed), -probs))
    ranked_estimates = None if estimates is None else np.asarray(estimates, dtype=np.float64)[order]
    return GateScores([ids[i] for i in order], logits[order], probs[order], ranked_estimates)
