from .http_expert_config import HttpExpertConfig
from .http_plugin_config import HttpPluginConfig

__all__ = ["HttpExpertConfig", "HttpPluginConfig"]
