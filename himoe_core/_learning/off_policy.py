"""Off-policy evaluation of a candidate router on logged decisions: IPS, self-normalised IPS
and doubly robust estimates of its mean reward, with bootstrap confidence intervals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def estimate(
    logged_propensity: np.ndarray,
    target_prob: np.ndarray,
    reward: np.ndarray,
    model_logged: np.ndarray,
    model_target: np.ndarray,
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Each row is one logged decision: the logging policy's propensity of the action it took,
    the candidate's probability of that same action, its reward, a reward model's prediction
    for that action, and the reward model's expectation under the candidate's policy."""
    p = np.asarray(logged_propensity, dtype=np.float64)
    if (p <= 0).any():
        raise ValueError(
            "every logged propensity must be > 0; decisions logged without exploration cannot be evaluated off-policy"
        )
    w = np.asarray(target_prob, dtype=np.float64) / p
    r = np.asarray(reward, dtype=np.float64)
    dm_logged = np.asarray(model_logged, dtype=np.float64)
    dm_target = np.asarray(model_target, dtype=np.float64)
    estimators: dict[str, Callable[[np.ndarray], float]] = {
        "ips": lambda i: float(np.mean(w[i] * r[i])),
        "snips": lambda i: float(np.sum(w[i] * r[i]) / max(np.sum(w[i]), 1e-12)),
        "dr": lambda i: float(np.mean(dm_target[i] + w[i] * (r[i] - dm_logged[i]))),
    }
    n = r.shape[0]
    everything = np.arange(n)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(resamples, n)) if n else np.zeros((0, 0), dtype=int)
    result: dict[str, Any] = {
        "n": int(n),
        "logged_mean_reward": float(r.mean()) if n else None,
        "effective_sample_size": float(w.sum() ** 2 / max((w**2).sum(), 1e-12)) if n else 0.0,
    }
    for name, fn in estimators.items():
        if n == 0:
            result[name] = {"estimate": None, "ci95": [None, None]}
            continue
        boot = np.array([fn(d) for d in draws])
        result[name] = {
            "estimate": fn(everything),
            "ci95": [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))],
        }
    return result
