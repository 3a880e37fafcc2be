"""PNG decoding through Pillow, imported lazily on the first PNG."""

from __future__ import annotations

import io
import threading

import numpy as np

from himoe_core import InvalidInput

from .pgm import MAX_PIXELS, MAX_SIDE

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_lock = threading.Lock()
_modules: dict[str, object] = {}


def is_png(data: bytes) -> bool:
    """Whether `data` starts with the PNG signature."""
    return data.startswith(PNG_SIGNATURE)


def decode_png(data: bytes) -> np.ndarray:
    """The PNG image in `data` as greyscale float32 in [0, 1] (0 = black), shape (height, width).

    Colour is turned into luma (ITU-R 601, Pillow's "L"); transparent pixels are composited over
    white; 16-bit greyscale keeps its full range. The size is checked from the header before
    any pixel is decoded. Raises InvalidInput for anything that is not a readable PNG.
    """
    Image = _pillow()
    try:
        image = Image.open(io.BytesIO(data), formats=["PNG"])
        width, height = image.size
        if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE) or width * height > MAX_PIXELS:
            raise InvalidInput(
                f"PNG image is {width}×{height}: each side must be 1..{MAX_SIDE} and the image at most "
                f"{MAX_PIXELS} pixels; scale it down first"
            )
        image.load()
        if image.mode.startswith("I"):  # 16-bit greyscale ("I;16" or "I"): PNG has no deeper grey
            return (np.asarray(image, dtype=np.float64) / 65535.0).astype(np.float32)
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(white, rgba)
        return np.asarray(image.convert("L"), dtype=np.float32) / np.float32(255.0)
    except InvalidInput:
        raise
    except Exception as exc:  # Pillow raises many types on corrupt data
        raise InvalidInput(f"cannot decode the PNG image: {type(exc).__name__}: {exc}") from None


def _pillow():
    module = _modules.get("Image")
    if module is None:
        with _lock:
            module = _modules.get("Image")
            if module is None:
                try:
                    from PIL import Image
                except ImportError:
                    raise InvalidInput(
                        "PNG input needs Pillow, which is not installed: pip install 'pillow>=10', "
                        "or send the image as PGM (P5/P2) or as a 64-value feature vector"
                    ) from None
                module = _modules["Image"] = Image
    return module
