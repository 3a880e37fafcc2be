from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy_exports import lazy_exports

if TYPE_CHECKING:
    from .encoded import Encoded
    from .encoder_trait import Encoder
    from .features_encoder import FeaturesEncoder
    from .hashing_encoder import HashingEncoder

_EXPORTS = {
    "Encoded": ".encoded",
    "Encoder": ".encoder_trait",
    "FeaturesEncoder": ".features_encoder",
    "HashingEncoder": ".hashing_encoder",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["Encoded", "Encoder", "FeaturesEncoder", "HashingEncoder"]
