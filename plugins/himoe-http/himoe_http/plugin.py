"""The entry point himoe loads: registers the HTTP experts declared in config (cheap to import:
httpx is imported on the first call, not here)."""

from himoe_core import hookimpl

from .config.http_plugin_config import HttpPluginConfig


@hookimpl
def register_experts(register, config):
    """One expert per ``[plugins.himoe-http.experts.<name>]`` table; none when there is none."""
    for expert in HttpPluginConfig.parse(config).build_experts():
        register(expert)


@hookimpl
def register_encoders(register):
    """The `openai-embeddings` encoder: vectors from an OpenAI-compatible /v1/embeddings service
    (configured in a router's `encoder` table; unconfigured until then)."""
    from .encoders.http.openai_embeddings_encoder import OpenAIEmbeddingsEncoder

    register(OpenAIEmbeddingsEncoder())
