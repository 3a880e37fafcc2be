from .moe_error import MoeError


class InvalidInput(MoeError, ValueError):
    """A value given to himoe is malformed; the message names it and says what is expected."""
