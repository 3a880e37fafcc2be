"""The request's task hint and context as namespaced features, VW-style: `task=mmlu/anatomy` and
`ctx:subject=anatomy` are features of their own, never the word "anatomy" of the text."""

from __future__ import annotations

import zlib

import numpy as np

from .._input import InputData


def context_features(x: InputData, task: bool = True) -> list[tuple[str, float]]:
    """(feature name, value) for the request's metadata: `task=<hint>` (when `task`), and per
    context field `ctx:<key>=<category>` (value 1) or `ctx:<key>` (value: the number)."""
    features: list[tuple[str, float]] = []
    if task and x.task is not None:
        features.append((f"task={x.task}", 1.0))
    for key, value in x.context:
        if isinstance(value, str):
            features.append((f"ctx:{key}={value}", 1.0))
        else:
            features.append((f"ctx:{key}", value))
    return features


def hashed(features: list[tuple[str, float]], buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """Each feature's bucket (CRC-32 modulo `buckets`, as the hashing encoder does for n-grams:
    the same in every process) and its signed value (the sign from bit 31 of the CRC)."""
    hashes = np.fromiter(
        (zlib.crc32(name.encode("utf-8")) for name, _ in features), dtype=np.int64, count=len(features)
    )
    values = np.fromiter((value for _, value in features), dtype=np.float64, count=len(features))
    return hashes % buckets, np.where(hashes >> 31, 1.0, -1.0) * values
