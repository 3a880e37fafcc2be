"""RulePlanner: lists, sentences, "then" sequencing, goal headers, max_steps and confidence."""

import pytest
import trio
from himoe_planning import RulePlanner

from himoe_core import Context, Expert, ExpertOut, InputData, Plan, PlanStep, Value, ValueKind


def plan(prompt: str, **kwargs) -> tuple[Plan, float]:
    return RulePlanner(**kwargs).plan_from_prompt(prompt)


def steps(prompt: str, **kwargs) -> list[str]:
    return [step.description for step in plan(prompt, **kwargs)[0].steps]


def infer(x: InputData, planner: RulePlanner | None = None) -> ExpertOut:
    planner = planner or RulePlanner()

    async def main():
        return await planner.infer(x, Context.start(1000))

    return trio.run(main)


# -- parsing -------------------------------------------------------------------------------------------
def test_sentences_become_steps():
    # Final periods and exclamation marks go; a question keeps its question mark.
    assert steps("plan: Buy flour. Mix the batter! Is it risen? Bake it.") == [
        "Buy flour",
        "Mix the batter",
        "Is it risen?",
        "Bake it",
    ]


def test_numbered_lists_become_steps():
    assert steps("plan:\n1. buy flour\n2. mix the batter\n3) bake it") == ["buy flour", "mix the batter", "bake it"]


def test_bulleted_lists_become_steps():
    assert steps("todo:\n- write the tests\n* run them\n• fix the bugs") == [
        "write the tests",
        "run them",
        "fix the bugs",
    ]


def test_lettered_lists_become_steps():
    assert steps("plan:\na) pack\nb) travel") == ["pack", "travel"]


def test_list_items_ignore_the_surrounding_prose():
    prompt = "plan: here is what to do\n- book the train\n- pack the bag"
    assert steps(prompt) == ["book the train", "pack the bag"]


@pytest.mark.parametrize(
    "prompt, expected",
    [
        ("plan: buy flour then bake", ["buy flour", "bake"]),
        ("plan: buy flour, then mix and then bake, finally eat", ["buy flour", "mix", "bake", "eat"]),
        ("plan: wash the car and finally dry it", ["wash the car", "dry it"]),
        (
            "plan: First, gather data; next, clean it; finally, train the model.",
            ["gather data", "clean it", "train the model"],
        ),
        ("plan: Wash the car. Then dry it.", ["Wash the car", "dry it"]),
    ],
)
def test_then_and_finally_sequence_steps(prompt, expected):
    assert steps(prompt) == expected


@pytest.mark.parametrize(
    "prompt, step",
    [
        ("plan: read the next chapter", "read the next chapter"),
        ("plan: the team finally ships the release", "the team finally ships the release"),
    ],
)
def test_sequencing_words_inside_a_clause_do_not_split_it(prompt, step):
    assert steps(prompt) == [step]


def test_a_single_numbered_item_is_one_step():
    assert steps("plan:\n1. buy flour") == ["buy flour"]


def test_explicit_goal_header():
    result, confidence = plan("goal: bake a cake\n1. buy flour\n2. mix\n3. bake")
    assert result.goal == "bake a cake"
    assert [s.description for s in result.steps] == ["buy flour", "mix", "bake"]
    assert confidence == 0.9


def test_goal_header_after_the_task_prefix():
    result, _ = plan("plan: Goal: move house\npack the boxes, then hire a van")
    assert result.goal == "move house"
    assert [s.description for s in result.steps] == ["pack the boxes", "hire a van"]


def test_a_goal_header_alone_is_planned_from_its_own_text():
    result, _ = plan("goal: bake a cake, then eat it")
    assert result.goal == "bake a cake, then eat it"
    assert [s.description for s in result.steps] == ["bake a cake", "eat it"]


def test_colon_header_names_the_goal():
    result, _ = plan("Launch the website: buy a domain, then deploy")
    assert result.goal == "Launch the website"
    assert [s.description for s in result.steps] == ["buy a domain", "deploy"]


@pytest.mark.parametrize(
    "prompt, goal, steps",
    [
        ("plan: call Bob at 10:30, then email Ann", "call Bob at 10:30", ["call Bob at 10:30", "email Ann"]),
        (
            "plan: read https://example.com/a then summarise it",
            "read https://example.com/a",
            ["read https://example.com/a", "summarise it"],
        ),
        ("plan: release 2.0:\n- build\n- ship", "release 2.0", ["build", "ship"]),
    ],
)
def test_only_a_colon_before_a_space_or_the_line_end_names_the_goal(prompt, goal, steps):
    result, _ = plan(prompt)
    assert result.goal == goal
    assert [step.description for step in result.steps] == steps


def test_upper_case_letter_markers_are_list_items():
    result, confidence = plan("plan:\nA) pack\nB) travel")
    assert [step.description for step in result.steps] == ["pack", "travel"] and confidence == 0.9


def test_without_a_goal_the_first_step_is_the_goal():
    result, _ = plan("plan: buy flour. bake.")
    assert result.goal == "buy flour"


def test_lead_words_are_dropped():
    assert steps("plan: First buy flour. Secondly mix. Lastly bake.") == ["buy flour", "mix", "bake"]


# -- max_steps -----------------------------------------------------------------------------------------------
def test_max_steps_truncates_and_lowers_confidence():
    prompt = "plan:\n" + "\n".join(f"- step {i}" for i in range(10))
    full, full_confidence = plan(prompt)
    cut, cut_confidence = plan(prompt, max_steps=3)
    assert len(full.steps) == 10
    assert [s.description for s in cut.steps] == ["step 0", "step 1", "step 2"]
    assert cut_confidence < full_confidence


def test_max_steps_at_the_exact_count_keeps_the_confidence():
    prompt = "plan:\n- a\n- b\n- c"
    assert plan(prompt, max_steps=3)[1] == plan(prompt)[1]


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_max_steps_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match=f"RulePlanner.max_steps must be a positive integer, got {bad!r}"):
        RulePlanner(max_steps=bad)


# -- confidence --------------------------------------------------------------------------------------------
def test_confidence_orders_list_over_sequenced_over_sentences_over_single_clause_over_empty():
    listed = plan("plan:\n- buy flour\n- bake")[1]
    sequenced = plan("plan: buy flour, then bake")[1]
    sentences = plan("plan: Buy flour. Bake.")[1]
    single = plan("plan: buy flour")[1]
    empty = plan("plan:   ")[1]
    assert listed > sequenced > sentences > single > empty == 0.0
    assert all(0.0 <= c <= 1.0 for c in (listed, sequenced, sentences, single, empty))


# -- can_handle ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "task",
    [
        "plan: bake a cake",
        "PLAN: x",
        "  plan:x",
        "todo: groceries",
        "strategy: win",
        "a strategy for the launch",
        "Strategy",
    ],
)
def test_can_handle_planning_tasks(task):
    assert RulePlanner().can_handle(task)


@pytest.mark.parametrize("task", ["math: 2 + 2", "fr:tag", "translate: hello", "", "planet facts", "plan"])
def test_cannot_handle_other_tasks(task):
    assert not RulePlanner().can_handle(task)


# -- infer -------------------------------------------------------------------------------------------------
def test_infer_returns_a_plan_value_with_aux():
    out = infer(InputData.text("plan: buy flour, then bake"))
    assert isinstance(out, ExpertOut)
    assert out.value.kind is ValueKind.PLAN
    assert out.value.as_plan() == Plan("buy flour", [PlanStep("buy flour"), PlanStep("bake")])
    assert out.aux.confidence == 0.8
    assert out.aux.cost_units == RulePlanner().cost_units


@pytest.mark.parametrize("x", [InputData.bytes(b"plan: x"), InputData.features([1.0, 2.0], task="plan")])
def test_non_text_input_gives_none_with_zero_confidence(x):
    out = infer(x)
    assert out.value == Value.none()
    assert out.aux.confidence == 0.0


def test_an_empty_plan_gives_none():
    out = infer(InputData.text("plan:  "))
    assert out.value.is_none()
    assert out.aux.confidence == 0.0


def test_the_planner_is_an_expert_with_the_documented_identity():
    planner = RulePlanner()
    assert isinstance(planner, Expert)
    assert (planner.name, planner.domain, planner.max_steps) == ("rule_planner", "planning", 16)
