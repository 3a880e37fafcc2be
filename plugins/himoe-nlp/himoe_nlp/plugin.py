"""The entry point himoe loads: registers this distribution's experts (cheap to import).

Neither spaCy nor lingua is imported here: each expert loads its model on its first call.

Options, in the himoe config's ``[plugins.himoe-nlp]`` table (all optional)::

    lang_id_languages = ["fr", "en", "de"]   # ISO 639-1 codes lingua chooses among
                                             # (default: 28 common languages, see the README)
    lang_id_accuracy = "high"                # or "low": ~10x less memory, weaker on short texts
    lang_id_top = 3                          # how many candidates nlp_language_id returns
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from himoe_core import ConfigError, hookimpl

from .base_models.lingua.lingua_detector import DEFAULT_LANGUAGES, LinguaDetector
from .experts.nlp.nlp_french_tagger import NlpFrenchTagger
from .experts.nlp.nlp_language_id import NlpLanguageId

OPTIONS = ("lang_id_languages", "lang_id_accuracy", "lang_id_top")


@hookimpl
def register_experts(register, config):
    options = _options(config)
    register(NlpFrenchTagger())
    detector = LinguaDetector(
        languages=options.get("lang_id_languages", DEFAULT_LANGUAGES),
        accuracy=options.get("lang_id_accuracy", "high"),
    )
    top = options.get("lang_id_top", 3)
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ConfigError(f"[plugins.himoe-nlp] lang_id_top must be a positive integer, got {top!r}")
    register(NlpLanguageId(detector, top=top))


def _options(config: Mapping[str, Any] | None) -> Mapping[str, Any]:
    config = config or {}
    if not isinstance(config, Mapping):
        raise ConfigError(f"[plugins.himoe-nlp] must be a table, got {type(config).__name__}")
    unknown = sorted(set(config) - set(OPTIONS))
    if unknown:
        raise ConfigError(
            f"[plugins.himoe-nlp] has unknown option(s) {', '.join(unknown)}; the options are: {', '.join(OPTIONS)}"
        )
    return config
