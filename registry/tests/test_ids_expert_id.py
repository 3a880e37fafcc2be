"""ExpertId: range, text forms, parsing and int behaviour."""

from __future__ import annotations

import copy
import json
import pickle

import pytest
from himoe_registry import ExpertId

TOP = 2**64 - 1


def test_str_hex_and_repr_are_16_lower_case_hex_digits() -> None:
    eid = ExpertId(0x21173FEA50BE1D0D)
    assert str(eid) == "21173fea50be1d0d"
    assert eid.hex == "21173fea50be1d0d"
    assert repr(eid) == "ExpertId('21173fea50be1d0d')"
    assert f"{eid}" == "21173fea50be1d0d"


def test_small_values_are_zero_padded() -> None:
    assert str(ExpertId(0)) == "0000000000000000"
    assert ExpertId(255).hex == "00000000000000ff"


def test_bounds_are_inclusive_of_zero_and_two_to_the_64_minus_one() -> None:
    assert ExpertId(0) == 0
    assert str(ExpertId(TOP)) == "ffffffffffffffff"


@pytest.mark.parametrize("value", [-1, 2**64, 2**70])
def test_out_of_range_values_are_rejected_naming_the_value(value: int) -> None:
    with pytest.raises(ValueError, match=rf"expert id {value} is out of range.*2\*\*64"):
        ExpertId(value)


@pytest.mark.parametrize("value", [1.0, "12", True, None])
def test_non_integers_are_rejected(value: object) -> None:
    with pytest.raises(TypeError, match="expert id must be an integer"):
        ExpertId(value)


def test_str_argument_points_to_parse() -> None:
    with pytest.raises(TypeError, match=r"ExpertId\.parse"):
        ExpertId("21173fea50be1d0d")


def test_objects_with_index_are_accepted() -> None:
    class Index:
        def __index__(self) -> int:
            return 42

    eid = ExpertId(Index())
    assert type(eid) is ExpertId and eid == 42


def test_rewrapping_returns_the_same_object() -> None:
    eid = ExpertId(7)
    assert ExpertId(eid) is eid


def test_parse_round_trips_and_accepts_0x_prefix_and_upper_case() -> None:
    eid = ExpertId(0xBB355B1918A72937)
    assert ExpertId.parse(str(eid)) == eid
    assert ExpertId.parse("0xbb355b1918a72937") == eid
    assert ExpertId.parse("0XBB355B1918A72937") == eid
    assert type(ExpertId.parse("0000000000000000")) is ExpertId


@pytest.mark.parametrize(
    "text",
    ["", "21173fea50be1d0", "21173fea50be1d0d0", "21173fea50be1d0g", "0x", " 21173fea50be1d0d", "-1173fea50be1d0d"],
)
def test_parse_rejects_malformed_text_saying_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError) as info:
        ExpertId.parse(text)
    message = str(info.value)
    assert repr(text) in message
    assert "exactly 16 hex digits" in message
    assert "'0x'" in message


def test_parse_rejects_non_str() -> None:
    with pytest.raises(TypeError, match="expects a str, got int"):
        ExpertId.parse(123)  # type: ignore[arg-type]


def test_hash_and_equality_are_the_int_ones() -> None:
    eid = ExpertId(12345)
    assert eid == 12345
    assert hash(eid) == hash(12345)
    assert {12345: "x"}[eid] == "x"
    assert {eid: "y"}[12345] == "y"
    assert ExpertId(1) < ExpertId(2)


def test_arithmetic_gives_plain_ints() -> None:
    assert ExpertId(3) + 1 == 4
    # The result may leave the id range, so it must not be an ExpertId.
    assert type(ExpertId(TOP) + 1) is int


def test_decimal_formatting_and_json_keep_the_integer_value() -> None:
    eid = ExpertId(0x21173FEA50BE1D0D)
    assert format(eid, "d") == str(0x21173FEA50BE1D0D)
    assert json.loads(json.dumps(eid)) == 0x21173FEA50BE1D0D


def test_pickle_and_copy_keep_the_type() -> None:
    eid = ExpertId(0x75E797834DD4A637)
    for clone in (pickle.loads(pickle.dumps(eid)), copy.copy(eid), copy.deepcopy(eid)):
        assert type(clone) is ExpertId and clone == eid


def test_instances_have_no_dict() -> None:
    eid = ExpertId(1)
    assert not hasattr(eid, "__dict__")
    with pytest.raises(AttributeError):
        eid.extra = 1  # type: ignore[attr-defined]
