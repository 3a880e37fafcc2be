"""Benchmark 3: a hanging expert never holds a response past the deadline.

Each request goes to two experts, one that never returns (`trio.sleep_forever`) and a normal
one, with a 100 ms budget. Requests run in waves of 50 at once. Three sides, interleaved wave by
wave:

- himoe, cold: a fresh HiMoE per wave, so the hanging expert is really called and cut at the
  deadline in every request;
- himoe, warm: one HiMoE for the whole run; once the router has seen the hanging expert overrun,
  its latency estimate makes `plan_calls` drop it up front (drop_count), so most requests return
  early — the estimate relaxes a little at each drop, so the expert is still tried now and then;
- bare: a trio nursery under `move_on_after(0.100)` fanning out to the same two coroutines.
"""

from __future__ import annotations

import time
from typing import Any

import trio

from bench_common import engine_config, median, percentile, say
from hanging_expert import HangingExpert
from himoe_core import HiMoE, InputData
from noop_expert import NoopExpert

BUDGET_MS = 100.0


def _engine(hanging: HangingExpert, normal: NoopExpert) -> HiMoE:
    return HiMoE(experts=[hanging, normal], entry_points=False, config=engine_config(2, budget_ms=BUDGET_MS))


async def _engine_wave(moe: HiMoE, x: InputData, size: int, normal: NoopExpert, out: dict[str, Any]) -> None:
    async def one() -> None:
        started = time.perf_counter()
        response = await moe.run(x, budget_ms=BUDGET_MS)
        out["ms"].append((time.perf_counter() - started) * 1000.0)
        if response.value == normal.answer:
            out["answered"] += 1
        for call in response.trace["attempts"][0]["calls"]:
            if call["expert"] == "hanging":
                out[call["status"]] = out.get(call["status"], 0) + 1

    async with trio.open_nursery() as nursery:
        for _ in range(size):
            nursery.start_soon(one)


async def _bare_wave(experts: list, x: InputData, size: int, normal: NoopExpert, out: dict[str, Any]) -> None:
    async def one() -> None:
        started = time.perf_counter()
        results: dict[int, Any] = {}

        async def call(index: int, expert) -> None:
            results[index] = await expert.infer(x, None)

        with trio.move_on_after(BUDGET_MS / 1000.0):
            async with trio.open_nursery() as nursery:
                for index, expert in enumerate(experts):
                    nursery.start_soon(call, index, expert)
        out["ms"].append((time.perf_counter() - started) * 1000.0)
        if normal.answer in results.values():
            out["answered"] += 1

    async with trio.open_nursery() as nursery:
        for _ in range(size):
            nursery.start_soon(one)


async def _measure(requests: int, concurrency: int) -> dict[str, dict[str, Any]]:
    x = InputData.text("route me")
    hanging, normal = HangingExpert("hanging"), NoopExpert("normal")
    warm = _engine(hanging, normal)
    sides = {name: {"ms": [], "answered": 0} for name in ("cold", "warm", "bare")}
    waves = max(1, requests // concurrency)
    try:
        await _run_waves(waves, warm, hanging, normal, x, concurrency, sides)
    finally:
        warm.close()
    return sides


async def _run_waves(waves, warm, hanging, normal, x, concurrency, sides) -> None:
    for wave in range(waves):
        order = ["cold", "bare", "warm"] if wave % 2 == 0 else ["warm", "bare", "cold"]
        for side in order:
            if side == "cold":
                cold = _engine(hanging, normal)
                try:
                    await _engine_wave(cold, x, concurrency, normal, sides[side])
                finally:
                    cold.close()
            elif side == "warm":
                await _engine_wave(warm, x, concurrency, normal, sides[side])
            else:
                await _bare_wave([hanging, normal], x, concurrency, normal, sides[side])


def run(quick: bool = False) -> dict[str, Any]:
    requests, concurrency = (100, 50) if quick else (1000, 50)
    say(f"deadline: hanging + normal expert, budget {BUDGET_MS:.0f} ms, {requests} requests per side, "
        f"{concurrency} at a time")
    sides = trio.run(_measure, requests, concurrency)
    for data in sides.values():
        ms = data["ms"]
        data.update(n=len(ms), p50=median(ms), p95=percentile(ms, 95), p99=percentile(ms, 99), max=max(ms))
    cold = sides["cold"]
    met = cold["p99"] <= BUDGET_MS * 1.05 and cold["answered"] == cold["n"] and sides["warm"]["answered"] == sides["warm"]["n"]
    return {"requests": requests, "concurrency": concurrency, "sides": sides, "met": met}


def render(r: dict[str, Any]) -> str:
    labels = {"bare": "bare nursery + move_on_after", "cold": "himoe, cold (hanging expert called, cut)",
              "warm": "himoe, warm (hanging expert dropped up front)"}
    lines = [
        "#### 3. Deadline: a hanging expert beside a normal one, 100 ms budget",
        "",
        f"{r['requests']} requests per side, {r['concurrency']} at a time in one trio run, waves interleaved. "
        "Response time from the call to its return, real clock.",
        "",
        "| side | requests | p50 ms | p95 ms | p99 ms | max ms | normal expert's answer returned | hanging expert: timed out / dropped |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("bare", "cold", "warm"):
        s = r["sides"][name]
        hang = "—" if name == "bare" else f"{s.get('timed_out', 0)} / {s.get('dropped', 0)}"
        lines.append(f"| {labels[name]} | {s['n']} | {s['p50']:.2f} | {s['p95']:.2f} | {s['p99']:.2f} | {s['max']:.2f} "
                     f"| {s['answered']} / {s['n']} | {hang} |")
    cold, bare = r["sides"]["cold"], r["sides"]["bare"]
    lines += ["", f"Verdict: target p99 ≤ 105 ms with the normal answer every time — "
                  f"**{'met' if r['met'] else 'NOT met'}**: cold p99 {cold['p99']:.2f} ms "
                  f"({cold['p99'] / BUDGET_MS:.3f}× the budget; the bare nursery's p99 in the same run: "
                  f"{bare['p99']:.2f} ms), normal answer in {cold['answered']} / {cold['n']}."]
    return "\n".join(lines)
