from __future__ import annotations

from himoe_core import Context, ExpertOut, InputData

from ...base_models.digits.svc_digit_classifier import SvcDigitClassifier
from ...digit_io import TASK_PREFIXES, check_cancelled, digit_answer, digit_features, is_digit_task
from ...loading.lazy_value import LazyValue


class DigitsSvcExpert:
    """Classifies 8×8 handwritten digits with a calibrated RBF SVC: more accurate, costlier.

    Trained on first use (about 2–3 s on 2 cores) on rows 0..999 of `sklearn.datasets.load_digits` plus
    one-pixel shifted copies; probabilities by sigmoid calibration on grouped out-of-fold scores.
    """

    name = "vision_digits_svc"
    domain = "vision"
    # Its task prefixes, and any feature vector or image (sent without a hint, its task is "");
    # can_handle has the last word.
    handles = TASK_PREFIXES
    input_kinds = ("features", "bytes")
    description = "8x8 handwritten digit classifier: calibrated RBF SVC, more accurate, slower to train"
    cost_units = 0.15

    def __init__(self, *, C: float = 5.0, gamma: float = 0.3) -> None:
        self.C = C
        self.gamma = gamma
        self._model: LazyValue[SvcDigitClassifier] = LazyValue(self._train)

    def can_handle(self, task: str) -> bool:
        """Tasks "vision:…", "digit:…", "digits:…", and "" (a feature vector or image without hint)."""
        return is_digit_task(task)

    def infer(self, x: InputData, ctx: Context) -> ExpertOut:
        features = digit_features(x)
        model = self._model.get(ctx.cancel)
        check_cancelled(ctx)
        return digit_answer(model.predict_proba(features[None, :])[0], self.name, self.cost_units)

    def warm_up(self) -> None:
        """Train now rather than on the first request."""
        self._model.get()

    def _train(self) -> SvcDigitClassifier:
        from ...data.digits_split import training_split

        features, labels = training_split()
        return SvcDigitClassifier.train(features, labels, C=self.C, gamma=self.gamma)
