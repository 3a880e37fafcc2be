"""himoe-http: experts that call remote HTTP endpoints, declared in config with no code."""

from .base_models.http.http_caller import HttpCaller
from .base_models.http.retry_policy import RetryPolicy
from .config.http_expert_config import HttpExpertConfig
from .config.http_plugin_config import HttpPluginConfig
from .encoders.http.openai_embeddings_encoder import OpenAIEmbeddingsEncoder
from .experts.http.json_http_expert import JsonHttpExpert
from .experts.http.openai_chat_expert import OpenAIChatExpert

__all__ = [
    "HttpCaller",
    "HttpExpertConfig",
    "HttpPluginConfig",
    "JsonHttpExpert",
    "OpenAIChatExpert",
    "OpenAIEmbeddingsEncoder",
    "RetryPolicy",
]
