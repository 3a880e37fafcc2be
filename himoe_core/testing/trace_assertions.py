"""Reading and asserting on routing traces in tests: which router served a request, which experts
it called and how each call ended — with failure messages that show the whole routing.

    response = moe.run_sync("echo: hi")
    assert_routed(response, expert="echo", router="default")          # called, answered ok
    assert_routed(response, expert="slow", status="timed_out")       # cut at the deadline
    assert trace_calls(response)["echo"]["value"]["data"] == "hi"

Each function takes a `Response`, or a trace dict (``response.trace``, or ``moe.traces.get(id)``
for a request that raised).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STATUSES = ("ok", "failed", "timed_out", "dropped", "cancelled")


def routing_trace(response: Any) -> Mapping[str, Any]:
    """The trace dict of `response` (a Response, or already a trace dict)."""
    trace = getattr(response, "trace", response)
    if not isinstance(trace, Mapping) or "attempts" not in trace:
        raise TypeError(f"expected a himoe Response or its trace dict, got {type(response).__name__}: {response!r:.80}")
    return trace


def served_attempt(response: Any) -> Mapping[str, Any] | None:
    """The router attempt that produced the answer (the last one), None when no router started."""
    attempts = routing_trace(response)["attempts"]
    return attempts[-1] if attempts else None


def trace_calls(response: Any, *, attempt: int = -1) -> dict[str, dict[str, Any]]:
    """``{expert name: call record}`` of one router attempt (default: the one that served), in
    call order. A record has ``status`` (ok, failed, timed_out, dropped, cancelled),
    ``latency_ms``, ``confidence``, ``cost_units``, ``value`` (JSON form) and ``cause``."""
    attempts = routing_trace(response)["attempts"]
    if not attempts:
        return {}
    return {call["expert"]: dict(call) for call in attempts[attempt].get("calls", [])}


def served_router(response: Any) -> str | None:
    """The id of the router whose answer was returned (or, for a failed request, the last tried)."""
    trace = routing_trace(response)
    router: str | None = trace.get("router")  # the JSON trace: keys typed by its schema, not here
    if router:
        return router
    attempt = served_attempt(trace)
    return attempt["router"] if attempt else None


def assert_routed(
    response: Any, *, expert: Any = None, router: str | None = None, status: str | None = "ok"
) -> dict[str, Any] | None:
    """Fail, with the whole routing in the message, unless `response` was routed as expected.

    - `router`: the id of the router that served the request;
    - `expert`: an expert (or its name) the serving router called; `status` is how that call must
      have ended — ``"ok"`` (default), ``"failed"``, ``"timed_out"``, ``"dropped"``,
      ``"cancelled"``, or None for any.

    Returns the expert's call record (see `trace_calls`), or None when no `expert` is given.
    """
    __tracebackhide__ = True
    if status is not None and status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)} or None, got {status!r}")
    trace = routing_trace(response)
    problems = []
    if router is not None and served_router(trace) != router:
        actual = served_router(trace)
        problems.append(
            f"expected router {router!r} to serve the request, but {actual!r} did"
            if actual
            else f"expected router {router!r} to serve the request, but no router started"
        )
    record = None
    if expert is not None:
        name = expert if isinstance(expert, str) else getattr(expert, "name", expert)
        calls = trace_calls(trace)
        record = calls.get(name)
        wanted = "called" if status is None else f"called and end {status!r}"
        if record is None:
            called = ", ".join(calls) or "none"
            problems.append(f"expected expert {name!r} to be {wanted}, but it was not called (called: {called})")
        elif status is not None and record["status"] != status:
            cause = f" ({record['cause']})" if record.get("cause") else ""
            problems.append(f"expected expert {name!r} to be {wanted}, but its call ended {record['status']!r}{cause}")
    if problems:
        raise AssertionError("\n".join(problems) + "\n" + describe_routing(trace))
    return record


def assert_examples_answered(moe: Any, *, budget_ms: float = 60_000) -> list[str]:
    """Send each expert's `example` request through `moe` (a HiMoE) and fail, with the routing in
    the message, unless the request reached that expert and its call ended ok.

    Users whose request no expert handles are shown these examples: each must be a request its
    expert answers. An expert without an example fails too. Returns the experts' names.
    """
    __tracebackhide__ = True
    from .._errors import MoeError
    from .._experts.expert_info import expert_example

    names = []
    for _, name, expert in moe.host.experts.items():
        example = expert_example(expert)
        if example is None:
            raise AssertionError(
                f'expert {name!r} has no `example`: give it one request it answers, e.g. example = "{name}: …"'
            )
        try:
            response = moe.run_sync(example, budget_ms=budget_ms)
        except MoeError as exc:
            raise AssertionError(f"expert {name!r}: its example {example!r} got no answer: {exc}") from None
        assert_routed(response, expert=name)
        names.append(name)
    return names


def describe_routing(response: Any) -> str:
    """A few readable lines: each router attempt, its gate, and each call with how it ended."""
    trace = routing_trace(response)
    lines = [
        f"routing of trace {trace.get('trace_id', '?')} (input {trace.get('input', '?')}, "
        f"task {trace.get('task')!r}, budget {trace.get('budget_ms', '?')} ms):"
    ]
    if not trace["attempts"]:
        lines.append("  no router started")
    for number, attempt in enumerate(trace["attempts"], 1):
        outcome = attempt.get("status", "?") + (f": {attempt['error']}" if attempt.get("error") else "")
        lines.append(f"  attempt {number}: router {attempt.get('router')!r} — {outcome}")
        gate = ", ".join(f"{g['expert']} {g['prob']:.3f}" for g in attempt.get("gate", []))
        lines.append(f"    gate:  {gate or '-'}")
        picks = ", ".join(p["expert"] for p in attempt.get("picks", []))
        lines.append(f"    picks: {picks or '-'}")
        for call in attempt.get("calls", []):
            detail = f" -> {_short(call['value'])}" if call.get("value") is not None else ""
            if call.get("cause"):
                detail += f" (cause: {call['cause']})"
            lines.append(f"    call:  {call['expert']} {call['status']} in {call['latency_ms']} ms{detail}")
    if trace.get("error"):
        lines.append(f"  error: {trace['error']}")
    elif "value" in trace:
        lines.append(f"  answer: {_short(trace['value'])}")
    return "\n".join(lines)


def _short(value: Any, limit: int = 60) -> str:
    if isinstance(value, Mapping) and "kind" in value:
        text = f"{value['kind']} {value.get('data')!r}"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
