"""The router loss's regularisers: load balance and entropy, with their gradients in logits.

loss = task_loss + λ·load_balance + μ·entropy_penalty, where the entropy penalty is −H(P): it
grows as the gate collapses onto one expert, so minimising the loss keeps the gate diverse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def switch_load_balance(dispatch_share: np.ndarray, mean_probs: np.ndarray) -> float:
    """The Switch Transformer auxiliary loss N·Σ f_i·P_i (1.0 when perfectly balanced)."""
    n = dispatch_share.shape[0]
    return float(n * np.dot(dispatch_share, mean_probs))


def cv_squared(importance: np.ndarray) -> float:
    """Squared coefficient of variation of per-expert importance (0 = perfectly balanced)."""
    importance = np.asarray(importance, dtype=np.float64)
    mean = importance.mean() if importance.size else 0.0
    return 0.0 if importance.size < 2 or mean == 0 else float(importance.var() / (mean * mean))


def load_balance_grad(probs: np.ndarray, dispatch_share: np.ndarray, temperature: float) -> np.ndarray:
    """d/dz of N·Σ f_i·P_i(z/T) with the dispatch shares f held constant, for one input."""
    n = probs.shape[0]
    grad: np.ndarray = n * probs * (dispatch_share - float(np.dot(dispatch_share, probs))) / temperature
    return grad


def entropy(probs: np.ndarray | Sequence[float]) -> float:
    """Shannon entropy in nats (of a gate's probabilities, or any distribution)."""
    if len(probs) <= 16:  # a handful of floats: plain Python is several times faster than numpy
        return 0.0 - sum(q * math.log(q) for q in map(float, probs) if q > 0.0)
    p = np.asarray(probs, dtype=np.float64)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def entropy_penalty_grad(probs: np.ndarray, temperature: float) -> np.ndarray:
    """d/dz of −H(softmax(z/T)): pushes logits apart less when the gate is already sharp."""
    safe = np.clip(probs, 1e-12, 1.0)
    grad: np.ndarray = probs * (np.log(safe) + entropy(probs)) / temperature
    return grad
