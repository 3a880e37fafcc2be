"""HiMoE.feedback: who learns from what (the served router, the selected experts, shadow routers,
the orchestrator), the errors a caller can make, and feedback given from another process."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import trio

from himoe_core import HiMoE, InputData, InvalidInput, NoExpertSelected, Value
from himoe_core.state import SqliteStateStore as StateStore
from himoe_core.testing import ConstantExpert, FailingExpert, LearningExpert


def make_moe(experts, kind: str = "linucb", *, k: int = 1, **extra) -> HiMoE:
    table = {"kind": kind, "experts": [e.name for e in experts], "k": k, "aggregator": "best_score"}
    if kind not in ("static", "symbolic"):
        table["encoder"] = {"id": "hashing", "dim": 16}
    return HiMoE(experts=experts, entry_points=False, environ={}, config={"routers": {"r": table}, **extra})


def same_input(a: InputData, b: InputData) -> bool:
    payload_equal = (
        np.array_equal(a.payload, b.payload) if isinstance(a.payload, np.ndarray) else a.payload == b.payload
    )
    return a.kind is b.kind and a.task == b.task and payload_equal


# -- what learns -------------------------------------------------------------------------------------------
def test_reward_trains_the_served_router_and_is_recorded():
    with make_moe([ConstantExpert("alpha"), ConstantExpert("beta")]) as moe:
        response = moe.run_sync("what is the weather")
        picked = response.trace["attempts"][-1]["picks"][0]["expert"]
        summary = moe.feedback(response.trace_id, reward=0.75)
        router = moe.routers["r"].handle
        assert router.updates == 1
        arm = next(int(ref.id) for ref in router.experts if ref.name == picked)
        assert {a: n for a, n in router.model.n.items() if n} == {arm: 1}  # arms appear when gated
        assert summary == {
            "trace_id": response.trace_id,
            "router": "r",
            "reward": 0.75,
            "task_loss": 0.25,
            "router_learns": True,
            "rewards": {picked: 0.75},
            "experts_updated": [],
            "first_feedback": True,
            "repeat": False,
        }
        rows = moe.trainer.store.feedback()
    assert [(r["trace_id"], r["router"], r["reward"], r["task_loss"]) for r in rows] == [
        (response.trace_id, "r", 0.75, 0.25)
    ]


def test_task_loss_is_one_minus_reward():
    with make_moe([ConstantExpert("alpha")]) as moe:
        summary = moe.feedback(moe.run_sync("x").trace_id, task_loss=0.3)
        assert (summary["reward"], summary["task_loss"]) == (pytest.approx(0.7), 0.3)
        assert moe.routers["r"].handle.model.b  # the router learned the 0.7


def test_per_expert_scores_credit_each_selected_expert():
    experts = [
        ConstantExpert("alpha", value="a"),
        ConstantExpert("beta", value="b"),
        ConstantExpert("gamma", value="c"),
    ]
    with make_moe(experts, k=2) as moe:
        response = moe.run_sync("two opinions please")
        called = [c["expert"] for c in response.trace["attempts"][-1]["calls"]]
        assert len(called) == 2
        scores = {called[0]: 0.9, called[1]: 0.2}
        summary = moe.feedback(response.trace_id, scores=scores)
        router = moe.routers["r"].handle
        assert summary["rewards"] == scores and summary["reward"] == 0.9
        assert router.updates == 2
        ids = {ref.name: int(ref.id) for ref in router.experts}
        assert {a: n for a, n in router.model.n.items() if n} == {ids[called[0]]: 1, ids[called[1]]: 1}
        x = router.features(InputData.text("two opinions please"))
        for name, score in scores.items():  # one observation each: b = score·x
            np.testing.assert_allclose(router.model.b[ids[name]], score * x)


def test_selected_experts_learn_with_the_expected_answer():
    learner, other = LearningExpert("learner", value="Paris"), LearningExpert("other", value="Lyon", prefix="nope")
    with make_moe([learner, other], kind="static") as moe:
        response = moe.run_sync("capital of France?", task="geo")
        summary = moe.feedback(response.trace_id, reward=1.0, expected={"answer": "Paris"})
        assert summary["router_learns"] is False  # a static router only records
        assert summary["experts_updated"] == ["learner"]
        [(x, value, reward, expected)] = learner.learned
        assert same_input(x, InputData.text("capital of France?", task="geo"))
        assert value == Value.text("Paris") and reward == 1.0
        assert expected == Value.json({"answer": "Paris"})
        assert other.learned == []  # never selected, never taught
        moe.feedback(moe.run_sync("capital of France?", task="geo").trace_id, reward=0.0)
        assert learner.learned[-1][2:] == (0.0, None)
        [_, second] = moe.trainer.store.feedback()
        assert second["expected"] is None


def test_only_experts_with_a_successful_output_learn():
    learner = LearningExpert("learner")
    experts = [learner, FailingExpert("broken")]
    with make_moe(experts, kind="static", k=2) as moe:
        response = moe.run_sync("anything")
        assert {c["expert"]: c["status"] for c in response.trace["attempts"][-1]["calls"]} == {
            "learner": "ok",
            "broken": "failed",
        }
        assert moe.feedback(response.trace_id, reward=1.0)["experts_updated"] == ["learner"]
        with pytest.raises(InvalidInput):  # it was called, but it has no output to score
            moe.feedback(response.trace_id, scores={"broken": 1.0, "nobody": 1.0})


# -- each decision is learned from once ---------------------------------------------------------------------
@pytest.mark.parametrize("state", ["file", "off"])
def test_the_same_feedback_again_is_a_repeat_that_teaches_nothing(tmp_path, state):
    learner = LearningExpert("learner", value="Paris")
    extra = {"state": {"path": str(tmp_path / "s.sqlite3")} if state == "file" else {"enabled": False}}
    with make_moe([learner], **extra) as moe:
        trace_id = moe.run_sync("capital of France?").trace_id
        first = moe.feedback(trace_id, reward=1.0, expected="Paris")
        again = moe.feedback(trace_id, reward=1.0, expected="Paris")
        assert (first["repeat"], again["repeat"]) == (False, True)
        assert again["experts_updated"] == [] and "shadows" not in again
        assert moe.routers["r"].handle.updates == 1 and len(learner.learned) == 1
        if state == "file":
            assert [row["reward"] for row in moe.trainer.store.feedback()] == [1.0]


def test_different_feedback_on_a_scored_decision_is_refused_naming_the_first():
    with make_moe([ConstantExpert("alpha")]) as moe:
        trace_id = moe.run_sync("x").trace_id
        moe.feedback(trace_id, reward=1.0)
        for other in ({"reward": 0.0}, {"task_loss": 0.5}, {"reward": 1.0, "expected": "something else"}):
            with pytest.raises(
                InvalidInput,
                match=rf"trace '{trace_id}' already has feedback \(reward 1.0, "
                r"task_loss 0.0, .*a decision is learned from once",
            ):
                moe.feedback(trace_id, **other)
        assert moe.routers["r"].handle.updates == 1


@pytest.mark.parametrize("state", ["file", "off"])
def test_a_refused_call_teaches_nothing_so_its_corrected_retry_is_the_first(tmp_path, state):
    experts = [ConstantExpert("alpha"), ConstantExpert("beta")]
    config = {
        **shadow_config(False, 4),
        "state": {"path": str(tmp_path / "s.sqlite3")} if state == "file" else {"enabled": False},
    }
    with HiMoE(experts=experts, entry_points=False, environ={}, config=config) as moe:
        trace_id = moe.run_sync("question").trace_id
        for bad in ({"ghost": 1.0}, {"shadow": "high"}, {"shadow": math.nan}):
            with pytest.raises(InvalidInput, match="ghost|finite number"):
                moe.feedback(trace_id, reward=1.0, shadow_scores=bad)
        assert moe.routers["main"].handle.updates == 0, "a refused call taught the router"
        assert moe.feedback(trace_id, reward=1.0)["first_feedback"] is True
        assert moe.routers["main"].handle.updates == 1


def test_the_same_feedback_said_another_way_is_a_repeat():
    with make_moe([ConstantExpert("alpha")], state={"enabled": False}) as moe:
        trace_id = moe.run_sync("x").trace_id
        moe.feedback(trace_id, reward=0.7)
        assert moe.feedback(trace_id, task_loss=0.3)["repeat"] is True  # 1 - 0.3 is 0.7000000000000001


def test_without_a_state_file_feedback_is_remembered_as_long_as_its_trace_is_kept():
    extra = {"himoe": {"trace_capacity": 2}, "state": {"enabled": False}}
    with make_moe([ConstantExpert("alpha")], **extra) as moe:
        t0, t1 = moe.run_sync("a").trace_id, moe.run_sync("b").trace_id
        moe.feedback(t1, reward=1.0)  # feedback in another order than the requests
        moe.feedback(t0, reward=1.0)
        t2 = moe.run_sync("c").trace_id  # t0 leaves the store
        moe.feedback(t2, reward=1.0)
        with pytest.raises(InvalidInput, match="already has feedback"):
            moe.feedback(t1, reward=0.0)
        with pytest.raises(InvalidInput, match="unknown trace id"):
            moe.feedback(t0, reward=0.0)
        assert moe.routers["r"].handle.updates == 3


@pytest.mark.parametrize("where", ["in memory", "from the state file"])
def test_feedback_on_an_input_routed_under_raised_limits(tmp_path, where):
    extra = {"limits": {"max_text_chars": 200_000}, "state": {"path": str(tmp_path / "s.sqlite3")}}
    with make_moe([ConstantExpert("alpha")], **extra) as moe:
        trace_id = moe.run_sync("x" * 150_000).trace_id
        if where == "in memory":
            assert moe.feedback(trace_id, reward=1.0)["first_feedback"] is True
            return
    with make_moe([ConstantExpert("alpha")], **extra) as moe:  # a new process, as it were
        assert moe.feedback(trace_id, reward=1.0)["first_feedback"] is True


def test_feedback_from_another_process_on_the_same_state_file_counts_as_given(tmp_path):
    state = {"state": {"path": str(tmp_path / "shared.sqlite3")}}
    with make_moe([ConstantExpert("alpha")], **state) as first:
        trace_id = first.run_sync("x").trace_id
    with make_moe([ConstantExpert("alpha")], **state) as second:
        assert second.feedback(trace_id, reward=0.5)["repeat"] is False
    with make_moe([ConstantExpert("alpha")], **state) as third:
        assert third.feedback(trace_id, reward=0.5)["repeat"] is True
        with pytest.raises(InvalidInput, match="already has feedback"):
            third.feedback(trace_id, reward=0.9)


# -- shadows and the orchestrator --------------------------------------------------------------------------
def shadow_config(promote: bool, min_evidence: int) -> dict:
    return {
        "routers": {
            "main": {"kind": "linucb", "experts": ["alpha", "beta"], "encoder": {"id": "hashing", "dim": 16}},
            "shadow": {"kind": "symbolic", "experts": ["alpha", "beta"]},
        },
        "orchestrator": {
            "rules": [{"router": "main", "input": "text", "shadows": ["shadow"]}],
            "promote_shadows": promote,
            "promotion_min_evidence": min_evidence,
        },
    }


async def scored_rounds(moe: HiMoE, n: int, *, shadow_wins) -> list[tuple[str, dict]]:
    """`n` requests whose shadow answers finished, each scored: the shadow wins when `shadow_wins(i)`."""
    out = []
    for i in range(n):
        response = await moe.run(f"question {i}")
        while len(moe.traces.get(response.trace_id).get("shadows", [])) < 1:
            await trio.sleep(0.001)
        [shadow] = moe.traces.get(response.trace_id)["shadows"]
        assert shadow["status"] == "ok"
        win = shadow_wins(i)
        other = "main" if response.router == "shadow" else "shadow"
        summary = moe.feedback(response.trace_id, reward=0.0 if win else 1.0, shadow_scores={other: 0.5})
        out.append((response.router, summary))
    return out


def test_shadow_routers_learn_from_their_own_answers_and_a_winning_shadow_is_promoted():
    experts = [ConstantExpert("alpha"), ConstantExpert("beta")]

    async def scenario():
        async with HiMoE.open(
            experts=experts, entry_points=False, environ={}, config=shadow_config(True, min_evidence=8)
        ) as moe:
            orchestrator = moe.orchestrator
            rounds = await scored_rounds(moe, 7, shadow_wins=lambda i: True)
            assert [router for router, _ in rounds] == ["main"] * 7
            assert rounds[0][1]["shadows"] == {"shadow_better": "shadow", "scores": {"shadow": 0.5}}
            assert orchestrator.comparisons[("main", "shadow")] == 7, "label-free hints are not evidence"
            assert orchestrator.promotions == []
            assert moe.routers["shadow"].handle.updates == 7, "each shadow learned from its own answer"
            assert moe.routers["main"].handle.updates == 7
            rounds += await scored_rounds(moe, 2, shadow_wins=lambda i: True)
            assert orchestrator.promotions == [{"promoted": "shadow", "demoted": "main", "comparisons": 8, "wins": 8}]
            assert [router for router, _ in rounds[7:]] == ["main", "shadow"]  # served by the promoted router
            assert orchestrator.comparisons[("main", "shadow")] == 0  # the evidence starts over
            assert orchestrator.comparisons[("shadow", "main")] == 1
            response = await moe.run("after the promotion")
            assert response.router == "shadow"
            assert moe.orchestrator.served["main"] >= 8

    trio.run(scenario)


def test_shadows_scored_after_the_fact_once_each_beside_the_same_primary_feedback():
    experts = [ConstantExpert("alpha"), ConstantExpert("beta")]

    async def scenario():
        async with HiMoE.open(
            experts=experts,
            entry_points=False,
            environ={},
            config={**shadow_config(False, 4), "state": {"enabled": False}},
        ) as moe:
            response = await moe.run("question")
            while not moe.traces.get(response.trace_id).get("shadows"):
                await trio.sleep(0.001)
            first = moe.feedback(response.trace_id, reward=1.0)
            later = moe.feedback(response.trace_id, reward=1.0, shadow_scores={"shadow": 0.25})
            assert (first["repeat"], later["repeat"]) == (False, False)
            assert "shadows" not in first and later["shadows"]["scores"] == {"shadow": 0.25}
            assert moe.routers["main"].handle.updates == 1, "the primary learned once"
            assert moe.routers["shadow"].handle.updates == 1
            assert moe.feedback(response.trace_id, reward=1.0, shadow_scores={"shadow": 0.25})["repeat"] is True
            with pytest.raises(
                InvalidInput, match=r"shadow shadow already scored \(shadow 0.25\); a shadow is scored once"
            ):
                moe.feedback(response.trace_id, reward=1.0, shadow_scores={"shadow": 0.5})
            assert moe.routers["shadow"].handle.updates == 1

    trio.run(scenario)


@pytest.mark.parametrize("promote, wins", [(False, lambda i: True), (True, lambda i: i % 2 == 0)])
def test_no_promotion_when_disabled_or_not_significant(promote, wins):
    experts = [ConstantExpert("alpha"), ConstantExpert("beta")]

    async def scenario():
        async with HiMoE.open(
            experts=experts, entry_points=False, environ={}, config=shadow_config(promote, min_evidence=4)
        ) as moe:
            rounds = await scored_rounds(moe, 10, shadow_wins=wins)
            assert {router for router, _ in rounds} == {"main"}
            assert moe.orchestrator.promotions == []
            assert moe.orchestrator.comparisons[("main", "shadow")] == 10
            assert moe.orchestrator.wins[("main", "shadow")] == sum(map(wins, range(10)))

    trio.run(scenario)


def test_scoring_a_shadow_that_did_not_answer_is_an_error():
    experts = [ConstantExpert("alpha"), ConstantExpert("beta")]
    with HiMoE(experts=experts, entry_points=False, environ={}, config=shadow_config(False, 4)) as moe:
        response = moe.run_sync("question")
        with pytest.raises(InvalidInput, match=r"has no finished shadow answer from ghost; shadows with answers: "):
            moe.feedback(response.trace_id, reward=1.0, shadow_scores={"ghost": 1.0})


# -- errors -----------------------------------------------------------------------------------------------------
def test_unknown_trace_id():
    with make_moe([ConstantExpert("alpha")]) as moe:
        with pytest.raises(
            InvalidInput,
            match=r"unknown trace id 'nope': it was never recorded here, or is older than "
            r"the state file keeps \(\[state\] retention_days = 30, max_traces = "
            r"100000\); use the trace_id of a recent response",
        ):
            moe.feedback("nope", reward=1.0)


def test_a_trace_that_ended_in_an_error_has_nothing_to_score():
    with make_moe([FailingExpert("broken")], kind="static") as moe:
        with pytest.raises(NoExpertSelected):
            moe.run_sync("doomed", trace_id="t-failed")
        with pytest.raises(
            InvalidInput,
            match=r"trace 't-failed' ended in an error \(NoExpertSelected: .*\); "
            r"there is nothing to score",
        ):
            moe.feedback("t-failed", reward=1.0)
        assert moe.trainer.store.feedback() == []


def test_scores_must_name_experts_of_the_trace():
    with make_moe([ConstantExpert("alpha"), ConstantExpert("beta")], k=2) as moe:
        trace_id = moe.run_sync("x").trace_id
        with pytest.raises(
            InvalidInput,
            match=r"no output from gamma in this trace; scored experts must be "
            r"among its picks: alpha, beta",
        ):
            moe.feedback(trace_id, scores={"alpha": 1.0, "gamma": 0.5})
        with pytest.raises(InvalidInput, match=r"score for 'alpha' must be a finite number, got nan"):
            moe.feedback(trace_id, scores={"alpha": math.nan})
        assert moe.routers["r"].handle.updates == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"reward": math.nan}, "reward must be a finite number, got nan"),
        ({"reward": math.inf}, "reward must be a finite number, got inf"),
        ({"reward": True}, "reward must be a finite number, got True"),
        ({"reward": "1"}, "reward must be a finite number, got '1'"),
        ({"task_loss": -math.inf}, "task_loss must be a finite number, got -inf"),
        ({}, r"give reward=…, task_loss=… or per-expert scores to learn from"),
    ],
)
def test_bad_rewards_are_refused_before_anything_learns(kwargs, message):
    with make_moe([ConstantExpert("alpha")]) as moe:
        trace_id = moe.run_sync("x").trace_id
        with pytest.raises(InvalidInput, match=message):
            moe.feedback(trace_id, **kwargs)
        assert moe.routers["r"].handle.updates == 0
        assert moe.trainer.store.feedback() == []


# -- from another process -------------------------------------------------------------------------------------
FEEDBACK_SCRIPT = textwrap.dedent("""
    import json, sys
    from himoe_core import HiMoE
    from himoe_core.testing import LearningExpert
    learner = LearningExpert("learner")
    config = {"routers": {"r": {"kind": "symbolic", "experts": ["learner"]}}}
    with HiMoE(experts=[learner], entry_points=False, environ={}, config=config) as moe:
        summary = moe.feedback(sys.argv[1], reward=0.5, expected="42")
    [(x, value, reward, expected)] = learner.learned
    print(json.dumps({"summary": summary, "x": [x.kind.value, x.task, x.as_text()], "value": value.as_text(),
                      "reward": reward, "expected": expected.as_text(),
                      "updates": moe.routers["r"].handle.updates}))
""")


def test_feedback_from_another_process_uses_the_stored_trace(tmp_path):
    config = {"routers": {"r": {"kind": "symbolic", "experts": ["learner"]}}}
    with HiMoE(
        experts=[LearningExpert("learner", value="the answer")], entry_points=False, environ={}, config=config
    ) as moe:
        trace_id = moe.run_sync("what is six times seven", task="math").trace_id
    script = tmp_path / "give_feedback.py"
    script.write_text(FEEDBACK_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), trace_id], capture_output=True, text=True, timeout=60, env=os.environ.copy()
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["summary"]["router"] == "r" and out["summary"]["experts_updated"] == ["learner"]
    assert out["x"] == ["text", "math", "what is six times seven"]
    assert (out["value"], out["reward"], out["expected"], out["updates"]) == ("the answer", 0.5, "42", 1)
    with HiMoE(experts=[LearningExpert("learner")], entry_points=False, environ={}, config=config) as moe:
        assert moe.routers["r"].handle.updates == 1  # what the other process learned
        assert len(moe.trainer.store.feedback()) == 1


@pytest.mark.parametrize(
    "x",
    [
        InputData.bytes(b"\x00\xffraw", task="blob"),
        InputData.features(np.array([0.25, -1.5, 3.0], dtype=np.float32), task="vec"),
    ],
)
def test_stored_inputs_of_every_kind_come_back_intact(x):
    config = {"routers": {"r": {"kind": "static", "experts": ["learner"]}}}
    with HiMoE(experts=[LearningExpert("learner")], entry_points=False, environ={}, config=config) as moe:
        trace_id = moe.run_sync(x).trace_id
    learner = LearningExpert("learner")
    with HiMoE(experts=[learner], entry_points=False, environ={}, config=config) as moe:
        moe.feedback(trace_id, reward=1.0)
    [(seen, *_)] = learner.learned
    assert same_input(seen, x)
    if x.as_features() is not None:
        assert seen.as_features().dtype == np.float32


def test_a_features_router_learns_from_a_stored_trace():
    experts = [ConstantExpert("alpha"), ConstantExpert("beta")]
    config = {
        "routers": {"r": {"kind": "linucb", "experts": ["alpha", "beta"], "encoder": {"id": "features", "dim": 3}}}
    }
    vector = np.array([1.0, 0.0, -2.0], dtype=np.float32)
    with HiMoE(experts=experts, entry_points=False, environ={}, config=config) as moe:
        trace_id = moe.run_sync(vector).trace_id
    with HiMoE(experts=experts, entry_points=False, environ={}, config=config) as moe:
        moe.feedback(trace_id, reward=1.0)
        [b] = moe.routers["r"].handle.model.b.values()
    np.testing.assert_array_equal(b, [1.0, 0.0, -2.0, 1.0])  # x with its bias term, reward 1
    store = StateStore(os.environ["HIMOE_STATE"])
    try:
        assert store.count("feedback") == 1
    finally:
        store.close()
