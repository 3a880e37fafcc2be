"""Faults in the components around the experts, at request time: a router kind, an aggregator, an
encoder or an orchestrator registered by a plugin that raises (or hangs) while serving.

Loading-time isolation of plugins (a hook raising, an import failing) is in
tests/test_plugins_host.py and tests/test_plugins_discovery.py; here the plugin loaded fine, and
what it registered misbehaves later. Each case ends in a degraded answer (a fallback router
answers) or one precise error naming the component — never a raw exception from the plugin, and
never a broken HiMoE for the requests that follow.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import trio
import trio.testing

from himoe_core import ConfigError, DeadlineExceeded, HiMoE, NoExpertSelected, PluginError, hookimpl
from himoe_core._engine.himoe import ROUTER_GRACE_S
from himoe_core.routing import AggregationFailed, BaseRouter, RulesOrchestrator
from himoe_core.testing import ConstantExpert


class GateRaises(BaseRouter):
    kind = "gate-raises"

    def gate(self, input, ctx):
        raise ZeroDivisionError("gate exploded")


class CallHangs(BaseRouter):
    """A router kind whose own fan-out ignores the deadline."""

    kind = "call-hangs"

    async def call_experts(self, input, picks, ctx):
        await trio.sleep_forever()


class CombineRaises:
    id = "combine-raises"

    def combine(self, calls, scores):
        raise KeyError("combine exploded")


class EncodeRaises:
    id = "encode-raises"

    def encode(self, x):
        raise ValueError("encode exploded")


class FaultyOrchestrator(RulesOrchestrator):
    """The rules orchestrator, with one of its methods raising: `fault` names which."""

    kind = "faulty"

    def __init__(self, *, fault: str = "", **options: Any) -> None:
        super().__init__(**options)
        self.fault = fault

    def _maybe_raise(self, method: str) -> None:
        if self.fault == method:
            raise RuntimeError(f"{method} exploded")

    def choose_router(self, x, ctx):
        self._maybe_raise("choose_router")
        return super().choose_router(x, ctx)

    def fallbacks(self, x, ctx, primary):
        self._maybe_raise("fallbacks")
        return super().fallbacks(x, ctx, primary)

    def shadows(self, x, ctx, primary):
        self._maybe_raise("shadows")
        return super().shadows(x, ctx, primary)

    def synthesize(self, served):
        self._maybe_raise("synthesize")
        return super().synthesize(served)

    def feedback(self, fb):
        self._maybe_raise("feedback")
        return super().feedback(fb)


def explode(**options):
    raise RuntimeError("factory exploded")


class FaultyPlugin:
    """Registers every faulty component, the way a third-party plugin would."""

    name = "faulty-plugin"

    @hookimpl
    def register_routers(self, register):
        register("gate-raises", GateRaises)
        register("call-hangs", CallHangs)
        register("explodes", explode)

    @hookimpl
    def register_aggregators(self, register):
        register(CombineRaises())

    @hookimpl
    def register_encoders(self, register):
        register(EncodeRaises())

    @hookimpl
    def register_orchestrators(self, register):
        register("faulty", FaultyOrchestrator)


ROUTERS = {
    "ok": {"kind": "static", "experts": ["good"]},
    "gate": {"kind": "gate-raises", "experts": ["good"]},
    "hangs": {"kind": "call-hangs", "experts": ["good"]},
    "combine": {"kind": "static", "experts": ["good"], "aggregator": "combine-raises"},
    "encode": {"kind": "linear", "experts": ["good"], "encoder": "encode-raises"},
}


def make_moe(orchestrator: dict | None = None, *, budget_ms: float = 100, **config: Any) -> HiMoE:
    return HiMoE(
        experts=[ConstantExpert("good", value="good answer")],
        plugins=[FaultyPlugin()],
        entry_points=False,
        environ={"HIMOE_STRICT_PLUGINS": "1"},
        config={
            "himoe": {"budget_ms": budget_ms},
            "routers": ROUTERS,
            "state": {"enabled": False},
            "orchestrator": orchestrator or {"kind": "rules", "default": "ok"},
            **config,
        },
    )


def mock_run(fn, *args, **kwargs):
    async def main():
        return await fn(*args, **kwargs)

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


# -- routers, aggregators, encoders -------------------------------------------------------------------------
COMPONENT_FAULTS = [
    ("gate", NoExpertSelected, r"^no expert selected: router 'gate' raised ZeroDivisionError: gate exploded$"),
    (
        "combine",
        AggregationFailed,
        r"^aggregation failed: aggregator 'combine-raises' of router 'combine' raised "
        r"KeyError: 'combine exploded'$",
    ),
    ("encode", NoExpertSelected, r"^no expert selected: router 'encode' raised ValueError: encode exploded$"),
]


@pytest.mark.parametrize("router, error, message", COMPONENT_FAULTS, ids=[c[0] for c in COMPONENT_FAULTS])
def test_a_raising_component_is_one_precise_error(router, error, message):
    moe = make_moe()
    with pytest.raises(error) as info:
        mock_run(moe.run, "question", router=router)
    assert re.match(message, str(info.value)), str(info.value)
    trace = moe.traces.recent(1)[0]
    assert trace["attempts"][0]["status"] == "failed"
    assert trace["error"] == f"{error.__name__}: {info.value}"
    assert mock_run(moe.run, "question").value.as_text() == "good answer", "the next request is served"


@pytest.mark.parametrize("router", [c[0] for c in COMPONENT_FAULTS])
def test_a_fallback_router_answers_when_a_component_raises(router):
    moe = make_moe({"kind": "rules", "default": router, "fallbacks": ["ok"]})
    response = mock_run(moe.run, "question")
    assert response.value.as_text() == "good answer" and response.router == "ok"
    first = response.trace["attempts"][0]
    assert first["router"] == router and first["status"] == "failed" and "exploded" in first["error"]


def test_a_raising_router_factory_is_a_plugin_error_naming_the_kind_and_plugin():
    with pytest.raises(
        PluginError,
        match=r"^routers.r: router kind 'explodes' \(registered by 'faulty-plugin'\) "
        r"failed to build: RuntimeError: factory exploded$",
    ):
        HiMoE(
            experts=[ConstantExpert("good")],
            plugins=[FaultyPlugin()],
            entry_points=False,
            environ={},
            config={"routers": {"r": {"kind": "explodes"}}, "state": {"enabled": False}},
        )


def test_a_router_kind_whose_plugin_failed_to_load_is_a_config_error():
    class Broken:
        name = "broken-plugin"

        @hookimpl
        def register_routers(self, register):
            raise RuntimeError("hook exploded")

    # the load failure itself is one warning line on stderr (tests/test_plugins_host.py)
    with pytest.raises(ConfigError, match=r"routers.r.kind: unknown router kind 'gate-raises'; installed kinds: "):
        HiMoE(
            experts=[ConstantExpert("good")],
            plugins=[Broken()],
            entry_points=False,
            environ={},
            config={"routers": {"r": {"kind": "gate-raises"}}, "state": {"enabled": False}},
        )


def test_a_router_whose_fan_out_hangs_is_cut_at_the_deadline():
    moe = make_moe()

    async def main():
        started = trio.current_time()
        with trio.move_on_after(10):
            with pytest.raises(
                DeadlineExceeded,
                match=r"within the 100 ms budget \(router 'hangs' did not return "
                r"by the deadline\)",
            ):
                await moe.run("question", router="hangs")
        return trio.current_time() - started

    elapsed = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert elapsed == pytest.approx(0.100 + ROUTER_GRACE_S)  # a router of its own is cut from outside, 5 ms later
    assert mock_run(moe.run, "question").value.as_text() == "good answer", "the next request is served"


class SlowToUnwind:
    """Hangs; when cut, spends 20 ms cleaning up on the loop (closing a connection, flushing a file)."""

    name = "slow_unwind"

    def can_handle(self, task):
        return True

    async def infer(self, x, ctx):
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            time.sleep(0.020)
            raise


def test_a_well_behaved_router_keeps_its_answers_when_an_expert_is_slow_to_unwind():
    moe = HiMoE(
        experts=[SlowToUnwind(), ConstantExpert("good", value="good answer")],
        entry_points=False,
        environ={},
        config={
            "himoe": {"budget_ms": 50},
            "state": {"enabled": False},
            "routers": {"r": {"experts": ["slow_unwind", "good"], "k": 2}},
        },
    )
    response = trio.run(moe.run, "question")  # the real clock: the cleanup blocks the loop
    assert response.value.as_text() == "good answer"
    assert {c["expert"]: c["status"] for c in response.trace["attempts"][0]["calls"]} == {
        "slow_unwind": "timed_out",
        "good": "ok",
    }


# -- the orchestrator -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", ["choose_router", "fallbacks", "synthesize"])
def test_an_orchestrator_raising_is_one_precise_error(fault):
    # Fallbacks are asked for only when the primary router fails: here it does.
    primary = "gate" if fault == "fallbacks" else "ok"
    moe = make_moe({"kind": "faulty", "fault": fault, "default": primary, "fallbacks": ["ok"]})
    with pytest.raises(
        NoExpertSelected,
        match=rf"^no expert selected: orchestrator 'faulty' raised RuntimeError: "
        rf"{fault} exploded \(in {fault}\)$",
    ):
        mock_run(moe.run, "question")


def test_fallbacks_are_not_asked_for_while_the_primary_router_answers():
    moe = make_moe({"kind": "faulty", "fault": "fallbacks", "default": "ok", "fallbacks": ["gate"]})
    assert mock_run(moe.run, "question").value.as_text() == "good answer"


def test_an_orchestrator_whose_shadows_raise_still_answers():
    moe = make_moe({"kind": "faulty", "fault": "shadows", "default": "ok", "shadows": ["combine"]})
    response = mock_run(moe.run, "question")
    assert response.value.as_text() == "good answer"
    [record] = response.trace["shadows"]
    assert record["status"] == "skipped" and "shadows exploded" in record["reason"]


def test_a_shadow_whose_feedback_raises_never_reaches_the_app():
    options = {
        "experts": [ConstantExpert("good", value="good answer")],
        "plugins": [FaultyPlugin()],
        "entry_points": False,
        "environ": {},
        "config": {
            "himoe": {"budget_ms": 100},
            "routers": ROUTERS,
            "state": {"enabled": False},
            "orchestrator": {"kind": "faulty", "fault": "feedback", "default": "ok", "shadows": ["gate"]},
        },
    }

    async def main():
        async with HiMoE.open(**options) as moe:
            for _ in range(3):
                response = await moe.run("question")
                assert response.value.as_text() == "good answer"
                await trio.sleep(0.2)
            return moe.traces.get(response.trace_id)

    trace = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    # the shadow's own attempt (its gate raised), then the orchestrator's feedback failing on it
    assert [(r["router"], r["status"]) for r in trace["shadows"]] == [("gate", "failed"), ("gate", "failed")]
    assert "gate exploded" in trace["shadows"][0]["error"]
    assert trace["shadows"][1]["error"] == "RuntimeError: feedback exploded"


def test_run_sync_survives_a_shadow_whose_feedback_raises():
    moe = make_moe({"kind": "faulty", "fault": "feedback", "default": "ok", "shadows": ["gate"]})
    try:
        for _ in range(3):
            assert moe.run_sync("question").value.as_text() == "good answer"
            trio.run(trio.sleep, 0.05)
    finally:
        moe.close()


def test_a_failing_shadow_router_is_recorded_and_never_reaches_the_caller():

    async def main():
        async with HiMoE.open(
            experts=[ConstantExpert("good", value="good answer")],
            plugins=[FaultyPlugin()],
            entry_points=False,
            environ={},
            config={
                "himoe": {"budget_ms": 100},
                "routers": ROUTERS,
                "state": {"enabled": False},
                "orchestrator": {"kind": "rules", "default": "ok", "shadows": ["gate", "combine", "encode"]},
            },
        ) as moe:
            response = await moe.run("question")
            assert response.value.as_text() == "good answer"
            await trio.sleep(0.2)
            return moe.traces.get(response.trace_id)

    trace = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    shadows = {s["router"]: s for s in trace["shadows"]}
    assert sorted(shadows) == ["combine", "encode", "gate"]
    assert all(s["status"] == "failed" and "exploded" in s["error"] for s in shadows.values())
