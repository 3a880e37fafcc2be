"""A floor for the overhead benchmark: the least a routing engine on trio could do per request.

    python benchmarks/overhead_floor.py [--k 4]

Beside the bare nursery of `bench_overhead.py`, in the same loop: a nursery with a deadline on
its scope, the first pick run in the nursery's own task, two clock reads per call, a tuple per
outcome, a memoised gate looked up, the most confident answer chosen, and one flat tuple stored
per request in a bounded store — *nothing else* (no validation, no budget planning, no cancel
token, no statistics, no MixMeta, no orchestrator). docs/benchmarks.md ("What it would take to
reach 2×") compares it with the real engine. CPU time of the trio thread, medians of batches.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import time

import trio
from bench_overhead import bare_fanout
from noop_expert import NoopExpert

from himoe_core import InputData


def floor_request(experts: list[NoopExpert], x: InputData):
    store: dict[int, tuple] = {}
    order: collections.deque[int] = collections.deque()
    gates = {("route me",): tuple(1.0 / len(experts) for _ in experts)}
    counter = iter(range(1 << 62))

    async def call(index: int, expert: NoopExpert, outcomes: list) -> None:
        started = trio.current_time()
        value = await expert.infer(x, None)
        outcomes[index] = (expert.name, value, (trio.current_time() - started) * 1000.0, 1.0)

    async def request():
        trace_id = next(counter)
        started = trio.current_time()
        gate = gates[("route me",)]
        outcomes = [None] * len(experts)
        async with trio.open_nursery() as nursery:
            nursery.cancel_scope.deadline = started + 1.0
            for index in range(1, len(experts)):
                nursery.start_soon(call, index, experts[index], outcomes)
            await call(0, experts[0], outcomes)
        best = max(outcomes, key=lambda outcome: outcome[3])
        store[trace_id] = (trace_id, *gate, *(field for o in outcomes for field in (o[0], o[2], o[3])), best[0])
        order.append(trace_id)
        if len(order) > 10_000:
            del store[order.popleft()]
        return best[1]

    return request


async def _measure(k: int, rounds: int, batch: int) -> dict[str, float]:
    x = InputData.text("route me")
    experts = [NoopExpert(f"noop-{i:02d}") for i in range(k)]
    sides = {"bare": bare_fanout(experts, x), "floor": floor_request(experts, x)}
    cpu: dict[str, list[float]] = {side: [] for side in sides}
    for _ in range(300):
        for request in sides.values():
            await request()
    for _ in range(rounds):
        for side, request in sides.items():
            started = time.thread_time_ns()
            for _ in range(batch):
                await request()
            cpu[side].append((time.thread_time_ns() - started) / batch / 1000.0)
    return {side: statistics.median(values) for side, values in cpu.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    result = trio.run(_measure, args.k, args.rounds, 100)
    print(
        f"k={args.k}: bare nursery {result['bare']:.1f} µs, floor {result['floor']:.1f} µs "
        f"({result['floor'] / result['bare']:.2f}x), CPU per request"
    )


if __name__ == "__main__":
    main()
