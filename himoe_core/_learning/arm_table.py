from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np


class ArmTable:
    """One per-arm parameter of a bandit model, stored as the rows of one array
    (`arms × shape`) so that all arms are scored in one array operation, and read or written
    arm by arm like a dict (`table[arm]` is a view of the arm's row).

    The tables of one model share its `rows` (arm → row). The model adds an arm by growing every
    table (`grow`, capacity doubling: amortised O(1) per arm, rows learned so far are copied
    as they are) and filling the new row.
    """

    def __init__(self, rows: dict[int, int], shape: tuple[int, ...], dtype: Any = np.float64) -> None:
        self.rows = rows
        self.array = np.zeros((0, *shape), dtype=dtype)

    def grow(self, count: int) -> None:
        """Make room for `count` rows at least, keeping the existing ones."""
        if count > self.array.shape[0]:
            bigger = np.zeros((max(count, 2 * self.array.shape[0], 4), *self.array.shape[1:]), self.array.dtype)
            bigger[: len(self.rows)] = self.array[: len(self.rows)]
            self.array = bigger

    def used(self) -> np.ndarray:
        """The rows in use, in row order (a view)."""
        return self.array[: len(self.rows)]

    def __getitem__(self, arm: int) -> Any:
        return self.array[self.rows[arm]]

    def __setitem__(self, arm: int, value: Any) -> None:
        self.array[self.rows[arm]] = value

    def __contains__(self, arm: object) -> bool:
        return arm in self.rows

    def __iter__(self) -> Iterator[int]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def keys(self) -> Iterator[int]:
        return iter(self.rows)

    def values(self) -> Iterator[Any]:
        return (self.array[row] for row in self.rows.values())

    def items(self) -> Iterator[tuple[int, Any]]:
        return ((arm, self.array[row]) for arm, row in self.rows.items())

    def __repr__(self) -> str:
        return f"ArmTable({len(self.rows)} arms × {self.array.shape[1:]})"
