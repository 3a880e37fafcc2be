from __future__ import annotations

import copy
from typing import Any

import numpy as np
from himoe_registry import ExpertId

from .._context import Context
from .._decision.decision import Decision
from .._encoder.encoded import Encoded
from .._errors import ConfigError, EncodeError
from .._experts.expert_ref import ExpertRef
from .._input import InputData
from .._learning.diagonal_logistic_model import DiagonalLogisticModel, Split
from .._learning.logistic_fit import log_loss
from .._learning.refit_history import RefitEvent, RefitHistory
from .candidate_index import CandidateIndex
from .gating_policy import GatingPolicy
from .learning_router import LearningRouter
from .option_checks import matrices_fit, real
from .router_input import RouterInput

Posterior = tuple[np.ndarray, np.ndarray, np.ndarray]
"""An expert's refitted (mean, diagonal precision, dense block)."""
EXPLORE = ("thompson", "ucb", "greedy")
_FEW = 16
"""Up to this many arms, a decision's sigmoids are computed on Python floats (`_few_scored`)."""
COVARIANCE = ("diagonal", "full")


class LogisticRouter(LearningRouter):
    """Per expert, P(success | x) by online logistic regression with a diagonal Gaussian
    posterior (`DiagonalLogisticModel`): O(non-zeros of x) per decision and update, so rich
    sparse encoders (hashed word 1–2-grams at dim 4096) stay cheap.

        thompson: logit = σ(m·x + alpha·width·ε), ε ~ N(0, 1)   − cost_weight·cost
        ucb:      logit = σ(m·x + alpha·width)                   − cost_weight·cost
        greedy:   logit = σ(m·x)                                 − cost_weight·cost

    with width = sqrt(Σ x²/q), the posterior standard deviation of the logit. Logits are
    probabilities of success, so `cost_weight` trades probability of success against cost.
    Rewards are read as success in [0, 1] (values outside are clipped).

    It explores by itself, so its default gate is near-greedy (temperature 0.001, ε 0.02):
    the gate only adds a small floor that keeps every expert's propensity above zero.

    When the encoder declares dense trailing features (`HashingEncoder(length=True)` has one),
    they and the bias share a full-covariance block of the posterior. `covariance = "full"`
    makes the whole posterior one block: the right model for short dense feature vectors (64
    pixels), O(d²) per request, so not for hashed text.
    """

    kind = "logistic"
    default_policy = GatingPolicy(temperature=0.001, epsilon=0.02)

    def __init__(
        self,
        *,
        explore: str = "thompson",
        alpha: float = 0.3,
        prior: float = 1.0,
        covariance: str = "diagonal",
        refit: Any = False,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.refit_history = RefitHistory.of(refit)
        if explore not in EXPLORE:
            raise ConfigError(f"explore must be one of {', '.join(EXPLORE)}, got {explore!r}")
        if covariance not in COVARIANCE:
            raise ConfigError(f"covariance must be one of {', '.join(COVARIANCE)}, got {covariance!r}")
        self.explore = explore
        self.covariance = covariance
        self.alpha = real("alpha", alpha, minimum=0.0)
        self.prior = real("prior", prior, minimum=0.0, strictly=True)
        self.model: DiagonalLogisticModel | None = None
        self._checked: tuple[DiagonalLogisticModel, Any, int] | None = None  # (model, encoder, dim) _model passed
        self._rows_by_position: tuple[CandidateIndex, DiagonalLogisticModel, np.ndarray] | None = None
        self._last_rows: tuple[np.ndarray, np.ndarray] | None = None  # (index rows, model rows), last asked
        # The last encoding split for the model (its values array, the model, (dim, split)):
        # feedback on a decision made just before learns on the split that decision scored.
        self._last_split: tuple[np.ndarray, DiagonalLogisticModel, tuple[int, Split]] | None = None
        dim = getattr(self.encoder, "dim", None)
        too_big = matrices_fit(self, dim, config=True) if covariance == "full" and isinstance(dim, int) else None
        if too_big:  # else every request would fail allocating it
            raise ConfigError(f'encoder dim {dim} with covariance = "full": {too_big}')

    def _dense(self, dim: int) -> int:
        """The full-covariance block: every coordinate, or the encoder's dense features and the
        bias, or none at all."""
        if self.covariance == "full":
            return dim
        features = getattr(self.encoder, "dense", 0)
        return features + 1 if features else 0

    def _model(self, dim: int) -> DiagonalLogisticModel:
        checked = self._checked
        if checked is not None and checked[0] is self.model and checked[1] is self.encoder and checked[2] == dim:
            return checked[0]  # checked against this encoder and dim already (a decision asks three times)
        dense = self._dense(dim)
        if self.model is None:
            too_big = matrices_fit(self, dense - 1, config=False) if dense else None
            if too_big:
                raise EncodeError(f"router {self.id!r} cannot learn on {dim - 1} features: {too_big}")
            self.model = DiagonalLogisticModel(dim, self.prior, dense)
        elif self.model.dim != dim:
            raise EncodeError(
                f"router {self.id!r} learned on {self.model.dim - 1} features, got {dim - 1}; "
                "its encoder changed since it learned: forget what it learned "
                f"with `himoe state reset --router {self.id}` (HiMoE.reset_state(router=…)), or give "
                "the encoder its old dim"
            )
        elif self.model.dense != dense:
            raise EncodeError(
                f"router {self.id!r} learned with a full-covariance block of {self.model.dense} coordinates, "
                f"its options now ask for {dense} (covariance, or the encoder's dense features, changed); "
                "keep them, or start from fresh state"
            )
        self._checked = (self.model, self.encoder, dim)
        return self.model

    def _sparse(self, x: InputData, encoded: Encoded | None) -> tuple[int, tuple[np.ndarray, np.ndarray]]:
        """The features with the bias appended, as (dim, (indices, values)): read from the
        encoding's sparse view, so a decision and its update never touch the zeros."""
        if encoded is None:
            vector = self.features(x)
            indices = np.flatnonzero(vector)
            return vector.shape[0], (indices, vector[indices])
        dim = encoded.dim
        return dim + 1, (np.append(encoded.indices, dim), np.append(encoded.values.astype(np.float64), 1.0))

    def _features(self, x: InputData, encoded: Encoded | None) -> tuple[int, Split]:
        """The features with the bias appended, as (dim, the model's split of them): read from
        the encoding's sparse view, so a decision and its update never touch the zeros."""
        if encoded is None:
            dim, sparse = self._sparse(x, None)
            return dim, self._model(dim).split(sparse)
        values = encoded.values
        last = self._last_split
        if last is not None and last[0] is values and last[1] is self.model:
            return last[2]
        dim = encoded.dim + 1
        model = self._model(dim)
        found = dim, model.split_biased(encoded.indices, values)
        self._last_split = (values, model, found)
        return found

    def logits(self, input: RouterInput, candidates: list[ExpertRef], ctx: Context) -> np.ndarray:
        return self.logits_and_estimates(input, candidates, ctx)[0]

    def logits_and_estimates(
        self, input: RouterInput, candidates: list[ExpertRef], ctx: Context
    ) -> tuple[np.ndarray, np.ndarray]:
        """The explored success probabilities − cost, and as estimates σ(m·x) − cost, the
        posterior-mean probability of success."""
        dim, x = self._features(input.input, input.encoded)
        means, widths = self._model(dim).mean_and_width([int(ref.id) for ref in candidates], x)
        logits, estimates = self._scored(means, widths, candidates)  # lists for a few arms: arrays here, as documented
        return np.asarray(logits, dtype=np.float64), np.asarray(estimates, dtype=np.float64)

    def logits_at(
        self, input: RouterInput, index: CandidateIndex, rows: np.ndarray, ctx: Context
    ) -> tuple[np.ndarray, np.ndarray | None]:
        kind = type(self)
        if (
            kind.logits is not LogisticRouter.logits
            or kind.logits_and_estimates is not LogisticRouter.logits_and_estimates
        ):
            return super().logits_at(input, index, rows, ctx)  # a subclass scores its own way
        dim, x = self._features(input.input, input.encoded)
        model = self._model(dim)
        means, widths = model.mean_and_width_at(self._model_rows(index, rows, model), x)
        return self._scored(means, widths, index.refs[rows].tolist() if self.cost_weight else None)

    def _scored(self, means: np.ndarray, widths: np.ndarray, candidates: list[ExpertRef] | None) -> tuple[Any, Any]:
        """(logits, estimates) from the arms' means and widths; `candidates` None when there is
        no cost knob (nothing to look up per candidate). Arrays, or for a few arms lists of
        Python floats with the same values to the bit (`_few_scored`)."""
        costs = None if candidates is None else self.cost_weight * self.costs(candidates)
        if len(means) <= _FEW:
            return self._few_scored(means.tolist(), widths.tolist(), None if costs is None else costs.tolist())
        estimates = _sigmoid(means) if costs is None else _sigmoid(means) - costs
        if self.explore == "thompson":
            means = means + self.alpha * widths * self.rng.standard_normal(widths.shape[0])
        elif self.explore == "ucb":
            means = means + self.alpha * widths
        else:
            return estimates, estimates
        explored = _sigmoid(means)
        return (explored if costs is None else explored - costs), estimates

    def _few_scored(
        self, means: list[float], widths: list[float], costs: list[float] | None
    ) -> tuple[list[float], list[float]]:
        """`_scored` on Python floats: each step is the array code's IEEE operation on the same
        operands in the same order, and both sigmoids' exponentials are taken by numpy in one
        call (numpy's exp is elementwise, and its last bit can differ from `math.exp`'s)."""
        alpha = self.alpha
        if self.explore == "thompson":
            draws = self.rng.standard_normal(len(widths)).tolist()
            explored = [m + alpha * w * d for m, w, d in zip(means, widths, draws)]
        elif self.explore == "ucb":
            explored = [m + alpha * w for m, w in zip(means, widths)]
        else:
            explored = []
        n = len(means)
        # _sigmoid: 1 / (1 + exp(−clip(z, −30, 30)))
        exps = np.exp([-min(max(z, -30.0), 30.0) for z in (*means, *explored)]).tolist()
        sigmoids = [1.0 / (1.0 + e) for e in exps]
        estimates, explored = sigmoids[:n], sigmoids[n:] if explored else sigmoids[:n]
        if costs is not None:
            estimates = [e - c for e, c in zip(estimates, costs)]
            explored = [e - c for e, c in zip(explored, costs)]
        return explored, estimates

    def _model_rows(self, index: CandidateIndex, rows: np.ndarray, model: DiagonalLogisticModel) -> np.ndarray:
        """The model's matrix rows of the candidates at `rows` of the index, kept by position
        (made again for another index or model); arms not seen yet are added at their prior."""
        cached = self._rows_by_position
        if cached is None or cached[0] is not index or cached[1] is not model:
            cached = self._rows_by_position = (index, model, np.full(len(index.experts), -1, dtype=np.intp))
            self._last_rows = None
        last = self._last_rows
        if last is not None and last[0] is rows:  # the index hands out one array for its usual answer
            return last[1]
        table = cached[2]
        found = table[rows]
        missing = found < 0
        if missing.any():
            new = rows[missing]
            table[new] = model.rows_of([int(eid) for eid in index.ids[new]])
            found = table[rows]
        model_rows: np.ndarray = found
        self._last_rows = (rows, model_rows)
        return model_rows

    def _decision_features(self, decision: Decision) -> tuple[int, Split]:
        return self._features(decision.input, decision.features)

    def update(self, x: tuple[int, Split], expert_id: ExpertId, reward: float, decision: Decision) -> None:
        dim, split = x
        predicted = self._model(dim).learn(int(expert_id), split, reward)
        if self.refit_history is not None:  # the history keeps the sparse form that refits read
            sparse = self._sparse(decision.input, decision.features)[1]
            self.refit_history.add((dim, sparse, int(expert_id), reward, predicted))

    # -- refit ------------------------------------------------------------------------------------
    min_refit_events = 20
    """An expert with fewer events in the window keeps its online posterior."""

    def fit_history(self, events: list[RefitEvent]) -> dict[int, tuple[Posterior, int]] | None:
        """Per expert, the exact MAP logistic fit of its events (a plain supervised fit: each
        expert's model sees the events where it was called, the per-arm case that needs no
        importance weights), first on all but the newest `holdout` share and scored there
        against the online model's own predictions; an expert whose refit predicts them no
        better keeps its online posterior. The kept refits are fitted again on every event."""
        model = self.model
        if model is None:
            return None
        history = self.refit_history
        assert history is not None, "fit_history runs for a router with a refit history"
        by_arm: dict[int, list[RefitEvent]] = {}
        for event in events:
            if event[0] == model.dim:  # events learnt before the encoder changed are not mixed in
                by_arm.setdefault(event[2], []).append(event)
        fitted: dict[int, tuple[Posterior, int]] = {}
        for arm, rows in by_arm.items():
            if len(rows) < self.min_refit_events:
                continue
            held = max(1, int(len(rows) * history.holdout))
            older, newer = rows[:-held], rows[-held:]
            labels = np.array([row[3] for row in rows]).clip(0.0, 1.0)
            trial, _, _ = model.fitted_arm([row[1] for row in older], labels[:-held])
            refit_loss = log_loss(_sigmoid(np.array([_dot(trial, row[1]) for row in newer])), labels[-held:])
            online_loss = log_loss(np.array([row[4] for row in newer]), labels[-held:])
            if refit_loss <= online_loss:
                fitted[arm] = (model.fitted_arm([row[1] for row in rows], labels, trial), len(rows))
        return fitted or None

    def publish_fit(self, fitted: dict[int, tuple[Posterior, int]], tail: list[RefitEvent]) -> bool:
        model = self.model
        if model is None:
            return False
        replacement = copy.deepcopy(model)
        for arm, (posterior, n) in fitted.items():
            replacement.set_arm(arm, posterior, n)
        for dim, sparse, arm, reward, _ in tail:
            if arm in fitted and dim == replacement.dim:
                replacement.learn(arm, sparse, reward)
        self.model = replacement
        return True

    def model_state(self) -> dict[str, Any]:
        return {} if self.model is None else {"logistic": self.model.state_dict()}

    def load_model_state(self, state: dict[str, Any]) -> None:
        self.model = None  # a state saved before anything was learned has no model
        if "logistic" not in state and self.refit_history is not None:
            self.refit_history.events.clear()  # reset: a refit must not bring back what was forgotten
        if "logistic" in state:
            saved = state["logistic"]
            self.model = DiagonalLogisticModel(int(saved["dim"]), float(saved["prior"]), int(saved.get("dense", 0)))
            self.model.load_state_dict(saved)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # np.clip's value, without its Python-level argument handling (twice per decision)
    result: np.ndarray = 1.0 / (1.0 + np.exp(-np.minimum(np.maximum(z, -30.0), 30.0)))
    return result


def _dot(mean: np.ndarray, x: tuple[np.ndarray, np.ndarray]) -> float:
    return float(mean[x[0]] @ x[1])
