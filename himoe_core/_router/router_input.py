from __future__ import annotations

import attrs

from .._encoder.encoded import Encoded
from .._input import InputData


@attrs.frozen
class RouterInput:
    """What a router gates on: the raw input, optionally with its encoding.

    Experts always receive `input`, the original InputData, whatever the router gated on.
    """

    input: InputData = attrs.field(validator=attrs.validators.instance_of(InputData))
    encoded: Encoded | None = None

    @property
    def is_encoded(self) -> bool:
        return self.encoded is not None
