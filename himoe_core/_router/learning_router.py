from __future__ import annotations

import json
import logging
import math
import time
from bisect import bisect_right
from collections.abc import Callable
from itertools import accumulate
from typing import Any

import numpy as np
from himoe_registry import ExpertId

from .._decision.decision import Decision
from .._errors import EncodeError
from .._experts.expert_ref import ExpertRef
from .._input import InputData
from .._learning.refit_history import RefitEvent, RefitHistory
from .base_router import BaseRouter
from .gate_scores import GateScores
from .gating_policy import GatingPolicy
from .option_checks import real
from .router_feedback import RouterFeedback
from .router_input import RouterInput

logger = logging.getLogger("himoe.router")
_FEW = 16
"""Up to this many candidates, the first pick is drawn with Python floats rather than arrays."""


class LearningRouter(BaseRouter):
    """What every learning router kind shares.

    - Exploration: the first pick is *sampled* from the gate probabilities with a seeded
      generator, so each decision's logged probability is its true propensity (offline
      evaluation needs it) and a run is reproducible for a given seed. The default gating is
      sharp (temperature 0.05) with a 5 % exploration floor; kinds that explore by themselves
      (a bonus or a posterior draw) override it with a near-greedy gate.
    - Cost knob: `cost_weight` is subtracted per expected cost unit from each expert's
      estimated quality (RouteLLM's threshold, in reward units): 0 buys quality at any price,
      larger values send more traffic to cheap experts. Quality models learn reward only, so
      the knob can move without relearning.
    - Feedback: `learn(decision, feedback)` calls `update(features, expert, reward, decision)`
      for each credited pick, on the features the decision recorded.
    - State: `state_dict()` / `load_state_dict()` hold plain numbers and numpy arrays (no pickle).
    - Refit (the kinds with a `refit` option): the last `window` learned events are kept
      (`RefitHistory`), and every `every` events the engine runs `refit_job()` in a worker
      thread — a batch fit of the history (`fit_history`), published (`publish_fit`) only when
      it predicts the newest events better than the online model did.
    """

    default_policy = GatingPolicy(temperature=0.05, epsilon=0.05)

    def __init__(self, *, cost_weight: float = 0.0, **options: Any) -> None:
        super().__init__(**options)
        self.cost_weight = real("cost_weight", cost_weight, minimum=0.0)
        self.rng = np.random.default_rng(self.policy.seed)
        self.updates = 0
        self.refit_history: RefitHistory | None = None
        """Set by the kinds that refit (`refit` option): their learned events, bounded."""

    # -- features ---------------------------------------------------------------------------------
    def features(self, x: InputData, encoded: np.ndarray | None = None) -> np.ndarray:
        """The encoded input with a bias term appended."""
        if encoded is None:
            if self.encoder is not None:
                rin = self.encode(x)
                assert rin.encoded is not None, "a router with an encoder encodes its input"
                encoded = rin.encoded.vector
            elif x.as_features() is not None:
                encoded = x.as_features()
            else:
                raise EncodeError(
                    f"router {self.id!r} ({self.kind}) needs an encoder for {x.kind.value} input; "
                    f'set routers.{self.id}.encoder = "hashing"'
                )
        return np.append(np.asarray(encoded, dtype=np.float64), 1.0)

    def _input_features(self, input: RouterInput) -> np.ndarray:
        return self.features(input.input, input.encoded.vector if input.encoded is not None else None)

    def costs(self, candidates: list[ExpertRef]) -> np.ndarray:
        """Each candidate's expected cost, for the cost knob."""
        return np.array([self.expected_cost(ref) for ref in candidates])

    # -- deciding ---------------------------------------------------------------------------------
    samples_first = True

    def choose_first(self, scores: GateScores) -> int:
        # What `self.rng.choice(n, p=probs)` does, without its argument checks (they cost more
        # than the draw): the same index for the same generator state, to the bit.
        probs = scores.probs
        total = sum(probs)
        if len(probs) <= _FEW and total > 0.0:
            # the same float operations in the same order (cumsum adds left to right), on a few
            # Python floats: cheaper than making arrays of them
            cdf = list(accumulate([p / total for p in probs]))
            last = cdf[-1]
            return bisect_right([c / last for c in cdf], self.rng.random())
        array = np.cumsum(np.asarray(probs) / total)
        array /= array[-1]
        return int(array.searchsorted(self.rng.random(), side="right"))

    # -- learning ---------------------------------------------------------------------------------
    def learn(self, decision: Decision, feedback: RouterFeedback) -> None:
        """Update from each credited expert's reward, on the features the decision was made on
        (never encoded again)."""
        if not feedback.rewards:
            return
        x = self._decision_features(decision) if self.needs_features else None
        known = self.candidate_index().position  # the router's experts, by id
        for expert_id, reward in feedback.rewards:
            if expert_id in known and math.isfinite(reward):
                self.update(x, expert_id, float(reward), decision)
                self.updates += 1

    needs_features = True

    def update(self, x: Any, expert_id: ExpertId, reward: float, decision: Decision) -> None:
        """Update the model from one reward for one expert: `x` is what `_decision_features` made
        of the decision (None for context-free kinds), in the form the subclass chose."""
        raise NotImplementedError

    def _decision_features(self, decision: Decision) -> Any:  # `update`'s x; the logistic router's is sparse
        features = decision.features
        return self.features(decision.input, None if features is None else features.vector)

    # -- refit from history ------------------------------------------------------------------------
    def refit_job(self) -> Callable[[], Callable[[], bool]] | None:
        """When a refit is due, the work for a worker thread: it fits on a snapshot of the
        history (`fit_history`, which must not touch the live model) and returns the function
        that publishes the fit, to call where learning is serialised (the FeedbackTrainer's
        lock); that function says whether the model was replaced. None when no refit is due."""
        history = self.refit_history
        due = None if history is None else history.take_due()
        if history is None or due is None:
            return None
        events, seen = due

        def work() -> Callable[[], bool]:
            started = time.thread_time()
            try:
                fitted = self.fit_history(events)
            except Exception:
                logger.exception("router %r: the refit failed; the online model stays", self.id)
                fitted = None
            seconds = time.thread_time() - started

            def publish() -> bool:
                replaced = fitted is not None and self.publish_fit(fitted, history.since(seen))
                history.finished(replaced, seconds)
                return replaced

            return publish

        return work

    def fit_history(self, events: list[RefitEvent]) -> Any:
        """A model fitted on `events` (the history's), or None when it would not be better."""
        raise NotImplementedError

    def publish_fit(self, fitted: Any, tail: list[RefitEvent]) -> bool:
        """Make `fitted` the model, after learning the `tail` of events that arrived since the
        snapshot it was fitted on; whether it did."""
        raise NotImplementedError

    # -- state ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The router's learned state: numbers, strings and numpy arrays (saved without pickle)."""
        return {
            "kind": self.kind,
            "updates": self.updates,
            "rng": json.dumps(self.rng.bit_generator.state),
            **self.model_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned. A state without its "rng" (a learner's snapshot:
        see `FeedbackTrainer.apply_snapshot`) leaves this router's exploration stream as it is."""
        if state.get("kind") != self.kind:
            raise ValueError(f"saved state is for a {state.get('kind')!r} router, {self.id!r} is {self.kind!r}")
        self.updates = int(state["updates"])
        if "rng" in state:
            self.rng.bit_generator.state = json.loads(state["rng"])
        self.load_model_state(state)

    def model_state(self) -> dict[str, Any]:
        """The kind's own part of `state_dict`."""
        return {}

    def load_model_state(self, state: dict[str, Any]) -> None:
        """Restore what `model_state` saved."""
