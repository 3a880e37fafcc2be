"""The fixed split of scikit-learn's bundled 8×8 digits that the experts train on.

`sklearn.datasets.load_digits()` ships inside scikit-learn (1,797 rows, no download). The experts
train on its first `TRAIN_ROWS` rows; the remaining rows are held out and only ever used to
measure accuracy (tests, benchmarks). The split is by position, not shuffled, so it is identical
on every machine; the held-out rows come mostly from other writers than the training rows, which
makes them a fair test.
"""

from __future__ import annotations

import threading

import numpy as np

TRAIN_ROWS = 1000
"""How many leading rows of `load_digits()` are used for training."""

N_FEATURES = 64
N_CLASSES = 10
MAX_PIXEL = 16.0
"""The digits' pixel scale: each 8×8 cell counts the 'on' pixels of a 4×4 block, 0..16."""

_lock = threading.Lock()
_cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def all_digits() -> tuple[np.ndarray, np.ndarray]:
    """All of `load_digits()`: features (n, 64) float64 in 0..16 and labels (n,) int64, read-only."""
    cached = _cache.get("all")
    if cached is not None:
        return cached
    with _lock:
        cached = _cache.get("all")
        if cached is None:
            from sklearn.datasets import load_digits  # heavy: only on first use

            bunch = load_digits()
            features = np.asarray(bunch.data, dtype=np.float64)
            labels = np.asarray(bunch.target, dtype=np.int64)
            features.setflags(write=False)
            labels.setflags(write=False)
            cached = _cache["all"] = (features, labels)
    return cached


def training_split() -> tuple[np.ndarray, np.ndarray]:
    """Rows `[0, TRAIN_ROWS)`: what every expert of this plugin is trained on."""
    features, labels = all_digits()
    return features[:TRAIN_ROWS], labels[:TRAIN_ROWS]


def held_out_split() -> tuple[np.ndarray, np.ndarray]:
    """Rows `[TRAIN_ROWS, end)`: never trained on; used to measure accuracy."""
    features, labels = all_digits()
    return features[TRAIN_ROWS:], labels[TRAIN_ROWS:]
