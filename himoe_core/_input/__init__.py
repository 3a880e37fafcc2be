from .input_data import InputData
from .input_kind import InputKind
from .input_limits import InputLimits

__all__ = ["InputData", "InputKind", "InputLimits"]
