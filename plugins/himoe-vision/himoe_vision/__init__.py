"""himoe-vision: 8×8 handwritten-digit classifiers for himoe."""

from .experts.vision.digits_linear_expert import DigitsLinearExpert
from .experts.vision.digits_svc_expert import DigitsSvcExpert

__all__ = ["DigitsLinearExpert", "DigitsSvcExpert"]
