"""Greyscale image → the 64 features of scikit-learn's 8×8 digits (light ink on dark, 0..16)."""

from __future__ import annotations

import numpy as np

from himoe_core import InvalidInput

DIGIT_SIDE = 8
MAX_PIXEL = 16.0
MIN_CONTRAST = 1.0 / 32.0
"""Below this difference between ink and background the image is taken as blank."""


def area_resize(image: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """`image` resized to rows × cols by area averaging: each output cell is the mean of the input
    area it covers, fractional pixels weighted by their overlap (also works when enlarging)."""
    image = np.asarray(image, dtype=np.float64)
    return _area_weights(image.shape[0], rows) @ image @ _area_weights(image.shape[1], cols).T


def image_to_digit_features(image: np.ndarray) -> np.ndarray:
    """The 64 digit features (float64, 0..16, row-major) of a greyscale image in [0, 1].

    Steps: the background level is the median of the image's border pixels; a light background
    (> 0.5) means dark ink, so the image is inverted (the digits data is light strokes on a dark
    background); intensities are stretched so the background maps to 0 and the strongest ink to 1;
    the image is area-averaged to 8×8 and scaled to 0..16. The whole image is used — no cropping
    or centring — so the digit should fill it roughly as in the 32×32 originals (a 4-pixel border).
    Raises InvalidInput for an image with no contrast (blank).
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or image.size == 0:
        raise InvalidInput(f"a digit image must be a non-empty 2-D greyscale array, got shape {image.shape}")
    background = float(np.median(_border(image)))
    if background > 0.5:
        image = 1.0 - image
        background = 1.0 - background
    peak = float(image.max())
    if peak - background < MIN_CONTRAST:
        raise InvalidInput(
            "the image looks blank: its ink and background differ by less than 1/32 of the range; "
            "send an image with a visible digit"
        )
    ink = np.clip((image - background) / (peak - background), 0.0, 1.0)
    return (area_resize(ink, DIGIT_SIDE, DIGIT_SIDE) * MAX_PIXEL).ravel()


def _border(image: np.ndarray) -> np.ndarray:
    if min(image.shape) <= 2:
        return image.ravel()
    return np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])


def _area_weights(size: int, out: int) -> np.ndarray:
    """(out, size) matrix: row i holds the overlap of input pixel j with output cell i, divided by
    the cell's width, so each row sums to 1."""
    edges = np.arange(out + 1, dtype=np.float64) * (size / out)
    pixel = np.arange(size, dtype=np.float64)
    overlap = np.minimum(pixel[None, :] + 1.0, edges[1:, None]) - np.maximum(pixel[None, :], edges[:-1, None])
    return np.clip(overlap, 0.0, None) / (size / out)
