"""What the digit experts share: task matching, input → features, output and feedback parsing."""

from __future__ import annotations

import numpy as np

from himoe_core import Cancelled, Context, ExpertAux, ExpertOut, InputData, InvalidInput, Value

from .data.digits_split import MAX_PIXEL, N_CLASSES, N_FEATURES
from .imaging.digit_features import image_to_digit_features
from .imaging.image_decoding import decode_image

TASK_PREFIXES = ("vision:", "digit:", "digits:")
"""Task hints the digit experts accept ("vision:digit", "digit:classify", …), besides ""."""


def is_digit_task(task: str) -> bool:
    """True for a task starting with one of `TASK_PREFIXES` (any case), and for "" — what
    `can_handle` receives for a feature vector or image bytes sent without a task hint."""
    task = task.strip().lower()
    return task == "" or task.startswith(TASK_PREFIXES)


def digit_features(x: InputData) -> np.ndarray:
    """The 64 features (float64, 0..16) of a request: its feature vector, checked, or its image
    bytes (PNG or PGM) turned into features. InvalidInput for anything else."""
    vector = x.as_features()
    if vector is not None:
        return check_digit_features(vector)
    data = x.as_bytes()
    if data is not None:
        return image_to_digit_features(decode_image(data))
    raise InvalidInput(
        "the digit experts classify a 64-value feature vector (8×8 pixels, row-major, values 0..16 "
        "as in sklearn.datasets.load_digits) or PNG/PGM image bytes; got text"
    )


def check_digit_features(vector: np.ndarray) -> np.ndarray:
    """`vector` as float64 if it has 64 finite values in 0..16; else InvalidInput saying why."""
    vector = np.asarray(vector, dtype=np.float64)
    if vector.ndim != 1 or vector.shape[0] != N_FEATURES:
        raise InvalidInput(
            f"a digit feature vector must have {N_FEATURES} values (8×8 pixels, row-major), got "
            f"{vector.size}; send the 64 values of one image, or the image itself as PNG/PGM bytes"
        )
    if not np.isfinite(vector).all():
        raise InvalidInput("a digit feature vector must hold finite numbers; clean NaN and infinities")
    bad = np.flatnonzero((vector < 0.0) | (vector > MAX_PIXEL))
    if bad.size:
        index = int(bad[0])
        raise InvalidInput(
            f"digit feature values must lie in 0..16 (the load_digits scale), but value {index} is "
            f"{vector[index]:g} ({bad.size} out of range); rescale 0..255 pixels by 16/255"
        )
    return vector


def expected_label(value: Value) -> int:
    """The digit a feedback answer names: Json {"label": d} (or a bare Json integer), or Text "d"."""
    data = value.as_json()
    if isinstance(data, dict):
        data = data.get("label")
    elif data is None:
        text = value.as_text()
        data = text.strip() if text is not None else None
    if isinstance(data, str) and len(data) == 1 and data.isdigit():
        data = int(data)
    if isinstance(data, int) and not isinstance(data, bool) and 0 <= data < N_CLASSES:
        return data
    raise InvalidInput(
        f'the expected answer for a digit must be Value.json({{"label": 0..9}}) or Value.text("0".."9"), got {value!r}'
    )


def digit_answer(probabilities: np.ndarray, model: str, cost_units: float) -> ExpertOut:
    """ExpertOut with Json {"label", "probabilities" (10 floats, sum 1), "model"}; confidence is
    the label's probability."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    probabilities = probabilities / probabilities.sum()
    label = int(np.argmax(probabilities))
    value = Value.json({"label": label, "probabilities": [float(p) for p in probabilities], "model": model})
    confidence = min(1.0, max(0.0, float(probabilities[label])))
    return ExpertOut(value, ExpertAux(cost_units=cost_units, confidence=confidence))


def check_cancelled(ctx: Context) -> None:
    if ctx.cancel.is_cancelled():
        raise Cancelled(ctx.cancel.reason)
