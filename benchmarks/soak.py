"""Soak test: 100,000 requests, 1,000 in flight, through the whole pipeline in one trio run, with a
fixed share of the experts raising, hanging, wedging their worker thread, answering garbage or too
slowly. Checks that every request gets its answer or its precise error (none lost, no unhandled
exception), that the deadline holds (p99 ≤ budget + 5 ms), and that memory stays flat.

    python benchmarks/soak.py                 # the full run (≈1 min on 2 cores)
    python benchmarks/soak.py --quick         # 5,000 requests: the CI smoke test
    python benchmarks/soak.py --router linucb # learning routers (sampled first pick) instead of static

The pipeline: the rules orchestrator sends each request, by task prefix, to one of four routers
(k = 3, confidence aggregator) over a pool of 14 experts; a router whose picks all fail falls back
to another. Traces are written behind to a temporary state file, as in a default config.

Every 10,000 requests the RSS is sampled (with `--tracemalloc`, the Python heap too: tracemalloc is
then on from before the engine is built — it only sees what is allocated after it starts — and
every request is about twice as slow). Progress goes to stderr; the markdown report to stdout.
The exit code is 1 when a request was lost, answered wrongly or met an unhandled exception, or a
task outlived the run.
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
import threading
import time
import tracemalloc
from array import array
from collections import Counter
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import current_rss_mb, machine, percentile, state_path  # noqa: E402

from himoe_core import HiMoE, MoeError  # noqa: E402
from himoe_core.testing import (  # noqa: E402
    BlockingExpert,
    FailingExpert,
    FlakyExpert,
    HangingExpert,
    MalformedExpert,
    SleepyExpert,
    StuckThreadExpert,
)

BUDGET_MS = 100.0
ROUTES = ("a", "b", "c", "d")


def say(message: str) -> None:
    print(f"[soak] {message}", file=sys.stderr, flush=True)


def build_experts() -> dict[str, object]:
    """The pool: 7 healthy experts (2–8 ms), and one of each fault."""
    good = {
        f"good{i}": SleepyExpert(f"good{i}", delay_s=ms / 1000, value=f"answer from good{i}", confidence=0.5 + i / 20)
        for i, ms in enumerate((2, 3, 4, 5, 6, 8, 2))
    }
    faulty = {
        "raises": FailingExpert("raises", message="injected failure"),
        "flaky": FlakyExpert("flaky", failure_rate=0.3, seed=1, value="answer from flaky", confidence=0.6),
        "hangs": HangingExpert("hangs"),
        "too_slow": SleepyExpert("too_slow", delay_s=0.150, value="never in time"),
        "garbage": MalformedExpert("garbage", "nan_json"),
        "deaf_thread": BlockingExpert("deaf_thread", seconds=0.3, value="answer from deaf_thread", max_concurrency=2),
        "stuck_thread": StuckThreadExpert("stuck_thread", max_concurrency=2),
    }
    return {**good, **faulty}


GOOD_ANSWERS = {f"answer from good{i}" for i in range(7)} | {"answer from flaky", "answer from deaf_thread"}


def build_config(kind: str, state: str) -> dict:
    pools = {
        "a": ["good0", "good1", "raises", "hangs"],
        "b": ["good2", "flaky", "deaf_thread", "too_slow"],
        "c": ["good3", "good4", "garbage", "stuck_thread"],
        "d": ["raises", "hangs", "too_slow", "garbage"],  # every pick faulty: answered by its fallback
        "e": ["good5", "good6", "flaky"],
    }
    routers = {}
    for route, experts in pools.items():
        table = {"kind": kind, "experts": experts, "k": 3, "aggregator": "confidence"}
        if kind == "static":
            table["weights"] = {name: 1.0 for name in experts if not name.startswith("good")}  # faults first
        else:
            table["encoder"] = {"id": "hashing", "dim": 32}
            table["gating"] = {"seed": 7, "epsilon": 0.2}
        routers[f"r_{route}"] = table
    rules = [{"router": f"r_{route}", "task_prefix": f"{route}:", "fallbacks": ["r_e"]} for route in ROUTES]
    return {
        "himoe": {"budget_ms": BUDGET_MS},
        "routers": routers,
        "orchestrator": {"kind": "rules", "rules": rules, "default": "r_e"},
        "state": {"path": state},
    }


class Tally:
    def __init__(self) -> None:
        self.started = 0
        self.kinds: Counter[str] = Counter()
        self.served_by: Counter[str] = Counter()
        self.wrong: list[str] = []
        self.unhandled: list[str] = []
        self.latencies_ms = array("d")  # 8 bytes a request: the soak's own record stays small
        self.ok_latencies_ms = array("d")

    @property
    def finished(self) -> int:
        return sum(self.kinds.values())


async def serve(
    moe: HiMoE, tally: Tally, total: int, in_flight: int, offset: int, *, on_progress=None, record_latency: bool = True
) -> None:
    """`total` requests through `in_flight` worker tasks: exactly `in_flight` requests at once."""
    counter = iter(range(offset, offset + total))

    async def worker() -> None:
        for i in counter:
            route = ROUTES[i % len(ROUTES)]
            tally.started += 1
            started = time.perf_counter()
            try:
                response = await moe.run(f"{route}: request {i}")
            except MoeError as exc:
                kind = type(exc).__name__
            except Exception as exc:  # must never happen: counted and reported
                kind = "unhandled"
                if len(tally.unhandled) < 5:
                    tally.unhandled.append(f"{type(exc).__name__}: {exc}")
            else:
                kind = "ok"
                tally.served_by[response.router] += 1
                text = response.value.as_text()
                if text not in GOOD_ANSWERS and len(tally.wrong) < 5:
                    tally.wrong.append(repr(text))
            if record_latency:
                tally.latencies_ms.append((time.perf_counter() - started) * 1000.0)
                if kind == "ok":
                    tally.ok_latencies_ms.append(tally.latencies_ms[-1])
            tally.kinds[kind] += 1
            if on_progress is not None and tally.finished % 10_000 == 0:
                on_progress()

    async with trio.open_nursery() as nursery:
        for _ in range(in_flight):
            nursery.start_soon(worker)


def vm(field: str) -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 requests (the CI smoke test)")
    parser.add_argument("--requests", type=int, help="requests in the main run (default 100,000; --quick 5,000)")
    parser.add_argument("--in-flight", type=int, default=1000, help="requests in flight at once (default 1,000)")
    parser.add_argument("--router", choices=["static", "linucb"], default="static", help="router kind (default static)")
    parser.add_argument(
        "--trace-capacity", type=int, help="[himoe] trace_capacity (default: the config default, 10,000)"
    )
    parser.add_argument("--no-state", action="store_true", help="[state] enabled = false (no trace persistence)")
    parser.add_argument(
        "--max-in-flight",
        type=lambda v: v if v == "auto" else int(v),
        default=0,
        help='[himoe] max_in_flight: requests routed at once, the others queue; "auto" adapts it '
        "to the event loop's lag (default 0: no limit)",
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="trace the Python heap from the start (sampled with the RSS; slows every request)",
    )
    parser.add_argument(
        "--gc-threshold",
        type=int,
        metavar="N",
        help="gc.set_threshold(N, 50, 1000): fewer young-generation collections (default: Python's)",
    )
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() once the engine is built: full collections then skip the start-up heap",
    )
    args = parser.parse_args(argv)
    total = args.requests or (5_000 if args.quick else 100_000)
    if args.tracemalloc:
        tracemalloc.start()

    experts = build_experts()
    config = build_config(args.router, state_path())
    if args.trace_capacity:
        config["himoe"]["trace_capacity"] = args.trace_capacity
    if args.no_state:
        config["state"] = {"enabled": False}
    if args.max_in_flight:
        config["himoe"]["max_in_flight"] = args.max_in_flight
    engine: dict[str, HiMoE] = {}  # built inside the trio run, by HiMoE.open, as a trio app does
    gc_pauses: list[float] = []
    gc_started: list[float] = []

    def on_gc(phase: str, info: dict) -> None:  # full collections stop the event loop: measure them
        if info["generation"] == 2:
            if phase == "start":
                gc_started.append(time.perf_counter())
            elif gc_started:
                gc_pauses.append((time.perf_counter() - gc_started.pop()) * 1000.0)

    gc.callbacks.append(on_gc)
    if args.gc_threshold:
        gc.set_threshold(args.gc_threshold, 50, 1000)
    tally = Tally()
    rss: list[tuple[int, float]] = []
    heap: list[tuple[int, float]] = []
    threads: list[int] = []
    backlog: list[int] = []
    limits: list[int] = []
    say(
        f"{total:,} requests, {args.in_flight:,} in flight, budget {BUDGET_MS:g} ms, {args.router} routers, "
        f"{len(experts)} experts"
    )
    wall_started = time.perf_counter()

    def progress() -> None:
        rss.append((tally.finished, current_rss_mb()))
        if args.tracemalloc:
            heap.append((tally.finished, tracemalloc.get_traced_memory()[0] / 2**20))
        threads.append(threading.active_count())
        moe = engine["moe"]
        writer = getattr(moe.trainer, "_writer", None)  # traces queued for the state file, not yet written
        queue = getattr(writer, "_queue", None)
        backlog.append(queue.qsize() * moe.trainer.flush_every + len(moe.trainer._pending) if queue else 0)
        if moe._slots is not None:
            limits.append(moe._slots.get().capacity)
        experts["flaky"].outcomes.clear()  # the test experts' own call records, not the engine's memory
        experts["deaf_thread"].thread_ids.clear()
        experts["deaf_thread"].cancel_seen.clear()
        experts["deaf_thread"].done.clear()
        elapsed = time.perf_counter() - wall_started
        say(
            f"{tally.finished:,}/{total:,} answered ({tally.kinds['ok']:,} ok, {tally.finished - tally.kinds['ok']:,} "
            f"errors) in {elapsed:.1f} s; RSS {rss[-1][1]:.1f} MB; {threads[-1]} threads; "
            f"{backlog[-1]:,} traces waiting for the state file"
        )

    async def run() -> dict:
        tasks_before = trio.lowlevel.current_statistics().tasks_living
        async with HiMoE.open(experts=list(experts.values()), entry_points=False, environ={}, config=config) as moe:
            engine["moe"] = moe
            if args.gc_freeze:
                gc.collect()
                gc.freeze()
            rss.append((0, current_rss_mb()))
            if args.tracemalloc:
                heap.append((0, tracemalloc.get_traced_memory()[0] / 2**20))
            await serve(moe, tally, total, args.in_flight, 0, on_progress=progress)
            main_elapsed = time.perf_counter() - wall_started
            if tally.finished % 10_000:
                progress()
        tasks_after = trio.lowlevel.current_statistics().tasks_living  # the engine's own tasks ended too
        return {
            "main_elapsed": main_elapsed,
            "tasks_before": tasks_before,
            "tasks_after": tasks_after,
            "heap_peak": tracemalloc.get_traced_memory()[1] / 2**20 if args.tracemalloc else None,
            "gc_pauses": list(gc_pauses),
        }

    result = trio.run(run)
    hwm = vm("VmHWM")
    experts["stuck_thread"].release()

    report(args, total, tally, result, rss, heap, threads, hwm, backlog, limits)
    bad = (
        tally.started != tally.finished
        or tally.unhandled
        or tally.wrong
        or result["tasks_after"] != result["tasks_before"]
    )
    return 1 if bad else 0


def report(args, total: int, tally: Tally, result: dict, rss, heap, threads, hwm: float, backlog, limits) -> None:
    lat = list(tally.latencies_ms)
    p50, p90, p99, p999 = (percentile(lat, q) for q in (50, 90, 99, 99.9))
    lost = tally.started - tally.finished
    out = print
    out(f"### Soak: {total:,} requests, {args.in_flight:,} in flight, {args.router} routers\n")
    command = " ".join(["python benchmarks/soak.py", *sys.argv[1:]])
    out(f"Command: `{command}`  ")
    out(f"Machine: {machine()}\n")
    out(
        f"Budget {BUDGET_MS:g} ms per request; 4 routers (k = 3, confidence aggregator) behind the rules "
        f"orchestrator, a fallback router; 14 experts, 7 of them faulty (raises, flaky 30 %, hangs, 150 ms, "
        f"NaN JSON, a sync thread deaf to cancellation, a sync thread wedged for good); "
        f"{'no state file' if args.no_state else 'traces written behind to a state file'}.\n"
    )
    out("| requests | answered | lost | unhandled | wrong answers | wall time | requests/s |")
    out("|---:|---:|---:|---:|---:|---:|---:|")
    out(
        f"| {tally.started:,} | {tally.finished:,} | {lost} | {len(tally.unhandled)} | {len(tally.wrong)} | "
        f"{result['main_elapsed']:.1f} s | {tally.finished / result['main_elapsed']:,.0f} |\n"
    )
    out("| outcome | requests | share |")
    out("|---|---:|---:|")
    for kind, n in sorted(tally.kinds.items(), key=lambda kv: (-kv[1], kv[0])):
        out(f"| {kind} | {n:,} | {100 * n / max(tally.finished, 1):.1f} % |")
    out("")
    served = ", ".join(f"{router} {n:,}" for router, n in sorted(tally.served_by.items()))
    out(f"Answers by serving router: {served}.\n")
    out("| latency (ms) | p50 | p90 | p99 | p99.9 | max |")
    out("|---|---:|---:|---:|---:|---:|")
    out(f"| every request | {p50:.1f} | {p90:.1f} | {p99:.1f} | {p999:.1f} | {max(lat, default=math.nan):.1f} |")
    ok = list(tally.ok_latencies_ms)
    if ok:
        out(
            f"| answered ok | {percentile(ok, 50):.1f} | {percentile(ok, 90):.1f} | {percentile(ok, 99):.1f} | "
            f"{percentile(ok, 99.9):.1f} | {max(ok):.1f} |"
        )
    out("")
    verdict = "met" if p99 <= BUDGET_MS + 5 else "NOT met"
    late = sum(ms > BUDGET_MS + 5 for ms in lat)
    out(
        f"Deadline: p99 {p99:.1f} ms against budget + 5 ms = {BUDGET_MS + 5:g} ms — **{verdict}**; "
        f"{late:,} requests ({100 * late / max(len(lat), 1):.2f} %) took longer than that.  "
    )
    pauses = result["gc_pauses"]
    out(
        f"Full garbage collections during the run: {len(pauses)}, each stopping the event loop for "
        f"{min(pauses, default=0):.0f}–{max(pauses, default=0):.0f} ms (median {percentile(pauses, 50) if pauses else 0:.0f} ms)"
        f"{'; gc.freeze() after start-up' if args.gc_freeze else ''}"
        f"{f'; gc.set_threshold({args.gc_threshold}, 50, 1000)' if args.gc_threshold else ''}; trace store capacity "
        f"{args.trace_capacity or 10_000:,}.\n"
    )
    samples = " → ".join(f"{mb:.0f}" for _, mb in rss)
    out(f"RSS (MB, /proc/self/statm) at the start and every 10,000 requests: {samples}.  ")
    out(f"Peak RSS (VmHWM): {hwm:.0f} MB. Threads (sampled every 10,000): max {max(threads, default=0)}.  ")
    if not args.no_state:
        out(
            f"Traces waiting for the state file (trace-writer queue), every 10,000 requests: "
            f"{' → '.join(f'{n:,}' for n in backlog)}.  "
        )
    if limits:
        out(
            f"Request slots ([himoe] max_in_flight = {args.max_in_flight!r}) every 10,000 requests: "
            f"{' → '.join(f'{n:,}' for n in limits)}.  "
        )
    if heap:
        out(
            f"Python heap (MB, tracemalloc from the start) at the same points: "
            f"{' → '.join(f'{mb:.1f}' for _, mb in heap)}; peak {result['heap_peak']:.1f} MB.  "
        )
    out(f"trio tasks living before / after the run: {result['tasks_before']} / {result['tasks_after']}.")
    if tally.unhandled:
        out(f"\nUnhandled: {tally.unhandled}")
    if tally.wrong:
        out(f"\nWrong answers: {tally.wrong}")


if __name__ == "__main__":
    sys.exit(main())
