"""Training-set augmentation for 8×8 digit images."""

from __future__ import annotations

import numpy as np

SHIFTS = ((1, 0), (-1, 0), (0, 1), (0, -1))
"""One-pixel translations (down, up, right, left) added as extra training examples."""


def with_shifted_copies(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows, followed by one copy of all of them per shift in `SHIFTS` (pixels shifted out are
    dropped, pixels shifted in are 0).

    Returns `(features, labels)` with `(1 + len(SHIFTS)) * n` rows; row `k * n + i` is a copy of
    row `i`, so `np.tile(np.arange(n), 1 + len(SHIFTS))` groups each original with its copies.
    """
    images = np.asarray(features, dtype=np.float64).reshape(-1, 8, 8)
    copies = [images]
    for dy, dx in SHIFTS:
        shifted = np.zeros_like(images)
        shifted[:, max(0, dy) : 8 + min(0, dy), max(0, dx) : 8 + min(0, dx)] = images[
            :, max(0, -dy) : 8 + min(0, -dy), max(0, -dx) : 8 + min(0, -dx)
        ]
        copies.append(shifted)
    return np.concatenate(copies).reshape(-1, 64), np.tile(np.asarray(labels), len(copies))
