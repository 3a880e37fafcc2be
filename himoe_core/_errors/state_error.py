from .moe_error import MoeError


class StateError(MoeError):
    """The learned-state file cannot be used (corrupt, foreign, newer schema); it is left as is."""
