"""`himoe evaluate`: how a candidate router would have done on the logged, scored decisions."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from ..context import Context
from ..errors import InvalidInput, MoeError
from ..learning.off_policy import estimate
from ..router.router_input import RouterInput
from .feedback_trainer import _input_from_bytes


def evaluate_router(moe: Any, router_id: str, *, resamples: int = 1000) -> dict[str, Any]:
    """IPS, SNIPS and DR estimates of `router_id`'s mean reward over every trace that got
    feedback, from the propensities logged with each decision; the reward model for DR is each
    expert's mean logged reward."""
    if router_id not in moe.routers:
        raise InvalidInput(f"unknown router {router_id!r}; configured routers: {', '.join(sorted(moe.routers))}")
    store = moe.trainer.store
    moe.trainer.flush()
    rows = []
    for row in store.feedback():
        stored = store.trace(row["trace_id"])
        if stored is None or row.get("reward") is None:
            continue
        trace = stored[0]
        attempt = next((a for a in reversed(trace.get("attempts", [])) if a.get("status") == "ok"), None)
        if attempt is None or not attempt.get("picks") or attempt["picks"][0].get("propensity") is None:
            continue
        rows.append((attempt["picks"][0]["id"], float(attempt["picks"][0]["propensity"]), float(row["reward"]),
                     _input_from_bytes(*stored[1:])))
    if not rows:
        raise InvalidInput("no scored decision to evaluate on: route requests, then give feedback "
                           "(himoe feedback TRACE_ID --reward R)")
    by_expert: dict[str, list[float]] = defaultdict(list)
    for action, _, reward, _ in rows:
        by_expert[action].append(reward)
    overall = float(np.mean([r for _, _, r, _ in rows]))
    model = {eid: float(np.mean(values)) for eid, values in by_expert.items()}
    router = moe.routers[router_id].handle
    samples = getattr(router, "samples_first", False)
    propensity, target, reward, dm_logged, dm_target = [], [], [], [], []
    for action, logged_p, r, x in rows:
        probs = _policy(router, x, samples)
        propensity.append(logged_p)
        target.append(probs.get(action, 0.0))
        reward.append(r)
        dm_logged.append(model.get(action, overall))
        dm_target.append(sum(p * model.get(eid, overall) for eid, p in probs.items()))
    result = estimate(np.array(propensity), np.array(target), np.array(reward), np.array(dm_logged),
                      np.array(dm_target), resamples=resamples)
    result["router"] = router_id
    return result


def _policy(router: Any, x: Any, samples: bool) -> dict[str, float]:
    """The candidate's probability of each first pick for input `x` (without calling experts)."""
    try:
        encoder = getattr(router, "encoder", None)
        rin = RouterInput.of_encoded(encoder.encode(x), x) if encoder is not None else RouterInput.raw(x)
        scores = router.gate(rin, Context.start(1000.0))
    except MoeError:
        return {}
    if samples:
        return {str(eid): p for eid, p in zip(scores.ids, scores.probs)}
    return {str(scores.ids[0]): 1.0}
