from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from himoe_core import InvalidInput

N_FEATURES = 64
N_CLASSES = 10
STATE_FORMAT = 1.0


class LinearDigitClassifier:
    """Multinomial logistic regression on standardised 8×8 digit pixels, updatable online.

    The weights are plain numpy arrays: `predict_proba` and `learn_one` need no scikit-learn
    (only `train` uses it), and `state_dict()` gives plain floats and lists — no pickle.
    Thread-safe: updates build new arrays under a lock and swap them in, so a concurrent
    prediction always sees one consistent set of weights.
    """

    def __init__(
        self, mean: Any, scale: Any, coef: Any, intercept: Any, *, learning_rate: float = 0.1, updates: int = 0
    ) -> None:
        self._mean = _array(mean, (N_FEATURES,), "mean")
        self._scale = _array(scale, (N_FEATURES,), "scale")
        if (self._scale <= 0).any():
            raise InvalidInput("linear digit model: every 'scale' value must be > 0")
        coef = _array(coef, (N_CLASSES, N_FEATURES), "coef")
        intercept = _array(intercept, (N_CLASSES,), "intercept")
        if (
            isinstance(learning_rate, bool)
            or not isinstance(learning_rate, (int, float))
            or not math.isfinite(learning_rate)
            or learning_rate <= 0
        ):
            raise InvalidInput(f"linear digit model: learning_rate must be a number > 0, got {learning_rate!r}")
        self.learning_rate = float(learning_rate)
        self._lock = threading.Lock()
        self._weights = (coef, intercept)
        self._updates = int(updates)

    @classmethod
    def train(
        cls, features: np.ndarray, labels: np.ndarray, *, C: float = 0.3, learning_rate: float = 0.1
    ) -> LinearDigitClassifier:
        """Fit on (n, 64) features in 0..16: StandardScaler then LogisticRegression (newton-cg,
        multinomial, L2 with inverse strength `C`). Deterministic: no randomness is involved."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(features)
        model = LogisticRegression(C=C, solver="newton-cg", max_iter=1000)
        model.fit(scaler.transform(features), labels)
        if list(model.classes_) != list(range(N_CLASSES)):
            raise ValueError(f"training labels must cover the digits 0..9, got {list(model.classes_)}")
        return cls(scaler.mean_, scaler.scale_, model.coef_, model.intercept_, learning_rate=learning_rate)

    @property
    def updates(self) -> int:
        """How many online updates were applied since training."""
        return self._updates

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        coef, intercept = self._weights
        return _softmax(self._standardise(features) @ coef.T + intercept)

    def learn_one(self, features: np.ndarray, label: int) -> None:
        """One stochastic-gradient step of the cross-entropy loss towards `label` for one example.

        The step is divided by (1 + ‖x‖²/64) of the standardised input so that an unusual example
        cannot move the weights arbitrarily far; teaching the same correction a few times flips
        the prediction while leaving the rest of the model largely intact.
        """
        if not 0 <= label < N_CLASSES:
            raise InvalidInput(f"a digit label must be 0..9, got {label}")
        x = self._standardise(np.asarray(features, dtype=np.float64).reshape(1, N_FEATURES))[0]
        step = self.learning_rate / (1.0 + float(x @ x) / N_FEATURES)
        with self._lock:
            coef, intercept = self._weights
            gradient = _softmax((coef @ x + intercept)[None, :])[0]
            gradient[label] -= 1.0
            new_coef = coef - step * np.outer(gradient, x)
            new_intercept = intercept - step * gradient
            new_coef.setflags(write=False)
            new_intercept.setflags(write=False)
            self._weights = (new_coef, new_intercept)
            self._updates += 1

    def state_dict(self) -> dict[str, list | float]:
        """The learned state as plain floats and (nested) lists of floats — JSON-ready."""
        with self._lock:
            coef, intercept = self._weights
            updates = self._updates
        return {
            "format": STATE_FORMAT,
            "mean": self._mean.tolist(),
            "scale": self._scale.tolist(),
            "coef": coef.tolist(),
            "intercept": intercept.tolist(),
            "learning_rate": self.learning_rate,
            "updates": float(updates),
        }

    @classmethod
    def from_state_dict(cls, state: dict) -> LinearDigitClassifier:
        """The model saved by `state_dict()`; InvalidInput if a field is missing or malformed."""
        if not isinstance(state, dict):
            raise InvalidInput(f"a linear digit model state must be a dict, got {type(state).__name__}")
        missing = sorted({"format", "mean", "scale", "coef", "intercept"} - state.keys())
        if missing:
            raise InvalidInput(f"linear digit model state lacks {missing}; pass what state_dict() returned")
        if state["format"] != STATE_FORMAT:
            raise InvalidInput(f"linear digit model state has format {state['format']!r}, expected {STATE_FORMAT}")
        updates = state.get("updates", 0.0)
        if (
            isinstance(updates, bool)
            or not isinstance(updates, (int, float))
            or not math.isfinite(updates)
            or updates < 0
        ):
            raise InvalidInput(f"linear digit model state: 'updates' must be a count >= 0, got {updates!r}")
        return cls(
            state["mean"],
            state["scale"],
            state["coef"],
            state["intercept"],
            learning_rate=state.get("learning_rate", 0.1),
            updates=int(updates),
        )

    def _standardise(self, features: np.ndarray) -> np.ndarray:
        return (np.asarray(features, dtype=np.float64) - self._mean) / self._scale


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _array(values: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"linear digit model: '{what}' must be numbers of shape {shape}: {exc}") from None
    if array.shape != shape:
        raise InvalidInput(f"linear digit model: '{what}' must have shape {shape}, got {array.shape}")
    if not np.isfinite(array).all():
        raise InvalidInput(f"linear digit model: '{what}' holds NaN or infinite values")
    array.setflags(write=False)
    return array
