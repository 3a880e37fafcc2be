from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

from himoe_core import ConfigError

if TYPE_CHECKING:
    from lingua import LanguageDetector

# 28 widely used languages (ISO 639-1), chosen for speaker numbers and web presence. Restricting
# lingua to a set keeps memory and the first call bounded; a text in a language outside the set
# is reported as the closest language inside it (e.g. Norwegian as Danish), with low confidence.
DEFAULT_LANGUAGES = (
    "ar",
    "ca",
    "cs",
    "da",
    "de",
    "el",
    "en",
    "es",
    "fa",
    "fi",
    "fr",
    "he",
    "hi",
    "hu",
    "id",
    "it",
    "ja",
    "ko",
    "nl",
    "pl",
    "pt",
    "ro",
    "ru",
    "sv",
    "tr",
    "uk",
    "vi",
    "zh",
)
ACCURACY_MODES = ("high", "low")
_CODE = re.compile(r"[a-z]{2}")


class LinguaDetector:
    """lingua's language detector over a fixed set of languages, built lazily once.

    ``accuracy="high"`` (lingua's default) scores 1- to 5-grams and is markedly better on short
    texts; ``"low"`` scores trigrams only, loads ~10x less model data and suits long texts.
    lingua loads each language's models the first time it is needed; the detector itself is
    thread-safe, so only building it takes a lock.
    """

    def __init__(self, languages: tuple[str, ...] = DEFAULT_LANGUAGES, accuracy: str = "high") -> None:
        self.languages = _validate_languages(languages)
        if accuracy not in ACCURACY_MODES:
            raise ConfigError(f"lingua accuracy must be one of {list(ACCURACY_MODES)}, got {accuracy!r}")
        self.accuracy = accuracy
        self._detector: LanguageDetector | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LinguaDetector({len(self.languages)} languages, accuracy={self.accuracy!r}, built={self.built})"

    @property
    def built(self) -> bool:
        return self._detector is not None

    def load(self) -> LanguageDetector:
        """The lingua detector, built on the first call (once, whatever the threads)."""
        detector = self._detector
        if detector is None:
            with self._lock:
                detector = self._detector
                if detector is None:
                    detector = self._detector = _build(self.languages, self.accuracy)
        return detector

    def detect(self, text: str, top: int = 3) -> list[dict[str, Any]]:
        """The `top` most likely languages, best first, as dicts with ``language`` (ISO 639-1),
        ``name``, ``iso639_3`` and ``confidence`` (lingua's, in [0, 1]; they sum to 1 over the
        whole set). Languages with zero confidence are left out, so a text with no letters in
        it gives an empty list."""
        values = self.load().compute_language_confidence_values(text)
        return [
            {
                "language": value.language.iso_code_639_1.name.lower(),
                "name": value.language.name.title(),
                "iso639_3": value.language.iso_code_639_3.name.lower(),
                "confidence": min(1.0, max(0.0, float(value.value))),
            }
            for value in values[:top]
            if value.value > 0.0
        ]


def _validate_languages(languages: Any) -> tuple[str, ...]:
    """Lower-cased, de-duplicated ISO 639-1 codes; at least two (detection needs a choice)."""
    if isinstance(languages, str) or not isinstance(languages, (list, tuple)):
        raise ConfigError(f"lingua languages must be a list of ISO 639-1 codes like ['fr', 'en'], got {languages!r}")
    codes: list[str] = []
    for code in languages:
        if not isinstance(code, str) or not _CODE.fullmatch(code.strip().lower()):
            raise ConfigError(f"lingua languages must be two-letter ISO 639-1 codes like 'fr', got {code!r}")
        code = code.strip().lower()
        if code not in codes:
            codes.append(code)
    if len(codes) < 2:
        raise ConfigError(f"lingua needs at least two languages to choose from, got {codes!r}")
    return tuple(codes)


def _build(codes: tuple[str, ...], accuracy: str) -> LanguageDetector:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    languages = []
    for code in codes:
        iso = getattr(IsoCode639_1, code.upper(), None)
        if not isinstance(iso, IsoCode639_1):
            supported = sorted(language.iso_code_639_1.name.lower() for language in Language.all())
            raise ConfigError(
                f"lingua does not support the language {code!r}; supported ISO 639-1 codes: " + ", ".join(supported)
            )
        languages.append(Language.from_iso_code_639_1(iso))
    builder = LanguageDetectorBuilder.from_languages(*languages)
    if accuracy == "low":
        builder = builder.with_low_accuracy_mode()
    return builder.build()
