"""Memory of the traces an engine keeps (its default 10,000), learned router against static.

    python benchmarks/bench_kept_traces.py            # 10,000 requests each, ~20 s
    python benchmarks/bench_kept_traces.py --requests 2000

Two engines, each in a process of its own (RSS is a process's), state off, two no-op experts,
the GSM8K prompts: `static k=1`, and `logistic` (hashing dim 4096 + length) with feedback on each
answer. After 300 warm-up requests, RSS is read, then again after `--requests` more (a full
garbage collection before each read): the growth is what the kept traces (and the learned
model's rows) cost. A learned decision's features are kept sparse in its trace; before, each
kept trace held the dense 16 KB vector.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096 / 2**20


def grow(kind: str, requests: int) -> dict[str, float]:
    import bench_decision_cost as bench
    import trio

    prompts, outcome = bench.load_prompts()
    router = {"kind": "static", "k": 1} if kind == "static" else {"kind": "logistic", "encoder": bench.ENCODER}
    moe = bench.engine({**router, "gating": {"seed": 0}})

    async def go(start: int, n: int) -> None:
        for i in range(start, start + n):
            prompt = prompts[i % len(prompts)]
            response = await moe.run(prompt)
            if kind != "static":
                moe.feedback(response.trace_id, reward=outcome[prompt][response.value.as_text()])

    trio.run(go, 0, 300)
    gc.collect()
    before = rss_mb()
    trio.run(go, 300, requests)
    gc.collect()
    return {"before_mb": before, "after_mb": rss_mb(), "kept": len(moe.traces)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--one", choices=("static", "logistic"), help=argparse.SUPPRESS)  # the child's side
    args = parser.parse_args()
    if args.one:
        print(json.dumps(grow(args.one, args.requests)))
        return 0
    rows = {}
    for kind in ("static", "logistic"):
        done = subprocess.run(
            [sys.executable, __file__, "--one", kind, "--requests", str(args.requests)],
            capture_output=True,
            text=True,
            check=True,
        )
        rows[kind] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"`python benchmarks/bench_kept_traces.py --requests {args.requests}`\n")
    print("| router | traces kept | RSS after warm-up | after | growth |")
    print("|---|---:|---:|---:|---:|")
    for kind, row in rows.items():
        growth = row["after_mb"] - row["before_mb"]
        print(f"| {kind} | {row['kept']:,} | {row['before_mb']:.0f} MB | {row['after_mb']:.0f} MB | {growth:+.0f} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
