from __future__ import annotations

from ...base_models.digits.svc_digit_classifier import SvcDigitClassifier
from .digit_classifier_expert import DigitClassifierExpert


class DigitsSvcExpert(DigitClassifierExpert):
    """Classifies 8×8 handwritten digits with a calibrated RBF SVC: more accurate, costlier.

    Trained on first use (about 2–3 s on 2 cores) on rows 0..999 of `sklearn.datasets.load_digits` plus
    one-pixel shifted copies; probabilities by sigmoid calibration on grouped out-of-fold scores.
    """

    name = "vision_digits_svc"
    description = "8x8 handwritten digit classifier: calibrated RBF SVC, more accurate, slower to train"
    cost_units = 0.15

    def __init__(self, *, C: float = 5.0, gamma: float = 0.3) -> None:
        self.C = C
        self.gamma = gamma
        super().__init__()

    def _train(self) -> SvcDigitClassifier:
        from ...data.digits_split import training_split

        features, labels = training_split()
        return SvcDigitClassifier.train(features, labels, C=self.C, gamma=self.gamma)
