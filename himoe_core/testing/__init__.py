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
  `ctx.cancel`, and records the threads it ran in.
"""

from .blocking_expert import BlockingExpert
from .constant_expert import ConstantExpert
from .echo_expert import EchoExpert
from .failing_expert import FailingExpert
from .hanging_expert import HangingExpert
from .sleepy_expert import SleepyExpert

__all__ = ["BlockingExpert", "ConstantExpert", "EchoExpert", "FailingExpert", "HangingExpert", "SleepyExpert"]
