from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import attrs
from himoe_registry import ExpertId

from .._input import InputData
from .._router.call_outcome import CallOutcome
from .._router.call_status import CallStatus
from .._router.gate_scores import GateScores
from .._value import Value

if TYPE_CHECKING:
    from .._aggregator.mix_meta import MixMeta
    from .._encoder.encoded import Encoded
    from .._errors import MoeError

# Typed for mypy's attrs plugin (it types each __init__ parameter from the converter's signature);
# at run time the builtin itself, so building one on every request runs no Python frame.
if TYPE_CHECKING:

    def _ids(items: Iterable[ExpertId]) -> tuple[ExpertId, ...]: ...

    def _outcomes(items: Iterable[CallOutcome]) -> tuple[CallOutcome, ...]: ...

    def _weights(items: Iterable[tuple[ExpertId, float]]) -> tuple[tuple[ExpertId, float], ...]: ...

else:
    _ids = _outcomes = _weights = tuple


@attrs.frozen
class Decision:
    """What one router decided for one request, and what came of it: the record that learning,
    off-policy evaluation and the state file read (the JSON trace is rendered from it for people).

    - `scores` is the gate over the candidates (ids, logits, probabilities; None when the router
      failed before gating), `picks` the experts chosen, in order, and `propensity` the
      probability the first pick had under the router's policy (1.0 when it ranks
      deterministically): what inverse-propensity estimators divide by.
    - `features` is the encoding the router gated on (None without an encoder): feedback learns
      from it, never from encoding the input again.
    - `outcomes` is one CallOutcome per pick (empty for a decision made without calling, see
      `Router.decide`), `value` the aggregated answer and `weights` each expert's share of it.
    - `model_version` is the version of the router's learned state that decided.

    `mix` (the fan-out's telemetry) belongs to this process only, and `error` (why the router
    produced no answer) is stored as its message; `decision_codec` stores the rest, versioned
    and plain.
    """

    trace_id: str
    router: str
    input: InputData
    scores: GateScores | None = None
    picks: tuple[ExpertId, ...] = attrs.field(default=(), converter=_ids)
    propensity: float = 1.0
    outcomes: tuple[CallOutcome, ...] = attrs.field(default=(), converter=_outcomes)
    value: Value | None = None
    weights: tuple[tuple[ExpertId, float], ...] = attrs.field(default=(), converter=_weights)
    features: Encoded | None = attrs.field(default=None, eq=False)
    model_version: int = 0
    mix: MixMeta | None = attrs.field(default=None, eq=False)
    error: MoeError | None = attrs.field(default=None, eq=False)

    @property
    def ok(self) -> bool:
        """Whether the router succeeded: it answered (or, for `Router.decide`, picked)."""
        return self.error is None

    def credited(self) -> list[ExpertId]:
        """The experts a reward for the answer goes to: those whose output counted in it
        (weight > 0); for a decision made without calling (`Router.decide`), its picks."""
        if not self.outcomes:
            return list(self.picks)
        return [eid for eid, weight in self.weights if weight > 0]

    def output_of(self, expert_id: ExpertId) -> Value | None:
        """The value an expert returned in this decision's fan-out (None if it did not answer)."""
        for outcome in self.outcomes:
            if outcome.expert_id == expert_id and outcome.status is CallStatus.OK and outcome.out is not None:
                return outcome.out.value
        return None

    def names(self) -> dict[ExpertId, str]:
        """Expert id → name, for every expert this decision called."""
        return {o.expert_id: o.name for o in self.outcomes}
