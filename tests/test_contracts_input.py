"""InputData and InputLimits: every payload is validated at the boundary, with precise errors."""

import re

import attrs
import numpy as np
import pytest

from himoe_core import InputData, InvalidInput, MoeError
from himoe_core.routing import InputKind, InputLimits


# -- text ------------------------------------------------------------------------------------------
def test_text_input_keeps_text_and_exposes_only_the_text_accessor():
    x = InputData.text("plan: bake a cake", task="plan")
    assert x.kind is InputKind.TEXT
    assert x.as_text() == "plan: bake a cake"
    assert x.as_bytes() is None
    assert x.as_features() is None
    assert x.task == "plan"


@pytest.mark.parametrize("bad, type_name", [(b"abc", "bytes"), (42, "int"), (None, "NoneType"), (["a"], "list")])
def test_text_input_rejects_non_str_naming_the_type(bad, type_name):
    with pytest.raises(InvalidInput, match=rf"text input must be a str, got {type_name}"):
        InputData.text(bad)


def test_oversize_text_is_refused_with_its_size_and_the_limit():
    limits = InputLimits(max_text_chars=10)
    InputData.text("x" * 10, limits=limits)  # at the limit: fine
    with pytest.raises(InvalidInput) as info:
        InputData.text("x" * 11, limits=limits)
    assert "11 characters" in str(info.value)
    assert "limit of 10" in str(info.value)


def test_invalid_input_is_a_moe_error_and_a_value_error():
    with pytest.raises(MoeError):
        InputData.text(1)
    with pytest.raises(ValueError):
        InputData.text(1)


# -- bytes -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("payload", [b"\x00\x01", bytearray(b"\x00\x01"), memoryview(b"\x00\x01")])
def test_bytes_input_accepts_bytes_like_and_stores_immutable_bytes(payload):
    x = InputData.bytes(payload)
    assert x.kind is InputKind.BYTES
    assert x.as_bytes() == b"\x00\x01"
    assert type(x.as_bytes()) is bytes
    assert x.as_text() is None and x.as_features() is None


def test_bytes_input_is_a_private_copy():
    buffer = bytearray(b"abc")
    x = InputData.bytes(buffer)
    buffer[0] = ord("z")
    assert x.as_bytes() == b"abc"


def test_bytes_input_rejects_str_naming_the_type():
    with pytest.raises(InvalidInput, match="bytes input must be bytes-like, got str"):
        InputData.bytes("abc")


def test_oversize_bytes_are_refused_with_size_and_limit():
    limits = InputLimits(max_bytes=4)
    InputData.bytes(b"1234", limits=limits)
    with pytest.raises(InvalidInput, match=r"5 bytes, more than the limit of 4"):
        InputData.bytes(b"12345", limits=limits)


# -- features --------------------------------------------------------------------------------------
def test_features_become_a_read_only_float32_copy():
    source = np.array([1.0, 2.5, -3.0], dtype=np.float64)
    x = InputData.features(source)
    vector = x.as_features()
    assert x.kind is InputKind.FEATURES
    assert vector.dtype == np.float32
    np.testing.assert_array_equal(vector, [1.0, 2.5, -3.0])
    source[0] = 99.0
    assert vector[0] == 1.0
    with pytest.raises(ValueError):
        vector[0] = 5.0
    assert x.as_text() is None and x.as_bytes() is None


def test_features_accept_python_lists_of_ints():
    assert InputData.features([1, 2, 3]).as_features().tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    "values, bad_text",
    [
        ([1.0, float("nan"), 2.0], "index 1 is nan"),
        ([0.0, 0.0, float("inf")], "index 2 is inf"),
        ([float("-inf")], "index 0 is -inf"),
    ],
)
def test_non_finite_features_are_refused_naming_index_and_value(values, bad_text):
    with pytest.raises(InvalidInput) as info:
        InputData.features(values)
    assert bad_text in str(info.value)
    assert "finite" in str(info.value)


def test_features_that_overflow_float32_are_refused():
    with pytest.raises(InvalidInput, match=r"index 0 is 1e\+39"):
        InputData.features(np.array([1e39], dtype=np.float64))


@pytest.mark.parametrize(
    "values, dtype_text",
    [
        (np.array(["a", "b"]), "<U1"),
        (np.array([True, False]), "bool"),
        (np.array([1 + 2j]), "complex128"),
        (np.array([object(), 1], dtype=object), "object"),
    ],
)
def test_features_of_the_wrong_dtype_are_refused_naming_the_dtype(values, dtype_text):
    with pytest.raises(InvalidInput) as info:
        InputData.features(values)
    assert f"got dtype {dtype_text}" in str(info.value)


def test_two_dimensional_features_are_refused_naming_the_shape():
    with pytest.raises(InvalidInput, match=r"must be 1-D, got shape \(2, 2\)"):
        InputData.features(np.zeros((2, 2)))


def test_scalar_features_are_refused_as_not_1d():
    with pytest.raises(InvalidInput, match=r"must be 1-D, got shape \(\)"):
        InputData.features(3.0)


def test_empty_features_are_refused():
    with pytest.raises(InvalidInput, match="feature vector is empty"):
        InputData.features([])


def test_ragged_features_are_refused_as_invalid_input():
    with pytest.raises(InvalidInput, match="feature vector"):
        InputData.features([[1.0, 2.0], [3.0]])


def test_oversize_features_are_refused_with_count_and_limit():
    limits = InputLimits(max_features=3)
    InputData.features([1, 2, 3], limits=limits)
    with pytest.raises(InvalidInput, match=r"has 4 values, more than the limit of 3"):
        InputData.features([1, 2, 3, 4], limits=limits)


# -- task hints ------------------------------------------------------------------------------------
def test_task_hint_is_stripped_and_used_for_routing():
    x = InputData.text("bonjour", task="  fr:tag  ")
    assert x.task == "fr:tag"
    assert x.routing_key() == "fr:tag"


def test_routing_key_falls_back_to_text_then_empty():
    assert InputData.text("plan: x").routing_key() == "plan: x"
    assert InputData.bytes(b"x").routing_key() == ""
    assert InputData.features([1.0], task="vision:digit").routing_key() == "vision:digit"


@pytest.mark.parametrize(
    "task, message",
    [
        (5, "task hint must be a string like 'fr:tag', got int"),
        (b"plan", "got bytes"),
        ("   ", "task hint is empty"),
        ("x" * 201, "at most 200 characters, got 201 characters"),
        ("plan\nmore", "must be one line"),
    ],
)
def test_bad_task_hints_are_refused_with_a_precise_message(task, message):
    with pytest.raises(InvalidInput, match=re.escape(message)):
        InputData.text("hello", task=task)


def test_task_limit_comes_from_input_limits():
    limits = InputLimits(max_task_chars=4)
    assert InputData.text("x", task="plan", limits=limits).task == "plan"
    with pytest.raises(InvalidInput, match="at most 4 characters, got 5"):
        InputData.text("x", task="plans", limits=limits)


# -- coerce and the record itself ------------------------------------------------------------------
def test_coerce_dispatches_on_type():
    assert InputData.coerce("hi").kind is InputKind.TEXT
    assert InputData.coerce(b"hi").kind is InputKind.BYTES
    assert InputData.coerce([1.0, 2.0]).kind is InputKind.FEATURES
    assert InputData.coerce(np.ones(3)).kind is InputKind.FEATURES
    same = InputData.text("hi")
    assert InputData.coerce(same) is same
    assert InputData.coerce(same, task="plan").task == "plan"


def test_coerce_refuses_other_types_naming_them():
    with pytest.raises(InvalidInput, match="cannot use a dict as input"):
        InputData.coerce({"a": 1})


def test_coerce_validates_the_task_of_an_existing_input():
    with pytest.raises(InvalidInput, match="task hint is empty"):
        InputData.coerce(InputData.text("hi"), task="  ")


def test_input_data_is_frozen():
    x = InputData.text("hi")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        x.task = "plan"


def test_describe_is_log_safe_and_never_contains_the_payload():
    secret = "my password is hunter2"
    text = InputData.text(secret, task="plan").describe()
    assert text == "text(22 chars) task='plan'"
    assert "hunter2" not in text
    assert InputData.bytes(b"abc").describe() == "bytes(3 bytes)"
    assert InputData.features([1.0, 2.0]).describe() == "features(2 features)"


# -- InputLimits -----------------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["max_text_chars", "max_bytes", "max_features", "max_task_chars"])
@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
def test_input_limits_must_be_positive_integers(field, bad):
    with pytest.raises(ValueError, match=rf"InputLimits.{field} must be a positive integer, got {bad!r}"):
        InputLimits(**{field: bad})
