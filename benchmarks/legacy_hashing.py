"""The hashing encoder's vectorize as it was before it was rewritten for speed: a Python loop over
tokens. Frozen here as the baseline of `bench_encoder.py` and the oracle of
tests/test_learning_encoders.py (the fast version must give the same vector to the bit: saved
router weights are indexed by these buckets). Do not optimise it."""

from __future__ import annotations

import math
import re
import zlib

import numpy as np


def legacy_vectorize(text: str, dim: int, word_ngrams, char_ngrams, lowercase: bool, length: bool) -> np.ndarray:
    """The vector of `text` under HashingEncoder(dim, word_ngrams, char_ngrams, lowercase, length)."""
    if lowercase:
        text = text.lower()
    words = re.findall(r"\w+", text) if word_ngrams is not None or length else []
    tokens = []
    if word_ngrams is not None:
        for n in range(word_ngrams[0], word_ngrams[1] + 1):
            for i in range(len(words) - n + 1):
                tokens.append("w" + str(n) + ":" + " ".join(words[i : i + n]))
    if char_ngrams is not None:
        padded = f" {' '.join(text.split())} "
        for n in range(char_ngrams[0], char_ngrams[1] + 1):
            for i in range(len(padded) - n + 1):
                tokens.append("c:" + padded[i : i + n])
    buckets = dim - (1 if length else 0)
    counts: dict[int, float] = {}
    for token in tokens:
        h = zlib.crc32(token.encode("utf-8"))
        counts[h % buckets] = counts.get(h % buckets, 0.0) + (1.0 if (h >> 31) & 1 else -1.0)
    vector = np.zeros(dim, dtype=np.float32)
    if counts:
        indices = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        values = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        vector[indices] = np.sign(values) * np.log1p(np.abs(values))
        norm = float(np.linalg.norm(vector))
        if norm > 0:
            vector /= norm
    if length:
        vector[-1] = math.log1p(len(words))
    return vector
