"""The caller's context: `run(x, task=…, context={…})`, namespaced features in the encoders,
recorded with the decision, and learned from — a router that sees a category learns what the
text cannot tell it."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from himoe_core import HiMoE, InputData, InvalidInput
from himoe_core.routing import FeaturesEncoder, HashingEncoder, decode_decision, encode_decision
from himoe_core.testing import ConstantExpert

SUBJECTS = ("anatomy", "law", "algebra", "poetry")
ARMS = ("a0", "a1", "a2", "a3")
WORDS = "the a of to and in is it that what which how many why when be this for on with as".split()


def _replay(n: int, seed: int) -> list[tuple[str, str]]:
    """(text, subject): the text is random filler, the same distribution for every subject, so
    only the subject says which arm is right (arm i for subject i)."""
    rng = np.random.default_rng(seed)
    return [(" ".join(rng.choice(WORDS, size=12)), SUBJECTS[int(rng.integers(len(SUBJECTS)))]) for _ in range(n)]


def _engine(context_features: bool) -> HiMoE:
    return HiMoE(
        experts=[ConstantExpert(name, value=name) for name in ARMS],
        entry_points=False,
        environ={},
        config={
            "routers": {"r": {"kind": "logistic", "experts": list(ARMS), "encoder": {"id": "hashing", "dim": 256}}},
            "state": {"enabled": False},
        },
    )


def _online(with_context: bool, n: int = 700, learn_first: int = 500, seed: int = 3) -> float:
    """Mean reward over the requests after the first `learn_first`, learning throughout."""
    moe = _engine(with_context)
    rewards = []
    try:
        for text, subject in _replay(n, seed):
            response = moe.run_sync(text, context={"subject": subject} if with_context else None)
            reward = float(response.value.data == ARMS[SUBJECTS.index(subject)])
            moe.feedback(response.trace_id, reward=reward)
            rewards.append(reward)
    finally:
        moe.close()
    return float(np.mean(rewards[learn_first:]))


def test_a_router_learns_an_arm_that_only_the_context_category_predicts():
    oracle = 1.0  # the right arm always answers right
    with_context = _online(True)
    without = _online(False)
    assert with_context >= 0.95 * oracle, with_context
    chance = 1.0 / len(ARMS)
    assert abs(without - chance) < 0.12, without  # the text says nothing: near chance


def test_the_task_hint_and_context_are_features_of_their_own_namespaces():
    encoder = HashingEncoder(dim=1 << 16)
    word = encoder.encode(InputData.text("anatomy"))
    hinted = encoder.encode(InputData.text("anatomy", task="mmlu/anatomy"))
    as_context = encoder.encode(InputData.text("anatomy", context={"subject": "anatomy"}))
    extra_hint = set(hinted.indices) - set(word.indices)
    extra_context = set(as_context.indices) - set(word.indices)
    assert len(extra_hint) == 1 and len(extra_context) == 1 and extra_hint != extra_context
    # the text part is untouched; the hint is one feature of weight 1 beside the normalised text
    np.testing.assert_array_equal(np.delete(hinted.vector, list(extra_hint)), np.delete(word.vector, list(extra_hint)))
    assert abs(hinted.vector[extra_hint.pop()]) == 1.0
    off = HashingEncoder(dim=1 << 16, task=False).encode(InputData.text("anatomy", task="mmlu/anatomy"))
    np.testing.assert_array_equal(off.vector, word.vector)
    number = encoder.encode(InputData.text("anatomy", context={"priority": 2.5}))
    assert sorted(abs(number.vector[list(set(number.indices) - set(word.indices))])) == [2.5]


def test_the_features_encoder_appends_hashed_context_when_asked():
    x = InputData.features([0.5, 1.0], context={"tenant": "acme"}, task="t")
    assert FeaturesEncoder().encode(x).dim == 2
    encoded = FeaturesEncoder(context_dim=8).encode(x)
    assert encoded.dim == 10 and np.abs(encoded.vector[2:]).sum() == 2.0


def test_context_features_are_the_same_in_another_process():
    code = (
        "from himoe_core import InputData; from himoe_core.routing import HashingEncoder; "
        "e = HashingEncoder(dim=4096, length=True).encode(InputData.text('how many apples', task='gsm8k', "
        "context={'tenant': 'acme', 'priority': 3, 'paid': True})); "
        "print(e.indices.tolist(), e.values.tolist())"
    )
    runs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout for _ in "ab"
    }
    here = HashingEncoder(dim=4096, length=True).encode(
        InputData.text("how many apples", task="gsm8k", context={"tenant": "acme", "priority": 3, "paid": True})
    )
    assert runs == {f"{here.indices.tolist()} {here.values.tolist()}\n"}


def test_the_decision_record_keeps_the_context_and_v1_records_still_decode():
    moe = _engine(True)
    try:
        response = moe.run_sync("how many apples", task="gsm8k", context={"tenant": "acme", "priority": 2})
    finally:
        moe.close()
    decision = response.decision
    assert decision.input.context_dict() == {"priority": 2.0, "tenant": "acme"}
    assert response.trace["context"] == {"priority": 2.0, "tenant": "acme"}
    record = json.loads(encode_decision(decision))
    assert record["v"] == 2 and record["input"]["context"] == [["priority", 2.0], ["tenant", "acme"]]
    again = decode_decision(json.dumps(record))
    assert again.input.context == decision.input.context
    assert len(record["gate"]["estimates"]) == len(record["gate"]["logits"])
    assert again.scores == decision.scores
    # a version-1 record: no context, no estimates
    del record["input"]["context"], record["gate"]["estimates"]
    old = decode_decision(json.dumps({**record, "v": 1}))
    assert old.input.context == () and old.scores.estimates is None and old.picks == decision.picks


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ("subject=law", "context must be a mapping"),
        ({"": "x"}, "must be a non-empty one-line string"),
        ({"a=b": "x"}, "without '='"),
        ({"n": float("nan")}, "a finite number"),
        ({"n": [1]}, "category \\(str or bool\\) or a finite number"),
        ({"s": "two\nlines"}, "must be one line"),
        ({f"k{i}": "v" for i in range(65)}, "more than 64"),
    ],
)
def test_a_bad_context_is_one_clear_error(context, message):
    with pytest.raises(InvalidInput, match=message):
        InputData.text("hello", context=context)
