from __future__ import annotations

import math
from typing import Any

import numpy as np

from .arm_table import ArmTable
from .logistic_fit import fit_logistic

try:  # what np.einsum(…) calls (optimize=False), without its Python-level dispatch: ~1 µs a call less
    from numpy._core.multiarray import c_einsum as _einsum
except ImportError:  # numpy 1.x, or a numpy that moved it
    _einsum = np.einsum


_FEW = 16
"""Up to this many arms, a decision over all of them in row order reads the tables by slices."""
_ORDER = list(range(_FEW))

Split = tuple[np.ndarray, np.ndarray, np.ndarray]
"""An input as the model reads it (`DiagonalLogisticModel.split`): the diagonal coordinates'
non-zeros (indices, float64 values) and the dense block's values."""
Input = np.ndarray | tuple[np.ndarray, np.ndarray] | Split


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-min(max(z, -30.0), 30.0)))


class DiagonalLogisticModel:
    """Disjoint arms, each an online logistic regression of P(success | x) with a diagonal
    Gaussian (Laplace) posterior over its weights, after Chapelle & Li (2011).

    Per arm: the posterior mean `m` and the per-coordinate precision `q` (it starts at `prior`,
    a Gaussian prior N(0, 1/prior) on every weight). One observation (x, y) with y in [0, 1]:

        p = σ(m·x),   q ← q + p(1 − p)·x²,   m ← m − (p − y)·x / q

    — a diagonal Newton step, i.e. a per-coordinate learning rate 1/q that shrinks as the
    coordinate's curvature accumulates (AdaGrad-like, but on the logistic Hessian). Only the
    non-zero coordinates of x are touched, so a decision and an update cost O(non-zeros of x)
    and the state is O(d) per arm: hashed text at dim 4096 costs 64 KB per arm where a dense
    LinUCB A⁻¹ costs 134 MB.

    `dense` trailing coordinates (say a text-length feature and the bias) get a full
    `dense × dense` precision block instead, updated by the exact Newton step on that block:
    a diagonal posterior treats correlated dense features as independent, so a feature that
    moves together with the bias (every length is positive) is learnt far too slowly. The block
    makes the fit invariant to shifting or scaling those features.

    `mean_and_width` gives the logit m·x and its posterior standard deviation
    sqrt(Σ x²/q + x_dᵀ P⁻¹ x_d), from which a router takes σ(m·x + α·width) (optimism) or a
    Thompson draw σ(m·x + α·width·N(0, 1)).

    `x` is a dense vector of length `dim`, or its sparse form `(indices, values)`: the positions
    of its non-zeros, increasing, and the values there (`Encoded.indices`/`.values`, with the
    bias appended). The sparse form skips the O(dim) scan for non-zeros and gives the same
    numbers to the bit. Either is read through `split`, whose result the methods also take: a
    caller that scores and then learns one input splits it once (`split_biased` splits an
    encoding without appending its bias first).
    """

    def __init__(self, dim: int, prior: float = 1.0, dense: int = 0) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"DiagonalLogisticModel dim must be a positive integer, got {dim!r}")
        if isinstance(prior, bool) or not isinstance(prior, (int, float)) or not math.isfinite(prior) or prior <= 0:
            raise ValueError(f"DiagonalLogisticModel prior must be a finite number > 0, got {prior!r}")
        if isinstance(dense, bool) or not isinstance(dense, int) or not 0 <= dense <= dim:
            raise ValueError(f"DiagonalLogisticModel dense must be an integer in [0, dim={dim}], got {dense!r}")
        self.dim = dim
        self.prior = float(prior)
        self.dense = dense
        self._block_start = dim - dense  # coordinates before it are diagonal
        # Per-arm parameters are the rows of one matrix each (arms × dim, arms × dense × dense),
        # shared row numbers: a decision scores every candidate arm in one array operation,
        # and an arm added later grows the matrices without touching what was learned.
        self._rows: dict[int, int] = {}
        self.mean = ArmTable(self._rows, (dim,))
        self.precision = ArmTable(self._rows, (dim,))
        self.block = ArmTable(self._rows, (dense, dense))
        # The block's inverse, kept up to date by Sherman–Morrison (each update adds a rank-one
        # term): a decision then costs a product, where solving the block cost ~80 µs an arm.
        self._inverse = ArmTable(self._rows, (dense, dense))
        self.n = ArmTable(self._rows, (), np.int64)

    def _tables(self) -> tuple[ArmTable, ...]:
        return (self.mean, self.precision, self.block, self._inverse, self.n)

    def _add(self, arms: list[int]) -> None:
        """New arms at their prior, in new rows."""
        start = len(self._rows)
        for table in self._tables():
            table.grow(start + len(arms))
        for offset, arm in enumerate(arms):
            self._rows[arm] = start + offset
        new = slice(start, start + len(arms))
        self.mean.array[new] = 0.0
        self.precision.array[new] = self.prior
        self.block.array[new] = np.eye(self.dense) * self.prior
        self._inverse.array[new] = np.eye(self.dense) / self.prior
        self.n.array[new] = 0

    def _arm(self, arm: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if arm not in self._rows:
            self._add([arm])
        return self.mean[arm], self.precision[arm], self.block[arm]

    def rows_of(self, arms: list[int] | np.ndarray) -> np.ndarray:
        """The matrix rows of these arms (arms not seen yet are added at their prior)."""
        rows = self._rows
        missing = [arm for arm in dict.fromkeys(arms) if arm not in rows]
        if missing:
            self._add(missing)
        return np.fromiter((rows[arm] for arm in arms), dtype=np.intp, count=len(arms))

    @property
    def arms(self) -> int:
        """How many arms the model holds."""
        return len(self._rows)

    def _check(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.dim,):
            raise ValueError(f"DiagonalLogisticModel expects vectors of length {self.dim}, got shape {x.shape}")
        return x

    def split(self, x: Input) -> Split:
        """The non-zero diagonal coordinates (indices, values) and the dense block's values, from
        a dense vector (scanned), its sparse form `(indices, values)` (read as given: no scan),
        or a split already made (returned as it is)."""
        start = self._block_start
        if not isinstance(x, tuple):
            x = self._check(x)
            idx = np.flatnonzero(x[:start])
            return idx, x[idx], x[start:]
        if len(x) == 3:
            return x
        indices, values = np.asarray(x[0]), np.asarray(x[1], dtype=np.float64)
        if indices.ndim != 1 or indices.shape != values.shape or indices.dtype.kind not in "iu":
            raise ValueError(
                "DiagonalLogisticModel sparse input must be (indices, values): two 1-D arrays of one "
                f"length, integer indices; got shapes {indices.shape} and {values.shape}"
            )
        if len(indices) and not (0 <= indices[0] and indices[-1] < self.dim):
            raise ValueError(
                f"DiagonalLogisticModel sparse indices must lie in [0, {self.dim}), increasing; "
                f"got {int(indices[0])}..{int(indices[-1])}"
            )
        cut = int(np.searchsorted(indices, start))
        dense = np.zeros(self.dense)
        dense[indices[cut:] - start] = values[cut:]
        return indices[:cut], values[:cut], dense

    def split_biased(self, indices: np.ndarray, values: np.ndarray) -> Split:
        """`split` of the sparse input `(indices, values)` with the bias (coordinate dim − 1,
        value 1.0) appended: an encoding's non-zeros (`Encoded.indices`, `.values`, increasing
        and below dim − 1, trusted), split without building the appended arrays when the bias
        is in the dense block."""
        start = self._block_start
        if not 0 < start < self.dim:  # the bias is diagonal, or every coordinate is in the block
            return self.split((np.append(indices, self.dim - 1), np.append(values.astype(np.float64), 1.0)))
        cut = int(indices.searchsorted(start))
        dense = np.zeros(self.dense)
        dense[indices[cut:] - start] = values[cut:]
        dense[-1] = 1.0
        return indices[:cut], values[:cut].astype(np.float64), dense

    def mean_and_width(self, arms: list[int], x: Input) -> tuple[np.ndarray, np.ndarray]:
        """Per arm, the logit m·x and its posterior standard deviation."""
        return self.mean_and_width_at(self.rows_of([int(arm) for arm in arms]), x)

    def mean_and_width_at(self, rows: np.ndarray, x: Input) -> tuple[np.ndarray, np.ndarray]:
        """`mean_and_width` for the arms in these matrix rows (`rows_of`), all in one gather
        of the non-zero columns: O(arms × non-zeros of x)."""
        idx, xi, xd = self.split(x)
        used = len(self._rows)
        # Every arm in row order (a few arms, asked about in the order they were added): slices
        # of the tables read the same numbers as gathering their rows, without the copies.
        every: Any = slice(0, used) if used <= _FEW and rows.tolist() == _ORDER[:used] else None
        if every is not None:
            means_x = self.mean.array[every].take(idx, axis=1)
            precision_x = self.precision.array[every].take(idx, axis=1)
        elif 2 * len(rows) >= used:  # most arms: gather the columns of x's non-zeros, then the rows
            means_x = self.mean.array[:used].take(idx, axis=1)[rows]
            precision_x = self.precision.array[:used].take(idx, axis=1)[rows]
        else:
            picked = (rows[:, None], idx[None, :])
            means_x, precision_x = self.mean.array[picked], self.precision.array[picked]
        # einsum sums every row the same way (no BLAS blocking): arms with equal parameters tie exactly
        means = _einsum("ij,j->i", means_x, xi)
        variances = _einsum("ij,j->i", 1.0 / precision_x, xi * xi)
        if self.dense:
            start = self._block_start
            arms = rows if every is None else every
            means += _einsum("ij,j->i", self.mean.array[arms, start:], xd)
            variances += _einsum("ij,j->i", _einsum("j,ijk->ik", xd, self._inverse.array[arms]), xd)
        return means, np.sqrt(np.maximum(variances, 0.0))

    def probability(self, arm: int, x: Input) -> float:
        """The posterior-mean estimate of P(success | x) for `arm`: σ(m·x)."""
        means, _ = self.mean_and_width([arm], x)
        return _sigmoid(float(means[0]))

    def learn(self, arm: int, x: Input, reward: float) -> float:
        """One observation: `reward` is the success (1) or failure (0) of `arm` on x; other
        values are clipped to [0, 1] and act as a soft label. Returns the probability of success
        the model predicted for it before learning it."""
        if not math.isfinite(reward):
            raise ValueError(f"DiagonalLogisticModel reward must be finite, got {reward!r}")
        idx, xi, xd = self.split(x)
        row = self._rows.get(arm)
        if row is None:
            self._add([arm])
            row = self._rows[arm]
        m, q = self.mean.array[row], self.precision.array[row]
        start = self._block_start
        # Each coordinate gathered once and written back once: the same operations, in the same
        # order, as `q[idx] += …; m[idx] -= … / q[idx]` (idx has no repeats).
        m_x = m[idx]
        z = float(m_x @ xi) + (float(m[start:] @ xd) if self.dense else 0.0)
        p = _sigmoid(z)
        residual = p - min(max(float(reward), 0.0), 1.0)
        curvature = p * (1.0 - p)
        q_x = q[idx]
        q_x += curvature * xi * xi
        q[idx] = q_x
        m_x -= residual * xi / q_x
        m[idx] = m_x
        if self.dense:
            self.block.array[row] += curvature * (xd[:, None] * xd)  # np.outer, without its wrapper
            inverse = self._inverse.array[row]
            v = inverse @ xd
            inverse -= (curvature / (1.0 + curvature * float(xd @ v))) * (v[:, None] * v)
            m[start:] -= inverse @ (residual * xd)
        self.n.array[row] += 1
        return p

    def fitted_arm(
        self, rows: list[tuple[np.ndarray, np.ndarray]], labels: np.ndarray, start: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """An arm's posterior refitted on `rows` (sparse, as `learn` takes them) and their
        labels: the exact MAP weights under this model's prior (`fit_logistic`) and the Laplace
        precision at them — diagonal, and the full block for the dense coordinates. Returns
        (mean, precision, block); the model is not changed."""
        mean = fit_logistic(rows, labels, self.dim, self.prior, start)
        precision = np.full(self.dim, self.prior)
        block = np.eye(self.dense) * self.prior
        for x in rows:
            idx, xi, xd = self.split(x)
            z = float(mean[idx] @ xi) + (float(mean[self._block_start :] @ xd) if self.dense else 0.0)
            p = _sigmoid(z)
            precision[idx] += p * (1.0 - p) * xi * xi
            if self.dense:
                block += p * (1.0 - p) * np.outer(xd, xd)
        return mean, precision, block

    def set_arm(self, arm: int, posterior: tuple[np.ndarray, np.ndarray, np.ndarray], n: int) -> None:
        """Make a refitted posterior (`fitted_arm`) the arm's, as learned from `n` events."""
        mean, precision, block = posterior
        self._arm(arm)
        self.mean[arm] = np.array(mean, dtype=np.float64)
        self.precision[arm] = np.array(precision, dtype=np.float64)
        self.block[arm] = np.array(block, dtype=np.float64)
        self._inverse[arm] = np.linalg.inv(self.block[arm]) if self.dense else np.zeros((0, 0))
        self.n[arm] = n

    def state_dict(self) -> dict[str, Any]:
        arms = sorted(self._rows)
        order = np.asarray([self._rows[a] for a in arms], dtype=np.intp)
        return {
            "dim": self.dim,
            "prior": self.prior,
            "dense": self.dense,
            "arms": np.asarray(arms, dtype=np.uint64),
            "counts": self.n.array[order].astype(np.int64),
            "mean": self.mean.array[order],
            "precision": self.precision.array[order],
            "block": self.block.array[order],
            "inverse": self._inverse.array[order],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["dim"]) != self.dim:
            raise ValueError(f"saved logistic state has dim {int(state['dim'])}, this router has {self.dim}")
        # States saved before the dense block existed have no "dense" (all diagonal).
        if int(state.get("dense", 0)) != self.dense:
            raise ValueError(
                f"saved logistic state has {int(state.get('dense', 0))} dense coordinates, this router has {self.dense}"
            )
        self.prior = float(state["prior"])
        arms = [int(a) for a in state["arms"]]
        self._rows.clear()
        for table in self._tables():
            table.array = table.array[:0]
        self._add(arms)
        if arms:
            self.mean.array[: len(arms)] = np.asarray(state["mean"], dtype=np.float64)
            self.precision.array[: len(arms)] = np.asarray(state["precision"], dtype=np.float64)
            if "block" in state:
                self.block.array[: len(arms)] = np.asarray(state["block"], dtype=np.float64)
            # saved with the block, so that a reloaded model decides exactly as the saved one did
            if "inverse" in state:
                self._inverse.array[: len(arms)] = np.asarray(state["inverse"], dtype=np.float64)
            else:
                self._inverse.array[: len(arms)] = np.linalg.inv(self.block.array[: len(arms)])
            self.n.array[: len(arms)] = np.asarray(state["counts"], dtype=np.int64)
