"""Property-based tests of what a request carries: InputData, Value and Context accept or refuse
anything thrown at them, and refusing is always the documented error (InvalidInput), never a
crash from numpy, json or attrs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from himoe_core import CancelToken, Context, InputData, InvalidInput, Value
from himoe_core._value import Plan, PlanStep
from himoe_core.routing import InputKind, InputLimits, to_value

SETTINGS = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.binary(max_size=20),
    st.complex_numbers(),
)
nested = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.tuples(inner, inner), st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)
arrays = hnp.arrays(
    dtype=st.one_of(
        hnp.integer_dtypes(),
        hnp.unsigned_integer_dtypes(),
        hnp.floating_dtypes(),
        hnp.boolean_dtypes(),
        hnp.complex_number_dtypes(),
        hnp.datetime64_dtypes(),
        hnp.byte_string_dtypes(max_len=3),
        hnp.unicode_string_dtypes(max_len=3),
    ),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6),
)
anything = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200),
    nested,
    arrays,
    st.builds(object),
    st.builds(bytearray, st.binary(max_size=20)),
    st.builds(memoryview, st.binary(max_size=20)),
)
tasks = st.one_of(st.none(), st.text(max_size=300), st.integers(), st.binary(max_size=5))


@SETTINGS
@given(x=anything, task=tasks)
def test_coerce_accepts_or_refuses_with_invalid_input_only(x, task):
    try:
        data = InputData.coerce(x, task=task)
    except InvalidInput as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert data.kind in InputKind
    assert data.task is None or (data.task == data.task.strip() and data.task and "\n" not in data.task)
    if data.kind is InputKind.FEATURES:
        vector = data.as_features()
        assert vector.dtype == np.float32 and vector.ndim == 1 and np.isfinite(vector).all()
        assert not vector.flags.writeable
    described = data.describe()
    assert len(described) < 300 and "\n" not in described


@SETTINGS
@given(
    max_text=st.integers(1, 50),
    max_bytes=st.integers(1, 50),
    max_features=st.integers(1, 50),
    max_task=st.integers(1, 50),
    size=st.integers(0, 60),
    task_size=st.integers(1, 60),
)
def test_every_limit_holds_exactly_at_its_boundary(max_text, max_bytes, max_features, max_task, size, task_size):
    limits = InputLimits(
        max_text_chars=max_text, max_bytes=max_bytes, max_features=max_features, max_task_chars=max_task
    )
    task = "t" * task_size
    for build, limit, unit in (
        (lambda: InputData.text("é" * size, task=task, limits=limits), max_text, "characters"),
        (lambda: InputData.bytes(b"\x00" * size, task=task, limits=limits), max_bytes, "bytes"),
        (lambda: InputData.features([1.0] * size, task=task, limits=limits), max_features, "values"),
    ):
        too_big = size > limit
        empty_features = unit == "values" and size == 0
        if too_big or empty_features or task_size > max_task:
            with pytest.raises(InvalidInput) as info:
                build()
            message = str(info.value)
            if too_big and not empty_features:
                assert str(limit) in message and str(size) in message
            elif task_size > max_task and not empty_features:
                assert str(max_task) in message
        else:
            assert build().describe()


@SETTINGS
@given(text=st.text(min_size=30, max_size=200))
def test_describe_never_contains_the_payload(text):
    assume(len(text.strip()) >= 30)
    assert text not in InputData.text(text).describe()


@SETTINGS
@given(
    obj=st.one_of(
        anything,
        st.builds(
            Plan,
            st.text(max_size=10),
            st.lists(st.builds(PlanStep, st.text(min_size=1, max_size=10).filter(str.strip)), max_size=3),
        ),
    )
)
def test_to_value_accepts_or_refuses_with_invalid_input_only(obj):
    try:
        value = to_value(obj)
    except InvalidInput as exc:
        assert str(exc)
        return
    # whatever was accepted is JSON-ready, hashable, equal to itself and sized
    encoded = json.dumps(value.to_jsonable(), allow_nan=False)
    assert json.loads(encoded)["kind"] == value.kind.value
    assert value == value and hash(value) == hash(value)
    assert value.size_bytes() >= 0
    assert len(repr(value)) < 400


@SETTINGS
@given(
    data=st.recursive(
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-(2**53), 2**53),
            st.floats(allow_nan=False, allow_infinity=False),
            st.text(max_size=10),
        ),
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=4)),
        max_leaves=15,
    )
)
def test_json_values_compare_by_content_and_measure_their_canonical_size(data):
    a, b = Value.json(data), Value.json(json.loads(json.dumps(data)))
    assert a == b and hash(a) == hash(b)
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert a.size_bytes() == len(canonical.encode("utf-8", "surrogatepass"))


@SETTINGS
@given(text=st.text(max_size=200))
def test_text_size_is_its_utf8_length(text):
    assert Value.text(text).size_bytes() == len(text.encode("utf-8", "surrogatepass"))


budgets = st.one_of(
    st.floats(),
    st.integers(-10, 10**12),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.builds(np.float32, st.floats(width=32)),
    st.builds(np.int64, st.integers(-10, 10**6)),
)


@SETTINGS
@given(budget=budgets, cost=budgets)
@example(
    budget=7.122077885274834e16, cost=0.0
)  # the deadline in seconds rounds: remaining_ms came out above the budget
def test_context_start_accepts_or_refuses_with_invalid_input_only(budget, cost):
    try:
        ctx = Context.start(budget, cost_budget=cost)
    except InvalidInput as exc:
        assert "Context." in str(exc)
        return
    assert math.isfinite(ctx.budget_ms) and ctx.budget_ms >= 0
    assert ctx.cost_budget >= 0
    assert 0.0 <= ctx.remaining_ms() <= ctx.budget_ms


@SETTINGS
@given(budget=st.floats(0, 1e6), later=st.floats(-1e6, 1e6), narrow=st.floats(0, 1e7))
def test_derived_contexts_never_outlive_their_parent(budget, later, narrow):
    now = [100.0]
    ctx = Context.start(budget, clock=lambda: now[0], cancel=CancelToken())
    derived = ctx.derive(deadline=ctx.deadline + later)
    narrowed = ctx.narrowed(narrow)
    assert derived.deadline <= ctx.deadline and narrowed.deadline <= ctx.deadline
    assert derived.cancel is ctx.cancel and derived.memory is ctx.memory
    now[0] += budget / 1000.0 + 1.0
    assert ctx.expired() and derived.expired() and narrowed.expired()
    assert ctx.remaining_ms() == derived.remaining_ms() == narrowed.remaining_ms() == 0.0
