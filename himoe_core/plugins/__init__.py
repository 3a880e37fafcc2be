from .markers import hookimpl, hookspec
from .plugin_host import PluginHost
from .plugin_info import PluginInfo
from .plugin_settings import PluginSettings

__all__ = ["PluginHost", "PluginInfo", "PluginSettings", "hookimpl", "hookspec"]
