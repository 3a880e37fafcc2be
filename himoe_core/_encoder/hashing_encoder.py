from __future__ import annotations

import binascii
import math
import re
import zlib
from collections.abc import Iterator
from itertools import chain, repeat
from typing import Any

import attrs
import numpy as np

from .._errors import ConfigError, EncodeError
from .._input import InputData
from .context_features import context_features, hashed
from .encoded import Encoded

_WORD = re.compile(r"\w+", re.UNICODE)
_ASCII_WORD = re.compile(rb"\w+")  # on ASCII text, \w means what the str pattern means
_GRAM_CRC = [zlib.crc32(f"w{n}:".encode()) for n in range(9)]  # the CRC of each n-gram's token prefix
_SIGN = np.array([-1.0, 1.0])  # by bit 31 of a token's CRC-32
_NO_INDICES = np.zeros(0, dtype=np.int64)


def _dim(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= 1 << 20:
        raise ConfigError(f"hashing encoder dim must be an integer in [2, 1048576], got {value!r}")


def _ngram_range(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if (
        not isinstance(value, tuple)
        or len(value) != 2
        or not all(isinstance(n, int) for n in value)
        or not 1 <= value[0] <= value[1] <= 8
    ):
        raise ConfigError(
            f"hashing encoder {attribute.name} must be (low, high) with 1 <= low <= high <= 8, got {value!r}"
        )


def _as_range(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _flag(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"hashing encoder {attribute.name} must be true or false, got {value!r}")


def _length(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"hashing encoder length must be true or false, got {value!r}")
    if value and instance.dim < 3:
        raise ConfigError(
            f"hashing encoder length needs dim >= 3 (the last coordinate holds the length), got dim {instance.dim}"
        )


@attrs.frozen
class HashingEncoder:
    """Text → a fixed-size vector by signed feature hashing of word (and optionally character)
    n-grams: dependency-free, stateless, identical on every machine and run (CRC-32 hashing,
    not Python's salted `hash`). Counts are log-scaled and the hashed part L2-normalised.

    With `length`, the last coordinate is log(1 + number of words) instead of a hash bucket:
    how long a request is often says how hard it is, and a bag of hashed n-grams hides it
    (the normalisation removes it). It is a dense feature, so the encoder declares `dense = 1`
    and a `logistic` router fits it jointly with its bias.

    The request's metadata gets features of its own namespaces, VW-style, added after the text
    is normalised: `task=<hint>` for the task hint (unless `task = false`), `ctx:<key>=<value>`
    (1.0) for each category of the context and `ctx:<key>` (the number) for each number. So
    `task=mmlu/anatomy` and the word "anatomy" are different features, and one category weighs
    as much as the whole text."""

    dim: int = attrs.field(default=256, validator=_dim)
    word_ngrams: tuple[int, int] | None = attrs.field(default=(1, 2), converter=_as_range, validator=_ngram_range)
    char_ngrams: tuple[int, int] | None = attrs.field(default=None, converter=_as_range, validator=_ngram_range)
    lowercase: bool = True
    length: bool = attrs.field(default=False, validator=_length)
    task: bool = attrs.field(default=True, validator=_flag)
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
            raise ConfigError(
                f"hashing encoder: {exc}; options are dim, word_ngrams, char_ngrams, lowercase, length, task"
            ) from None

    def encode(self, x: InputData) -> Encoded:
        """The text's hashed n-gram vector, with its sparse view; EncodeError for other inputs."""
        text = x.as_text()
        if text is None:
            raise EncodeError(
                f"the hashing encoder needs text, got a {x.kind.value} input; "
                "use the 'features' encoder for feature vectors"
            )
        vector, indices, values = self._hash(text)
        meta = context_features(x, self.task)
        if meta:
            buckets, signed = hashed(meta, self.dim - self.dense)
            np.add.at(vector, buckets, signed.astype(np.float32))
            indices = np.union1d(indices, buckets)
            indices = indices[vector[indices] != 0]  # a feature may cancel a text bucket
            values = vector[indices]
        return Encoded._of_sparse(vector, indices, values)

    def vectorize(self, text: str) -> np.ndarray:
        """The hashed, log-scaled, L2-normalised n-gram vector of `text` (and its length)."""
        return self._hash(text)[0]

    def _hash(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The vector, the positions of its non-zeros (increasing) and their values.

        Each token's CRC-32 gives its bucket (the CRC modulo the number of buckets) and its sign
        (bit 31). A word n-gram's token is `w<n>:` and its words joined by spaces, in UTF-8;
        its CRC is computed on the words' bytes from the prefix's CRC (the CRC's running
        value), through `map`, so no token string is built and no Python-level loop body runs
        per token; tokens are summed per bucket by `np.bincount`. The float operations on the
        dense vector are those of the per-token loop this replaced, in the same order, so the
        vector is the same to the bit (saved weights stay valid).
        """
        if self.lowercase:
            text = text.lower()
        words: list[bytes] = []
        if self.word_ngrams is not None or self.length:
            if text.isascii():
                words = _ASCII_WORD.findall(text.encode())
            else:
                words = list(map(str.encode, _WORD.findall(text)))
        crcs, count = self._token_crcs(text, words)
        vector = np.zeros(self.dim, dtype=np.float32)
        indices = _NO_INDICES
        if count:
            hashes = np.fromiter(chain.from_iterable(crcs), dtype=np.int64, count=count)
            counts = np.bincount(hashes % (self.dim - self.dense), _SIGN[hashes >> 31], self.dim - self.dense)
            indices = (counts != 0).nonzero()[0]  # +1 and -1 in one bucket cancel (a bool scan is the fast one)
            if len(indices):
                counts = counts[indices]
                # sign(count)·log1p(|count|): the sign of a non-zero count multiplies exactly
                vector[indices] = np.copysign(np.log1p(np.abs(counts)), counts)
                vector /= np.sqrt(vector.dot(vector))  # what np.linalg.norm computes, without its checks
        if self.length and words:
            vector[-1] = math.log1p(len(words))
            indices = np.concatenate((indices, (self.dim - 1,)))
        return vector, indices, vector[indices]

    def _token_crcs(self, text: str, words: list[bytes]) -> tuple[list[Iterator[int]], int]:
        """The tokens' CRC-32s, as iterators, and how many there are."""
        crcs: list[Iterator[int]] = []
        count = 0
        if self.word_ngrams is not None:
            low, high = self.word_ngrams
            for n in range(low, high + 1):
                if n == 1:
                    grams: Any = words
                elif n == 2:
                    grams = map(b" ".join, zip(words, words[1:]))
                else:
                    grams = map(b" ".join, zip(*(words[i:] for i in range(n))))
                # binascii.crc32 is zlib's CRC-32 (the same value), with cheaper argument parsing
                crcs.append(map(binascii.crc32, grams, repeat(_GRAM_CRC[n])))
                count += max(len(words) - n + 1, 0)
        if self.char_ngrams is not None:
            low, high = self.char_ngrams
            padded = f" {' '.join(text.split())} "
            for n in range(low, high + 1):
                tokens = ["c:" + padded[i : i + n] for i in range(len(padded) - n + 1)]
                crcs.append(map(zlib.crc32, map(str.encode, tokens)))
                count += len(tokens)
        return crcs, count
