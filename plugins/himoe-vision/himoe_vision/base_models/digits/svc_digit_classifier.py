from __future__ import annotations

from typing import Any

import numpy as np

from ...data.augmentation import SHIFTS, with_shifted_copies
from ...data.digits_split import MAX_PIXEL, N_CLASSES


class SvcDigitClassifier:
    """An RBF support-vector classifier on 8×8 digit pixels, with calibrated probabilities.

    Trained on the pixels scaled to 0..1 plus one-pixel shifted copies of every training image
    (4× more examples: it makes the SVC tolerant of small misplacements). Probabilities come from
    sigmoid calibration of the SVC's decision values on out-of-fold predictions
    (`CalibratedClassifierCV(SVC(), ensemble=False)`, scikit-learn's replacement for the
    deprecated `SVC(probability=True)`), with folds grouped so that an image and its shifted copies
    never sit on both sides of a split. Fully deterministic.
    """

    def __init__(self, estimator: Any) -> None:
        classes = [int(c) for c in estimator.classes_]
        if classes != list(range(N_CLASSES)):
            raise ValueError(f"the SVC must be trained on the digits 0..9, got classes {classes}")
        self._estimator = estimator

    @classmethod
    def train(
        cls, features: np.ndarray, labels: np.ndarray, *, C: float = 5.0, gamma: float = 0.3, folds: int = 5
    ) -> SvcDigitClassifier:
        """Fit on (n, 64) features in 0..16. `C` and `gamma` (on the 0..1 pixel scale) were chosen by
        5-fold cross-validation on the training rows only."""
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.model_selection import GroupKFold
        from sklearn.svm import SVC

        augmented, augmented_labels = with_shifted_copies(features, labels)
        groups = np.tile(np.arange(len(features)), 1 + len(SHIFTS))
        splits = list(GroupKFold(n_splits=folds).split(augmented, augmented_labels, groups))
        estimator = CalibratedClassifierCV(
            SVC(C=C, gamma=gamma, kernel="rbf"), method="sigmoid", cv=splits, ensemble=False
        )
        estimator.fit(augmented / MAX_PIXEL, augmented_labels)
        return cls(estimator)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        probabilities = self._estimator.predict_proba(np.asarray(features, dtype=np.float64) / MAX_PIXEL)
        return probabilities / probabilities.sum(axis=1, keepdims=True)
