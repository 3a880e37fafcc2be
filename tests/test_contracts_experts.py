"""ExpertAux, ExpertOut, ExpertInfo, ExpertRef and the Expert / ExpertRegistry protocols."""

import json

import attrs
import numpy as np
import pytest
from himoe_registry import Registry

from himoe_core import Expert, ExpertAux, ExpertOut, InvalidInput, NoExpertSelected, Value, ValueKind
from himoe_core.routing import ExpertId, ExpertInfo, ExpertRef, ExpertRegistry, stable_id


class Echo:
    """Echoes its input.

    More text that list-experts must not show.
    """

    name = "echo"

    def can_handle(self, task):
        return True

    def infer(self, x, ctx):
        return x.as_text()


# -- ExpertAux ---------------------------------------------------------------------------------------
def test_expert_aux_defaults():
    aux = ExpertAux()
    assert (aux.latency_ms, aux.cost_units, aux.confidence, aux.trace_id) == (0.0, 0.0, 1.0, None)


@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan"), float("inf"), "0.5", None, True])
def test_confidence_outside_zero_one_is_refused_naming_the_value(bad):
    with pytest.raises(InvalidInput) as info:
        ExpertAux(confidence=bad)
    assert "ExpertAux.confidence must be a number in [0, 1]" in str(info.value)
    assert f"got {bad!r}" in str(info.value)


@pytest.mark.parametrize("field", ["cost_units", "latency_ms"])
@pytest.mark.parametrize("bad", [-1, -0.5, float("nan"), float("inf"), "3", False])
def test_negative_or_non_finite_cost_and_latency_are_refused(field, bad):
    with pytest.raises(InvalidInput) as info:
        ExpertAux(**{field: bad})
    assert f"ExpertAux.{field} must be a finite number >= 0" in str(info.value)
    assert f"got {bad!r}" in str(info.value)


def test_numpy_numbers_are_accepted_and_stored_as_plain_floats():
    aux = ExpertAux(latency_ms=np.int64(3), cost_units=np.float32(0.25), confidence=np.float32(0.5))
    assert (aux.latency_ms, aux.cost_units, aux.confidence) == (3.0, 0.25, 0.5)
    assert all(type(v) is float for v in (aux.latency_ms, aux.cost_units, aux.confidence))
    json.dumps(attrs.asdict(aux))


def test_a_huge_integer_cost_is_refused_not_an_overflow_error():
    with pytest.raises(InvalidInput, match="got inf"):
        ExpertAux(cost_units=10**400)


def test_expert_aux_is_frozen_and_evolve_revalidates():
    aux = ExpertAux(confidence=0.5)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        aux.confidence = 0.9
    assert attrs.evolve(aux, latency_ms=12.5, trace_id="t").latency_ms == 12.5
    with pytest.raises(InvalidInput, match="confidence"):
        attrs.evolve(aux, confidence=2.0)


# -- ExpertOut ---------------------------------------------------------------------------------------
def test_expert_out_of_wraps_raw_results_with_to_value():
    out = ExpertOut.of({"answer": 42}, cost_units=0.5, confidence=0.25)
    assert out.value == Value.json({"answer": 42})
    assert (out.aux.cost_units, out.aux.confidence) == (0.5, 0.25)
    assert ExpertOut.of("hi").value.kind is ValueKind.TEXT
    assert ExpertOut.of(None).value.is_none()


def test_expert_out_of_returns_an_expert_out_as_is():
    out = ExpertOut(Value.text("x"), ExpertAux(confidence=0.1))
    assert ExpertOut.of(out, confidence=0.9) is out


def test_expert_out_of_refuses_unadaptable_results():
    with pytest.raises(InvalidInput, match="cannot turn a set into a Value"):
        ExpertOut.of({1})


def test_expert_out_checks_its_field_types():
    with pytest.raises(TypeError, match="value"):
        ExpertOut("not a Value")
    with pytest.raises(TypeError, match="aux"):
        ExpertOut(Value.text("x"), {"confidence": 1.0})


# -- ExpertInfo ----------------------------------------------------------------------------------------
def test_expert_info_describes_an_expert_with_docstring_first_line():
    info = ExpertInfo.describe(stable_id("echo"), Echo(), "my-dist", "1.2")
    assert info.name == "echo"
    assert info.description == "Echoes its input."
    assert info.domain == "general"
    assert info.to_jsonable() == {
        "id": str(stable_id("echo")),
        "name": "echo",
        "domain": "general",
        "plugin": "my-dist",
        "version": "1.2",
        "description": "Echoes its input.",
        "example": None,
    }
    assert len(info.to_jsonable()["id"]) == 16


def test_expert_info_prefers_explicit_domain_and_description():
    expert = Echo()
    expert.domain = "text"
    expert.description = "  Says it back.\nsecond line"
    expert.example = " echo: hi\nmore"
    info = ExpertInfo.describe(stable_id("echo"), expert, "p", None)
    assert (info.domain, info.description, info.version, info.example) == ("text", "Says it back.", None, "echo: hi")
    expert.example = 42  # not a request: ignored, like a blank one
    assert ExpertInfo.describe(stable_id("echo"), expert, "p", None).example is None


def test_expert_domain_defaults_to_its_experts_folder():
    namespace: dict = {"__name__": "some_plugin.experts.vision.digits"}
    exec("class Digits:\n    name = 'digits'\n", namespace)
    info = ExpertInfo.describe(stable_id("digits"), namespace["Digits"](), "p", "1")
    assert info.domain == "vision"
    assert info.description == ""


def test_rule_planner_id_is_the_documented_one():
    assert str(stable_id("rule_planner")) == "21173fea50be1d0d"
    assert isinstance(stable_id("rule_planner"), ExpertId)


# -- ExpertRef and protocols -------------------------------------------------------------------------
def test_expert_ref_compares_by_id_and_exposes_the_name():
    a = ExpertRef(stable_id("echo"), Echo())
    b = ExpertRef(stable_id("echo"), Echo())
    assert a == b and hash(a) == hash(b)
    assert a.name == "echo"
    assert repr(a) == f"ExpertRef('echo', {stable_id('echo')})"
    assert a != ExpertRef(stable_id("other"), Echo())


def test_expert_protocol_is_runtime_checkable():
    assert isinstance(Echo(), Expert)

    class NoInfer:
        name = "x"

        def can_handle(self, task):
            return True

    assert not isinstance(NoInfer(), Expert)


def test_the_registry_satisfies_the_expert_registry_protocol():
    registry = Registry(kind="expert")
    registry.add("echo", Echo(), source="test")
    assert isinstance(registry, ExpertRegistry)
    assert registry.list() == [(stable_id("echo"), "echo")]
    assert not isinstance(object(), ExpertRegistry)


def test_stamped_sets_latency_and_trace_id_keeps_the_rest_and_a_subclass():
    out = ExpertOut(Value.text("a"), ExpertAux(cost_units=2.0, confidence=0.5, trace_id="expert's own"))
    stamped = out.stamped(3.0, "t1")
    assert stamped == ExpertOut(
        Value.text("a"), ExpertAux(latency_ms=3.0, cost_units=2.0, confidence=0.5, trace_id="t1")
    )
    assert type(stamped.aux) is ExpertAux

    @attrs.frozen
    class TaggedAux(ExpertAux):
        tag: str = "x"

    tagged = ExpertOut(Value.text("b"), TaggedAux(cost_units=1.0, tag="kept")).stamped(4.0, "t2").aux
    assert type(tagged) is TaggedAux and (tagged.tag, tagged.latency_ms, tagged.trace_id) == ("kept", 4.0, "t2")
    with pytest.raises(InvalidInput, match=r"ExpertAux\.latency_ms must be a finite number >= 0, got -1\.0"):
        out.stamped(-1.0, "t3")


def test_measured_wraps_a_plain_value_with_the_routers_latency_and_cost():
    assert ExpertOut.measured(Value.text("a"), 2.5, 1.0, "t1") == ExpertOut(
        Value.text("a"), ExpertAux(latency_ms=2.5, cost_units=1.0, confidence=1.0, trace_id="t1")
    )
    with pytest.raises(InvalidInput, match=r"ExpertAux\.cost_units must be a finite number >= 0, got nan"):
        ExpertOut.measured(Value.text("a"), 2.5, float("nan"), "t1")
    with pytest.raises(TypeError, match="ExpertOut's value must be a Value, not a str"):
        ExpertOut.measured("a", 2.5, 1.0, "t1")


@pytest.mark.parametrize(
    ("raw", "fix"),
    [
        ("just a string", "Value.text(...)"),
        ({"a": 1}, "Value.json(...)"),
        ((1, 2), "Value.json(list(...))"),
        ([1], "Value.json(...)"),
    ],
)
def test_an_expert_out_of_a_raw_value_names_the_value_to_wrap_it_in(raw, fix):
    with pytest.raises(TypeError) as info:
        ExpertOut(raw, ExpertAux())
    message = str(info.value)
    assert message == f"ExpertOut's value must be a Value, not a {type(raw).__name__}; wrap it: ExpertOut({fix}, aux)"
    assert "Attribute(" not in message  # no attrs dump


def test_an_expert_returning_a_bare_string_in_an_expert_out_fails_its_call_with_the_fix(himoe_factory):
    class Careless:
        name = "careless"

        def can_handle(self, task):
            return True

        async def infer(self, x, ctx):
            return ExpertOut("just a string", ExpertAux())

    moe = himoe_factory(experts=[Careless()])
    with pytest.raises(NoExpertSelected) as info:
        moe.run_sync("hello")
    assert "careless" in str(info.value) and "Value.text(...)" in str(info.value)
    assert "Attribute(" not in str(info.value)


def test_an_expert_returning_a_tuple_fails_its_call_naming_expert_out(himoe_factory):
    class Pair:
        name = "pair"

        def can_handle(self, task):
            return True

        async def infer(self, x, ctx):
            return Value.text("hi"), ExpertAux()

    moe = himoe_factory(experts=[Pair()])
    with pytest.raises(NoExpertSelected) as info:
        moe.run_sync("hello")
    assert "pair" in str(info.value) and "ExpertOut(value, aux)" in str(info.value)
