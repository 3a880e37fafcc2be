"""stable_id vectors and name validation messages."""

from __future__ import annotations

import hashlib

import pytest
from himoe_registry import MAX_NAME_LENGTH, NAME_PATTERN, ExpertId, InvalidName, RegistryError, stable_id, validate_name

RULE = "names must match [a-z0-9][a-z0-9_.-]* (lower-case letters, digits, '_', '.', '-'), e.g. 'rule_planner'"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("rule_planner", "21173fea50be1d0d"),
        ("nlp_french_tagger", "75e797834dd4a637"),
        ("math_sympy", "bb355b1918a72937"),
    ],
)
def test_stable_id_vectors_never_change(name: str, expected: str) -> None:
    eid = stable_id(name)
    assert type(eid) is ExpertId
    assert str(eid) == expected
    assert eid == int(expected, 16)


def test_stable_id_is_the_big_endian_blake2b_8_byte_digest() -> None:
    name = "some.expert-v2"
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    assert stable_id(name) == int.from_bytes(digest, "big")


def test_stable_id_validates_the_name() -> None:
    with pytest.raises(InvalidName, match="invalid expert name 'Rule Planner'"):
        stable_id("Rule Planner")


@pytest.mark.parametrize("name", ["a", "0", "rule_planner", "nlp.fr-tagger_2", "9lives", "a" * MAX_NAME_LENGTH])
def test_valid_names_are_returned_unchanged(name: str) -> None:
    assert validate_name(name) is name
    assert NAME_PATTERN.fullmatch(name)


def test_the_pattern_is_the_documented_one() -> None:
    assert NAME_PATTERN.pattern == r"[a-z0-9][a-z0-9_.-]*"
    assert MAX_NAME_LENGTH == 128


def test_spaces_and_upper_case_give_the_rule_and_a_suggestion() -> None:
    with pytest.raises(InvalidName) as info:
        validate_name("Foo Bar")
    assert str(info.value) == f"invalid expert name 'Foo Bar': {RULE}; did you mean 'foo_bar'?"
    assert info.value.value == "Foo Bar"


def test_upper_case() -> None:
    expected = r"invalid expert name 'RulePlanner': names must match .*did you mean 'ruleplanner'"
    with pytest.raises(InvalidName, match=expected):
        validate_name("RulePlanner")


@pytest.mark.parametrize("name", ["_private", ".hidden", "-dash"])
def test_leading_punctuation_is_rejected(name: str) -> None:
    with pytest.raises(InvalidName) as info:
        validate_name(name)
    assert str(info.value).startswith(f"invalid expert name {name!r}: {RULE}")


def test_unicode_letters_are_rejected() -> None:
    with pytest.raises(InvalidName, match="invalid expert name 'café'"):
        validate_name("café")


def test_trailing_newline_is_rejected() -> None:
    # re.match with "$" would accept this; fullmatch must not.
    with pytest.raises(InvalidName):
        validate_name("rule_planner\n")


def test_empty_name_has_its_own_message() -> None:
    with pytest.raises(InvalidName) as info:
        validate_name("")
    assert str(info.value) == f"invalid expert name '': the name is empty; {RULE}"


@pytest.mark.parametrize(("value", "type_name"), [(None, "NoneType"), (42, "int"), (b"abc", "bytes")])
def test_non_str_names_say_what_type_was_given(value: object, type_name: str) -> None:
    with pytest.raises(InvalidName) as info:
        validate_name(value)
    message = str(info.value)
    assert message.startswith(f"invalid expert name {value!r}: expected a str, got {type_name}")
    assert RULE in message
    assert info.value.value is value


def test_too_long_names_give_length_and_maximum_and_a_shortened_name() -> None:
    name = "a" * (MAX_NAME_LENGTH + 1)
    with pytest.raises(InvalidName) as info:
        validate_name(name)
    message = str(info.value)
    assert "129 characters long, the maximum is 128" in message
    assert name not in message  # the full value would drown the message
    assert "'aaaa" in message


def test_kind_changes_the_wording() -> None:
    with pytest.raises(InvalidName, match="invalid router name 'X'"):
        validate_name("X", kind="router")


def test_invalid_name_is_a_value_error_and_pickles() -> None:
    import pickle

    with pytest.raises(InvalidName) as info:
        validate_name("Bad")
    assert isinstance(info.value, RegistryError) and isinstance(info.value, ValueError)
    clone = pickle.loads(pickle.dumps(info.value))
    assert str(clone) == str(info.value) and clone.value == "Bad"
