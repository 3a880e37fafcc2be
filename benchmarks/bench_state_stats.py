"""`himoe stats` on a large state file, and the state file's size under the default retention
(issue 17, D11).

    python benchmarks/bench_state_stats.py                      # 1,000,000 requests (several minutes)
    python benchmarks/bench_state_stats.py --requests 100000 --baseline 20000 --bounded 120000   # quicker

1. Builds a state file of `--requests` requests' worth of traces (5 % failed, the rest answered
   by two of four experts, realistic trace JSON of ~1.3 kB) with feedback on every third answer.
   The rows are bulk-inserted through StateStore.record_traces / record_feedback (4,096 a
   transaction, retention off so all of them stay) rather than by routing a million requests:
   what is measured is reading the file, not filling it.
2. Times `himoe stats --json` on it in a fresh process (wall time, peak RSS from wait4), and on
   an empty state file for the start-up floor.
   Side by side, alternated: the same numbers computed as before the running totals (schema 5),
   by GROUP BY passes over the summary and feedback rows. Then stored_stats in this process:
   what stats itself costs, without the start-up.
3. Baseline: on a `--baseline`-request file, the new stats and the pre-D11 one (every trace and
   feedback row loaded and parsed: compute_stats(store.traces(), store.feedback())), each in a
   fresh process, side by side.
4. Bounded: writes `--bounded` traces in batches of 64 through a store
   with the default retention (max_traces 100,000) and prints the file size as it goes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from himoe_core._learning.metrics import stored_stats
from himoe_core.state.sqlite_state_store import DEFAULT_MAX_TRACES
from himoe_core.state.sqlite_state_store import SqliteStateStore as StateStore

EXPERTS = [
    ("alpha", "5306d220eac8089a"),
    ("beta", "134c4c88ac3f2eae"),
    ("gamma", "f84759d82e1388f5"),
    ("delta", "0c1f7d2a9be34410"),
]
BATCH = 4096

OLD_STATS = """
import json, sys
from himoe_core._learning.metrics import compute_stats
from himoe_core.state.sqlite_state_store import SqliteStateStore as StateStore
store = StateStore(sys.argv[1], retention_days=0, max_traces=0)
print(json.dumps(compute_stats(store.traces(), store.feedback())))
"""

SQL_PASSES_STATS = """
import json, sys
import numpy as np
from himoe_core._learning.metrics import ECE_BINS, stored_stats
from himoe_core.state.sqlite_state_store import SqliteStateStore as StateStore
store = StateStore(sys.argv[1], retention_days=0, max_traces=0)
edges = [float(e) for e in np.linspace(0.0, 1.0, ECE_BINS + 1)[1:-1]]
case = " ".join(f"WHEN confidence <= ? THEN {i}" for i in range(len(edges)))
store.summary_groups = lambda: store._read(
    "SELECT answered, error_kind, router, picks, COUNT(*), SUM(cost_units), COUNT(cost_units), "
    "SUM(disagreement), COUNT(disagreement) FROM trace_summaries GROUP BY answered, error_kind, router, picks"
)
store.reward_summary = lambda: store._read("SELECT COUNT(reward), AVG(reward) FROM feedback")[0]
store.calibration_bins = lambda: store._read(
    f"SELECT CASE {case} ELSE {len(edges)} END AS bin, COUNT(*), SUM(CASE WHEN reward >= 0.5 THEN 1.0 ELSE 0.0 END), "
    "SUM(confidence) FROM feedback WHERE reward IS NOT NULL AND confidence IS NOT NULL GROUP BY bin",
    edges,
)
print(json.dumps(stored_stats(store)))
"""


def synthetic_trace(rng: random.Random, n: int) -> dict:
    trace_id = f"{n:016x}"
    if rng.random() < 0.05:
        return {
            "trace_id": trace_id,
            "input": "text(31 chars)",
            "task": None,
            "budget_ms": 1000.0,
            "depth": 0,
            "attempts": [{"router": "r", "status": "error", "gate": [], "picks": [], "calls": [], "mix": {}}],
            "router": None,
            "value": None,
            "elapsed_ms": rng.uniform(0.5, 5),
            "error": "NoExpertSelected: none",
        }
    chosen = rng.sample(EXPERTS, 2)
    probs = [rng.random() for _ in EXPERTS]
    total = sum(probs)
    confidence = [rng.random() for _ in chosen]
    weights = {chosen[0][0]: 0.7, chosen[1][0]: 0.3}
    return {
        "trace_id": trace_id,
        "input": "text(31 chars)",
        "task": None,
        "budget_ms": 1000.0,
        "depth": 0,
        "attempts": [
            {
                "router": "r",
                "status": "ok",
                "gate": [
                    {"expert": name, "id": eid, "logit": round(p, 6), "prob": round(p / total, 6)}
                    for (name, eid), p in zip(EXPERTS, probs)
                ],
                "picks": [{"expert": name, "id": eid, "propensity": 0.25} for name, eid in chosen],
                "calls": [
                    {
                        "expert": name,
                        "id": eid,
                        "status": "ok",
                        "latency_ms": round(rng.uniform(0.01, 3), 3),
                        "cost_units": 1.0,
                        "confidence": round(c, 4),
                        "value": {"kind": "text", "schema": 1, "data": "an answer"},
                        "cause": None,
                    }
                    for (name, eid), c in zip(chosen, confidence)
                ],
                "mix": {
                    "aggregator": "confidence",
                    "entropy": 1.3,
                    "topk": 2,
                    "lat_total_ms": 0.2,
                    "drop_count": 0,
                    "cost_units": 2.0,
                    "disagreement": round(rng.random(), 4),
                    "util_by_expert": {name: round(p / total, 6) for (name, _), p in zip(EXPERTS, probs)},
                    "failures": {},
                    "weights": weights,
                },
            }
        ],
        "router": "r",
        "value": {"kind": "text", "schema": 1, "data": "an answer"},
        "elapsed_ms": round(rng.lognormvariate(0.5, 0.8), 6),
        "error": None,
    }


def build(path: Path, requests: int, seed: int = 0) -> float:
    """Fill `path` with `requests` traces (and feedback on every third answer); seconds taken."""
    rng = random.Random(seed)
    store = StateStore(path, retention_days=0, max_traces=0)
    start = time.perf_counter()
    created = time.time() - 86400.0
    for first in range(0, requests, BATCH):
        traces = [synthetic_trace(rng, n) for n in range(first, min(first + BATCH, requests))]
        with store.exclusive():
            store.record_traces(
                [(t, "text", None, b"what is the capital of france? " + t["trace_id"].encode()) for t in traces],
                created=created + first * 0.05,
            )
            for n, trace in enumerate(traces):
                if trace["error"] is None and n % 3 == 0:
                    store.record_feedback(trace["trace_id"], "r", rng.choice((0.0, 0.25, 1.0)), None, {"rewards": {}})
    store.close()
    return time.perf_counter() - start


LOG_ONLY = {"state", "feedback_late", "reward_window_s"}  # what HiMoE.stats adds to stored_stats


def close(a: object, b: object) -> bool:
    """Equal, floats to 1e-9 relative (sums added in another order differ in their last digit)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-9 * max(abs(a), abs(b))
    return a == b


def run_measured(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of `argv` in a fresh process."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if status != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({status}): {err.read().strip()}")
        return wall, usage.ru_maxrss / 1024.0, out.read()


def stats_command(path: Path) -> tuple[list[str], dict[str, str]]:
    return [sys.executable, "-m", "himoe_core", "stats", "--json"], {**os.environ, "HIMOE_STATE": str(path)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=50_000, help="requests in the side-by-side file")
    parser.add_argument("--bounded", type=int, default=250_000, help="traces written under the default retention")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each stats process (the best is shown)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="himoe-bench-stats-") as folder:
        folder = Path(folder)

        empty = folder / "empty.sqlite3"
        StateStore(empty).close()
        floor = min(run_measured(*stats_command(empty))[:2] for _ in range(args.repeat))
        print(f"himoe stats, empty state file: {floor[0]:.2f} s, {floor[1]:.0f} MB peak RSS (start-up floor)")

        small = folder / "small.sqlite3"
        build(small, args.baseline, seed=1)
        new = min(run_measured(*stats_command(small)) for _ in range(args.repeat))
        old = min(
            run_measured([sys.executable, "-c", OLD_STATS, str(small)], dict(os.environ)) for _ in range(args.repeat)
        )
        same = json.loads(new[2])["requests"] == json.loads(old[2])["requests"] == args.baseline
        print(
            f"{args.baseline:,} requests, side by side: himoe stats {new[0]:.2f} s, {new[1]:.0f} MB; "
            f"pre-D11 stats (every trace parsed) {old[0]:.2f} s, {old[1]:.0f} MB; "
            f"{old[0] / new[0]:.1f}x faster, {old[1] / new[1]:.1f}x less memory (same counts: {same})"
        )

        large = folder / "large.sqlite3"
        seconds = build(large, args.requests)
        size = large.stat().st_size / 2**20
        print(f"built {args.requests:,} requests' state in {seconds:.0f} s ({size:,.0f} MB file)")
        runs, passes = [], []
        for _ in range(args.repeat):  # alternated, so that a change in the machine's load hits both
            runs.append(run_measured(*stats_command(large)))
            passes.append(run_measured([sys.executable, "-c", SQL_PASSES_STATS, str(large)], dict(os.environ)))
        stats = json.loads(runs[-1][2])
        print(
            f"himoe stats, {stats['requests']:,} requests ({stats['answered']:,} answered, "
            f"{stats['feedback']:,} scored): "
            + ", ".join(f"{wall:.2f} s / {rss:.0f} MB" for wall, rss, _ in runs)
            + " (wall / peak RSS per run)"
        )
        same = close(json.loads(passes[-1][2]), {k: stats[k] for k in stats if k not in LOG_ONLY})
        best, best_passes = min(wall for wall, _, _ in runs), min(wall for wall, _, _ in passes)
        print(
            "the same stats by passes over the rows (before the running totals), same runs: "
            + ", ".join(f"{wall:.2f} s / {rss:.0f} MB" for wall, rss, _ in passes)
            + f"; best {best_passes / best:.1f}x the totals' wall time (same numbers: {same})"
        )
        store = StateStore(large, retention_days=0, max_traces=0)
        own = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            stored_stats(store)
            own.append(time.perf_counter() - start)
        store.close()
        print("stored_stats in this process (stats' own reads, no start-up): " + ", ".join(f"{s:.3f} s" for s in own))
        large.unlink()

        bounded = folder / "bounded.sqlite3"
        store = StateStore(bounded)
        rng = random.Random(2)
        every = max(64, args.bounded // 5 // 64 * 64)
        for first in range(0, args.bounded, 64):
            store.record_traces(
                [
                    (synthetic_trace(rng, n), "text", None, b"an input of 31 characters, say.")
                    for n in range(first, min(first + 64, args.bounded))
                ]
            )
            if (first + 64) % every == 0 or first + 64 >= args.bounded:
                store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                print(
                    f"default retention (max_traces {DEFAULT_MAX_TRACES:,}): {min(first + 64, args.bounded):,} "
                    f"traces written, {store.count('traces'):,} kept, file {bounded.stat().st_size / 2**20:,.0f} MB"
                )
        store.close()


if __name__ == "__main__":
    main()
