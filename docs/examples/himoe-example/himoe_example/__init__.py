"""himoe-example: an example himoe expert plugin — word statistics and lexicon sentiment."""

from .experts.text.sentiment_lexicon_expert import SentimentLexiconExpert
from .experts.text.word_count_expert import WordCountExpert

__all__ = ["SentimentLexiconExpert", "WordCountExpert"]
