"""Experts hosted on a real local Ray (one head node, 2 CPUs, for the session)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import trio

from himoe_core import Context, DeadlineExceeded, ExpertFailed, HiMoE, InputData
from himoe_core.testing import assert_routed

pytestmark = pytest.mark.timeout(600) if hasattr(pytest.mark, "timeout") else []

HANG = "himoe_core.testing:HangingExpert"
SLEEPY = "himoe_core.testing:SleepyExpert"


def config(ray_head, **experts):
    return {
        "ray": {"address": ray_head.address, "experts": experts},
        "routers": {"r": {"experts": ["*"], "k": 1}},
        "state": {"enabled": False},
    }


@pytest.fixture(scope="module")
def moe(ray_head):
    experts = {
        "math_sympy": {"replicas": 1, "num_cpus": 0.5},
        "nlp_french_tagger": {"replicas": 1, "num_cpus": 0.5},
        HANG: {"kwargs": {"name": "ray_hang", "prefix": "hang:"}, "num_cpus": 0.1},
        SLEEPY: {
            "kwargs": {"name": "ray_sleepy", "prefix": "sleep:", "delay_s": 8.0, "value": "slept"},
            "num_cpus": 0.1,
        },
    }
    with HiMoE(config=config(ray_head, **experts), environ={}) as moe:
        names = ("math_sympy", "nlp_french_tagger", "ray_hang", "ray_sleepy")
        with ThreadPoolExecutor(len(names)) as pool:  # deployments start side by side
            ready = list(pool.map(lambda name: moe.host.experts.get_by_name(name).warm_up(), names))
        assert ready == [True] * len(names)
        yield moe


def test_math_on_ray_answers_as_in_process(moe):
    local = HiMoE(
        config={"routers": {"r": {"experts": ["math_sympy"], "k": 1}}, "state": {"enabled": False}},
        environ={"HIMOE_LOAD_PLUGINS": "himoe-math"},
    )
    try:
        expected = local.run_sync("math: solve x**2 - 4 = 0", budget_ms=30_000)
    finally:
        local.close()
    response = moe.run_sync("math: solve x**2 - 4 = 0", budget_ms=30_000)
    assert_routed(response, expert="math_sympy", status="ok")
    assert type(moe.host.experts.get_by_name("math_sympy")).__name__ == "RayExpert"
    assert response.value == expected.value
    assert response.value.as_json()["solutions"] == ["-2", "2"]


def test_french_tags_on_ray_answer_as_in_process(moe):
    text = InputData.text("Les enfants jouent dans le jardin.", task="fr:tag")
    local = HiMoE(
        config={"routers": {"r": {"experts": ["nlp_french_tagger"], "k": 1}}, "state": {"enabled": False}},
        environ={"HIMOE_LOAD_PLUGINS": "himoe-nlp"},
    )
    try:
        expected = local.run_sync(text, budget_ms=60_000)
    finally:
        local.close()
    response = moe.run_sync(text, budget_ms=60_000)
    assert_routed(response, expert="nlp_french_tagger", status="ok")
    assert response.value == expected.value


def test_a_hanging_remote_expert_is_cut_at_the_deadline_and_cancelled_in_ray(moe):
    expert = moe.host.experts.get_by_name("ray_hang")
    before = expert.replica_stats()
    with pytest.raises(DeadlineExceeded, match=r"ray_hang: timed_out: cut at the deadline"):
        moe.run_sync("hang: forever", budget_ms=1500)
    stats = expert.replica_stats()
    for _ in range(100):  # the cancellation reaches the replica shortly after the deadline
        if stats["cancelled"] > before["cancelled"] and stats["in_flight"] == 0:
            break
        trio.run(trio.sleep, 0.2)
        stats = expert.replica_stats()
    assert stats["calls"] == before["calls"] + 1
    assert stats["cancelled"] == before["cancelled"] + 1
    assert stats["in_flight"] == 0


def test_a_killed_replica_fails_one_call_cleanly_and_the_next_succeeds(moe):
    expert = moe.host.experts.get_by_name("ray_sleepy")
    victim = expert.replica_stats()["pid"]

    async def kill_during_the_call():
        async def call():
            return await expert.infer(InputData.text("sleep: a while"), Context.start(300_000.0))

        async with trio.open_nursery() as nursery:
            outcome = {}

            async def run():
                try:
                    outcome["out"] = await call()
                except ExpertFailed as exc:
                    outcome["failed"] = exc

            nursery.start_soon(run)
            while (await trio.to_thread.run_sync(expert.replica_stats))["in_flight"] == 0:
                await trio.sleep(0.1)
            os.kill(victim, signal.SIGKILL)
        return outcome

    outcome = trio.run(kill_during_the_call)
    assert "out" not in outcome
    assert "replica died" in outcome["failed"].cause, outcome["failed"].cause
    # Serve starts a new replica; the next call waits for it and is answered.
    fresh = trio.run(expert.infer, InputData.text("sleep: again"), Context.start(300_000.0))
    assert fresh.value.as_text() == "slept"
    assert expert.replica_stats()["pid"] != victim


def test_a_separate_himoe_run_joins_the_head_node_by_address(moe, ray_head, tmp_path):
    config = tmp_path / "himoe.toml"
    config.write_text(
        f'[ray]\naddress = "{ray_head.address}"\n'
        "[ray.experts.math_sympy]\nreplicas = 1\nnum_cpus = 0.5\n"
        '[routers.r]\nexperts = ["math_sympy"]\n[state]\nenabled = false\n'
    )
    expert = moe.host.experts.get_by_name("math_sympy")
    calls = expert.replica_stats()["calls"]
    himoe = Path(sys.executable).with_name("himoe")
    done = subprocess.run(
        [str(himoe), "run", "--config", str(config), "--json", "--budget-ms", "120000", "math: solve x**2 - 4 = 0"],
        env=ray_head.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout)
    assert answer["value"]["data"]["solutions"] == ["-2", "2"], answer
    # answered by the replica this process deployed (same settings: not redeployed)
    assert expert.replica_stats()["calls"] == calls + 1
