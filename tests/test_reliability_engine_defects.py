"""Reliability round two, the engine's share (issue 17): D2 and D9 (feedback values checked
before anything learns, no non-finite state saved), D4 (close() under run_sync), D7 (a reused
trace id), D8 (reward xor task_loss in the API); and plugin authors' walls (issue 16): a
`can_handle` that raises is named, an InvalidInput names its expert once."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from himoe_core import Cancelled, HiMoE, InvalidInput, MoeError, NoExpertSelected, StateError, Value
from himoe_core.testing import ConstantExpert, HangingExpert

LEARNING_KINDS = ["symbolic", "linear", "linucb", "thompson", "hybrid", "logistic"]


def _moe(kind: str, tmp_path, experts=None) -> HiMoE:
    experts = experts or [ConstantExpert("a"), ConstantExpert("b")]
    table = {"kind": kind, "experts": [e.name for e in experts]}
    if kind != "symbolic":
        table["encoder"] = {"id": "hashing", "dim": 16}
    return HiMoE(
        experts=experts,
        entry_points=False,
        environ={},
        config={"routers": {"r": table}, "state": {"path": str(tmp_path / "state.sqlite3")}},
    )


@pytest.mark.parametrize("kind", LEARNING_KINDS)
@pytest.mark.parametrize("reward", [1e308, -1e200, 1001.0])
def test_an_extreme_reward_is_refused_before_anything_learns(tmp_path, kind, reward):
    with _moe(kind, tmp_path) as moe:
        trace_id = moe.run_sync("hello").trace_id
        with pytest.raises(InvalidInput, match=r"reward must be in \[-1000, 1000\]"):
            moe.feedback(trace_id, reward=reward)
        assert moe.feedback(trace_id, reward=1.0)["first_feedback"] is True  # nothing was learned before
        assert moe.run_sync("hello again").value == Value.text("ok")  # and the router still routes


def test_reward_and_task_loss_are_alternatives_in_the_api(tmp_path):
    with _moe("logistic", tmp_path) as moe:
        trace_id = moe.run_sync("hello").trace_id
        with pytest.raises(InvalidInput, match="give reward or task_loss, not both"):
            moe.feedback(trace_id, reward=1.0, task_loss=1.0)


def test_a_router_that_learns_non_finite_parameters_is_not_saved(tmp_path):
    with _moe("logistic", tmp_path) as moe:
        trace_id = moe.run_sync("hello").trace_id
        router = moe.routers["r"].handle
        learn = router.learn

        def poisoning(decision, feedback):
            learn(decision, feedback)
            for arm in router.model.mean.values():
                arm[0] = np.inf

        router.learn = poisoning
        with pytest.raises(StateError, match="non-finite parameters .*nothing was saved"):
            moe.feedback(trace_id, reward=1.0)
        router.learn = learn
        assert router.model is None or all(np.isfinite(arm).all() for arm in router.model.mean.values()), (
            "the update was undone"
        )
        assert moe.feedback(trace_id, reward=1.0)["first_feedback"] is True, "its row was rolled back too"


def test_a_reused_trace_id_is_refused(tmp_path):
    with _moe("static", tmp_path) as moe:
        moe.run_sync("first", trace_id="mine-1")
        with pytest.raises(InvalidInput, match="trace id 'mine-1' was already used"):
            moe.run_sync("second", trace_id="mine-1")
        moe.trainer.flush()
        moe.traces._traces.clear()  # only the state file remembers it now
        with pytest.raises(InvalidInput, match="already used"):
            moe.run_sync("third", trace_id="mine-1")


def test_an_id_from_new_trace_id_skips_the_store_lookup_once(tmp_path, monkeypatch):
    with _moe("static", tmp_path) as moe:
        looked_up: list[str] = []
        recorded = moe.trainer.recorded
        monkeypatch.setattr(moe.trainer, "recorded", lambda trace_id: looked_up.append(trace_id) or recorded(trace_id))
        issued = moe.new_trace_id()
        assert moe.run_sync("first", trace_id=issued).trace_id == issued
        assert looked_up == []  # the engine made it: nothing to prove
        moe.run_sync("mine", trace_id="mine-1")
        assert looked_up == ["mine-1"]  # a caller's own id is looked for in the store
        with pytest.raises(InvalidInput, match="already used"):  # once only: a reuse is checked
            moe.run_sync("second", trace_id=issued)


def test_new_trace_id_forgets_the_oldest_unused_ids_past_its_bound(tmp_path, monkeypatch):
    from himoe_core._engine import himoe as engine

    monkeypatch.setattr(engine, "_ISSUED_KEPT", 3)
    with _moe("static", tmp_path) as moe:
        looked_up: list[str] = []
        recorded = moe.trainer.recorded
        monkeypatch.setattr(moe.trainer, "recorded", lambda trace_id: looked_up.append(trace_id) or recorded(trace_id))
        ids = [moe.new_trace_id() for _ in range(4)]
        assert len(moe._issued) == 3
        for trace_id in ids:
            assert moe.run_sync("request", trace_id=trace_id).trace_id == trace_id
        assert looked_up == [ids[0]]  # forgotten, so checked like a caller's own; still answered


def test_close_under_run_sync_gives_callers_a_moe_error():
    hanging = HangingExpert("stuck")
    moe = HiMoE(experts=[hanging], entry_points=False, environ={}, config={"state": {"enabled": False}})
    caught: list[BaseException] = []

    def call():
        try:
            moe.run_sync("never answered", budget_ms=60_000)
        except BaseException as exc:  # noqa: BLE001 - what reaches the caller is the point
            caught.append(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    while hanging.calls < 4:  # every call is in flight on the loop
        time.sleep(0.01)
    moe.close()
    for thread in threads:
        thread.join(timeout=30)
    assert len(caught) == 4
    assert all(isinstance(exc, MoeError) for exc in caught), caught
    assert any(isinstance(exc, Cancelled) and "closed" in str(exc) for exc in caught)


UNITS_PLUGIN = """
from himoe_core import Value, hookimpl


class UnitConverter:
    name = "unit_converter"
    example = "units: 5 km to mi"

    def can_handle(self, task):
        raise KeyError("unit table not loaded")

    async def infer(self, x, ctx):
        return Value.text("never")


@hookimpl
def register_experts(register):
    register(UnitConverter())
"""


@pytest.fixture
def units_plugins_dir(tmp_path):
    """A --plugins-dir holding the unit converter (owner-writable only, as himoe requires)."""
    import os

    folder = tmp_path / "plugins"
    folder.mkdir()
    os.chmod(folder, 0o755)
    (folder / "units.py").write_text(UNITS_PLUGIN)
    return folder


def test_a_can_handle_that_raises_is_named_in_the_error(units_plugins_dir):
    moe = HiMoE(plugins_dir=units_plugins_dir, entry_points=False, environ={}, config={"state": {"enabled": False}})
    with pytest.raises(NoExpertSelected) as info:
        moe.run_sync("units: 5 km to mi")
    assert info.value.failures == {"unit_converter": "can_handle raised KeyError: 'unit table not loaded'"}
    assert "unit table not loaded" in str(info.value)


class Refuser:
    name = "unit_converter"

    def can_handle(self, task):
        return True

    async def infer(self, x, ctx):
        raise InvalidInput("unit_converter: unknown unit 'furlong'")


def test_an_input_every_expert_refuses_names_the_expert_once():
    moe = HiMoE(experts=[Refuser()], entry_points=False, environ={}, config={"state": {"enabled": False}})
    with pytest.raises(InvalidInput) as info:
        moe.run_sync("units: 5 furlong to m")
    assert str(info.value).count("unit_converter") == 1, str(info.value)


def test_explain_on_a_failed_request_prints_the_routing_table_and_the_cause(tmp_path, himoe_main, units_plugins_dir):
    result = himoe_main(
        ["run", "units: 5 km to mi", "--explain", "--plugins-dir", str(units_plugins_dir)],
        env={"HIMOE_LOAD_PLUGINS": "units", "HIMOE_STATE": str(tmp_path / "s.sqlite3")},
    )
    assert result.code == 1
    assert "router default: failed" in result.out and "EXPERT" in result.out
    assert "can_handle raised KeyError: 'unit table not loaded'" in result.out
    assert "can_handle raised KeyError: 'unit table not loaded'" in result.err.splitlines()[-1]
