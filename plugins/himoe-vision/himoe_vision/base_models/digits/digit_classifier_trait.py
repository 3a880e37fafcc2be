from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class DigitClassifier(Protocol):
    """An internal 8×8 digit model (never registered as an expert)."""

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities (n, 10), rows summing to 1, for features (n, 64) in 0..16."""
        ...
