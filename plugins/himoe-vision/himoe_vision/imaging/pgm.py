"""A small parser and writer for PGM (netpbm greyscale) images: binary P5 and plain (ASCII) P2.

Decoding returns a 2-D float32 array of intensities in [0, 1] (0 = black, 1 = white), the
format-independent image the digit pipeline works on.
"""

from __future__ import annotations

import re

import numpy as np

from himoe_core import InvalidInput

MAX_SIDE = 4096
"""Largest width or height accepted."""
MAX_PIXELS = 4 * 1024 * 1024
"""Largest width × height accepted (4 Mpx) — bigger images are refused before any allocation."""

_WHITESPACE = b" \t\n\r\v\f"
_COMMENT = re.compile(rb"#[^\n\r]*")


def is_pgm(data: bytes) -> bool:
    """Whether `data` starts like a PGM file (`P5` or `P2` then whitespace)."""
    return len(data) >= 3 and data[:2] in (b"P5", b"P2") and data[2] in _WHITESPACE


def decode_pgm(data: bytes) -> np.ndarray:
    """The greyscale image in `data` (P5 or P2) as float32 in [0, 1], shape (height, width).

    Follows the netpbm spec: `#` comments and any whitespace between header fields, maxval 1..65535
    (two big-endian bytes per sample in P5 when maxval > 255). Trailing data after the first P5
    image is ignored. Raises InvalidInput saying what is wrong.
    """
    if not is_pgm(data):
        raise InvalidInput(f"not a PGM image: it must start with 'P5' or 'P2' and whitespace, got {data[:8]!r}")
    magic = data[:2]
    fields: list[int] = []
    pos = 2
    for field in ("width", "height", "maxval"):
        pos = _skip_whitespace_and_comments(data, pos)
        start = pos
        while pos < len(data) and data[pos] not in _WHITESPACE and data[pos] != ord("#"):
            pos += 1
        token = data[start:pos]
        if not token.isdigit():
            got = "end of data" if not token else repr(token[:16])
            raise InvalidInput(f"PGM header: {field} must be a decimal integer, got {got}")
        fields.append(int(token))
    width, height, maxval = fields
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE) or width * height > MAX_PIXELS:
        raise InvalidInput(
            f"PGM image is {width}×{height}: each side must be 1..{MAX_SIDE} and the image at most "
            f"{MAX_PIXELS} pixels; scale it down first"
        )
    if not 1 <= maxval <= 65535:
        raise InvalidInput(f"PGM header: maxval must be 1..65535, got {maxval}")
    count = width * height
    if magic == b"P5":
        # Exactly one whitespace character separates maxval from the raster.
        if pos >= len(data) or data[pos] not in _WHITESPACE:
            raise InvalidInput("PGM (P5) header must end with one whitespace character before the pixels")
        pos += 1
        sample_bytes = 1 if maxval < 256 else 2
        needed = count * sample_bytes
        raster = data[pos : pos + needed]
        if len(raster) < needed:
            raise InvalidInput(
                f"PGM (P5) image is truncated: {width}×{height} needs {needed} bytes of pixels, got {len(raster)}"
            )
        samples = np.frombuffer(raster, dtype=np.uint8 if sample_bytes == 1 else ">u2")
    else:
        tokens = _COMMENT.sub(b" ", data[pos:]).split()
        if len(tokens) < count:
            raise InvalidInput(
                f"PGM (P2) image is truncated: {width}×{height} needs {count} pixel values, got {len(tokens)}"
            )
        raster_tokens = tokens[:count]
        bad = next((t for t in raster_tokens if not t.isdigit()), None)
        if bad is not None:
            raise InvalidInput(f"PGM (P2) pixel values must be decimal integers, got {bad[:16]!r}")
        samples = np.array([int(t) for t in raster_tokens], dtype=np.int64)
    peak = int(samples.max())
    if peak > maxval:
        raise InvalidInput(f"PGM pixel value {peak} is larger than the header's maxval {maxval}")
    return (samples.astype(np.float32) / np.float32(maxval)).reshape(height, width)


def encode_pgm(image: np.ndarray, *, maxval: int = 255, plain: bool = False) -> bytes:
    """`image` (2-D, integers in 0..maxval) as PGM bytes: binary P5, or plain P2 when `plain`."""
    pixels = np.asarray(image)
    if pixels.ndim != 2 or pixels.size == 0:
        raise InvalidInput(f"a PGM image must be a non-empty 2-D array, got shape {pixels.shape}")
    if not 1 <= maxval <= 65535:
        raise InvalidInput(f"PGM maxval must be 1..65535, got {maxval}")
    if pixels.dtype.kind not in "iu" or pixels.min() < 0 or pixels.max() > maxval:
        raise InvalidInput(f"PGM pixels must be integers in 0..{maxval}")
    height, width = pixels.shape
    if plain:
        rows = "\n".join(" ".join(str(int(v)) for v in row) for row in pixels)
        return f"P2\n{width} {height}\n{maxval}\n{rows}\n".encode("ascii")
    dtype = np.uint8 if maxval < 256 else np.dtype(">u2")
    return f"P5\n{width} {height}\n{maxval}\n".encode("ascii") + pixels.astype(dtype).tobytes()


def _skip_whitespace_and_comments(data: bytes, pos: int) -> int:
    while pos < len(data):
        if data[pos] in _WHITESPACE:
            pos += 1
        elif data[pos] == ord("#"):
            while pos < len(data) and data[pos] not in b"\n\r":
                pos += 1
        else:
            break
    return pos
