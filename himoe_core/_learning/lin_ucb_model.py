from __future__ import annotations

from typing import Any

import numpy as np


class LinUcbModel:
    """Disjoint linear bandit arms: per arm, ridge regression of reward on context.

    Keeps A⁻¹ (d×d) and b per arm and updates A⁻¹ by Sherman–Morrison in O(d²) per observation,
    so no matrix is ever inverted. `mean_and_width` gives θ·x and sqrt(xᵀA⁻¹x), from which
    LinUCB takes θ·x + α·width and linear Thompson sampling draws θ ~ N(θ̂, v²A⁻¹).
    """

    def __init__(self, dim: int, ridge: float = 1.0) -> None:
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"LinUcbModel dim must be a positive integer, got {dim!r}")
        if not ridge > 0:
            raise ValueError(f"LinUcbModel ridge must be > 0, got {ridge!r}")
        self.dim = dim
        self.ridge = float(ridge)
        self.a_inv: dict[int, np.ndarray] = {}
        self.b: dict[int, np.ndarray] = {}
        self.n: dict[int, int] = {}

    def _arm(self, arm: int) -> tuple[np.ndarray, np.ndarray]:
        if arm not in self.a_inv:
            self.a_inv[arm] = np.eye(self.dim) / self.ridge
            self.b[arm] = np.zeros(self.dim)
            self.n[arm] = 0
        return self.a_inv[arm], self.b[arm]

    def mean_and_width(self, arms: list[int], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=np.float64)
        means = np.empty(len(arms))
        widths = np.empty(len(arms))
        for i, arm in enumerate(arms):
            a_inv, b = self._arm(arm)
            a_inv_x = a_inv @ x
            means[i] = float(b @ a_inv_x)  # θ·x with θ = A⁻¹b (A⁻¹ is symmetric)
            widths[i] = float(np.sqrt(max(x @ a_inv_x, 0.0)))
        return means, widths

    def theta(self, arm: int) -> np.ndarray:
        a_inv, b = self._arm(arm)
        theta: np.ndarray = a_inv @ b
        return theta

    def learn(self, arm: int, x: np.ndarray, reward: float) -> None:
        x = np.asarray(x, dtype=np.float64)
        a_inv, b = self._arm(arm)
        a_inv_x = a_inv @ x
        a_inv -= np.outer(a_inv_x, a_inv_x) / (1.0 + x @ a_inv_x)
        b += reward * x
        self.n[arm] += 1

    def state_dict(self) -> dict[str, Any]:
        arms = sorted(self.a_inv)
        return {
            "dim": self.dim,
            "ridge": self.ridge,
            "arms": np.asarray(arms, dtype=np.uint64),
            "counts": np.asarray([self.n[a] for a in arms], dtype=np.int64),
            "a_inv": np.stack([self.a_inv[a] for a in arms]) if arms else np.zeros((0, self.dim, self.dim)),
            "b": np.stack([self.b[a] for a in arms]) if arms else np.zeros((0, self.dim)),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["dim"]) != self.dim:
            raise ValueError(f"saved LinUCB state has dim {int(state['dim'])}, this router has {self.dim}")
        self.ridge = float(state["ridge"])
        arms = [int(a) for a in state["arms"]]
        self.a_inv = {a: np.array(state["a_inv"][i], dtype=np.float64) for i, a in enumerate(arms)}
        self.b = {a: np.array(state["b"][i], dtype=np.float64) for i, a in enumerate(arms)}
        self.n = {a: int(state["counts"][i]) for i, a in enumerate(arms)}
