"""A benchmark expert that wraps a fitted scikit-learn classifier."""

from __future__ import annotations

from typing import Any

import numpy as np

from himoe_core import ExpertAux, ExpertOut, Value


class ClassifierExpert:
    """Answers a feature-vector input with the class a fitted scikit-learn classifier predicts,
    as ``Value.json({"label": int})``, declaring its per-call cost and reporting as confidence
    the classifier's probability of that class (`predict_proba`; 1.0 without it).

    Predictions are memoised by input bytes (the same vector always gets the same answer), so a
    benchmark that streams the same rows over many seeds calls ``predict`` once per distinct row;
    ``prime(rows)`` predicts a batch up front. Routing and feedback still go through himoe."""

    domain = "benchmark"

    def __init__(self, name: str, model: Any, cost_units: float) -> None:
        self.name = name
        self.model = model
        self.cost_units = float(cost_units)
        self.description = f"{type(model).__name__} on 8x8 digits, cost {cost_units:g}"
        self._memo: dict[bytes, ExpertOut] = {}
        self.calls = 0

    def can_handle(self, task: str) -> bool:
        return True

    def _answer(self, label: int, confidence: float = 1.0) -> ExpertOut:
        return ExpertOut(
            Value.json({"label": int(label)}),
            ExpertAux(cost_units=self.cost_units, confidence=min(max(float(confidence), 0.0), 1.0)),
        )

    def _predict(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        labels = self.model.predict(rows)
        if not hasattr(self.model, "predict_proba"):
            return labels, np.ones(len(labels))
        probs = self.model.predict_proba(rows)
        columns = np.searchsorted(self.model.classes_, labels)
        return labels, probs[np.arange(len(labels)), columns]

    def prime(self, rows: np.ndarray) -> np.ndarray:
        """Predict a batch (float32 rows, as the router sees them) and memoise the answers."""
        rows = np.asarray(rows, dtype=np.float32)
        labels, confidences = self._predict(rows)
        for row, label, confidence in zip(rows, labels, confidences):
            self._memo[row.tobytes()] = self._answer(label, confidence)
        return labels

    async def infer(self, x, ctx) -> ExpertOut:
        self.calls += 1
        vector = x.as_features()
        key = vector.tobytes()
        out = self._memo.get(key)
        if out is None:
            labels, confidences = self._predict(vector.reshape(1, -1))
            out = self._memo[key] = self._answer(labels[0], confidences[0])
        return out
