from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

from .._aggregator.aggregated_out import AggregatedOut
from .._aggregator.mix_meta import MixMeta
from .._context import Context
from .._decision.decision import Decision
from .._errors import Cancelled, MoeError
from .._experts.expert_ref import ExpertRef
from .._input import InputData
from .._learning.bandit_score import BanditScore
from .._learning.diagonal_logistic_model import DiagonalLogisticModel
from .._value import Value
from .call_outcome import CallOutcome
from .call_status import CallStatus
from .fanout_result import FanoutResult
from .gate_scores import GateScores
from .gating_policy import GatingPolicy
from .learning_router import LearningRouter
from .option_checks import real
from .router_feedback import RouterFeedback
from .router_input import RouterInput

OPTIMISM = 10.0
"""A later expert's value starts as if it had been right on this many requests: without it, two
early wrong answers from the experts after the first made going on look worthless, and the
cascade stopped at its first stage for good (on one digits stream of ten)."""
STAGE_FEATURES = 3
"""What a stage adds to the encoded request: the expert's confidence, the share of earlier
answers it agrees with, and whether it agrees with any (then the bias)."""


class CascadeRouter(LearningRouter):
    """Cheapest first, one deadline and budget: call the cheapest capable expert, accept its
    answer when a learned acceptance model says it is right often enough, else escalate to the
    next cheapest — FrugalGPT's and AutoMix's cascade, learned from feedback.

    - Acceptance model: per expert, an online logistic regression (`DiagonalLogisticModel`) of
      P(its answer is right | the encoded request, its reported confidence, its agreement with
      the earlier stages' answers), with a Thompson draw of `alpha` posterior widths to explore.
    - Stopping rule, one knob: accept stage i when its drawn P(right) ≥ the best value of going
      on, max over the later experts j of (their mean reward so far − cost_weight × the cost of
      the calls up to j), the mean starting from `OPTIMISM` right answers (a new cascade
      escalates and learns every stage). The last affordable stage is always accepted.
    - Learning: feedback on the final answer labels its stage; an earlier stage is labelled by
      its agreement with the final answer (the same answer as a right one is right, another
      answer than a right one is wrong, the same answer as a wrong one is wrong), or directly
      when feedback scores that expert (`scores={name: …}`). Rewards are read as success in [0, 1].
    - The trace shows every stage called, in order, its confidence, and in its `cause` why the
      cascade stopped or went on there.

    The decision's picks are the experts called, in order; its gate is over them, with each
    stage's drawn acceptance as logit, the posterior mean as estimate, and the accepted stage's
    probability 1 (the cascade does not sample a first pick: propensity 1).
    """

    kind = "cascade"
    default_policy = GatingPolicy(temperature=0.001, epsilon=0.0)
    samples_first = False

    def __init__(self, *, alpha: float = 0.3, prior: float = 1.0, **options: Any) -> None:
        super().__init__(**options)
        self.alpha = real("alpha", alpha, minimum=0.0)
        self.prior = real("prior", prior, minimum=0.0, strictly=True)
        self.model: DiagonalLogisticModel | None = None
        self.quality: dict[int, BanditScore] = {int(ref.id): BanditScore() for ref in self.experts}

    def add_experts(self, experts: Any) -> None:
        super().add_experts(experts)
        for ref in self.experts:
            self.quality.setdefault(int(ref.id), BanditScore())

    # -- the cascade --------------------------------------------------------------------------------
    def order(self, candidates: list[ExpertRef]) -> list[ExpertRef]:
        """Cheapest first (expected cost, then name)."""
        return sorted(candidates, key=lambda ref: (self.expected_cost(ref), ref.name))

    def decide(self, x: InputData, ctx: Context, k: int | None = None) -> Decision:
        """The cascade's first stage: what it would call first (no expert is called)."""
        rin = self.encode(x)
        stages = self.order(self._capable(rin))
        scores = GateScores([ref.id for ref in stages], [0.0] * len(stages), [1.0] + [0.0] * (len(stages) - 1))
        return self._decision(ctx, x, rin, scores, stages[:1])

    def _capable(self, rin: RouterInput) -> list[ExpertRef]:
        candidates = self.candidates(rin)
        if not candidates:
            self.gate(rin, Context.start(0.0))  # raises the NoExpertSelected that names every expert
        return candidates

    async def route(self, x: InputData, ctx: Context, k: int | None = None) -> Decision:
        rin = None
        called: list[ExpertRef] = []
        outcomes: list[CallOutcome] = []
        draws: list[float] = []
        means: list[float] = []
        answers: list[Value] = []
        accepted = None
        elapsed = 0.0
        try:
            rin = await self.encode_async(x, ctx)
            stages = self.order(self._capable(rin))
            spent = 0.0
            for index, ref in enumerate(stages):
                if ctx.cancel.is_cancelled():
                    raise Cancelled(ctx.cancel.reason)
                if index and (ctx.expired() or spent + self.expected_cost(ref) > ctx.cost_budget):
                    break  # the deadline or the budget ends the cascade: the last answer stands
                fanout, _ = await self.call_experts(rin, [ref], ctx)
                elapsed += fanout.elapsed_ms
                outcome = fanout.outcomes[0]
                called.append(ref)
                if outcome.status is not CallStatus.OK or outcome.out is None:
                    outcomes.append(outcome)
                    draws.append(0.0)
                    means.append(0.0)
                    continue
                spent += outcome.out.aux.cost_units
                features = self._stage_features(rin, outcome.out.aux.confidence, outcome.out.value, answers)
                mean, draw = self._acceptance(int(ref.id), features)
                rest = stages[index + 1 :]
                going_on, best = self._value_of_going_on(rest, spent, ctx.cost_budget)
                answers.append(outcome.out.value)
                draws.append(draw)
                means.append(mean)
                if best is None or draw >= going_on:
                    cause = (
                        f"accepted: P(right) {draw:.3f} >= {going_on:.3f}, the value of going on to {best}"
                        if best is not None
                        else f"accepted: the last stage (P(right) {draw:.3f})"
                    )
                    outcomes.append(attrs.evolve(outcome, cause=cause))
                    accepted = len(outcomes) - 1
                    break
                outcomes.append(
                    attrs.evolve(
                        outcome,
                        cause=f"escalated: P(right) {draw:.3f} < {going_on:.3f}, the value of going on to {best}",
                    )
                )
            if accepted is None:
                answered = [i for i, o in enumerate(outcomes) if o.status is CallStatus.OK]
                if not answered:
                    raise self._no_answer(FanoutResult(outcomes), ctx)
                accepted = answered[-1]
                outcomes[accepted] = attrs.evolve(outcomes[accepted], cause="accepted: nothing after it could run")
            scores = self._scores(called, draws, means, accepted)
            chosen = outcomes[accepted].out
            assert chosen is not None, "an accepted stage answered"
            answer = AggregatedOut(chosen.value, [(outcomes[accepted].expert_id, 1.0)])
            calls = [
                (ref, o.out) for ref, o in zip(called, outcomes) if o.out is not None and o.status is CallStatus.OK
            ]
            mix = MixMeta.of(FanoutResult(outcomes, elapsed), scores, calls, answer, "cascade")
            return self._cascade_decision(ctx, x, rin, scores, called, outcomes, answer, mix)
        except MoeError as exc:
            failed = self._scores(called, draws, means, None) if called else None
            return self._cascade_decision(ctx, x, rin, failed, called, outcomes, None, None, exc)

    def _cascade_decision(
        self,
        ctx: Context,
        x: InputData,
        rin: RouterInput | None,
        scores: GateScores | None,
        called: list[ExpertRef],
        outcomes: list[CallOutcome],
        answer: AggregatedOut | None,
        mix: MixMeta | None,
        error: MoeError | None = None,
    ) -> Decision:
        return Decision(
            ctx.trace_id,
            self.id,
            x,
            scores,
            [ref.id for ref in called],
            1.0,
            outcomes,
            None if answer is None else answer.value,
            () if answer is None else answer.weights,
            None if rin is None else rin.encoded,
            self.model_version,
            mix,
            error,
        )

    @staticmethod
    def _scores(called: list[ExpertRef], draws: list[float], means: list[float], accepted: int | None) -> GateScores:
        probs = [0.0] * len(called)
        probs[accepted if accepted is not None else len(called) - 1] = 1.0
        return GateScores([ref.id for ref in called], draws, probs, means)

    def _value_of_going_on(self, rest: list[ExpertRef], spent: float, budget: float) -> tuple[float, str | None]:
        """The best later stage's mean reward less the cost of reaching it, and its name; None
        when no later stage is affordable."""
        best, name, cost = -math.inf, None, spent
        for ref in rest:
            cost += self.expected_cost(ref)
            if cost > budget:
                break
            score = self.quality.setdefault(int(ref.id), BanditScore())
            value = (score.reward_sum + OPTIMISM) / (score.pulls + OPTIMISM) - self.cost_weight * (cost - spent)
            if value > best:
                best, name = value, ref.name
        return best, name

    # -- the acceptance model -----------------------------------------------------------------------
    def _stage_features(
        self, rin: RouterInput, confidence: float, value: Value, earlier: list[Value]
    ) -> tuple[int, tuple[np.ndarray, np.ndarray]]:
        """The encoded request (when the router has an encoder), then the stage's confidence,
        its agreement with the earlier answers and the bias, sparse, as the model takes them."""
        agree = sum(1 for other in earlier if other == value)
        stage = np.array(
            [float(confidence), agree / len(earlier) if earlier else 0.0, float(agree > 0), 1.0], dtype=np.float64
        )
        if rin.encoded is None:
            return STAGE_FEATURES + 1, (np.arange(STAGE_FEATURES + 1, dtype=np.int64), stage)
        encoded = rin.encoded
        dim = encoded.dim + STAGE_FEATURES + 1
        indices = np.concatenate((encoded.indices, np.arange(encoded.dim, dim, dtype=np.int64)))
        return dim, (indices, np.concatenate((encoded.values.astype(np.float64), stage)))

    def _model(self, dim: int) -> DiagonalLogisticModel:
        if self.model is None or self.model.dim != dim:
            self.model = DiagonalLogisticModel(dim, self.prior, STAGE_FEATURES + 1)
        return self.model

    def _acceptance(self, arm: int, features: tuple[int, tuple[np.ndarray, np.ndarray]]) -> tuple[float, float]:
        """P(the answer is right): the posterior mean, and a Thompson draw (`alpha` widths)."""
        dim, x = features
        means, widths = self._model(dim).mean_and_width([arm], x)
        z = float(means[0])
        drawn = z + self.alpha * float(widths[0]) * float(self.rng.standard_normal())
        return _sigmoid(z), _sigmoid(drawn)

    # -- learning -----------------------------------------------------------------------------------
    def learn(self, decision: Decision, feedback: RouterFeedback) -> None:
        """Label the stages of a decision (see the class docstring) and learn from each."""
        direct = {int(eid): min(max(float(r), 0.0), 1.0) for eid, r in feedback.rewards if math.isfinite(r)}
        final = next((int(eid) for eid, weight in decision.weights if weight > 0), None)
        if final is None or final not in direct:
            return
        final_value = decision.value
        right = direct[final] >= 0.5
        rin = RouterInput(decision.input, decision.features)
        earlier: list[Value] = []
        for outcome in decision.outcomes:
            if outcome.status is not CallStatus.OK or outcome.out is None:
                continue
            arm = int(outcome.expert_id)
            value = outcome.out.value
            if arm in direct:
                label: float | None = direct[arm]
            elif value == final_value:
                label = 1.0 if right else 0.0
            else:
                label = 0.0 if right else None  # another answer than a wrong one may be right
            if label is not None:
                dim, x = self._stage_features(rin, outcome.out.aux.confidence, value, earlier)
                self._model(dim).learn(arm, x, label)
                self.quality.setdefault(arm, BanditScore()).learn(label)
                self.updates += 1
            earlier.append(value)
            if arm == final:
                break

    def model_state(self) -> dict[str, Any]:
        ids = sorted(self.quality)
        state: dict[str, Any] = {
            "expert_ids": np.asarray(ids, dtype=np.uint64),
            "pulls": np.asarray([self.quality[i].pulls for i in ids], dtype=np.int64),
            "reward_sum": np.asarray([self.quality[i].reward_sum for i in ids]),
        }
        if self.model is not None:
            state["acceptance"] = self.model.state_dict()
        return state

    def load_model_state(self, state: dict[str, Any]) -> None:
        self.model = None
        if "acceptance" in state:
            saved = state["acceptance"]
            self.model = DiagonalLogisticModel(int(saved["dim"]), float(saved["prior"]), int(saved.get("dense", 0)))
            self.model.load_state_dict(saved)
        self.quality = {int(ref.id): BanditScore() for ref in self.experts}
        for i, eid in enumerate(int(v) for v in state.get("expert_ids", [])):
            self.quality[eid] = BanditScore(int(state["pulls"][i]), float(state["reward_sum"][i]))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-min(max(z, -30.0), 30.0)))
