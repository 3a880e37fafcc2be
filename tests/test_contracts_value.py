"""Value, Plan and PlanStep: constructors validate, equality is by content, adapters cover every kind."""

import base64
import json
import re

import attrs
import numpy as np
import pytest

from himoe_core import InvalidInput, Plan, PlanStep, Value, ValueKind
from himoe_core._value import SCHEMA
from himoe_core.routing import convert, to_value

PLAN = Plan("bake a cake", [PlanStep("buy flour"), PlanStep("mix the batter"), PlanStep("bake it", done=True)])


def every_kind() -> list[Value]:
    return [
        Value.text("bonjour"),
        Value.plan(PLAN),
        Value.json({"b": [1, 2.5, None, True], "a": {"x": "y"}}),
        Value.embedding([0.5, -1.0, 2.0]),
        Value.bytes(b"\x00\xffabc"),
        Value.none(),
    ]


# -- constructors ----------------------------------------------------------------------------------
def test_each_constructor_sets_its_kind_and_default_schema():
    kinds = [v.kind for v in every_kind()]
    assert kinds == [
        ValueKind.TEXT,
        ValueKind.PLAN,
        ValueKind.JSON,
        ValueKind.EMBEDDING,
        ValueKind.BYTES,
        ValueKind.NONE,
    ]
    assert all(v.schema == SCHEMA == 1 for v in every_kind())
    assert Value.text("x", schema=7).schema == 7


@pytest.mark.parametrize(
    "build, bad, message",
    [
        (Value.text, 3, "Text value must be a str, got int"),
        (Value.text, b"x", "Text value must be a str, got bytes"),
        (Value.plan, "1. step", "Plan value must be a Plan, got str"),
        (Value.plan, {"goal": "g"}, "Plan value must be a Plan, got dict"),
        (Value.bytes, "abc", "Bytes value must be bytes-like, got str"),
        (Value.bytes, [1, 2], "Bytes value must be bytes-like, got list"),
    ],
)
def test_constructors_refuse_wrong_types_naming_them(build, bad, message):
    with pytest.raises(InvalidInput, match=message):
        build(bad)


@pytest.mark.parametrize("bad", [-1, 65536, 1.0, True, "1"])
def test_schema_must_be_a_small_integer(bad):
    with pytest.raises(InvalidInput, match=rf"Value.schema must be an integer in \[0, 65535\], got {bad!r}"):
        Value.text("x", schema=bad)


@pytest.mark.parametrize(
    "data, where, number",
    [
        (float("nan"), "$", "nan"),
        ({"a": [1.0, float("inf")]}, "$['a'][1]", "inf"),
        ([{"k": float("-inf")}], "$[0]['k']", "-inf"),
    ],
)
def test_json_refuses_nan_and_infinity_naming_the_value_and_where(data, where, number):
    with pytest.raises(InvalidInput) as info:
        Value.json(data)
    message = str(info.value)
    assert "NaN" in message
    assert f"{where} is {number}" in message


@pytest.mark.parametrize("data, type_name", [({"a": {1, 2}}, "set"), (object(), "object"), (b"raw", "bytes")])
def test_json_refuses_non_serialisable_objects_naming_the_type(data, type_name):
    with pytest.raises(InvalidInput, match=rf"Object of type {type_name} is not JSON serializable"):
        Value.json(data)


def test_json_value_is_a_private_copy():
    data = {"a": [1, 2]}
    value = Value.json(data)
    data["a"].append(3)
    assert value.as_json() == {"a": [1, 2]}


def test_embedding_refuses_non_finite_and_wrong_shapes():
    with pytest.raises(InvalidInput, match="Embedding value must be finite: value at index 1 is nan"):
        Value.embedding([0.0, float("nan")])
    with pytest.raises(InvalidInput, match=r"Embedding value must be 1-D, got shape \(1, 2\)"):
        Value.embedding(np.zeros((1, 2)))
    with pytest.raises(InvalidInput, match="dtype <U1"):
        Value.embedding(["a"])


def test_none_is_a_singleton_with_no_data():
    assert Value.none() is Value.none()
    assert Value.none().is_none()
    assert not Value.text("").is_none()


# -- accessors ---------------------------------------------------------------------------------------
def test_accessors_return_the_data_for_their_kind_and_none_otherwise():
    text, plan, js, emb, raw, nothing = every_kind()
    assert text.as_text() == "bonjour" and text.as_plan() is None and text.as_json() is None
    assert plan.as_plan() == PLAN and plan.as_text() is None
    assert js.as_json() == {"a": {"x": "y"}, "b": [1, 2.5, None, True]} and js.as_bytes() is None
    np.testing.assert_array_equal(emb.as_embedding(), np.array([0.5, -1.0, 2.0], dtype=np.float32))
    assert emb.as_text() is None
    assert raw.as_bytes() == b"\x00\xffabc" and raw.as_embedding() is None
    assert all(getattr(nothing, f"as_{k}")() is None for k in ("text", "plan", "json", "embedding", "bytes"))


def test_value_is_frozen():
    value = Value.text("x")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        value.data = "y"


# -- equality and hashing by content -----------------------------------------------------------------
def test_json_equality_ignores_key_order():
    a = Value.json({"a": 1, "b": {"c": [1, 2], "d": None}})
    b = Value.json({"b": {"d": None, "c": [1, 2]}, "a": 1})
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1


def test_json_list_order_matters():
    assert Value.json([1, 2]) != Value.json([2, 1])


def test_embeddings_compare_by_bytes():
    a = Value.embedding(np.array([1.0, 2.0], dtype=np.float64))
    b = Value.embedding([1, 2])
    assert a == b and hash(a) == hash(b)
    assert a != Value.embedding([1.0, 2.5])
    # Different bytes, even if numerically equal: +0.0 and -0.0.
    assert Value.embedding([0.0]) != Value.embedding([-0.0])


def test_values_of_different_kind_or_schema_differ():
    assert Value.text("1") != Value.json("1")
    assert Value.text("x") != Value.text("x", schema=2)
    assert Value.bytes(b"x") != Value.text("x")
    assert Value.text("x") != "x"


def test_text_plan_and_bytes_compare_by_content():
    assert Value.text("hello") == Value.text("hel" + "lo")
    assert Value.plan(PLAN) == Value.plan(Plan("bake a cake", list(PLAN.steps)))
    assert Value.plan(PLAN) != Value.plan(Plan("bake a pie", list(PLAN.steps)))
    assert Value.bytes(bytearray(b"ab")) == Value.bytes(b"ab")


def test_values_pool_in_a_dict_by_content():
    votes: dict[Value, int] = {}
    for value in [Value.json({"x": 1, "y": 2}), Value.json({"y": 2, "x": 1}), Value.text("other")]:
        votes[value] = votes.get(value, 0) + 1
    assert votes == {Value.json({"x": 1, "y": 2}): 2, Value.text("other"): 1}


# -- adapters --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "obj, kind",
    [
        ("text", ValueKind.TEXT),
        (PLAN, ValueKind.PLAN),
        ({"a": 1}, ValueKind.JSON),
        ([1, 2], ValueKind.JSON),
        (3, ValueKind.JSON),
        (2.5, ValueKind.JSON),
        (True, ValueKind.JSON),
        (np.array([1.0, 2.0]), ValueKind.EMBEDDING),
        (b"ab", ValueKind.BYTES),
        (bytearray(b"ab"), ValueKind.BYTES),
        (None, ValueKind.NONE),
    ],
)
def test_to_value_adapts_every_kind(obj, kind):
    value = to_value(obj)
    assert value.kind is kind
    assert value.schema == SCHEMA


def test_to_value_returns_a_value_as_is():
    value = Value.text("x", schema=3)
    assert to_value(value) is value


def test_to_value_refuses_other_objects_naming_them():
    with pytest.raises(InvalidInput, match="cannot turn a set into a Value"):
        to_value({1, 2})


def test_to_value_data_matches_the_adapted_object():
    assert to_value("hi").as_text() == "hi"
    assert to_value(PLAN).as_plan() is PLAN
    assert to_value([1, 2]).as_json() == [1, 2]
    # a tuple is refused (most often `return value, aux`, meant as an ExpertOut); Value.json takes one
    with pytest.raises(InvalidInput, match=r"return ExpertOut\(value, aux\) rather than a \(value, aux\) pair"):
        to_value((1, 2))
    assert Value.json((1, 2)).as_json() == [1, 2]
    assert to_value(b"ab").as_bytes() == b"ab"


# -- convert -----------------------------------------------------------------------------------------
def test_convert_to_the_same_kind_is_identity():
    value = Value.json({"a": 1})
    assert convert(value, ValueKind.JSON) is value


def test_convert_plan_to_text_and_back_round_trips():
    as_text = convert(
        Value.plan(Plan("bake a cake", [PlanStep("buy flour"), PlanStep("bake it")]), schema=4), ValueKind.TEXT
    )
    assert as_text.as_text() == "bake a cake\n1. buy flour\n2. bake it"
    assert as_text.schema == 4
    back = convert(as_text, ValueKind.PLAN)
    assert back == Value.plan(Plan("bake a cake", [PlanStep("buy flour"), PlanStep("bake it")]), schema=4)


def test_convert_text_to_plan_and_back_is_stable():
    text = Value.text("- buy flour\n* mix\n3. bake\n\n")
    plan = convert(text, ValueKind.PLAN)
    assert [s.description for s in plan.as_plan().steps] == ["buy flour", "mix", "bake"]
    assert plan.as_plan().goal == ""
    again = convert(convert(plan, ValueKind.TEXT), ValueKind.PLAN)
    assert again == plan
    assert convert(plan, ValueKind.TEXT).as_text() == "1. buy flour\n2. mix\n3. bake"


@pytest.mark.parametrize(
    "plan",
    [
        Plan("", [PlanStep("one")]),
        Plan("goal", [PlanStep("one")]),
        Plan("goal", [PlanStep("2. a numbered step"), PlanStep("- a dashed step"), PlanStep("-5 degrees")]),
        Plan("Trip to Lyon", [PlanStep("book the train"), PlanStep("pack"), PlanStep("go")]),
    ],
)
def test_plan_text_round_trip_keeps_goal_and_steps(plan):
    assert Plan.from_text(plan.to_text()) == plan


def test_plan_from_text_with_explicit_goal_keeps_every_line_as_a_step():
    plan = Plan.from_text("first\n- second", goal="G")
    assert plan.goal == "G"
    assert [s.description for s in plan.steps] == ["first", "second"]


@pytest.mark.parametrize("kind", [ValueKind.JSON, ValueKind.EMBEDDING, ValueKind.BYTES])
def test_convert_refuses_unsupported_pairs_naming_both_kinds(kind):
    with pytest.raises(InvalidInput, match=f"cannot convert a text value to {kind.value}"):
        convert(Value.text("x"), kind)


# -- serialisation -----------------------------------------------------------------------------------
def test_to_jsonable_is_json_dumpable_for_every_kind():
    for value in every_kind():
        data = value.to_jsonable()
        assert set(data) == {"kind", "schema", "data"}
        assert data["kind"] == value.kind.value
        assert json.loads(json.dumps(data, allow_nan=False)) == data


def test_to_jsonable_encodes_each_kind_faithfully():
    text, plan, js, emb, raw, nothing = (v.to_jsonable()["data"] for v in every_kind())
    assert text == "bonjour"
    assert plan == {
        "goal": "bake a cake",
        "steps": [
            {"description": "buy flour", "done": False},
            {"description": "mix the batter", "done": False},
            {"description": "bake it", "done": True},
        ],
    }
    assert js == {"a": {"x": "y"}, "b": [1, 2.5, None, True]}
    assert emb == [0.5, -1.0, 2.0] and all(type(v) is float for v in emb)
    assert base64.b64decode(raw) == b"\x00\xffabc"
    assert nothing is None


def test_render_is_human_readable():
    assert Value.text("hi").render() == "hi"
    assert Value.plan(PLAN).render() == "bake a cake\n1. buy flour\n2. mix the batter\n3. bake it"
    assert json.loads(Value.json({"a": 1}).render()) == {"a": 1}
    assert Value.none().render() == "(no result)"
    assert Value.bytes(b"abc").render() == "<3 bytes>"
    assert Value.embedding([1.0, 2.0]).render() == "<float32[2]>"


def test_repr_is_short_for_large_payloads():
    assert len(repr(Value.text("x" * 10_000))) < 200
    assert "<3 bytes>" in repr(Value.bytes(b"abc"))


# -- Plan and PlanStep -------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["", "   ", "\n\t", None, 3])
def test_plan_step_needs_a_non_empty_description(bad):
    with pytest.raises(ValueError, match=re.escape(f"PlanStep.description must be a non-empty string, got {bad!r}")):
        PlanStep(bad)


def test_plan_step_done_must_be_a_bool():
    with pytest.raises(TypeError, match="done"):
        PlanStep("x", done=1)


def test_plan_steps_must_be_plan_steps_naming_the_index():
    with pytest.raises(TypeError, match=r"Plan.steps\[1\] must be a PlanStep, got str"):
        Plan("g", [PlanStep("a"), "b"])


def test_plan_goal_must_be_a_str():
    with pytest.raises(TypeError, match="goal"):
        Plan(None)


def test_plan_is_frozen_and_steps_are_a_tuple():
    plan = Plan("g", [PlanStep("a")])
    assert isinstance(plan.steps, tuple)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        plan.goal = "other"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        plan.steps[0].done = True
