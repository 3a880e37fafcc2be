"""The batch fit behind a `logistic` router's periodic refit: the exact maximum a posteriori
weights of an L2-regularised logistic regression on sparse rows, by L-BFGS, in numpy alone.

The online update (`DiagonalLogisticModel.learn`) takes one diagonal Newton step per event and
never revisits an event; refitting on the history finds the optimum those steps approximate."""

from __future__ import annotations

import numpy as np

_MEMORY = 10
"""L-BFGS keeps this many curvature pairs."""


def fit_logistic(
    rows: list[tuple[np.ndarray, np.ndarray]],
    labels: np.ndarray,
    dim: int,
    prior: float,
    start: np.ndarray | None = None,
    iterations: int = 200,
) -> np.ndarray:
    """argmin_m Σ_i [log(1 + e^{z_i}) − y_i z_i] + prior/2 ‖m‖², z_i = m·x_i, with each row x_i
    given sparse as (indices, values) and labels y_i in [0, 1]; from `start` (zeros by default)."""
    n = len(rows)
    which = np.concatenate([np.full(len(indices), i) for i, (indices, _) in enumerate(rows)]) if n else np.zeros(0, int)
    cols = np.concatenate([indices for indices, _ in rows]) if n else np.zeros(0, int)
    vals = np.concatenate([values for _, values in rows]) if n else np.zeros(0)
    y = np.asarray(labels, dtype=np.float64).clip(0.0, 1.0)

    def loss_and_gradient(m: np.ndarray) -> tuple[float, np.ndarray]:
        z = np.bincount(which, vals * m[cols], minlength=n)
        loss = float(np.sum(np.logaddexp(0.0, z) - y * z)) + 0.5 * prior * float(m @ m)
        residual = 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0))) - y
        return loss, np.bincount(cols, vals * residual[which], minlength=dim) + prior * m

    m = np.zeros(dim) if start is None else np.array(start, dtype=np.float64)
    loss, gradient = loss_and_gradient(m)
    steps: list[np.ndarray] = []
    changes: list[np.ndarray] = []
    for _ in range(iterations):
        direction = -_two_loop(gradient, steps, changes)
        slope = float(gradient @ direction)
        if slope >= 0.0:  # not a descent direction: restart from the gradient
            steps.clear()
            changes.clear()
            direction, slope = -gradient, -float(gradient @ gradient)
        step = 1.0
        while True:  # backtracking (Armijo)
            candidate = m + step * direction
            new_loss, new_gradient = loss_and_gradient(candidate)
            if new_loss <= loss + 1e-4 * step * slope or step < 1e-10:
                break
            step *= 0.5
        s, change = candidate - m, new_gradient - gradient
        if float(s @ change) > 1e-12:
            steps.append(s)
            changes.append(change)
            if len(steps) > _MEMORY:
                steps.pop(0)
                changes.pop(0)
        converged = abs(loss - new_loss) <= 1e-9 * max(1.0, abs(loss))
        m, loss, gradient = candidate, new_loss, new_gradient
        if converged or float(np.abs(gradient).max()) < 1e-6:
            break
    return m


def _two_loop(gradient: np.ndarray, steps: list[np.ndarray], changes: list[np.ndarray]) -> np.ndarray:
    """The L-BFGS approximation of H⁻¹·gradient."""
    q = gradient.copy()
    alphas = []
    for s, change in zip(reversed(steps), reversed(changes)):
        alpha = float(s @ q) / float(change @ s)
        alphas.append(alpha)
        q -= alpha * change
    if steps:
        q *= float(steps[-1] @ changes[-1]) / float(changes[-1] @ changes[-1])
    else:
        q /= max(float(np.abs(gradient).max()), 1.0)
    for (s, change), alpha in zip(zip(steps, changes), reversed(alphas)):
        beta = float(change @ q) / float(change @ s)
        q += s * (alpha - beta)
    return q


def log_loss(predicted: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of predicted success probabilities against labels in [0, 1]."""
    p = np.clip(np.asarray(predicted, dtype=np.float64), 1e-12, 1.0 - 1e-12)
    y = np.asarray(labels, dtype=np.float64).clip(0.0, 1.0)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p)))
