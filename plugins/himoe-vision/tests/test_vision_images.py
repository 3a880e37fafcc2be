"""Image bytes (PGM P5/P2, PNG) are decoded, normalised to the digits' 8×8 0..16 scale and classified."""

from __future__ import annotations

import io

import numpy as np
import pytest
from himoe_vision.digit_io import digit_features
from himoe_vision.imaging.digit_features import area_resize, image_to_digit_features
from himoe_vision.imaging.pgm import decode_pgm, encode_pgm
from PIL import Image

from himoe_core import InputData

ROWS = range(40)  # the first 40 held-out digits


def dark_on_light(features: np.ndarray, size: int = 32) -> np.ndarray:
    """A held-out digit drawn as dark ink on white, `size`×`size`, uint8 (each cell a block)."""
    cells = features.reshape(8, 8)
    block = np.kron(cells, np.ones((size // 8, size // 8)))
    return np.rint(255.0 * (1.0 - block / 16.0)).astype(np.uint8)


def counted_pixels(features: np.ndarray) -> np.ndarray:
    """32×32 binary light-on-dark image as the digits were made: each 4×4 block has v pixels on."""
    image = np.zeros((32, 32), dtype=np.uint8)
    for (r, c), value in np.ndenumerate(features.reshape(8, 8)):
        block = np.zeros(16, dtype=np.uint8)
        block[: int(value)] = 1
        image[4 * r : 4 * r + 4, 4 * c : 4 * c + 4] = block.reshape(4, 4)
    return image


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("fixture", ["vision_linear", "vision_svc"])
def test_vision_pgm_round_trip_keeps_the_label(fixture, request, vision_held_out, vision_classify):
    expert = request.getfixturevalue(fixture)
    features, labels = vision_held_out
    for row in ROWS:
        expected = vision_classify(expert, InputData.features(features[row]))["label"]
        p5 = encode_pgm(dark_on_light(features[row]))
        assert p5.startswith(b"P5\n32 32\n255\n") and len(p5) == 13 + 32 * 32
        assert vision_classify(expert, InputData.bytes(p5, task="vision:digit"))["label"] == expected, row
        p2 = encode_pgm(counted_pixels(features[row]), maxval=1, plain=True)
        assert vision_classify(expert, InputData.bytes(p2))["label"] == expected, row
    # and the labels are the true ones for these easy rows
    assert vision_classify(expert, InputData.bytes(encode_pgm(dark_on_light(features[0]))))["label"] == labels[0]


def test_vision_pgm_features_match_the_original(vision_held_out):
    features, _ = vision_held_out
    for row in ROWS:
        original = features[row]
        if original.max() != 16:
            continue  # the contrast stretch rescales digits whose strongest cell is below 16
        exact = digit_features(InputData.bytes(encode_pgm(counted_pixels(original), maxval=1)))
        np.testing.assert_allclose(exact, original, atol=1e-5)
        grey = digit_features(InputData.bytes(encode_pgm(dark_on_light(original))))
        np.testing.assert_allclose(grey, original, atol=0.05)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA-alpha-ink", "I;16", "P"])
def test_vision_png_round_trip_keeps_the_label(mode, vision_linear, vision_held_out, vision_classify):
    features, labels = vision_held_out
    for row in range(10):
        grey = dark_on_light(features[row], size=64)
        if mode == "L":
            image = Image.fromarray(grey, mode="L")
        elif mode == "RGB":
            image = Image.fromarray(np.stack([grey] * 3, axis=-1), mode="RGB")
        elif mode == "RGBA-alpha-ink":  # black ink whose opacity draws the digit, transparent background
            rgba = np.zeros((64, 64, 4), dtype=np.uint8)
            rgba[..., 3] = 255 - grey
            image = Image.fromarray(rgba, mode="RGBA")
        elif mode == "I;16":
            image = Image.fromarray(grey.astype(np.uint16) * 257)
            assert image.mode.startswith("I")
        else:
            image = Image.fromarray(grey, mode="L").convert("P")
        expected = vision_classify(vision_linear, InputData.features(features[row]))["label"]
        answer = vision_classify(vision_linear, InputData.bytes(png_bytes(image)))
        assert answer["label"] == expected, (mode, row)
    assert expected == labels[row]


def test_vision_pgm_parser_follows_the_spec():
    data = b"P2 # a comment\n# another\n3\t2 # width height\n 4\n0 1 2\n3 4\n# inside\n0\n"
    np.testing.assert_allclose(decode_pgm(data), np.array([[0, 1, 2], [3, 4, 0]]) / 4.0)
    sixteen_bit = b"P5\n2 1\n65535\n" + bytes([0xFF, 0xFF, 0x80, 0x00])
    np.testing.assert_allclose(decode_pgm(sixteen_bit), [[1.0, 0x8000 / 65535]], rtol=1e-6)
    with_trailer = encode_pgm(np.array([[0, 255]], dtype=np.uint8)) + b"P5\n1 1\n255\n\x00"
    np.testing.assert_allclose(decode_pgm(with_trailer), [[0.0, 1.0]])
    image = np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000
    np.testing.assert_allclose(decode_pgm(encode_pgm(image, maxval=65535)), image / 65535.0, rtol=1e-6)
    np.testing.assert_allclose(decode_pgm(encode_pgm(image, maxval=65535, plain=True)), image / 65535.0, rtol=1e-6)


def test_vision_area_resize_averages_areas():
    blocks = np.kron(np.arange(64, dtype=float).reshape(8, 8), np.ones((4, 4)))
    np.testing.assert_allclose(area_resize(blocks, 8, 8), np.arange(64).reshape(8, 8))
    np.testing.assert_allclose(area_resize(np.array([[0.0, 1.0, 1.0]]), 1, 2), [[1 / 3, 1.0]])
    rng = np.random.default_rng(0)
    odd = rng.random((37, 53))
    assert area_resize(odd, 8, 8).mean() == pytest.approx(odd.mean())
    np.testing.assert_allclose(area_resize(np.array([[0.25]]), 8, 8), np.full((8, 8), 0.25))


def test_vision_light_and_dark_backgrounds_give_the_same_features(vision_held_out):
    digit = vision_held_out[0][3]
    light = dark_on_light(digit).astype(float) / 255.0
    np.testing.assert_allclose(image_to_digit_features(light), image_to_digit_features(1.0 - light), atol=1e-9)
    # a faint digit (grey 100 on 60) is stretched to the full 0..16 range
    faint = 60.0 / 255 + (1.0 - light) * (40.0 / 255)
    np.testing.assert_allclose(image_to_digit_features(faint), image_to_digit_features(1.0 - light), atol=1e-6)
