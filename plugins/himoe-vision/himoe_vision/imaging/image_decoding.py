"""Image bytes → greyscale array, whatever the supported format."""

from __future__ import annotations

import numpy as np

from himoe_core import InvalidInput

from .pgm import decode_pgm, is_pgm
from .png import decode_png, is_png


def decode_image(data: bytes) -> np.ndarray:
    """PNG or PGM (P5/P2) bytes as greyscale float32 in [0, 1] (0 = black), shape (height, width)."""
    if is_pgm(data):
        return decode_pgm(data)
    if is_png(data):
        return decode_png(data)
    raise InvalidInput(
        f"image bytes are neither PNG (signature \\x89PNG) nor PGM (header 'P5' or 'P2'); they start "
        f"with {data[:8]!r} ({len(data)} bytes). Send a PNG or PGM image, or a 64-value feature vector"
    )
