from __future__ import annotations

from typing import Any

import numpy as np

from .arm_table import ArmTable


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
        # A⁻¹ and b of every arm as the rows of one array each (arms × d × d, arms × d): all
        # candidate arms are scored in one batched product; new arms grow the arrays.
        self._rows: dict[int, int] = {}
        self.a_inv = ArmTable(self._rows, (dim, dim))
        self.b = ArmTable(self._rows, (dim,))
        self.n = ArmTable(self._rows, (), np.int64)

    def _add(self, arms: list[int]) -> None:
        start = len(self._rows)
        for table in (self.a_inv, self.b, self.n):
            table.grow(start + len(arms))
        for offset, arm in enumerate(arms):
            self._rows[arm] = start + offset
        new = slice(start, start + len(arms))
        self.a_inv.array[new] = np.eye(self.dim) / self.ridge
        self.b.array[new] = 0.0
        self.n.array[new] = 0

    def _arm(self, arm: int) -> tuple[np.ndarray, np.ndarray]:
        if arm not in self._rows:
            self._add([arm])
        return self.a_inv[arm], self.b[arm]

    def rows_of(self, arms: list[int]) -> np.ndarray:
        """The array rows of these arms (arms not seen yet are added at their prior)."""
        rows = self._rows
        missing = [arm for arm in dict.fromkeys(arms) if arm not in rows]
        if missing:
            self._add(missing)
        return np.fromiter((rows[arm] for arm in arms), dtype=np.intp, count=len(arms))

    def mean_and_width(self, arms: list[int], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=np.float64)
        rows = self.rows_of([int(arm) for arm in arms])
        if 2 * len(rows) >= len(self._rows):
            # most arms are candidates: one product over the array in place (gathering the
            # candidates' d × d blocks first would copy them all)
            a_inv_x = (self.a_inv.used() @ x)[rows]
        else:
            a_inv_x = np.stack([self.a_inv.array[row] @ x for row in rows]) if len(rows) else np.zeros((0, self.dim))
        means = (self.b.array[rows] * a_inv_x).sum(axis=1)  # θ·x with θ = A⁻¹b (A⁻¹ is symmetric)
        widths = np.sqrt(np.maximum((a_inv_x * x).sum(axis=1), 0.0))
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
        arms = sorted(self._rows)
        order = np.asarray([self._rows[a] for a in arms], dtype=np.intp)
        return {
            "dim": self.dim,
            "ridge": self.ridge,
            "arms": np.asarray(arms, dtype=np.uint64),
            "counts": self.n.array[order].astype(np.int64),
            "a_inv": self.a_inv.array[order],
            "b": self.b.array[order],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["dim"]) != self.dim:
            raise ValueError(f"saved LinUCB state has dim {int(state['dim'])}, this router has {self.dim}")
        self.ridge = float(state["ridge"])
        arms = [int(a) for a in state["arms"]]
        self._rows.clear()
        for table in (self.a_inv, self.b, self.n):
            table.array = table.array[:0]
        self._add(arms)
        if arms:
            self.a_inv.array[: len(arms)] = np.asarray(state["a_inv"], dtype=np.float64)
            self.b.array[: len(arms)] = np.asarray(state["b"], dtype=np.float64)
            self.n.array[: len(arms)] = np.asarray(state["counts"], dtype=np.int64)
