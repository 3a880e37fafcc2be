"""Fault-injecting experts for testing routers, plugins and applications built on himoe.

Each is a small, configurable expert with the usual optional attributes (`cost_units`,
`domain`), answering only tasks that start with its `prefix` (default: every task)::

    from himoe_core import HiMoE
    from himoe_core.testing import FailingExpert, HangingExpert, SleepyExpert

    moe = HiMoE(experts=[SleepyExpert("fast", delay_s=0.01, value="ok"), HangingExpert("stuck")],
                entry_points=False, config={"routers": {"r": {"k": 2}}})

- `ConstantExpert`: returns a fixed value at once;
- `EchoExpert`: returns the request's text (or task), prefixed — tells concurrent answers apart;
- `SleepyExpert`: sleeps `delay_s` on the trio clock, then answers (MockClock makes it exact);
- `FailingExpert`: raises;
- `HangingExpert`: never answers (awaits forever; only a deadline or cancel ends it);
- `BlockingExpert`: a plain `def infer` that blocks its worker thread, optionally honouring
  `ctx.cancel`, and records the threads it ran in;
- `LearningExpert`: answers at once and records the `learn(x, value, reward, expected=…)` calls
  that `HiMoE.feedback` makes (with `state_dict`/`load_state_dict`, saved with the state file);
- `FlakyExpert`: fails intermittently, with a seeded, reproducible sequence of failures;
- `MalformedExpert`: answers something the router must refuse (wrong type, NaN, a negative
  cost, an oversized value);
- `StuckThreadExpert`: a plain `def infer` that wedges its worker thread, deaf to cancellation,
  until `release()`.

and helpers to check how a request was routed, with the whole routing in the failure message:
`assert_routed(response, expert=..., router=..., status=...)`, `trace_calls(response)`,
`describe_routing(response)`, `assert_examples_answered(moe)` (each expert's `example` request
reaches it and is answered); and `run_latency_benchmark(__file__, __doc__, cases, child)`, the
driver of a plugin's latency benchmark (fresh processes, first and warm calls, p50/p95, peak RSS).
The pytest plugin `himoe_core.testing.pytest_plugin` (registered
with pytest when himoe is installed) adds the fixtures `himoe_factory`, `mock_clock`, `run_trio`.

Names are imported on first use, so that pytest loading that plugin stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy_exports import public_namespace

if TYPE_CHECKING:  # the exports, read at run time by public_namespace: one list, three uses
    from .blocking_expert import BlockingExpert as BlockingExpert
    from .constant_expert import ConstantExpert as ConstantExpert
    from .echo_expert import EchoExpert as EchoExpert
    from .failing_expert import FailingExpert as FailingExpert
    from .flaky_expert import FlakyExpert as FlakyExpert
    from .hanging_expert import HangingExpert as HangingExpert
    from .latency_benchmark import run_latency_benchmark as run_latency_benchmark
    from .learning_expert import LearningExpert as LearningExpert
    from .malformed_expert import MalformedExpert as MalformedExpert
    from .sleepy_expert import SleepyExpert as SleepyExpert
    from .stuck_thread_expert import StuckThreadExpert as StuckThreadExpert
    from .trace_assertions import assert_examples_answered as assert_examples_answered
    from .trace_assertions import assert_routed as assert_routed
    from .trace_assertions import describe_routing as describe_routing
    from .trace_assertions import trace_calls as trace_calls

__getattr__, __dir__, __all__ = public_namespace(__name__)
