from __future__ import annotations

from himoe_core import InputData, InvalidInput, Value

from ...base_models.digits.linear_digit_classifier import LinearDigitClassifier
from ...digit_io import digit_features, expected_label
from .digit_classifier_expert import DigitClassifierExpert


class DigitsLinearExpert(DigitClassifierExpert):
    """Classifies 8×8 handwritten digits with a fast linear model that learns from corrections.

    Multinomial logistic regression on standardised pixels, trained on first use on rows
    0..999 of `sklearn.datasets.load_digits` (about 0.05 s, plus importing scikit-learn).
    `learn(..., expected=...)` applies one online gradient step towards the corrected label;
    `state_dict()` / `load_state_dict()` save and restore the (learned) weights as plain numbers.
    """

    name = "vision_digits_linear"
    description = "8x8 handwritten digit classifier: logistic regression, fast, learns online from corrections"
    cost_units = 0.03

    def __init__(self, *, C: float = 0.3, learning_rate: float = 0.1) -> None:
        self.C = C
        self.learning_rate = learning_rate
        super().__init__()

    def learn(self, x: InputData, value: Value, reward: float, *, expected: Value | None = None) -> None:
        """With `expected` (Json {"label": d} or Text "d"): one online update towards that label for
        this input. Without it, nothing changes: a reward alone says how good the answer was, not
        which digit was right, and nudging weights on it would drift the model."""
        if expected is None:
            return
        label = expected_label(expected)
        features = digit_features(x)
        self._model.get().learn_one(features, label)

    def state_dict(self) -> dict[str, list | float]:
        """The model's weights (trained first if needed) as plain floats and lists — no pickle."""
        return self._model.get().state_dict()

    def load_state_dict(self, state: dict) -> None:
        """Replace the model with one saved by `state_dict()`; no training happens afterwards."""
        try:
            model = LinearDigitClassifier.from_state_dict(state)
        except InvalidInput as exc:
            raise InvalidInput(f"{self.name}.load_state_dict: {exc}") from None
        self._model.set(model)

    def _train(self) -> LinearDigitClassifier:
        from ...data.digits_split import training_split

        features, labels = training_split()
        return LinearDigitClassifier.train(features, labels, C=self.C, learning_rate=self.learning_rate)
