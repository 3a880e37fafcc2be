"""vision_digits_linear learns online from corrections, and its state saves as plain numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from himoe_vision import DigitsLinearExpert

from himoe_core import Context, InputData, InvalidInput, Value


def label_of(expert, x: InputData) -> int:
    return expert.infer(x, Context.start(10_000)).value.as_json()["label"]


def probability(expert, x: InputData, label: int) -> float:
    return expert.infer(x, Context.start(10_000)).value.as_json()["probabilities"][label]


def teach(expert, x: InputData, expected: Value) -> None:
    answer = expert.infer(x, Context.start(10_000)).value
    expert.learn(x, answer, 0.0, expected=expected)


@pytest.mark.parametrize("row", [0, 5, 17, 100, 300])
def test_vision_teaching_a_relabelled_example_flips_its_prediction(row, vision_held_out):
    expert = DigitsLinearExpert()
    x = InputData.features(vision_held_out[0][row])
    original = label_of(expert, x)
    assert original == vision_held_out[1][row]
    target = (original + 1) % 10
    chances = [probability(expert, x, target)]
    for _ in range(20):
        teach(expert, x, Value.json({"label": target}))
        chances.append(probability(expert, x, target))
        if label_of(expert, x) == target:
            break
    assert label_of(expert, x) == target, "20 corrections did not change the prediction"  # measured: 1..4
    assert all(later > earlier for earlier, later in zip(chances, chances[1:])), chances


def test_vision_correcting_mistakes_helps_on_unseen_digits(vision_held_out):
    features, labels = vision_held_out
    unseen = slice(400, None)  # corrections come from rows 0..399 only
    expert = DigitsLinearExpert()
    ctx = Context.start(60_000)

    def accuracy(rows):
        return np.mean(
            [
                expert.infer(InputData.features(f), ctx).value.as_json()["label"] == y
                for f, y in zip(features[rows], labels[rows])
            ]
        )

    before = accuracy(unseen)
    mistakes = [i for i in range(400) if label_of(expert, InputData.features(features[i])) != labels[i]]
    assert len(mistakes) >= 5
    for i in mistakes:  # each correction given once, as a user would
        teach(expert, InputData.features(features[i]), Value.text(str(labels[i])))
    fixed = np.mean([label_of(expert, InputData.features(features[i])) == labels[i] for i in mistakes])
    assert fixed >= 0.9  # measured 1.0
    assert accuracy(unseen) > before  # measured 0.894 -> 0.904
    assert expert._model.get().updates == len(mistakes)


def test_vision_learn_without_expected_changes_nothing(vision_held_out):
    expert = DigitsLinearExpert()
    before = expert.state_dict()
    x = InputData.features(vision_held_out[0][0])
    answer = expert.infer(x, Context.start(10_000)).value
    for reward in (-1.0, 0.0, 1.0):
        expert.learn(x, answer, reward)
    assert expert.state_dict() == before


def test_vision_learn_from_image_bytes(vision_held_out):
    from himoe_vision.imaging.pgm import encode_pgm

    digit = vision_held_out[0][0]
    image = np.kron(digit.reshape(8, 8) / 16 * 255, np.ones((4, 4))).round().astype(np.uint8)
    x = InputData.bytes(encode_pgm(image))
    expert = DigitsLinearExpert()
    original = label_of(expert, x)
    for _ in range(20):
        teach(expert, x, Value.json({"label": (original + 3) % 10}))
    assert label_of(expert, x) == (original + 3) % 10


@pytest.mark.parametrize(
    "expected",
    [
        Value.json({"label": 10}),
        Value.json({"label": -1}),
        Value.json({"label": True}),
        Value.json({"digit": 3}),
        Value.json([3]),
        Value.text("seven"),
        Value.text("12"),
        Value.none(),
    ],
)
def test_vision_learn_rejects_unusable_expected(expected, vision_held_out):
    expert = DigitsLinearExpert()
    before = expert.state_dict()
    with pytest.raises(InvalidInput, match="expected answer for a digit"):
        expert.learn(InputData.features(vision_held_out[0][0]), Value.none(), 1.0, expected=expected)
    assert expert.state_dict() == before


def test_vision_learn_accepts_the_usual_expected_forms(vision_held_out):
    x = InputData.features(vision_held_out[0][0])
    for expected in (
        Value.json({"label": 4}),
        Value.json({"label": "4"}),
        Value.json(4),
        Value.text(" 4 "),
        Value.json({"label": 4, "probabilities": [0.1] * 10, "model": "someone"}),
    ):
        expert = DigitsLinearExpert()
        coef_before = np.array(expert.state_dict()["coef"])
        expert.learn(x, Value.none(), 1.0, expected=expected)
        coef_after = np.array(expert.state_dict()["coef"])
        assert (coef_after[4] - coef_before[4]) @ vision_held_out[0][0] > 0  # moved towards 4


def test_vision_state_dict_is_plain_and_round_trips(vision_held_out):
    features = vision_held_out[0]
    teacher = DigitsLinearExpert()
    x = InputData.features(features[0])
    target = (label_of(teacher, x) + 1) % 10
    for _ in range(20):
        teach(teacher, x, Value.json({"label": target}))
    state = teacher.state_dict()
    assert set(state) == {"format", "mean", "scale", "coef", "intercept", "learning_rate", "updates"}
    for value in state.values():
        assert isinstance(value, (float, list))
    restored_state = json.loads(json.dumps(state))  # survives plain JSON, no pickle

    student = DigitsLinearExpert()
    student.load_state_dict(restored_state)
    assert student._model.is_built()  # loading replaces training
    assert label_of(student, x) == target
    ctx = Context.start(10_000)
    for row in features[:50]:
        a = teacher.infer(InputData.features(row), ctx).value.as_json()["probabilities"]
        b = student.infer(InputData.features(row), ctx).value.as_json()["probabilities"]
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert student.state_dict() == state


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.pop("coef"), "lacks \\['coef'\\]"),
        (lambda s: s.update(coef=s["coef"][:9]), "'coef' must have shape \\(10, 64\\)"),
        (lambda s: s.update(mean=[0.0] * 63), "'mean' must have shape \\(64,\\)"),
        (lambda s: s.update(scale=[0.0] * 64), "'scale' value must be > 0"),
        (lambda s: s.update(intercept=[float("nan")] * 10), "NaN or infinite"),
        (lambda s: s.update(coef="weights"), "'coef' must"),
        (lambda s: s.update(format=2.0), "format 2.0"),
        (lambda s: s.update(learning_rate=-1.0), "learning_rate must be a number > 0"),
    ],
)
def test_vision_load_state_dict_rejects_bad_state(change, message, vision_linear):
    state = vision_linear.state_dict()
    change(state)
    expert = DigitsLinearExpert()
    with pytest.raises(InvalidInput, match=message):
        expert.load_state_dict(state)
    assert not expert._model.is_built()
