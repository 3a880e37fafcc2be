"""The MoeError hierarchy: one base to catch, messages that say what happened and what to do."""

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
)
from himoe_core.routing import AggregationFailed, EncodeError

ALL = [
    AggregationFailed,
    BudgetExceeded,
    Cancelled,
    ConfigError,
    DeadlineExceeded,
    EncodeError,
    ExpertFailed,
    InvalidInput,
    NoExpertSelected,
    PluginError,
]


@pytest.mark.parametrize("error", ALL)
def test_every_error_is_a_moe_error(error):
    assert issubclass(error, MoeError)
    assert issubclass(error, Exception)


def test_input_and_config_errors_are_also_value_errors():
    assert issubclass(InvalidInput, ValueError)
    assert issubclass(ConfigError, ValueError)
    assert not issubclass(PluginError, ValueError)


def test_deadline_exceeded_names_the_budget_and_the_remedy():
    error = DeadlineExceeded(250.0, "2 experts cut")
    assert error.budget_ms == 250.0
    assert str(error) == (
        "deadline exceeded: no usable answer within the 250 ms budget (2 experts cut); "
        "raise budget_ms or use faster experts"
    )
    assert "()" not in str(DeadlineExceeded(10))


def test_budget_exceeded_names_both_amounts():
    error = BudgetExceeded(0.5, 2.0)
    assert (error.budget_units, error.cheapest_units) == (0.5, 2.0)
    assert "0.5 cost units left" in str(error) and "costs about 2" in str(error)
    assert "raise cost_budget" in str(error)


def test_expert_failed_names_expert_and_cause():
    error = ExpertFailed("rule_planner", "ValueError: bad step")
    assert (error.name, error.cause) == ("rule_planner", "ValueError: bad step")
    assert str(error) == "expert 'rule_planner' failed: ValueError: bad step"


def test_no_expert_selected_lists_each_failure_sorted():
    error = NoExpertSelected("all experts failed", {"zeta": "timed out", "alpha": "ValueError: x"})
    assert error.failures == {"zeta": "timed out", "alpha": "ValueError: x"}
    assert str(error) == "no expert selected: all experts failed [alpha: ValueError: x; zeta: timed out]"
    assert str(NoExpertSelected("none can handle 'x'")) == "no expert selected: none can handle 'x'"


def test_cancelled_carries_its_reason():
    assert str(Cancelled()) == "request cancelled"
    error = Cancelled("user pressed stop")
    assert error.reason == "user pressed stop"
    assert str(error) == "request cancelled: user pressed stop"


def test_prefixed_errors():
    assert str(AggregationFailed("kinds differ")) == "aggregation failed: kinds differ"
    assert str(EncodeError("empty text")) == "encode error: empty text"
