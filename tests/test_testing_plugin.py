"""himoe's pytest plugin for plugin authors: the fixtures work, and so do the trace assertions —
in this test session, and in a plugin author's own test session (run here with pytester)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import trio

from himoe_core import PluginError
from himoe_core.testing import (
    EchoExpert,
    FailingExpert,
    HangingExpert,
    SleepyExpert,
    assert_examples_answered,
    assert_routed,
    describe_routing,
    pytest_plugin,
    trace_calls,
)

pytest_plugins = ["pytester"]

# The plugin module is already imported by this session: pytester's in-process run cannot rewrite it
# (it has no assert statements to rewrite anyway).
QUIET = ("-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning")

AUTHOR_PLUGIN = '''
"""A plugin author's module: one expert, registered through the himoe hook."""
from himoe_core import ExpertAux, ExpertOut, Value, hookimpl


class Shout:
    name = "shout"
    domain = "text"

    def can_handle(self, task):
        return task.startswith("shout:")

    async def infer(self, x, ctx):
        return ExpertOut(Value.text(x.as_text()[6:].strip().upper()), ExpertAux(confidence=1.0))


@hookimpl
def register_experts(register):
    register(Shout())
'''

AUTHOR_TESTS = """
import pytest
import trio

from himoe_core.testing import FailingExpert, HangingExpert, SleepyExpert, assert_routed, trace_calls

import shout_plugin


def test_the_plugin_answers(himoe_factory):
    moe = himoe_factory(plugins=[shout_plugin])
    response = moe.run_sync("shout: hello")
    assert response.value.as_text() == "HELLO"
    assert_routed(response, expert="shout", router="default")


def test_a_failing_neighbour_does_not_matter(himoe_factory):
    moe = himoe_factory([FailingExpert("broken", prefix="shout:")], plugins=[shout_plugin])
    response = moe.run_sync("shout: hi")
    assert response.value.as_text() == "HI"
    assert_routed(response, expert="broken", status="failed")


def test_deadlines_on_the_mock_clock(himoe_factory, run_trio, mock_clock):
    moe = himoe_factory([HangingExpert("stuck", prefix="shout:")], plugins=[shout_plugin])

    async def timed():
        start = trio.current_time()
        response = await moe.run("shout: quick", budget_ms=250)
        return response, trio.current_time() - start

    response, elapsed = run_trio(timed)
    assert elapsed == pytest.approx(0.250)
    assert_routed(response, expert="stuck", status="timed_out")
    assert trace_calls(response)["shout"]["status"] == "ok"
"""


# -- the fixtures, in this session ----------------------------------------------------------------------------
def test_himoe_factory_builds_an_instance_with_only_the_given_experts(himoe_factory):
    echo = EchoExpert("echo", reply_prefix="", prefix="echo:")
    moe = himoe_factory([echo, FailingExpert("broken", prefix="echo:")])
    assert sorted(info.name for info in moe.host.expert_infos()) == ["broken", "echo"]
    response = moe.run_sync("echo: hi")
    assert response.value.as_text() == "echo: hi"
    record = assert_routed(response, expert=echo, router="default")
    assert record["value"] == {"kind": "text", "schema": 1, "data": "echo: hi"}
    assert_routed(response, expert="broken", status="failed")
    assert moe.trainer.enabled is False  # state stays in memory unless the test asks for a file


def test_himoe_factory_teardown_closes_each_instance(tmp_path):
    fixture = pytest_plugin.himoe_factory.__wrapped__(tmp_path)
    build = next(fixture)
    first, second = build([EchoExpert("a")]), build([EchoExpert("b")])
    closed = []
    for moe in (first, second):
        moe.close = lambda moe=moe: closed.append(moe)
    with pytest.raises(StopIteration):
        next(fixture)
    assert closed == [second, first]


def test_himoe_factory_state_file_lives_in_tmp_path(himoe_factory, tmp_path):
    moe = himoe_factory([EchoExpert("echo")], state=True)
    assert moe.trainer.enabled is True
    assert str(moe.trainer.path) == str(tmp_path / "himoe-state.sqlite3")
    elsewhere = himoe_factory([EchoExpert("echo")], state=tmp_path / "other.sqlite3")
    assert str(elsewhere.trainer.path) == str(tmp_path / "other.sqlite3")


def test_himoe_factory_keeps_the_config_and_ignores_the_shell_plugin_settings(himoe_factory, monkeypatch):
    monkeypatch.setenv("HIMOE_DISABLE_PLUGINS", "himoe")  # would disable the built-in routers
    config = {
        "himoe": {"budget_ms": 50},
        "routers": {"only": {"kind": "static", "experts": ["a"], "k": 1}},
        "state": {"enabled": True, "path": "/nonexistent/never-written.sqlite3"},
    }
    moe = himoe_factory([EchoExpert("a"), EchoExpert("b")], config=config)
    assert moe.budget_ms == 50 and moe.trainer.enabled is False
    assert_routed(moe.run_sync("x"), expert="a", router="only")


def test_himoe_factory_is_strict_about_plugins(himoe_factory):
    class Broken:
        from himoe_core import hookimpl

        @hookimpl
        def register_experts(self, register):
            raise RuntimeError("cannot load my model")

    with pytest.raises(PluginError, match="cannot load my model"):
        himoe_factory(plugins=[Broken()])
    assert himoe_factory(plugins=[Broken()], strict=False).host.expert_infos() == []


def test_run_trio_runs_on_the_mock_clock(himoe_factory, run_trio, mock_clock):
    moe = himoe_factory([SleepyExpert("fast", delay_s=0.010, value="fast"), HangingExpert("stuck")])

    async def timed():
        start = trio.current_time()
        response = await moe.run("question", budget_ms=100)
        return response, trio.current_time() - start

    response, elapsed = run_trio(timed)
    assert elapsed == pytest.approx(0.100)
    assert trace_calls(response)["fast"]["latency_ms"] == pytest.approx(10.0, abs=1e-3)
    assert_routed(response, expert="stuck", status="timed_out")
    # keyword arguments go to the function; the clock keeps going forward across runs
    again = run_trio(moe.run, "question", budget_ms=100)
    assert again.value.as_text() == "fast"
    assert mock_clock.current_time() >= 0.2


def test_run_trio_on_the_real_clock(run_trio):
    async def now():
        return trio.current_time()

    assert run_trio(now, real_clock=True) > 1.0  # trio's real clock starts at a random large offset


def test_the_plugin_reexports_the_testing_helpers():
    from himoe_core import testing

    assert {"SleepyExpert", "FailingExpert", "HangingExpert", "assert_routed", "trace_calls"} <= set(testing.__all__)
    for name in testing.__all__:
        assert getattr(pytest_plugin, name) is getattr(testing, name)
    with pytest.raises(AttributeError):
        pytest_plugin.NoSuchThing  # noqa: B018


def test_loading_the_plugin_is_cheap():
    code = (
        "import sys, himoe_core.testing.pytest_plugin\n"
        "print(sorted(m for m in ('trio', 'numpy', 'himoe_core._engine') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- the trace assertions ------------------------------------------------------------------------------------
def test_assert_routed_failure_shows_the_whole_routing(himoe_factory):
    moe = himoe_factory([EchoExpert("echo", prefix="echo:"), FailingExpert("broken", message="model missing")])
    response = moe.run_sync("echo: hi")
    with pytest.raises(AssertionError) as caught:
        assert_routed(response, expert="echo", router="other", status="failed")
    message = str(caught.value)
    assert "expected router 'other' to serve the request, but 'default' did" in message
    assert "expected expert 'echo' to be called and end 'failed', but its call ended 'ok'" in message
    assert "attempt 1: router 'default' — ok" in message
    assert "call:  broken failed in" in message and "(cause: RuntimeError: model missing)" in message
    assert "answer: text 'echo: echo: hi'" in message
    with pytest.raises(
        AssertionError,
        match=r"expected expert 'nobody' to be called, but it was not called "
        r"\(called: (echo, broken|broken, echo)\)",
    ):
        assert_routed(response, expert="nobody", status=None)


def test_assert_routed_reads_a_failed_request_trace(himoe_factory):
    from himoe_core import NoExpertSelected

    moe = himoe_factory([FailingExpert("broken")])
    with pytest.raises(NoExpertSelected):
        moe.run_sync("anything")
    [trace] = moe.traces.recent()
    assert_routed(trace, expert="broken", status="failed", router="default")
    assert "error: NoExpertSelected" in describe_routing(trace)


def test_assert_routed_rejects_bad_arguments():
    with pytest.raises(ValueError, match="status must be one of ok, failed, timed_out, dropped, cancelled"):
        assert_routed({"attempts": []}, expert="x", status="done")
    with pytest.raises(TypeError, match="expected a himoe Response or its trace dict"):
        trace_calls("not a response")


def test_assert_examples_answered_sends_each_example_to_its_expert(himoe_factory):
    class Shout:
        name, example = "shout", "shout: hi"

        def can_handle(self, task: str) -> bool:
            return task.startswith("shout:")

        async def infer(self, x, ctx):
            return x.as_text().upper()

    class Misleading(Shout):
        name, example = "misleading", "sing: la"  # an example its own can_handle refuses

    class Silent(Shout):
        name, example = "silent", None

    assert assert_examples_answered(himoe_factory([Shout()])) == ["shout"]
    with pytest.raises(
        AssertionError,
        match=r"^expert 'misleading': its example 'sing: la' got no answer: no "
        r"expert selected: .* has no expert that can handle text 'sing: la'",
    ):
        assert_examples_answered(himoe_factory([Misleading()]))
    with pytest.raises(AssertionError, match=r"^expert 'silent' has no `example`: give it one request it answers"):
        assert_examples_answered(himoe_factory([Silent()]))


# -- in a plugin author's own session (pytester) ---------------------------------------------------------------
def test_an_authors_tests_pass_with_the_fixtures(pytester, himoe_plugin_args):
    pytester.makepyfile(shout_plugin=AUTHOR_PLUGIN, test_shout=AUTHOR_TESTS)
    pytester.syspathinsert()
    result = pytester.runpytest(*himoe_plugin_args, *QUIET)
    result.assert_outcomes(passed=3)


def test_a_wrong_expectation_fails_with_a_readable_message(pytester, himoe_plugin_args):
    pytester.makepyfile(
        shout_plugin=AUTHOR_PLUGIN,
        test_wrong=textwrap.dedent("""
        from himoe_core.testing import FailingExpert, assert_routed
        import shout_plugin

        def test_expects_the_wrong_expert(himoe_factory):
            moe = himoe_factory([FailingExpert("broken", prefix="shout:", message="no model")],
                                plugins=[shout_plugin])
            response = moe.run_sync("shout: hi")
            assert_routed(response, expert="broken")
    """),
    )
    pytester.syspathinsert()
    result = pytester.runpytest(*himoe_plugin_args, *QUIET)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: expected expert 'broken' to be called and end 'ok', but its call ended 'failed' "
            "(RuntimeError: no model)",
            "*routing of trace * (input text(9 chars), task None, budget 1000.0 ms):",
            "*attempt 1: router 'default' — ok",
            "*gate:  * 0.500, * 0.500",
        ]
    )
    result.stdout.fnmatch_lines(["*call:  shout ok in * ms -> text 'HI'"])
    result.stdout.fnmatch_lines(["*call:  broken failed in * ms (cause: RuntimeError: no model)"])
    result.stdout.fnmatch_lines(["*answer: text 'HI'"])
    result.stdout.no_fnmatch_line("*raise AssertionError*")  # the helper's own frame is hidden
