"""The overhead benchmark's himoe request (k no-op experts, static router behind the rules
orchestrator), in a loop for a sampling profiler to watch:

    py-spy record -r 2000 -f raw -o /tmp/himoe.txt -- python benchmarks/request_loop.py --seconds 15

Prints the requests served and their mean wall time. docs/benchmarks.md ("Where a request's time
goes") groups such a profile's stacks by the part of the engine they run in.
"""

from __future__ import annotations

import argparse
import time

import trio
from bench_common import engine_config
from noop_expert import NoopExpert

from himoe_core import HiMoE, InputData


async def _loop(moe: HiMoE, x: InputData, seconds: float) -> int:
    served = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(100):
            await moe.run(x)
        served += 100
    return served


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to loop")
    parser.add_argument("--k", type=int, default=4, help="experts called per request")
    parser.add_argument("--state", action="store_true", help="write traces to a (temporary) state file too")
    args = parser.parse_args()
    experts = [NoopExpert(f"noop-{i:02d}") for i in range(args.k)]
    with HiMoE(experts=experts, entry_points=False, config=engine_config(args.k, state=args.state)) as moe:
        started = time.perf_counter()
        served = trio.run(_loop, moe, InputData.text("route me"), args.seconds)
        print(f"{served} requests, {(time.perf_counter() - started) / served * 1e6:.1f} µs each (wall)")


if __name__ == "__main__":
    main()
