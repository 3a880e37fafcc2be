"""`himoe evaluate`: how a candidate router would have done on the logged, scored decisions."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from .._context import Context
from .._decision import decision_codec
from .._errors import InvalidInput, MoeError
from .._learning.off_policy import estimate


def evaluate_router(moe: Any, router_id: str, *, resamples: int = 1000) -> dict[str, Any]:
    """IPS, SNIPS and DR estimates of `router_id`'s mean reward over every decision that got
    feedback, from the propensity logged with each decision; the reward model for DR is each
    expert's mean logged reward."""
    if router_id not in moe.routers:
        raise InvalidInput(f"unknown router {router_id!r}; configured routers: {', '.join(sorted(moe.routers))}")
    store = moe.trainer.store
    moe.trainer.flush()
    rows = []
    for record, reward in store.scored_decisions():
        decision = decision_codec.decode(record)
        if decision.picks:
            rows.append((decision.picks[0], decision.propensity, float(reward), decision.input))
    if not rows:
        raise InvalidInput(
            "no scored decision to evaluate on: route requests, then give feedback (himoe feedback TRACE_ID --reward R)"
        )
    by_expert: dict[Any, list[float]] = defaultdict(list)
    for action, _, reward, _ in rows:
        by_expert[action].append(reward)
    overall = float(np.mean([r for _, _, r, _ in rows]))
    model = {eid: float(np.mean(values)) for eid, values in by_expert.items()}
    router = moe.routers[router_id].handle
    propensity, target, reward, dm_logged, dm_target = [], [], [], [], []
    for action, logged_p, r, x in rows:
        probs = _policy(router, x)
        propensity.append(logged_p)
        target.append(probs.get(action, 0.0))
        reward.append(r)
        dm_logged.append(model.get(action, overall))
        dm_target.append(sum(p * model.get(eid, overall) for eid, p in probs.items()))
    result = estimate(
        np.array(propensity),
        np.array(target),
        np.array(reward),
        np.array(dm_logged),
        np.array(dm_target),
        resamples=resamples,
    )
    result["router"] = router_id
    return result


def _policy(router: Any, x: Any) -> dict[Any, float]:
    """The candidate router's probability of each first pick for input `x` (no expert called):
    the gate's probabilities where it samples its first pick (its propensity is below 1), else
    all on the pick it makes."""
    try:
        decision = router.decide(x, Context.start(1000.0))
    except MoeError:
        return {}
    if decision.scores is None or not decision.picks:
        return {}
    if decision.propensity < 1.0:
        return dict(decision.scores.pairs())
    return {decision.picks[0]: 1.0}
