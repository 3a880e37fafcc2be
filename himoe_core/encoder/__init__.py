from .encoded import Encoded
from .encoder_trait import Encoder

__all__ = ["Encoded", "Encoder"]
