from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from .._errors import ConfigError, EncodeError
from .._input import InputData
from .context_features import context_features, hashed
from .encoded import Encoded


def _dim(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"features encoder dim must be a positive integer or absent, got {value!r}")


def _context_dim(instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1 << 20:
        raise ConfigError(f"features encoder context_dim must be an integer in [0, 1048576], got {value!r}")


@attrs.frozen
class FeaturesEncoder:
    """Feature-vector inputs pass through unchanged (already finite float32); `dim`, when set,
    is checked so a router never trains on vectors of the wrong size.

    With `context_dim = n`, n coordinates are appended that hash the request's task hint and
    context as the hashing encoder does (`task=<hint>`, `ctx:<key>=<category>`, `ctx:<key>`);
    without it they are not used."""

    dim: int | None = attrs.field(default=None, validator=_dim)
    context_dim: int = attrs.field(default=0, validator=_context_dim)
    id: str = "features"

    def configure(self, **options: Any) -> FeaturesEncoder:
        """A copy with other options (a router's `encoder = {id = "features", dim = 64}`)."""
        try:
            return attrs.evolve(self, **options)
        except TypeError as exc:
            raise ConfigError(f"features encoder: {exc}; its options are dim and context_dim") from None

    def encode(self, x: InputData) -> Encoded:
        """The feature vector itself, checked against `dim` when set."""
        vector = x.as_features()
        if vector is None:
            raise EncodeError(
                f"the features encoder needs a feature vector, got a {x.kind.value} input; "
                "use the 'hashing' encoder for text"
            )
        if self.dim is not None and vector.shape[0] != self.dim:
            raise EncodeError(f"expected {self.dim} features, got {vector.shape[0]}")
        if not self.context_dim:
            return Encoded(vector)
        extra = np.zeros(self.context_dim, dtype=np.float32)
        meta = context_features(x)
        if meta:
            buckets, signed = hashed(meta, self.context_dim)
            np.add.at(extra, buckets, signed.astype(np.float32))
        return Encoded(np.concatenate((vector, extra)))
