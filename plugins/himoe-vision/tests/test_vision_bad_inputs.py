"""Bad inputs are refused with InvalidInput messages that say what was wrong and what to send."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest
from himoe_vision import DigitsLinearExpert, DigitsSvcExpert
from himoe_vision.loading.lazy_value import LazyValue
from PIL import Image

from himoe_core import Cancelled, CancelToken, Context, InputData, InvalidInput


def infer(expert, x: InputData):
    return expert.infer(x, Context.start(10_000))


@pytest.mark.parametrize("fixture", ["vision_linear", "vision_svc"])
@pytest.mark.parametrize(
    "values, message",
    [
        (np.zeros(63), "must have 64 values"),
        (np.zeros(65), "must have 64 values"),
        (np.zeros(1), "must have 64 values"),
        (np.full(64, 17.0), "must lie in 0..16"),
        (np.r_[np.zeros(10), [-0.5], np.zeros(53)], "value 10 is -0.5"),
        (np.full(64, 255.0), "rescale 0..255"),
    ],
)
def test_vision_bad_feature_vectors(fixture, values, message, request):
    with pytest.raises(InvalidInput, match=message):
        infer(request.getfixturevalue(fixture), InputData.features(values))


def test_vision_nan_is_rejected_before_the_expert():
    values = np.zeros(64)
    values[7] = np.nan
    with pytest.raises(InvalidInput, match="finite"):
        InputData.features(values)


def _png_with_garbage() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (16, 16), 0).save(buffer, format="PNG")
    data = buffer.getvalue()
    return data[:40] + b"\x00" * 40


@pytest.mark.parametrize(
    "data, message",
    [
        (b"hello, this is not an image", "neither PNG .* nor PGM"),
        (b"", "neither PNG .* nor PGM"),
        (b"\xff\xd8\xff\xe0 jpeg", "neither PNG .* nor PGM"),
        (b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, "cannot decode the PNG"),
        (_png_with_garbage(), "cannot decode the PNG"),
        (b"P5\n32 32\n255\n" + b"\x00" * 100, "truncated"),
        (b"P2\n4 4\n255\n1 2 3", "truncated"),
        (b"P2\n2 1\n255\n1 x2", "decimal integers"),
        (b"P5\nwide 32\n255\n", "width must be a decimal integer"),
        (b"P5\n32", "height must be a decimal integer, got end of data"),
        (b"P5\n0 32\n255\n", "each side must be"),
        (b"P5\n100000 100000\n255\n", "scale it down"),
        (b"P5\n2 1\n70000\n\x00\x00\x00\x00", "maxval must be 1..65535"),
        (b"P2\n2 1\n10\n3 11\n", "larger than the header's maxval 10"),
        (b"P5\n2 2\n255\n\x80\x80\x80\x80", "looks blank"),
    ],
)
def test_vision_bad_image_bytes(data, message, vision_linear):
    with pytest.raises(InvalidInput, match=message):
        infer(vision_linear, InputData.bytes(data))


def test_vision_huge_png_is_refused_before_decoding(vision_linear):
    buffer = io.BytesIO()
    Image.new("1", (5000, 5000), 0).save(buffer, format="PNG")
    with pytest.raises(InvalidInput, match="5000×5000.*scale it down"):
        infer(vision_linear, InputData.bytes(buffer.getvalue()))


def test_vision_text_input_is_refused(vision_linear):
    with pytest.raises(InvalidInput, match="64-value feature vector .* or PNG/PGM image bytes; got text"):
        infer(vision_linear, InputData.text("seven", task="vision:digit"))


def test_vision_cancelled_request_does_not_train():
    expert = DigitsSvcExpert()
    token = CancelToken()
    token.cancel("user gave up")
    with pytest.raises(Cancelled, match="user gave up"):
        expert.infer(InputData.features(np.zeros(64)), Context.start(10_000, cancel=token))
    assert not expert._model.is_built()


def test_vision_lazy_model_is_built_once_across_threads():
    calls = []

    def build():
        calls.append(threading.get_ident())
        time.sleep(0.2)
        return object()

    lazy = LazyValue(build)
    results = [None] * 8
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, lazy.get())) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert all(result is results[0] for result in results)


def test_vision_waiting_for_training_can_be_cancelled():
    release = threading.Event()
    lazy = LazyValue(lambda: release.wait(60) and object())
    builder = threading.Thread(target=lazy.get)
    builder.start()
    time.sleep(0.05)
    token = CancelToken()
    threading.Timer(0.1, token.cancel).start()
    with pytest.raises(Cancelled):
        lazy.get(token)
    assert not lazy.is_built()  # cancelled while the training still went on, not after it
    release.set()
    builder.join()
    assert lazy.is_built()


def test_vision_concurrent_first_calls_share_one_model(vision_held_out):
    expert = DigitsLinearExpert()
    row, label = vision_held_out[0][0], vision_held_out[1][0]
    answers = []
    threads = [
        threading.Thread(target=lambda: answers.append(infer(expert, InputData.features(row)))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.value.as_json()["label"] for a in answers] == [label] * 4
    assert len({a.value for a in answers}) == 1
