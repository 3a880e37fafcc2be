from __future__ import annotations

from typing import Any

from himoe_core import Context, ExpertOut, InputData

from ...digit_io import TASK_PREFIXES, check_cancelled, digit_answer, digit_features, is_digit_task
from ...loading.lazy_value import LazyValue


class DigitClassifierExpert:
    """What the digit experts share: the tasks and inputs they take, a model trained on first use
    (or at `warm_up`), and an answer with the model's probability of each digit. A subclass sets
    `name`, `description` and `cost_units`, and trains its model in `_train`."""

    name: str
    description: str
    cost_units: float
    domain = "vision"
    # Its task prefixes, and any feature vector or image (sent without a hint, its task is "");
    # can_handle has the last word.
    handles = TASK_PREFIXES
    input_kinds = ("features", "bytes")

    def __init__(self) -> None:
        self._model: LazyValue[Any] = LazyValue(self._train)

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

    def _train(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must train its model in _train")
