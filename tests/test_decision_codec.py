"""The decision record's storage form: versioned plain JSON that decodes to the same decision."""

from __future__ import annotations

import json

import numpy as np
import pytest

from himoe_core import HiMoE, StateError, Value
from himoe_core.routing import decode_decision, encode_decision
from himoe_core.testing import ConstantExpert


def _decision(kind="logistic", text="how many apples are left?"):
    table = {"kind": kind, "experts": ["a", "b"], "k": 2}
    if kind != "static":
        table["encoder"] = {"id": "hashing", "dim": 64, "length": True}
    moe = HiMoE(
        experts=[ConstantExpert("a", value={"answer": 3}), ConstantExpert("b", value="three")],
        entry_points=False,
        environ={},
        config={"routers": {"r": table}, "state": {"enabled": False}},
    )
    return moe.run_sync(text).decision


@pytest.mark.parametrize("kind", ["static", "logistic"])
def test_a_decision_round_trips_through_its_record(kind):
    decision = _decision(kind)
    text = encode_decision(decision)
    record = json.loads(text)
    assert record["v"] == 2 and "pickle" not in text
    again = decode_decision(text)
    for field in (
        "trace_id",
        "router",
        "scores",
        "picks",
        "propensity",
        "outcomes",
        "value",
        "weights",
        "model_version",
    ):
        assert getattr(again, field) == getattr(decision, field), field
    assert again.input.as_text() == decision.input.as_text()
    if decision.features is None:
        assert again.features is None
    else:
        np.testing.assert_array_equal(again.features.vector, decision.features.vector)
    assert again.value == decision.value and isinstance(again.value, Value)


def test_a_record_of_another_version_or_damaged_is_refused_with_a_reason():
    record = json.loads(encode_decision(_decision("static")))
    with pytest.raises(StateError, match="format version 3, this himoe reads versions 1, 2"):
        decode_decision(json.dumps({**record, "v": 3}))
    del record["picks"]
    with pytest.raises(StateError, match="damaged"):
        decode_decision(json.dumps(record))
    with pytest.raises(StateError, match="not valid JSON"):
        decode_decision("{")


def test_a_released_trace_rebuilds_the_decision_it_was_taken_from():
    """The kept trace's atoms hold the decision too: once the trace store lets the live object
    go, feedback rebuilds an equal one."""
    moe = HiMoE(
        experts=[ConstantExpert("a", value={"answer": 3}), ConstantExpert("b", value="three")],
        entry_points=False,
        environ={},
        config={
            "routers": {
                "r": {"kind": "logistic", "experts": ["a", "b"], "k": 2, "encoder": {"id": "hashing", "dim": 64}}
            },
            "state": {"enabled": False},
        },
    )
    response = moe.run_sync("how many apples are left?")
    record = moe.traces.record(response.trace_id)
    record.release()
    rebuilt = record.decision()
    assert rebuilt is not response.decision
    for field in (
        "trace_id",
        "router",
        "scores",
        "picks",
        "propensity",
        "outcomes",
        "value",
        "weights",
        "model_version",
    ):
        assert getattr(rebuilt, field) == getattr(response.decision, field), field
    np.testing.assert_array_equal(rebuilt.features.vector, response.decision.features.vector)
    np.testing.assert_array_equal(rebuilt.features.indices, response.decision.features.indices)
    np.testing.assert_array_equal(rebuilt.features.values, response.decision.features.values)
    # A kept trace holds the features sparse: the dense vector (16 KB at dim 4096) made 10,000
    # kept traces cost ~180 MB.
    dense = [
        a for a in record._atoms if isinstance(a, np.ndarray) and a.shape == response.decision.features.vector.shape
    ]
    assert not dense


def test_a_record_keeps_infinite_numbers_and_any_text():
    """Infinite estimates (a router may give any float) come back as they were, not as the null
    strict JSON writers put there; so does text beyond ASCII."""
    import attrs

    from himoe_core._router.gate_scores import GateScores

    decision = _decision("logistic", text="combien de pommes reste-t-il ? 林檎")
    scores = decision.scores
    estimates = (float("inf"), float("-inf"))
    decision = attrs.evolve(decision, scores=GateScores(scores.ids, scores.logits, scores.probs, estimates))
    again = decode_decision(encode_decision(decision))
    assert again.scores.estimates == estimates
    assert again.input.as_text() == "combien de pommes reste-t-il ? 林檎"
