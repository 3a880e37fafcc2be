from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .._context import Context
    from .._input import InputData
    from .expert_out import ExpertOut


@runtime_checkable
class Expert(Protocol):
    """Anything that answers a request: a planner, a tagger, a solver, a remote model…

    Required:

    - ``name``: unique, matching ``[a-z0-9][a-z0-9_.-]*``; its hash is the stable ExpertId.
    - ``can_handle(task)``: a cheap symbolic test on the request's task hint (else its text);
      optional for an expert that declares ``handles`` or ``input_kinds`` (below), which then
      has the last word on the requests its declaration matched.
    - ``infer(x, ctx)``: the answer, as an ExpertOut or anything ``to_value`` accepts.
      ``async def infer`` runs on the trio loop and must not block; a plain ``def infer`` runs in
      a worker thread (blocking or CPU-bound work) and should poll ``ctx.cancel.is_cancelled()``
      when it runs long.

    Optional attributes, read when present:

    - ``handles`` (tuple of str): the task prefixes it takes (``("math:", "calc:")``; any case,
      leading spaces ignored) and ``input_kinds`` (tuple of ``"text"``, ``"bytes"``,
      ``"features"``): routers index these, so that only the experts whose declaration matches
      a request are considered; read once, when a router is built;

    - ``domain`` (str): the expert's domain, e.g. ``"planning"`` (default: from its module path
      ``experts/<domain>/``);
    - ``description`` (str): one line for ``himoe list-experts`` (default: docstring's first line);
    - ``example`` (str): one request it handles, e.g. ``"math: solve x**2 - 4 = 0"``; the error
      for a request that no expert can handle shows it, so that users learn how to reach it;
    - ``cost_units`` (float): the expected cost of one call, used by budget guards before any
      call was observed;
    - ``max_concurrency`` (int): how many calls of a sync expert may run at once (default 4);
    - ``learn(x, value, reward, *, expected=None)``: called with feedback when the expert was
      selected; ``expected`` is the right answer (a Value) when the user gave one.
    """

    name: str

    def can_handle(self, task: str) -> bool:
        """Whether this expert accepts a request with this task hint (else its text)."""
        ...

    def infer(self, x: InputData, ctx: Context) -> ExpertOut | Any | Awaitable[ExpertOut | Any]:
        """Answer the request: an ExpertOut, or anything `to_value` accepts."""
        ...
