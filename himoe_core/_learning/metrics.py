"""Guardrail metrics over recorded traces and feedback (seed §6): quality, calibration, load
balance, utilisation, latency, cost, gating drift and inter-expert disagreement."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np

from .regularizers import cv_squared

ECE_BINS = 10


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """ECE with equal-width bins: Σ_b |B|/n · |accuracy(B) − confidence(B)|."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if confidence.size == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def kl_divergence(p: dict[str, float], q: dict[str, float], smoothing: float = 1e-3) -> float:
    """KL(p‖q) over the union of keys, with additive smoothing so absent experts stay finite."""
    keys = sorted(set(p) | set(q))
    if not keys:
        return 0.0
    pv = np.array([p.get(k, 0.0) for k in keys]) + smoothing
    qv = np.array([q.get(k, 0.0) for k in keys]) + smoothing
    pv, qv = pv / pv.sum(), qv / qv.sum()
    return float((pv * np.log(pv / qv)).sum())


def served_attempt(trace: dict[str, Any]) -> dict[str, Any] | None:
    return next((a for a in reversed(trace.get("attempts", [])) if a.get("status") == "ok"), None)


def answer_confidence(attempt: dict[str, Any]) -> float | None:
    """Weight-averaged confidence of the outputs that made the answer."""
    weights = attempt.get("mix", {}).get("weights", {})
    confidences = {c["expert"]: c["confidence"] for c in attempt.get("calls", []) if c.get("confidence") is not None}
    total = sum(w for name, w in weights.items() if name in confidences)
    if total <= 0:
        return None
    weighted: float = sum(w * confidences[name] for name, w in weights.items() if name in confidences)
    return weighted / float(total)


def mean_gate(traces: list[dict[str, Any]]) -> dict[str, float]:
    sums: Counter[str] = Counter()
    count = 0
    for trace in traces:
        attempt = served_attempt(trace)
        if attempt is None:
            continue
        count += 1
        for gate in attempt.get("gate", []):
            sums[gate["expert"]] += gate["prob"]
    return {name: value / count for name, value in sums.items()} if count else {}


def trace_summary(trace: dict[str, Any]) -> tuple[Any, ...]:
    """What `himoe stats` counts of one trace, as the state file's trace_summaries columns:
    (router, answered, error kind, elapsed ms, cost units, confidence, disagreement, picks JSON)."""
    attempt = served_attempt(trace)
    if attempt is None:
        return (trace.get("router"), 0, (trace.get("error") or "").split(":")[0], None, None, None, None, None)
    mix = attempt.get("mix", {})
    return (
        trace.get("router"),
        1,
        None,
        trace.get("elapsed_ms"),
        mix.get("cost_units", 0.0),
        answer_confidence(attempt),
        mix.get("disagreement"),
        json.dumps([p["expert"] for p in attempt.get("picks", [])]),
    )


def stored_stats(store: Any, window: int = 500) -> dict[str, Any]:
    """compute_stats over a state store, in time and memory independent of its history: counts,
    sums, quality and calibration come from the running totals the store keeps as it writes
    (every request since it began, pruned ones too); latency percentiles from the latency index
    and gating drift from the last 2·window answered traces, of the traces kept."""
    requests = answered = cost_rows = disagreement_rows = 0
    cost_total = disagreement_total = 0.0
    errors: Counter[str] = Counter()
    routers: Counter[Any] = Counter()
    picks: Counter[str] = Counter()
    for (
        was_answered,
        error_kind,
        router,
        names,
        rows,
        cost,
        costs,
        disagreement,
        disagreements,
    ) in store.summary_groups():
        requests += rows
        if not was_answered:
            errors[error_kind] += rows
            continue
        answered += rows
        routers[router] += rows
        for name in json.loads(names):
            picks[name] += rows
        cost_total, cost_rows = cost_total + (cost or 0.0), cost_rows + costs
        disagreement_total, disagreement_rows = (
            disagreement_total + (disagreement or 0.0),
            disagreement_rows + disagreements,
        )
    total_picks = sum(picks.values())
    feedback, quality = store.reward_summary()
    bins = store.calibration_bins()
    scored = sum(rows for _, rows, _, _ in bins)
    ece = (
        sum(rows / scored * abs(correct / rows - confidence / rows) for _, rows, correct, confidence in bins)
        if scored
        else None
    )
    current: list[Counter[str]] = [Counter(), Counter()]  # gate sums: the last window, the one before
    seen = [0, 0]
    for index, text in enumerate(store.recent_answered_traces(2 * window)):  # newest first
        attempt = served_attempt(json.loads(text))
        which = 0 if index < window else 1
        seen[which] += 1
        for gate in attempt.get("gate", []) if attempt else []:
            current[which][gate["expert"]] += gate["prob"]
    gates = [{name: value / n for name, value in sums.items()} if n else {} for sums, n in zip(current, seen)]
    latency = store.latency_percentiles((50, 95))
    return {
        "requests": requests,
        "answered": answered,
        "errors": dict(sorted(errors.items())),
        "routers": dict(sorted(routers.items(), key=lambda item: str(item[0]))),
        "feedback": feedback,
        "quality": quality,
        "calibration_ece": ece,
        "load_balance_cv2": _cv2(list(picks.values())),
        "utilisation": {name: n / total_picks for name, n in sorted(picks.items())} if total_picks else {},
        "latency_ms": {"p50": latency[50], "p95": latency[95]},
        "cost_units": {"mean": cost_total / cost_rows if cost_rows else None, "total": cost_total},
        "gating_drift_kl": kl_divergence(gates[0], gates[1]) if seen[1] else None,
        "disagreement": disagreement_total / disagreement_rows if disagreement_rows else None,
    }


def compute_stats(traces: list[dict[str, Any]], feedback: list[dict[str, Any]], window: int = 500) -> dict[str, Any]:
    """Every guardrail metric, as a JSON-ready dict; `window` sizes the drift comparison. (The
    reference stored_stats is checked against; it holds every trace in memory.)"""
    served = [(t, served_attempt(t)) for t in traces]
    answered = [(t, a) for t, a in served if a is not None]
    errors = Counter((t.get("error") or "").split(":")[0] for t, a in served if a is None)
    picks = Counter(p["expert"] for _, a in answered for p in a.get("picks", []))
    total_picks = sum(picks.values())
    utilisation = {name: n / total_picks for name, n in sorted(picks.items())} if total_picks else {}
    latencies = np.array([t["elapsed_ms"] for t, _ in answered if t.get("elapsed_ms") is not None])
    costs = np.array([a.get("mix", {}).get("cost_units", 0.0) for _, a in answered])
    disagreement = [a["mix"]["disagreement"] for _, a in answered if a.get("mix", {}).get("disagreement") is not None]
    by_trace = {t["trace_id"]: a for t, a in answered}
    rewards, confidences, correct = [], [], []
    for row in feedback:
        if row.get("reward") is None:
            continue
        rewards.append(row["reward"])
        attempt = by_trace.get(row["trace_id"])
        conf = answer_confidence(attempt) if attempt else None
        if conf is not None:
            confidences.append(conf)
            correct.append(1.0 if row["reward"] >= 0.5 else 0.0)
    current, previous = answered[-window:], answered[-2 * window : -window]
    drift = kl_divergence(mean_gate([t for t, _ in current]), mean_gate([t for t, _ in previous])) if previous else None
    routers = Counter(t.get("router") for t, _ in answered)
    return {
        "requests": len(traces),
        "answered": len(answered),
        "errors": dict(sorted(errors.items())),
        "routers": dict(sorted(routers.items())),
        "feedback": len(rewards),
        "quality": float(np.mean(rewards)) if rewards else None,
        "calibration_ece": expected_calibration_error(np.array(confidences), np.array(correct))
        if confidences
        else None,
        "load_balance_cv2": _cv2(list(picks.values())),
        "utilisation": utilisation,
        "latency_ms": {"p50": _pct(latencies, 50), "p95": _pct(latencies, 95)},
        "cost_units": {"mean": float(costs.mean()) if costs.size else None, "total": float(costs.sum())},
        "gating_drift_kl": drift,
        "disagreement": float(np.mean(disagreement)) if disagreement else None,
    }


def _pct(values: np.ndarray, q: float) -> float | None:
    return float(np.percentile(values, q)) if values.size else None


def _cv2(counts: list[int]) -> float | None:
    return None if len(counts) < 2 else cv_squared(np.asarray(counts, dtype=np.float64))
