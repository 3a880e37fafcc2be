"""SentimentLexiconExpert: positive, negative or neutral, from a small weighted word list."""

from __future__ import annotations

import math
import re
from typing import Any

import attrs

from himoe_core import Context, ExpertAux, ExpertOut, InputData, Value

TASK_PREFIX = "sentiment:"
TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?")
CLAUSE_END = re.compile(r"[,.;:!?]+")
LEXICON = {
    # positive
    "good": 1.0,
    "great": 1.5,
    "excellent": 2.0,
    "love": 1.6,
    "loved": 1.6,
    "like": 0.6,
    "liked": 0.6,
    "enjoy": 1.0,
    "enjoyed": 1.0,
    "happy": 1.2,
    "nice": 0.8,
    "wonderful": 1.8,
    "best": 1.6,
    "fast": 0.6,
    "easy": 0.8,
    "clear": 0.6,
    "helpful": 1.0,
    "reliable": 1.0,
    "works": 0.6,
    "recommend": 1.2,
    # negative
    "bad": -1.0,
    "terrible": -2.0,
    "awful": -1.8,
    "hate": -1.6,
    "hated": -1.6,
    "sad": -1.0,
    "poor": -1.0,
    "slow": -0.6,
    "broken": -1.2,
    "worst": -1.8,
    "bug": -0.6,
    "buggy": -1.0,
    "crash": -1.2,
    "crashes": -1.2,
    "hard": -0.5,
    "confusing": -1.0,
    "annoying": -1.0,
    "fail": -1.0,
    "fails": -1.0,
    "failed": -1.0,
    "useless": -1.6,
    "disappointing": -1.4,
}
NEGATIONS = frozenset(
    {"not", "no", "never", "isn't", "don't", "doesn't", "didn't", "wasn't", "can't", "won't", "hardly", "nothing"}
)
INTENSIFIERS = {"very": 1.5, "really": 1.3, "extremely": 2.0, "so": 1.2, "quite": 1.1, "slightly": 0.5}
NEGATION_WINDOW = 3  # a negation flips the sentiment words up to 3 tokens after it, in its clause
THRESHOLD = 0.2  # |score| below this is neutral


@attrs.frozen
class SentimentLexiconExpert:
    """Sentiment of English text (positive, negative, neutral) from a weighted word list, with
    negation and intensifiers; its confidence grows with the number of sentiment words found."""

    name: str = "sentiment_lexicon"
    domain: str = "text"
    example: str = "sentiment: great docs, really helpful"
    cost_units: float = 0.01

    def can_handle(self, task: str) -> bool:
        return task.lstrip().lower().startswith(TASK_PREFIX)

    async def infer(self, x: InputData, ctx: Context) -> ExpertOut:
        text = x.as_text()
        if text is None:
            return ExpertOut(Value.none(), ExpertAux(cost_units=self.cost_units, confidence=0.0))
        result = self.analyse(strip_prefix(text))
        matched = len(result["matches"])
        confidence = min(1.0, 0.4 + 0.2 * matched) if matched else 0.2
        return ExpertOut(Value.json(result), ExpertAux(cost_units=self.cost_units, confidence=confidence))

    def analyse(self, text: str) -> dict[str, Any]:
        """``{"label", "score" in (-1, 1), "matches": [{"word", "weight"}, …]}``."""
        total = 0.0
        matches = []
        for clause in CLAUSE_END.split(text.lower().replace("’", "'")):  # a negation ends with its clause
            tokens = TOKEN.findall(clause)
            for index, token in enumerate(tokens):
                weight = LEXICON.get(token)
                if weight is None:
                    continue
                if index > 0 and tokens[index - 1] in INTENSIFIERS:
                    weight *= INTENSIFIERS[tokens[index - 1]]
                if any(t in NEGATIONS for t in tokens[max(0, index - NEGATION_WINDOW) : index]):
                    weight *= -0.8  # "not good" is bad, but less than "bad"
                total += weight
                matches.append({"word": token, "weight": round(weight, 3)})
        score = math.tanh(total / 2)
        label = "positive" if score > THRESHOLD else "negative" if score < -THRESHOLD else "neutral"
        return {"label": label, "score": round(score, 3), "matches": matches}


def strip_prefix(text: str) -> str:
    """The text after ``sentiment:`` (any case), stripped."""
    stripped = text.strip()
    return stripped[len(TASK_PREFIX) :].strip() if stripped.lower().startswith(TASK_PREFIX) else stripped
