from __future__ import annotations

import math
import re
import zlib
from typing import Any

import attrs
import numpy as np

from ..errors import ConfigError, EncodeError
from ..input import InputData
from .encoded import Encoded

_WORD = re.compile(r"\w+", re.UNICODE)


def _dim(instance, attribute, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= 1 << 20:
        raise ConfigError(f"hashing encoder dim must be an integer in [2, 1048576], got {value!r}")


def _ngram_range(instance, attribute, value) -> None:
    if value is None:
        return
    if (not isinstance(value, tuple) or len(value) != 2 or not all(isinstance(n, int) for n in value)
            or not 1 <= value[0] <= value[1] <= 8):
        raise ConfigError(f"hashing encoder {attribute.name} must be (low, high) with 1 <= low <= high <= 8, got {value!r}")


def _as_range(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _length(instance, attribute, value) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"hashing encoder length must be true or false, got {value!r}")
    if value and instance.dim < 3:
        raise ConfigError(f"hashing encoder length needs dim >= 3 (the last coordinate holds the length), got dim {instance.dim}")


@attrs.frozen
class HashingEncoder:
    """Text → a fixed-size vector by signed feature hashing of word (and optionally character)
    n-grams: dependency-free, stateless, identical on every machine and run (CRC-32 hashing,
    not Python's salted `hash`). Counts are log-scaled and the hashed part L2-normalised.

    With `length`, the last coordinate is log(1 + number of words) instead of a hash bucket:
    how long a request is often says how hard it is, and a bag of hashed n-grams hides it
    (the normalisation removes it). It is a dense feature, so the encoder declares `dense = 1`
    and a `logistic` router fits it jointly with its bias."""

    dim: int = attrs.field(default=256, validator=_dim)
    word_ngrams: tuple[int, int] | None = attrs.field(default=(1, 2), converter=_as_range, validator=_ngram_range)
    char_ngrams: tuple[int, int] | None = attrs.field(default=None, converter=_as_range, validator=_ngram_range)
    lowercase: bool = True
    length: bool = attrs.field(default=False, validator=_length)
    id: str = "hashing"

    @property
    def dense(self) -> int:
        """How many trailing coordinates are dense features rather than hash buckets."""
        return 1 if self.length else 0

    def configure(self, **options: Any) -> HashingEncoder:
        """A copy with other options (a router's `encoder = {id = "hashing", dim = 256}`)."""
        try:
            return attrs.evolve(self, **options)
        except TypeError as exc:
            raise ConfigError(f"hashing encoder: {exc}; options are dim, word_ngrams, char_ngrams, lowercase, length") from None

    def encode(self, x: InputData) -> Encoded:
        """The text's hashed n-gram vector; EncodeError for other inputs."""
        text = x.as_text()
        if text is None:
            raise EncodeError(f"the hashing encoder needs text, got a {x.kind.value} input; "
                              "use the 'features' encoder for feature vectors")
        return Encoded(self.vectorize(text))

    def vectorize(self, text: str) -> np.ndarray:
        """The hashed, log-scaled, L2-normalised n-gram vector of `text` (and its length)."""
        if self.lowercase:
            text = text.lower()
        words = _WORD.findall(text) if self.word_ngrams is not None or self.length else []
        buckets = self.dim - self.dense
        counts: dict[int, float] = {}
        for token in self._tokens(text, words):
            h = zlib.crc32(token.encode("utf-8"))
            index = h % buckets
            counts[index] = counts.get(index, 0.0) + (1.0 if (h >> 31) & 1 else -1.0)
        vector = np.zeros(self.dim, dtype=np.float32)
        if counts:
            indices = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            values = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            vector[indices] = np.sign(values) * np.log1p(np.abs(values))
            norm = float(np.linalg.norm(vector))
            if norm > 0:
                vector /= norm
        if self.length:
            vector[-1] = math.log1p(len(words))
        return vector

    def _tokens(self, text: str, words: list[str]):
        if self.word_ngrams is not None:
            low, high = self.word_ngrams
            for n in range(low, high + 1):
                for i in range(len(words) - n + 1):
                    yield "w" + str(n) + ":" + " ".join(words[i:i + n])
        if self.char_ngrams is not None:
            low, high = self.char_ngrams
            padded = f" {' '.join(text.split())} "
            for n in range(low, high + 1):
                for i in range(len(padded) - n + 1):
                    yield "c:" + padded[i:i + n]
