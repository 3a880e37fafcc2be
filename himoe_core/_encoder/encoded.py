from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from .._errors import EncodeError, InvalidInput
from .._input.input_data import as_feature_vector


def _vector(values: Any) -> np.ndarray:
    try:
        return as_feature_vector(values, "encoded vector", 1 << 24)
    except InvalidInput as exc:
        raise EncodeError(str(exc)) from None


@attrs.frozen(eq=False)
class Encoded:
    """A finite, read-only float32 vector produced by an Encoder, and its sparse view.

    `indices` are the positions of the vector's non-zero coordinates in increasing order (int64)
    and `values` the coordinates there (float32): a model that only reads non-zeros (the
    `logistic` router's diagonal posterior) costs O(non-zeros) per decision and update instead
    of a scan of `dim` coordinates. The view is computed at most once, by the encoder that knows
    it (`HashingEncoder`) or on first use.
    """

    vector: np.ndarray = attrs.field(converter=_vector, repr=lambda v: f"<float32[{v.shape[0]}]>")
    _sparse: tuple[np.ndarray, np.ndarray] | None = attrs.field(default=None, init=False, repr=False)

    @classmethod
    def _of_sparse(cls, vector: np.ndarray, indices: np.ndarray, values: np.ndarray) -> Encoded:
        """An Encoded from an encoder of this package that built `vector` itself, finite and
        float32, together with its non-zeros: no copy, no re-check, no scan."""
        vector.setflags(write=False)
        indices.setflags(write=False)
        values.setflags(write=False)
        encoded = object.__new__(cls)
        object.__setattr__(encoded, "vector", vector)
        object.__setattr__(encoded, "_sparse", (indices, values))
        return encoded

    @property
    def dim(self) -> int:
        return int(self.vector.shape[0])

    @property
    def indices(self) -> np.ndarray:
        """Positions of the non-zero coordinates, increasing (read-only int64)."""
        return self._sparse_view()[0]

    @property
    def values(self) -> np.ndarray:
        """The non-zero coordinates, in the order of `indices` (read-only float32)."""
        return self._sparse_view()[1]

    def _sparse_view(self) -> tuple[np.ndarray, np.ndarray]:
        sparse = self._sparse
        if sparse is None:
            indices = np.flatnonzero(self.vector).astype(np.int64, copy=False)
            values = self.vector[indices]
            indices.setflags(write=False)
            values.setflags(write=False)
            sparse = (indices, values)
            object.__setattr__(self, "_sparse", sparse)
        return sparse


def dense_vector(dim: int, indices: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The float32 vector of `dim` coordinates whose non-zeros are `values` at `indices` (an
    Encoded's sparse view, stored or kept, made whole again)."""
    vector = np.zeros(dim, dtype=np.float32)
    vector[indices] = values
    return vector
