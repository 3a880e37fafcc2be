"""Metrics of the learning-router benchmarks: RouteLLM's quality/cost metrics (APGR, CPT), regret,
and the significance tests used to compare two policies. Pure numpy/math; no himoe import."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np


# -- quality/cost curves (RouteLLM) ---------------------------------------------------------------
def completed_curve(
    points: Iterable[tuple[float, float]], weak_acc: float, strong_acc: float
) -> tuple[np.ndarray, np.ndarray]:
    """A router's (share of strong calls, accuracy) points, sorted by share and completed with
    (0, weak accuracy) and (1, strong accuracy), as RouteLLM's evaluation does (its thresholds
    always include "all weak" and "all strong")."""
    pts = sorted([(0.0, weak_acc), *((float(x), float(y)) for x, y in points), (1.0, strong_acc)])
    xs, ys = zip(*pts)
    return np.asarray(xs), np.asarray(ys)


def apgr(points: Iterable[tuple[float, float]], weak_acc: float, strong_acc: float) -> float:
    """Average performance gap recovered: the area between the completed quality/cost curve and
    the weak model's accuracy, over the strong–weak gap (trapezoids over the share of strong
    calls in [0, 1]). Random routing scores exactly 0.5; above 1 is possible (the oracle)."""
    xs, ys = completed_curve(points, weak_acc, strong_acc)
    return float((np.trapezoid(ys, xs) - weak_acc) / (strong_acc - weak_acc))


def cpt(points: Iterable[tuple[float, float]], weak_acc: float, strong_acc: float, fraction: float) -> float:
    """Call-performance threshold: the smallest share of strong calls at which the completed
    curve (linear between points) recovers `fraction` of the strong–weak gap. RouteLLM
    interpolates share as a function of accuracy, which assumes a monotone curve; walking the
    curve left to right gives the same answer when it is monotone and a sane one when not."""
    xs, ys = completed_curve(points, weak_acc, strong_acc)
    target = weak_acc + fraction * (strong_acc - weak_acc)
    if ys[0] >= target:
        return float(xs[0])
    for (x0, y0), (x1, y1) in zip(zip(xs[:-1], ys[:-1]), zip(xs[1:], ys[1:])):
        if y1 >= target > y0:
            return float(x0 + (target - y0) * (x1 - x0) / (y1 - y0))
    return 1.0


def ranking_curve(
    scores: np.ndarray, weak_correct: np.ndarray, strong_correct: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The quality/cost curve of a scoring router at every threshold: the prompts with the
    highest score go to the strong model first; one point per number of strong calls (0..n)."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    gain = (np.asarray(strong_correct, float) - np.asarray(weak_correct, float))[order]
    n = len(order)
    acc = float(np.mean(weak_correct)) + np.concatenate([[0.0], np.cumsum(gain)]) / n
    return np.arange(n + 1) / n, acc


def oracle_curve(weak_correct: np.ndarray, strong_correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The best accuracy reachable with each share of strong calls: strong-only-right prompts
    first, prompts where both agree next, weak-only-right prompts last."""
    weak_correct = np.asarray(weak_correct, float)
    strong_correct = np.asarray(strong_correct, float)
    return ranking_curve(strong_correct - weak_correct, weak_correct, strong_correct)


def curve_points(xs: Sequence[float], ys: Sequence[float]) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in zip(xs, ys)]


# -- bandit regret ---------------------------------------------------------------------------------
def thirds(values: np.ndarray) -> tuple[float, float, float]:
    """Mean of the first, middle and last third of a per-round series."""
    values = np.asarray(values, dtype=np.float64)
    parts = np.array_split(values, 3)
    return float(parts[0].mean()), float(parts[1].mean()), float(parts[2].mean())


def progressive_mean(values: np.ndarray) -> np.ndarray:
    """Cumulative mean after each round (progressive validation)."""
    values = np.asarray(values, dtype=np.float64)
    return np.cumsum(values) / np.arange(1, len(values) + 1)


# -- statistics ------------------------------------------------------------------------------------
def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else 0.0


def normal_two_sided_p(z: float) -> float:
    return float(math.erfc(abs(z) / math.sqrt(2.0)))


def two_proportion_z(successes_a: int, n_a: int, successes_b: int, n_b: int) -> tuple[float, float]:
    """Pooled two-proportion z-test of p_a = p_b: (z, two-sided p); z > 0 when a is higher."""
    p_a, p_b = successes_a / n_a, successes_b / n_b
    pooled = (successes_a + successes_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b))
    if se == 0:
        return 0.0, 1.0
    z = (p_a - p_b) / se
    return z, normal_two_sided_p(z)


def paired_t(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Paired t-test of mean(a − b) = 0 over matched runs (the same seeds): (t, two-sided p)."""
    from scipy import stats

    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if diff.size < 2 or np.allclose(diff, diff[0]):
        return (0.0, 1.0) if np.allclose(diff, 0) else (math.copysign(math.inf, diff.mean()), 0.0)
    result = stats.ttest_rel(a, b)
    return float(result.statistic), float(result.pvalue)
