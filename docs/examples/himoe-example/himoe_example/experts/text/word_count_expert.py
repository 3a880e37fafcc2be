"""WordCountExpert: word, sentence and character counts of a text, and its most frequent words."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import attrs

from himoe_core import Context, ExpertAux, ExpertOut, InputData, Value

TASK_PREFIXES = ("count:", "words:")
# A word: letters, with inner apostrophes or hyphens ("don't", "well-known"); digits are not words.
WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")
# Left out of the most frequent words (still counted as words).
STOPWORDS = frozenset(
    "a an and are as at be but by for from has have he her his i in is it its of on or she so that the their "
    "them they this to was we were will with you your".split()
)


def _positive(instance: Any, attribute: Any, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"WordCountExpert.top_n must be a positive integer, got {value!r}")


@attrs.frozen
class WordCountExpert:
    """Counts the words, distinct words, sentences and characters of a text, and its top words."""

    top_n: int = attrs.field(default=5, validator=_positive)
    name: str = "word_count"
    domain: str = "text"
    example: str = "count: The cat sleeps. The dog barks."
    cost_units: float = 0.01

    def can_handle(self, task: str) -> bool:
        return task.lstrip().lower().startswith(TASK_PREFIXES)

    async def infer(self, x: InputData, ctx: Context) -> ExpertOut:
        text = x.as_text()
        if text is None:  # bytes or features: not a text to count
            return ExpertOut(Value.none(), ExpertAux(cost_units=self.cost_units, confidence=0.0))
        stats = self.count(strip_prefix(text))
        return ExpertOut(
            Value.json(stats), ExpertAux(cost_units=self.cost_units, confidence=1.0 if stats["words"] else 0.0)
        )

    def count(self, text: str) -> dict[str, Any]:
        """``{"words", "distinct_words", "sentences", "characters", "top_words": [[word, n], …]}``;
        words are compared in lower case, top words are the most frequent non-stopwords (ties
        in alphabetical order)."""
        words = [word.lower() for word in WORD.findall(text)]
        frequent = Counter(word for word in words if word not in STOPWORDS)
        top = sorted(frequent.items(), key=lambda item: (-item[1], item[0]))[: self.top_n]
        sentences = [part for part in SENTENCE_END.split(text) if WORD.search(part)]
        return {
            "words": len(words),
            "distinct_words": len(set(words)),
            "sentences": len(sentences),
            "characters": len(text),
            "top_words": [[word, n] for word, n in top],
        }


def strip_prefix(text: str) -> str:
    """The text after its task prefix (``count:`` or ``words:``, any case), stripped."""
    stripped = text.strip()
    for prefix in TASK_PREFIXES:
        if stripped.lower().startswith(prefix):
            return stripped[len(prefix) :].strip()
    return stripped
