from __future__ import annotations

from typing import Any

import attrs

from .._errors import ConfigError, EncodeError
from .._input import InputData
from .encoded import Encoded


def _dim(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"features encoder dim must be a positive integer or absent, got {value!r}")


@attrs.frozen
class FeaturesEncoder:
    """Feature-vector inputs pass through unchanged (already finite float32); `dim`, when set,
    is checked so a router never trains on vectors of the wrong size."""

    dim: int | None = attrs.field(default=None, validator=_dim)
    id: str = "features"

    def configure(self, **options: Any) -> FeaturesEncoder:
        """A copy with another `dim` (a router's `encoder = {id = "features", dim = 64}`)."""
        try:
            return attrs.evolve(self, **options)
        except TypeError as exc:
            raise ConfigError(f"features encoder: {exc}; its only option is dim") from None

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
        return Encoded(vector)
