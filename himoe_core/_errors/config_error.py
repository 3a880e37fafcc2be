from .moe_error import MoeError


class ConfigError(MoeError, ValueError):
    """A configuration key has a bad value; the message names the key and the value."""
