from .encoded import Encoded
from .encoder_trait import Encoder
from .features_encoder import FeaturesEncoder
from .hashing_encoder import HashingEncoder

__all__ = ["Encoded", "Encoder", "FeaturesEncoder", "HashingEncoder"]
