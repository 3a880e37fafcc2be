"""Shared fixtures for the himoe-vision tests: trained experts (once per session) and the data."""

from __future__ import annotations

import numpy as np
import pytest
from himoe_vision import DigitsLinearExpert, DigitsSvcExpert
from himoe_vision.data.digits_split import held_out_split

from himoe_core import Context, InputData


@pytest.fixture(scope="session")
def vision_linear() -> DigitsLinearExpert:
    """A trained linear expert shared by read-only tests (tests that learn build their own)."""
    expert = DigitsLinearExpert()
    expert.warm_up()
    return expert


@pytest.fixture(scope="session")
def vision_svc() -> DigitsSvcExpert:
    expert = DigitsSvcExpert()
    expert.warm_up()
    return expert


@pytest.fixture(scope="session")
def vision_held_out() -> tuple[np.ndarray, np.ndarray]:
    return held_out_split()


def classify(expert, x: InputData) -> dict:
    """Run a sync expert as the router would (worker thread aside) and return its Json answer."""
    out = expert.infer(x, Context.start(30_000))
    answer = out.value.as_json()
    assert answer is not None, out.value
    assert out.aux.confidence == pytest.approx(max(answer["probabilities"]))
    return answer


@pytest.fixture(scope="session")
def vision_classify():
    return classify
