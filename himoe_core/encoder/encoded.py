from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from ..errors import EncodeError, InvalidInput
from ..input.input_data import as_feature_vector


def _vector(values: Any) -> np.ndarray:
    try:
        return as_feature_vector(values, "encoded vector", 1 << 24)
    except InvalidInput as exc:
        raise EncodeError(str(exc)) from None


@attrs.frozen(eq=False)
class Encoded:
    """A finite, read-only float32 vector produced by an Encoder."""

    vector: np.ndarray = attrs.field(converter=_vector, repr=lambda v: f"<float32[{v.shape[0]}]>")

    @property
    def dim(self) -> int:
        return int(self.vector.shape[0])
