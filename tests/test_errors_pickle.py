"""himoe's errors cross processes (multiprocessing pools, Ray) intact: the same type, message and
attributes after a pickle round trip."""

from __future__ import annotations

import pickle

import pytest

from himoe_core import (
    BudgetExceeded,
    Cancelled,
    ConfigError,
    DeadlineExceeded,
    ExpertFailed,
    InvalidInput,
    MoeError,
    NoExpertSelected,
    PluginError,
    StateError,
)
from himoe_core.routing import EncodeError

ERRORS = [
    DeadlineExceeded(250.0, "2 experts cut"),
    BudgetExceeded(1.5, 3.0),
    NoExpertSelected("every expert failed", {"a": "timed out", "b": "raised KeyError"}),
    ExpertFailed("unit_converter", "unknown unit 'furlong'"),
    Cancelled("client went away"),
    Cancelled(),
    EncodeError("the hashing encoder needs text"),
    InvalidInput("empty input"),
    ConfigError("routers.r.k: expected a positive int, got 0"),
    StateError("the state file is read-only"),
    PluginError("himoe-foo: register_experts raised"),
    MoeError("plain"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_an_error_survives_a_pickle_round_trip(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert vars(copy) == vars(error)
