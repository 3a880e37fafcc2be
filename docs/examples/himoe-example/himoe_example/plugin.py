"""The entry point himoe loads (``[project.entry-points.himoe]`` in pyproject.toml).

Cheap to import: the experts are small classes; anything heavy would load on first use.
"""

from collections.abc import Mapping
from typing import Any

from himoe_core import ConfigError, hookimpl

from .experts.text.sentiment_lexicon_expert import SentimentLexiconExpert
from .experts.text.word_count_expert import WordCountExpert

CONFIG_KEYS = {"top_n"}


@hookimpl
def register_experts(register, config):
    """Register both experts. `config` is the ``[plugins.himoe-example]`` table of the himoe
    config file ({} when absent): ``top_n``, how many frequent words word_count reports (5)."""
    register(WordCountExpert(top_n=top_n(config)))
    register(SentimentLexiconExpert())


def top_n(config: Mapping[str, Any]) -> int:
    """``top_n`` from the plugin's config table, checked: a wrong value is a ConfigError, which
    stops himoe with this message — the user, not the plugin, has to fix it."""
    unknown = sorted(set(config) - CONFIG_KEYS)
    if unknown:
        known = ", ".join(sorted(CONFIG_KEYS))
        raise ConfigError(f"plugins.himoe-example: unknown key {unknown[0]!r}; known keys: {known}")
    value = config.get("top_n", 5)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"plugins.himoe-example.top_n: expected a positive integer, got {value!r}")
    return value
