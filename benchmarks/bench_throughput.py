"""Benchmark 4: many requests in flight at once in one process — throughput and memory.

Each size runs in a fresh child process (`python bench_throughput.py N WAVES CAPACITY`), so that
its memory figures are its own. In the child, waves of N requests are spawned at once in one
nursery, each request fanning out to 3 async experts that sleep 10 ms. Every himoe wave is paired
with a bare-nursery wave (N nurseries fanning out to the same experts), order alternating. The
trace store is capped (`trace_capacity`), so memory must stop growing once it is full. A last
pair of waves runs under tracemalloc for the Python-heap peak of N requests in flight.

Peak RSS is VmHWM (the child's own address space). ru_maxrss is shown too, but on Linux a child
started by fork/vfork + exec inherits its parent's high-water mark there, so it can over-state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import trio
from bench_common import current_rss_mb, engine_config, hwm_rss_mb, peak_rss_mb, say

EXPERTS = 3
SLEEP_S = 0.010


async def _engine_wave(moe, x, size: int, tally: dict[str, int]) -> None:
    async def one() -> None:
        try:
            await moe.run(x)
            tally["ok"] += 1
        except Exception:  # counted, never hidden
            tally["failed"] += 1

    async with trio.open_nursery() as nursery:
        for _ in range(size):
            nursery.start_soon(one)


async def _bare_wave(experts, x, size: int, tally: dict[str, int]) -> None:
    async def one() -> None:
        results: dict[int, Any] = {}

        async def call(index: int, expert) -> None:
            results[index] = await expert.infer(x, None)

        async with trio.open_nursery() as nursery:
            for index, expert in enumerate(experts):
                nursery.start_soon(call, index, expert)
        tally["ok"] += len(results) == len(experts)

    async with trio.open_nursery() as nursery:
        for _ in range(size):
            nursery.start_soon(one)


async def _child(size: int, waves: int, capacity: int) -> dict[str, Any]:
    from sleep_expert import SleepExpert

    from himoe_core import HiMoE, InputData

    experts = [SleepExpert(f"sleepy-{i}", SLEEP_S) for i in range(EXPERTS)]
    moe = HiMoE(
        experts=experts, entry_points=False, config=engine_config(EXPERTS, trace_capacity=capacity, budget_ms=60_000)
    )
    x = InputData.text("route me")
    await moe.run(x)
    await _bare_wave(experts, x, 1, {"ok": 0})
    rss_start = current_rss_mb()
    engine = {"ok": 0, "failed": 0, "seconds": 0.0, "rss": []}
    bare = {"ok": 0, "seconds": 0.0}
    for wave in range(waves):
        for side in ("engine", "bare") if wave % 2 == 0 else ("bare", "engine"):
            started = time.perf_counter()
            if side == "engine":
                await _engine_wave(moe, x, size, engine)
                engine["seconds"] += time.perf_counter() - started
                engine["rss"].append(current_rss_mb())
            else:
                await _bare_wave(experts, x, size, bare)
                bare["seconds"] += time.perf_counter() - started
    peak_rss, maxrss = hwm_rss_mb(), peak_rss_mb()
    tracemalloc.start()
    await _engine_wave(moe, x, size, {"ok": 0, "failed": 0})
    engine_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    await _bare_wave(experts, x, size, {"ok": 0})
    bare_peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    moe.close()
    return {
        "in_flight": size,
        "waves": waves,
        "capacity": capacity,
        "requests": size * waves,
        "ok": engine["ok"],
        "failed": engine["failed"],
        "bare_ok": bare["ok"],
        "engine_rps": size * waves / engine["seconds"],
        "bare_rps": size * waves / bare["seconds"],
        "engine_wave_ms": engine["seconds"] / waves * 1000.0,
        "bare_wave_ms": bare["seconds"] / waves * 1000.0,
        "traces": len(moe.traces),
        "rss_start": rss_start,
        "rss_first": engine["rss"][0],
        "rss_last": engine["rss"][-1],
        "rss_waves": [round(r, 1) for r in engine["rss"]],
        "ru_maxrss": maxrss,
        "peak_rss": peak_rss,
        "engine_tracemalloc_mb": engine_peak / 2**20,
        "bare_tracemalloc_mb": bare_peak / 2**20,
    }


def run_child(size: int, waves: int, capacity: int) -> dict[str, Any]:
    script = Path(__file__).resolve()
    proc = subprocess.run(
        [sys.executable, str(script), str(size), str(waves), str(capacity)],
        capture_output=True,
        text=True,
        cwd=script.parent.parent,
        env=dict(
            os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(script.parent), os.environ.get("PYTHONPATH")]))
        ),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"throughput child ({size} in flight) failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def run(quick: bool = False) -> dict[str, Any]:
    plans = [(200, 3, 100), (1000, 1, 100)] if quick else [(1000, 5, 1000), (5000, 3, 1000)]
    rows = []
    for size, waves, capacity in plans:
        say(
            f"throughput: {size} requests in flight × {waves} waves (+ bare waves), trace_capacity={capacity}, "
            f"{EXPERTS} experts × {SLEEP_S * 1000:.0f} ms sleep — child process"
        )
        rows.append(run_child(size, waves, capacity))
    met = all(r["ok"] == r["requests"] and r["failed"] == 0 for r in rows)
    # Bounded: the trace store stays at its capacity, and RSS stops growing once it is full —
    # from the second wave on (the first one also fills the store and the allocator's arenas).
    bounded = all(
        r["traces"] <= r["capacity"] and r["rss_waves"][-1] - r["rss_waves"][1] <= max(4.0, 0.05 * r["rss_waves"][1])
        for r in rows
        if r["waves"] > 2
    )
    return {"rows": rows, "met": met, "bounded": bounded}


def render(r: dict[str, Any]) -> str:
    lines = [
        "#### 4. Throughput and memory: requests in flight at once",
        "",
        f"Each request fans out to {EXPERTS} async experts that sleep {SLEEP_S * 1000:.0f} ms; a wave spawns all its "
        "requests at once in one nursery and waits for them all. Each size runs in its own child process, "
        "himoe and bare-nursery waves alternating; `trace_capacity` caps the trace store.",
        "",
        "| in flight | waves | completed ok | himoe req/s | bare req/s | throughput ratio bare / himoe | himoe ms per wave | bare ms per wave |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in r["rows"]:
        lines.append(
            f"| {row['in_flight']} | {row['waves']} | {row['ok']} / {row['requests']} | {row['engine_rps']:,.0f} "
            f"| {row['bare_rps']:,.0f} | {row['bare_rps'] / row['engine_rps']:.2f}× | {row['engine_wave_ms']:.0f} "
            f"| {row['bare_wave_ms']:.0f} |"
        )
    lines += [
        "",
        "Memory. RSS from /proc/self/statm at the start (engine built, one request served) and after each himoe "
        "wave; peak RSS is VmHWM before the tracemalloc pass (ru_maxrss beside it — see the note in "
        "`bench_throughput.py`); tracemalloc peak is the Python heap allocated while one more wave is in flight.",
        "",
        "| in flight | traces kept (capacity) | RSS MB: start → after each himoe wave | peak RSS MB (ru_maxrss) "
        "| tracemalloc peak MB himoe / bare | KB per in-flight request himoe / bare |",
        "|---:|---:|---|---:|---:|---:|",
    ]
    for row in r["rows"]:
        waves = " → ".join(f"{v:.1f}" for v in row["rss_waves"])
        lines.append(
            f"| {row['in_flight']} | {row['traces']} ({row['capacity']}) | {row['rss_start']:.1f} → {waves} "
            f"| {row['peak_rss']:.1f} ({row['ru_maxrss']:.1f}) "
            f"| {row['engine_tracemalloc_mb']:.1f} / {row['bare_tracemalloc_mb']:.1f} "
            f"| {row['engine_tracemalloc_mb'] * 1024 / row['in_flight']:.1f} / {row['bare_tracemalloc_mb'] * 1024 / row['in_flight']:.1f} |"
        )
    lines += [
        "",
        f"Verdict: every request completes — **{'met' if r['met'] else 'NOT met'}**; memory bounded (traces "
        f"capped, RSS flat from the second wave to the last) — **{'met' if r['bounded'] else 'NOT met'}**.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(json.dumps(trio.run(_child, int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))))
