"""Benchmark 1: the cost of a full himoe request against a bare trio nursery.

All sides fan out to the same k no-op async experts (one checkpoint each), in the same process
and the same trio run, alternating in batches (the order rotates every round, k after k) so that
drift hits every side alike. Two himoe configurations are measured: the default one, whose
traces are also written behind to the SQLite state file (a temporary file here), and one with
`state.enabled = false` (traces kept in memory only).

Per-request figures are CPU time of the (single) trio thread, total over requests — stable on a
shared machine; wall-clock ratios (median of batch means) are shown beside them.
"""

from __future__ import annotations

import time
from typing import Any

import trio
from bench_common import engine_config, median, say
from noop_expert import NoopExpert

from himoe_core import HiMoE, InputData

SIDES = ("bare", "engine_off", "engine")


def bare_fanout(experts: list[NoopExpert], x: InputData):
    """The baseline: a nursery that calls each expert's `infer` and keeps the answers."""
    k = len(experts)

    async def one(index: int, expert: NoopExpert, results: list) -> None:
        results[index] = await expert.infer(x, None)

    async def request() -> list:
        results = [None] * k
        async with trio.open_nursery() as nursery:
            for index, expert in enumerate(experts):
                nursery.start_soon(one, index, expert, results)
        return results

    return request


async def _batch(request, size: int, finish=None) -> tuple[int, int, int]:
    """CPU nanoseconds of the trio thread and of the whole process (the state writer's thread
    included), and wall nanoseconds, for `size` sequential calls and `finish()`."""
    cpu, process, wall = time.thread_time_ns(), time.process_time_ns(), time.perf_counter_ns()
    for _ in range(size):
        await request()
    if finish is not None:
        finish()
    return time.thread_time_ns() - cpu, time.process_time_ns() - process, time.perf_counter_ns() - wall


async def _measure(ks: tuple[int, ...], iterations: int, warmup: int, batch: int) -> list[dict[str, Any]]:
    x = InputData.text("route me")
    runs: dict[int, dict[str, Any]] = {}
    engines = []
    for k in ks:
        experts = [NoopExpert(f"noop-{i:02d}") for i in range(k)]
        requests = {"bare": bare_fanout(experts, x)}
        finish = {}
        for side, state in (("engine", True), ("engine_off", False)):
            moe = HiMoE(experts=experts, entry_points=False, config=engine_config(k, state=state))
            engines.append(moe)
            response = await moe.run(x)
            calls = response.trace["attempts"][0]["calls"]
            assert len(calls) == k and all(c["status"] == "ok" for c in calls), calls
            requests[side] = lambda moe=moe: moe.run(x)
            # The batch waits for its traces to be written: the writer's work is counted in the
            # batch that caused it, never in the next side's.
            finish[side] = moe.trainer.flush
        assert len(await requests["bare"]()) == k
        runs[k] = {
            "requests": requests,
            "finish": finish,
            **{f"{side}_{measure}": [] for side in SIDES for measure in ("cpu", "process", "wall")},
        }
    try:
        for k in ks:
            for _ in range(warmup):
                for side in SIDES:
                    await runs[k]["requests"][side]()
        rounds = max(1, iterations // batch)
        for index in range(rounds):
            order = SIDES[index % 3 :] + SIDES[: index % 3]
            for k in ks:
                for side in order:
                    cpu, process, wall = await _batch(runs[k]["requests"][side], batch, runs[k]["finish"].get(side))
                    runs[k][f"{side}_cpu"].append(cpu)
                    runs[k][f"{side}_process"].append(process)
                    runs[k][f"{side}_wall"].append(wall)
    finally:
        for moe in engines:
            moe.close()
    rows = []
    for k in ks:
        run, n = runs[k], rounds * batch
        row: dict[str, Any] = {"k": k, "requests": n}
        for side in SIDES:
            # Medians of batches: a full garbage collection lands in one batch or another at random
            # (the engine's kept traces make them longer); its cost is measured by the soak test.
            row[f"{side}_us"] = median(run[f"{side}_cpu"]) / batch / 1000.0
            row[f"{side}_process_us"] = median(run[f"{side}_process"]) / batch / 1000.0
            row[f"{side}_wall_us"] = median(run[f"{side}_wall"]) / batch / 1000.0
        for side in ("engine", "engine_off"):
            row[f"{side}_ratio"] = row[f"{side}_us"] / row["bare_us"]
            row[f"{side}_process_ratio"] = row[f"{side}_process_us"] / row["bare_process_us"]
            row[f"{side}_wall_ratio"] = row[f"{side}_wall_us"] / row["bare_wall_us"]
        rows.append(row)
    return rows


def run(quick: bool = False) -> dict[str, Any]:
    ks = (1, 4, 16)
    iterations, warmup, batch = (200, 50, 25) if quick else (2000, 300, 50)
    say(f"overhead: k={ks}, {iterations} requests per k and side after {warmup} warm-up, batches of {batch}")
    rows = trio.run(_measure, ks, iterations, warmup, batch)
    at4 = next(r for r in rows if r["k"] == 4)
    return {
        "rows": rows,
        "iterations": iterations,
        "warmup": warmup,
        "batch": batch,
        "target_ratio": 2.0,
        "aim_ratio": 1.5,
        "met": max(at4["engine_off_ratio"], at4["engine_process_ratio"]) <= 2.0,
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        "#### 1. Overhead: a full request vs a bare trio nursery",
        "",
        "k no-op async experts (one `trio.lowlevel.checkpoint()` each). himoe: rules orchestrator → static "
        "router (candidates, gate, top-k, budget plan) → fan-out under the deadline → confidence aggregator → "
        "trace recorded (its atoms taken; rendered only when read); *default* also writes traces behind to the SQLite state "
        "file (rendered to JSON and inserted by the writer's thread, 64 at a time), *state off* is `[state] "
        "enabled = false`. Bare: `trio.open_nursery()` calling the same experts' `infer`. "
        f"{result['iterations']} requests per k and side after {result['warmup']} warm-up, interleaved in "
        f"batches of {result['batch']}. µs = CPU time per request (median over batches) of the trio thread, and for the "
        "default config also of the whole process (the writer's thread included); wall = ratio of median "
        "wall-clock batch means.",
        "",
        "| k | bare nursery µs | himoe state off µs | ratio | himoe default µs, trio thread | ratio "
        "| himoe default µs, all threads | ratio | wall ratio (off / default) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['k']} | {r['bare_us']:.1f} | {r['engine_off_us']:.1f} | **{r['engine_off_ratio']:.2f}×** "
            f"| {r['engine_us']:.1f} | {r['engine_ratio']:.2f}× "
            f"| {r['engine_process_us']:.1f} | **{r['engine_process_ratio']:.2f}×** "
            f"| {r['engine_off_wall_ratio']:.2f}× / {r['engine_wall_ratio']:.2f}× |"
        )
    at4 = next(r for r in result["rows"] if r["k"] == 4)
    verdict = "met" if result["met"] else "NOT met"
    lines += [
        "",
        f"Verdict: target ≤ {result['target_ratio']:.1f}× at k=4 (aim {result['aim_ratio']:.1f}×) — "
        f"**{verdict}**: {at4['engine_off_ratio']:.2f}× with state off ({at4['engine_off_us']:.0f} µs vs "
        f"{at4['bare_us']:.0f} µs), {at4['engine_process_ratio']:.2f}× with the default config counting "
        f"every thread ({at4['engine_process_us']:.0f} µs vs {at4['bare_process_us']:.0f} µs).",
    ]
    return "\n".join(lines)
