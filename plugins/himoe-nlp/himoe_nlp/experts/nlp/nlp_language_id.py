from __future__ import annotations

from functools import cached_property
from importlib.metadata import PackageNotFoundError, version

from himoe_core import Context, ExpertAux, ExpertOut, InputData, InvalidInput, Value

from ...base_models.lingua.lingua_detector import LinguaDetector
from ...cancellation import checkpoint
from ...task_prefixes import match_prefix, strip_prefix

TASKS = ("lang:id", "lang:detect", "detect language")


class NlpLanguageId:
    """Which language a text is in: ISO 639-1 code, name and confidence, with lingua."""

    name = "nlp_language_id"
    domain = "nlp"
    example = "lang:id Où est la gare ?"
    handles = TASKS  # routers look these up; can_handle then checks the word ends there
    tasks = TASKS
    # A lingua lookup once its models are loaded: about 0.1 ms for a sentence.
    cost_units = 0.2

    def __init__(self, detector: LinguaDetector | None = None, top: int = 3) -> None:
        if isinstance(top, bool) or not isinstance(top, int) or top < 1:
            raise ValueError(f"NlpLanguageId.top must be a positive integer, got {top!r}")
        self.detector = detector if detector is not None else LinguaDetector()
        self.top = top

    def __repr__(self) -> str:
        return f"NlpLanguageId({self.detector!r}, top={self.top})"

    def can_handle(self, task: str) -> bool:
        """True for a task hint, or a text, that starts with lang:id, lang:detect or "detect language"."""
        return isinstance(task, str) and match_prefix(task, TASKS) is not None

    def infer(self, x: InputData, ctx: Context) -> ExpertOut:
        text = x.as_text()
        if text is None:
            raise InvalidInput(
                f"{self.name} identifies the language of text but got {x.kind.value} input; "
                "send text such as 'lang:id Les enfants jouent dans le jardin.'"
            )
        body = strip_prefix(text, TASKS)
        if not body:
            raise InvalidInput(
                f"{self.name} got no text after the task prefix; send the text whose language "
                "you want, e.g. 'lang:id Les enfants jouent dans le jardin.'"
            )
        checkpoint(ctx, self.name)()
        candidates = self.detector.detect(body, top=self.top)
        best = candidates[0] if candidates else {"language": None, "name": None, "confidence": 0.0}
        result = {
            # None when nothing in the text points to any language (digits, emoji, punctuation).
            "language": best["language"],
            "name": best["name"],
            "confidence": best["confidence"],
            "candidates": candidates,
            "model": self.model_label,
        }
        return ExpertOut(Value.json(result), ExpertAux(cost_units=self.cost_units, confidence=best["confidence"]))

    def warm_up(self) -> None:
        """Build the detector and load lingua's models for Latin-script languages now (about 2 s
        in high accuracy mode), so that the first request does not pay for it; safe to call from
        a background thread. Models of other scripts still load when first needed."""
        self.detector.detect("Les enfants jouent dans le jardin. The children play in the garden.")

    @cached_property
    def model_label(self) -> str:
        """e.g. ``"lingua 2.1.1 (high accuracy, 28 languages)"``."""
        try:
            lingua_version = version("lingua-language-detector")
        except PackageNotFoundError:
            lingua_version = "(version unknown)"
        detector = self.detector
        return f"lingua {lingua_version} ({detector.accuracy} accuracy, {len(detector.languages)} languages)"
