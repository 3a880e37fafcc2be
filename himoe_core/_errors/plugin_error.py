from .moe_error import MoeError


class PluginError(MoeError):
    """A plugin failed to load or registered something invalid."""
