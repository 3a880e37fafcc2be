"""Regression tests for the bugs the fuzzers (tests/test_fuzz_api.py, tests/test_fuzz_cli.py) found,
each as the smallest case that failed before its fix (issue 17, "fuzzing in CI")."""

from __future__ import annotations

import re

import numpy as np
import pytest
import trio

from himoe_core import HiMoE, InvalidInput, NoExpertSelected
from himoe_core.testing import LearningExpert


@pytest.fixture
def moe(tmp_path):
    with HiMoE(
        experts=[LearningExpert("a")], entry_points=False, config={"state": {"path": str(tmp_path / "s.sqlite3")}}
    ) as moe:
        yield moe


# -- found by the API fuzzer -------------------------------------------------------------------------------
@pytest.mark.parametrize("router", [[], {}, ["default"], np.array([1])])
def test_a_router_that_is_not_a_str_is_an_unknown_router(moe, router):
    # was: TypeError: unhashable type: 'list' (run, run_sync, decide)
    with pytest.raises(NoExpertSelected, match=r"unknown router .*; configured routers: default"):
        moe.run_sync("hi", router=router)
    with pytest.raises(NoExpertSelected, match="unknown router"):
        trio.run(lambda: moe.decide("hi", router=router))


@pytest.mark.parametrize("trace_id", [[], {}, 0, False, [1], np.array([1.0, np.nan])])
def test_a_trace_id_that_is_not_a_str_is_invalid_input(moe, trace_id):
    # was: TypeError: unhashable type: 'list'; a falsy one ([] or 0) was replaced by a new id;
    # an array: ValueError, its truth value is ambiguous (the long API fuzz run, 8 of 20,000 cases)
    with pytest.raises(InvalidInput, match=r"trace_id must be a str, got"):
        moe.run_sync("hi", trace_id=trace_id)
    with pytest.raises(InvalidInput, match=r"(trace_id must be a str|Context.trace_id must be a str), got"):
        trio.run(lambda: moe.decide("hi", trace_id=trace_id))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"scores": True}, "scores must map expert names to numbers, got bool True"),
        ({"scores": [0.5]}, r"scores must map expert names to numbers, got list \[0.5\]"),
        ({"scores": np.float32(0.5)}, "scores must map expert names to numbers, got float32"),
        ({"scores": {1: 0.5, "a": 0.2}}, "scores must map expert names to numbers, got the key 1"),
        ({"reward": 1.0, "shadow_scores": "s"}, "shadow_scores must map shadow router names to numbers, got str 's'"),
        ({"reward": 1.0, "shadow_scores": 5}, "shadow_scores must map shadow router names to numbers, got int 5"),
    ],
)
def test_feedback_scores_that_are_not_a_mapping_are_invalid_input(moe, kwargs, message):
    # was: AttributeError: 'bool' object has no attribute 'items' (or a TypeError from sorting the keys)
    trace_id = moe.run_sync("hi").trace_id
    with pytest.raises(InvalidInput, match=message):
        moe.feedback(trace_id, **kwargs)
    assert moe.feedback(trace_id, reward=1.0)["first_feedback"]  # nothing was learned from the refused call


@pytest.mark.parametrize(
    "trace_id, message",
    [
        ([], "trace_id must be a str .*, got list"),
        ({"t": 1}, "trace_id must be a str .*, got dict"),
        (None, "trace_id must be a str .*, got NoneType"),
        ("id\udce9", r"trace id is not valid Unicode: a lone surrogate '\\udce9' at position 2"),
    ],
)
def test_feedback_on_a_trace_id_that_is_not_a_str_is_invalid_input(moe, trace_id, message):
    # was: TypeError: unhashable type: 'list'; UnicodeEncodeError from the state file's query
    moe.run_sync("hi")
    with pytest.raises(InvalidInput, match=message):
        moe.feedback(trace_id, reward=1.0)


def test_cli_feedback_on_invalid_utf8_trace_id_is_one_clear_line(himoe_main):
    # `himoe feedback $'\xff'`: was "UnicodeEncodeError: … (run with --debug for the traceback)"
    line = himoe_main(["feedback", "id\udcff", "--reward", "1"]).error_line()
    assert line.startswith("himoe: error: trace id is not valid Unicode: a lone surrogate '\\udcff'")


# -- found by the CLI fuzzer -------------------------------------------------------------------------------
def test_trace_plugins_names_hooks_never_the_config_values(himoe_main, tmp_path):
    # HIMOE_TRACE_PLUGINS=1 printed each hook's arguments: the plugin tables, secrets included
    config = tmp_path / "himoe.toml"
    config.write_text(
        "[plugins.himoe-http.experts.remote]\n"
        'kind = "json"\nurl = "http://127.0.0.1:9/v1?key=CANARY1234"\ntasks = ["x:"]\n'
        'headers = { X-Token = "t-CANARY1234" }\n'
    )
    result = himoe_main(
        ["list-experts", "--config", str(config)], env={"HIMOE_TRACE_PLUGINS": "1", "HIMOE_LOAD_PLUGINS": "himoe-http"}
    )
    assert result.code == 0, result
    assert "himoe: hook register_experts(register, config) -> " in result.err
    assert "himoe-http" in result.err.split("register_experts(register, config) -> ")[1].splitlines()[0]
    assert "CANARY1234" not in result.err + result.out


def test_decide_through_a_router_that_raises_is_no_expert_selected():
    # found in review beside the fuzzers' findings: run turned a faulty router's exception into
    # NoExpertSelected, decide let it out raw (ZeroDivisionError)
    from himoe_core import hookimpl
    from himoe_core.routing import BaseRouter
    from himoe_core.testing import ConstantExpert

    class GateRaises(BaseRouter):
        kind = "gate-raises"

        def gate(self, input, ctx):
            raise ZeroDivisionError("gate exploded")

    class Plugin:
        @hookimpl
        def register_routers(self, register):
            register("gate-raises", GateRaises)

    moe = HiMoE(
        experts=[ConstantExpert("good")],
        plugins=[Plugin()],
        entry_points=False,
        config={"routers": {"r": {"kind": "gate-raises"}}, "state": {"enabled": False}},
    )
    with pytest.raises(NoExpertSelected, match="router 'r' raised ZeroDivisionError: gate exploded"):
        trio.run(lambda: moe.decide("hi"))


@pytest.mark.parametrize("key", ["kind", "aggregator"])
@pytest.mark.parametrize("value", [{}, ["static"], 3, ""])
def test_a_router_kind_or_aggregator_that_is_not_a_name_is_a_config_error(key, value):
    # `aggregator = {}` in a router's table: was TypeError: unhashable type: 'dict' at every command
    from himoe_core import ConfigError

    with pytest.raises(ConfigError, match=rf"routers.r.{key}: expected the name of .*, got {re.escape(repr(value))}"):
        HiMoE(experts=[LearningExpert("a")], entry_points=False, config={"routers": {"r": {key: value}}})


@pytest.mark.parametrize("kwargs", [{"router": []}, {"expert": {}}, {"router": 1}])
def test_reset_state_with_an_id_that_is_not_a_str_is_invalid_input(moe, kwargs):
    # found in review, beside the fuzzers' router finding: reset_state(router=[]) was a TypeError
    with pytest.raises(InvalidInput, match=r"reset_state: (router|expert) must be a (router|expert) id \(a str\), got"):
        moe.reset_state(**kwargs)


@pytest.mark.parametrize("stray", ["\xa0\x1d\x00", "\x13\x85\x1e", "a\x1cb", "x\u2028y", "v\x0bw\x0cz"])
def test_an_error_naming_a_stray_argument_with_a_line_boundary_is_one_line(himoe_main, stray):
    # `himoe stats $'\x1d'`: argparse's "unrecognized arguments" line was two lines for any reader
    # that splits like str.splitlines (\x1c-\x1e, \x85, \u2028, \v, \f), only \r and \n were escaped
    result = himoe_main(["stats", stray])
    line = result.error_line()
    assert len(result.err.splitlines()) == 1, repr(result.err)
    assert line.startswith("himoe: error: unrecognized arguments: ")


def test_an_unknown_orchestrator_option_holding_a_line_break_is_one_line():
    # found by test_property_config in the full suite: `[orchestrator] "\n" = 1` gave a two-line ConfigError
    from himoe_core import ConfigError

    with pytest.raises(ConfigError) as info:
        HiMoE(experts=[LearningExpert("a")], entry_points=False, config={"orchestrator": {"\n": 1}})
    assert "\n" not in str(info.value) and "unexpected keyword argument '\\n'" in str(info.value)
