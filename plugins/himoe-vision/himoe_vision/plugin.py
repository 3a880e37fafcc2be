"""The entry point himoe loads: registers this distribution's experts (cheap to import: no
scikit-learn or Pillow until an expert is first used)."""

from himoe_core import hookimpl

from .experts.vision.digits_linear_expert import DigitsLinearExpert
from .experts.vision.digits_svc_expert import DigitsSvcExpert


@hookimpl
def register_experts(register):
    register(DigitsLinearExpert())
    register(DigitsSvcExpert())
