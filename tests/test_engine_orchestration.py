"""Orchestration: rules, re-routing under one deadline, shadow routers, plan chaining."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import trio
import trio.testing

from himoe_core import DeadlineExceeded, HiMoE, NoExpertSelected, Plan, PlanStep, ValueKind
from himoe_core.testing import ConstantExpert, FailingExpert, HangingExpert, SleepyExpert


def _mock_run(fn):
    return trio.run(fn, clock=trio.testing.MockClock(autojump_threshold=0))


def _router(*names, k=1, aggregator="best_score", **extra):
    return {"kind": "static", "experts": list(names), "k": k, "aggregator": aggregator, **extra}


def _config(routers, orchestrator=None, **himoe):
    config = {"himoe": {"budget_ms": 1000, **himoe}, "routers": routers}
    if orchestrator is not None:
        config["orchestrator"] = orchestrator
    return config


def _moe(experts, routers, orchestrator=None, **himoe):
    return HiMoE(experts=experts, entry_points=False, environ={}, config=_config(routers, orchestrator, **himoe))


def _open(experts, config):
    return HiMoE.open(experts=experts, entry_points=False, environ={}, config=config)


# -- rules ---------------------------------------------------------------------------------------------
def _ruled():
    experts = [
        ConstantExpert("fr-tagger", value="fr"),
        ConstantExpert("vec", value="vec"),
        ConstantExpert("general", value="general"),
    ]
    moe = _moe(
        experts,
        routers={"fr": _router("fr-tagger"), "vectors": _router("vec"), "gen": _router("general")},
        orchestrator={
            "default": "gen",
            "rules": [
                {"task_prefix": "fr:", "router": "fr"},
                {"input": "features", "router": "vectors"},
            ],
        },
    )
    return moe, experts


def test_rules_route_by_task_prefix():
    moe, experts = _ruled()

    async def main():
        return await moe.run("Bonjour", task="FR:tag"), await moe.run("fr: in the text")

    by_task, by_text = _mock_run(main)
    assert (by_task.router, by_task.value.as_text()) == ("fr", "fr")
    assert (by_text.router, by_text.value.as_text()) == ("fr", "fr")
    assert experts[2].calls == 0


def test_rules_route_by_input_kind():
    moe, experts = _ruled()

    async def main():
        return await moe.run(np.array([0.1, 0.2], dtype=np.float32))

    response = _mock_run(main)
    assert (response.router, response.value.as_text()) == ("vectors", "vec")


def test_unmatched_requests_go_to_the_default_router():
    moe, experts = _ruled()

    async def main():
        return await moe.run("hello there")

    response = _mock_run(main)
    assert (response.router, response.value.as_text()) == ("gen", "general")
    assert experts[0].calls == experts[1].calls == 0


def test_first_matching_rule_wins():
    experts = [ConstantExpert("one", value="1"), ConstantExpert("two", value="2")]
    moe = _moe(
        experts,
        routers={"r1": _router("one"), "r2": _router("two")},
        orchestrator={
            "default": "r2",
            "rules": [{"task_prefix": "plan", "router": "r1"}, {"task_prefix": "plan:", "router": "r2"}],
        },
    )

    async def main():
        return await moe.run("plan: x")

    assert _mock_run(main).router == "r1"


def test_explicit_router_bypasses_the_rules():
    moe, _ = _ruled()

    async def main():
        return await moe.run("hello", task="fr:tag", router="gen")

    assert _mock_run(main).router == "gen"


# -- re-routing -------------------------------------------------------------------------------------------
def test_fallback_router_answers_when_the_primary_fails():
    broken = [FailingExpert("broken1", message="model missing"), FailingExpert("broken2")]
    backup = ConstantExpert("backup", value="from backup")
    moe = _moe(
        [*broken, backup],
        routers={"main": _router("broken1", "broken2", k=2), "spare": _router("backup")},
        orchestrator={"default": "main", "fallbacks": ["spare"]},
    )

    async def main():
        return await moe.run("question")

    response = _mock_run(main)
    assert response.router == "spare"
    assert response.value.as_text() == "from backup"
    attempts = response.trace["attempts"]
    assert [a["router"] for a in attempts] == ["main", "spare"]
    assert [a["status"] for a in attempts] == ["failed", "ok"]
    assert "model missing" in attempts[0]["error"]
    assert moe.traces.get(response.trace_id)["router"] == "spare"


def test_rule_fallbacks_are_used_for_matching_requests():
    moe = _moe(
        [FailingExpert("bad"), ConstantExpert("good", value="good")],
        routers={"main": _router("bad"), "spare": _router("good")},
        orchestrator={"default": "spare", "rules": [{"task_prefix": "x", "router": "main", "fallbacks": ["spare"]}]},
    )

    async def main():
        return await moe.run("x marks the spot")

    response = _mock_run(main)
    assert response.router == "spare"
    assert len(response.trace["attempts"]) == 2


def test_every_router_failing_names_every_expert():
    moe = _moe(
        [FailingExpert("bad1", message="cause one"), FailingExpert("bad2", message="cause two")],
        routers={"main": _router("bad1"), "spare": _router("bad2")},
        orchestrator={"default": "main", "fallbacks": ["spare"]},
    )

    async def main():
        await moe.run("question")

    with pytest.raises(NoExpertSelected) as info:
        _mock_run(main)
    message = str(info.value)
    assert "main/bad1" in message and "cause one" in message
    assert "spare/bad2" in message and "cause two" in message


def test_one_deadline_for_the_whole_chain():
    stuck = HangingExpert("stuck")
    spare = SleepyExpert("spare-expert", delay_s=0.010, value="too late")
    moe = _moe(
        [stuck, spare],
        routers={"main": _router("stuck"), "spare": _router("spare-expert")},
        orchestrator={"default": "main", "fallbacks": ["spare"]},
        budget_ms=100,
    )

    async def main():
        t0 = trio.current_time()
        try:
            await moe.run("question")
        except DeadlineExceeded as exc:
            return exc, trio.current_time() - t0
        raise AssertionError("the fallback must not get a fresh budget")

    exc, elapsed = _mock_run(main)
    assert elapsed == pytest.approx(0.100, abs=1e-3)
    assert spare.calls == 0
    assert exc.budget_ms == 100


def test_fallback_shares_the_remaining_budget():
    slow_fail = FailingExpert("slow-fail", delay_s=0.060)
    spare = SleepyExpert("spare-expert", delay_s=0.080, value="too late")
    moe = _moe(
        [slow_fail, spare],
        routers={"main": _router("slow-fail"), "spare": _router("spare-expert")},
        orchestrator={"default": "main", "fallbacks": ["spare"]},
        budget_ms=100,
    )

    async def main():
        t0 = trio.current_time()
        with pytest.raises(DeadlineExceeded):
            await moe.run("question")
        return trio.current_time() - t0

    assert _mock_run(main) == pytest.approx(0.100, abs=1e-3)
    assert spare.calls == 1 and spare.finished == 0


# -- shadows ------------------------------------------------------------------------------------------------
def _shadowed(primary_delay=0.010, shadow_delay=0.050, **orchestrator):
    primary = SleepyExpert("primary-expert", delay_s=primary_delay, value="primary")
    shadow = SleepyExpert("shadow-expert", delay_s=shadow_delay, value="shadow")
    config = _config(
        routers={"main": _router("primary-expert"), "candidate": _router("shadow-expert")},
        orchestrator={"default": "main", "shadows": ["candidate"], **orchestrator},
    )
    return config, primary, shadow


def test_shadow_runs_off_the_critical_path_and_lands_in_the_trace():
    config, primary, shadow = _shadowed()

    async def main():
        async with _open([primary, shadow], config) as live:
            t0 = trio.current_time()
            response = await live.run("question")
            returned_at = trio.current_time() - t0
            before = live.traces.get(response.trace_id)
            await trio.sleep(0.100)
            after = live.traces.get(response.trace_id)
            return response, returned_at, before, after, live

    response, returned_at, before, after, live = _mock_run(main)
    assert returned_at == pytest.approx(0.010, abs=1e-3)
    assert response.value.as_text() == "primary"
    assert response.router == "main"
    assert before["shadows"] == []
    assert shadow.finished == 1
    [record] = after["shadows"]
    assert record["router"] == "candidate" and record["status"] == "ok"
    assert record["value"]["data"] == "shadow"
    assert after["value"]["data"] == "primary"
    assert live.orchestrator.served["main"] == 1
    json.dumps(after)


def test_shadow_never_reaches_the_caller_even_when_it_is_faster():
    config, primary, shadow = _shadowed(primary_delay=0.040, shadow_delay=0.001)

    async def main():
        async with _open([primary, shadow], config) as live:
            response = await live.run("question")
        return response, live.traces.get(response.trace_id)

    response, trace = _mock_run(main)
    assert response.value.as_text() == "primary"
    assert [s["value"]["data"] for s in trace["shadows"]] == ["shadow"]


def test_shadows_are_skipped_when_little_budget_remains():
    config, primary, shadow = _shadowed(primary_delay=0.600, shadow_min_remaining_ms=500)

    async def main():
        async with _open([primary, shadow], config) as live:
            response = await live.run("question")
        return response, live.traces.get(response.trace_id)

    response, trace = _mock_run(main)
    assert response.value.as_text() == "primary"
    assert shadow.calls == 0
    assert not trace.get("shadows")


def test_shadows_run_when_enough_budget_remains():
    config, primary, shadow = _shadowed(primary_delay=0.400, shadow_min_remaining_ms=500)

    async def main():
        async with _open([primary, shadow], config) as live:
            await live.run("question")

    _mock_run(main)
    assert shadow.calls == 1


def test_shadow_under_run_sync_uses_the_background_loop():
    config, primary, shadow = _shadowed(primary_delay=0.0, shadow_delay=0.0)
    with HiMoE(experts=[primary, shadow], entry_points=False, environ={}, config=config) as moe:
        response = moe.run_sync("question")
        for _ in range(200):
            trace = moe.traces.get(response.trace_id)
            if trace.get("shadows"):
                break
            time.sleep(0.005)
        assert [s["router"] for s in trace["shadows"]] == ["candidate"]
    assert response.value.as_text() == "primary"


def test_shadows_outside_open_are_recorded_as_skipped():
    config, primary, shadow = _shadowed()
    moe = HiMoE(experts=[primary, shadow], entry_points=False, environ={}, config=config)

    async def main():
        return await moe.run("question")

    response = _mock_run(main)
    assert shadow.calls == 0
    [record] = moe.traces.get(response.trace_id)["shadows"]
    assert record["router"] == "candidate" and record["status"] == "skipped"
    assert "HiMoE.open" in record["reason"]


def test_a_surer_shadow_is_credited_to_the_orchestrator():
    primary = SleepyExpert("primary-expert", delay_s=0.001, value="p", confidence=0.3)
    shadow = SleepyExpert("shadow-expert", delay_s=0.001, value="s", confidence=0.9)
    config = _config(
        routers={"main": _router("primary-expert"), "candidate": _router("shadow-expert")},
        orchestrator={"default": "main", "shadows": ["candidate"]},
    )

    async def main():
        async with _open([primary, shadow], config) as live:
            response = await live.run("question")
        return response, live

    response, live = _mock_run(main)
    assert response.value.as_text() == "p"
    assert live.orchestrator.shadow_wins["candidate"] == 1
    assert live.orchestrator.served["main"] == 1


def test_failing_shadow_does_not_affect_the_primary():
    primary = ConstantExpert("p", value="primary")
    bad = FailingExpert("bad-shadow", message="shadow crashed")
    config = _config(
        routers={"main": _router("p"), "candidate": _router("bad-shadow")},
        orchestrator={"default": "main", "shadows": ["candidate"]},
    )

    async def main():
        async with _open([primary, bad], config) as live:
            response = await live.run("question")
        return response, live.traces.get(response.trace_id)

    response, trace = _mock_run(main)
    assert response.value.as_text() == "primary"
    [record] = trace["shadows"]
    assert record["status"] == "failed" and "shadow crashed" in record["error"]


# -- plan chaining ---------------------------------------------------------------------------------------------
def _planning(chain_plans=True, **himoe):
    plan = Plan("make tea", [PlanStep("boil water"), PlanStep("pour the water"), PlanStep("juggle")])
    planner = ConstantExpert("planner", value=plan, prefix="plan")
    boil = SleepyExpert("kettle", delay_s=0.020, value="water boiled", prefix="boil")
    pour = SleepyExpert("pourer", delay_s=0.030, value="cup filled", prefix="pour")
    moe = _moe(
        [planner, boil, pour],
        routers={"plans": _router("planner"), "steps": _router("kettle", "pourer")},
        orchestrator={"default": "steps", "rules": [{"task_prefix": "plan", "router": "plans"}]},
        chain_plans=chain_plans,
        **himoe,
    )
    return moe, (planner, boil, pour)


def test_plan_chaining_routes_each_step_again():
    moe, (planner, boil, pour) = _planning()

    async def main():
        t0 = trio.current_time()
        response = await moe.run("plan: make tea")
        return response, trio.current_time() - t0

    response, elapsed = _mock_run(main)
    assert response.value.kind is ValueKind.JSON
    data = response.value.as_json()
    assert data["goal"] == "make tea"
    steps = data["steps"]
    assert [s["description"] for s in steps] == ["boil water", "pour the water", "juggle"]
    assert steps[0]["done"] and steps[0]["answer"]["data"] == "water boiled" and steps[0]["router"] == "steps"
    assert steps[1]["done"] and steps[1]["answer"]["data"] == "cup filled"
    assert not steps[2]["done"] and "juggle" in steps[2]["error"]
    assert steps[0]["trace_id"] == f"{response.trace_id}.1"
    assert elapsed == pytest.approx(0.030, abs=1e-3)  # steps run in parallel
    assert moe.traces.get(f"{response.trace_id}.2")["router"] == "steps"
    assert response.trace["chain"] == steps


def test_plans_are_returned_as_is_without_chaining():
    moe, (planner, boil, pour) = _planning(chain_plans=False)

    async def main():
        return await moe.run("plan: make tea")

    response = _mock_run(main)
    assert response.value.kind is ValueKind.PLAN
    assert boil.calls == pour.calls == 0


def test_chained_steps_share_the_request_deadline():
    moe, (planner, boil, pour) = _planning(budget_ms=25)

    async def main():
        return await moe.run("plan: make tea")

    steps = _mock_run(main).value.as_json()["steps"]
    assert steps[0]["done"]
    assert not steps[1]["done"] and "deadline" in steps[1]["error"]
