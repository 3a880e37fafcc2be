"""The decision log's cost and throughput, SQLite and PostgreSQL side by side in one run.

    python benchmarks/bench_decision_log.py                      # PostgreSQL: the local test server
    python benchmarks/bench_decision_log.py --postgres URL       # another server (a temporary schema)
    python benchmarks/bench_decision_log.py --expert-cpu-us 1000 # experts that each use 1 ms of CPU
    python benchmarks/bench_decision_log.py --requests 3000 --quick-store  # a quicker run
    python benchmarks/bench_decision_log.py --floors             # and what no log design goes below

1. Per-request CPU of logging against logging off: three engines in one process and one trio
   run — `[state] enabled = false`, an SQLite file, PostgreSQL — route the same requests through
   a `linucb` router (hashing encoder, dim 64, k = 2) over no-op experts, alternating in batches
   (the order rotating every round). A batch ends with a flush, so the writer thread's work (trace
   JSON, decision codec, inserts) is counted in the batch that caused it. A batch (1,000) is
   longer than `[state] flush_every` (256) and than `flush_s` (0.1 s): the writer works beside
   the event loop, as under steady traffic, not only inside the final flush while the loop waits
   (batches shorter than flush_every would measure that: cheaper, and not what serving costs). CPU = the whole
   process's (every thread), median over batches, per request. No-op experts make this the worst
   case: the engine's own work is all there is to compare logging with; `--expert-cpu-us N` makes
   each expert spin N µs of CPU instead, as a model running in the process would.
   With `--floors`, two more engines in the same run bound what any design of the log could
   cost here (both SQLite): "handoff only" queues each request for the writer thread, which is
   woken for every batch as usual and writes nothing (the cost of logging from a thread at
   all: the queue, the wake-ups, the GIL shared with the event loop); "one row a request"
   writes each request once, as the one orjson text of the atoms its trace and decision are
   both made from, in one INSERT per batch (no trace dict, no decision record, no summary, no
   second table: the leanest log that still keeps every fact).
2. Decisions logged per second: (a) through the engine — requests answered as fast as one trio
   task sends them, with the writer logging behind; decisions in the store / wall time, flush
   included; (b) the store alone — `record_decisions` of batches of 64 encoded decisions.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import trio  # noqa: E402
from noop_expert import NoopExpert  # noqa: E402

from himoe_core import HiMoE  # noqa: E402
from himoe_core.state import DecisionEvent, open_state_store  # noqa: E402

LOCAL = "postgresql://postgres@127.0.0.1:5432/test"


class BusyExpert(NoopExpert):
    """A no-op expert that first spins `cpu_us` microseconds of CPU (a model's work, in the process)."""

    def __init__(self, name: str, cpu_us: int) -> None:
        super().__init__(name)
        self.cpu_s = cpu_us / 1e6

    async def infer(self, x, ctx):
        end = time.thread_time() + self.cpu_s
        while time.thread_time() < end:
            pass
        return await super().infer(x, ctx)


def config(state: dict) -> dict:
    return {
        "routers": {
            "main": {"kind": "linucb", "experts": ["*"], "k": 2, "encoder": {"id": "hashing", "dim": 64}},
        },
        "state": {**state, "retention_days": 0, "max_traces": 0},
    }


def write_nothing(store, batch) -> None:
    """The "handoff only" floor's writer."""


def one_row_writer(path: str):
    """The "one row a request" floor's writer: each request's trace atoms as one orjson text, one
    INSERT per batch, into a file of its own (WAL, as the state file)."""
    import sqlite3

    import orjson

    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE log (trace_id TEXT PRIMARY KEY, created REAL NOT NULL, atoms BLOB NOT NULL)")

    def default(value):
        return value.decode("latin-1") if isinstance(value, bytes) else list(value)

    def write(store, batch) -> None:
        rows = [
            (record.trace_id, when, orjson.dumps(record._atoms, option=orjson.OPT_SERIALIZE_NUMPY, default=default))
            for record, _, when in batch
        ]
        conn.execute("BEGIN")
        conn.execute("INSERT INTO log VALUES " + ", ".join(["(?, ?, ?)"] * len(rows)), [v for row in rows for v in row])
        conn.execute("COMMIT")

    return write


def requests_text(n: int) -> list[str]:
    return [f"question {i} about topic {i % 17} with some words {i % 5}" for i in range(n)]


async def cpu_side_by_side(engines: dict[str, HiMoE], texts: list[str], batch: int) -> dict[str, float]:
    cpu: dict[str, list[float]] = {side: [] for side in engines}
    sides = list(engines)
    for moe in engines.values():  # warm-up
        for text in texts[:100]:
            await moe.run(text)
        moe.trainer.flush()
    rounds = len(texts) // batch
    for index in range(rounds):
        chunk = texts[index * batch : (index + 1) * batch]
        order = sides[index % len(sides) :] + sides[: index % len(sides)]
        for side in order:
            moe = engines[side]
            start = time.process_time_ns()
            for text in chunk:
                await moe.run(text)
            moe.trainer.flush()
            cpu[side].append((time.process_time_ns() - start) / batch / 1000.0)
    return {side: statistics.median(values) for side, values in cpu.items()}


async def logged_per_second(moe: HiMoE, texts: list[str]) -> float:
    store = moe.trainer.store
    before = store.count("decisions")
    start = time.perf_counter()
    for text in texts:
        await moe.run(text)
    moe.trainer.flush()
    elapsed = time.perf_counter() - start
    return (store.count("decisions") - before) / elapsed


def store_appends_per_second(target: str, n: int) -> float:
    store = open_state_store(target, retention_days=0, max_traces=0)
    try:
        record = "x" * 600  # about an encoded decision's size (dim 64, k = 2, two outcomes)
        events = [DecisionEvent(uuid.uuid4().hex, f"s{i}", "main", record, "bench", 1, time.time()) for i in range(n)]
        start = time.perf_counter()
        for i in range(0, n, 64):
            store.record_decisions(events[i : i + 64])
        return n / (time.perf_counter() - start)
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default=os.environ.get("HIMOE_TEST_POSTGRES_URL", LOCAL))
    parser.add_argument("--requests", type=int, default=12_000, help="requests per side in part 1")
    parser.add_argument("--batch", type=int, default=1000, help="requests per side and round in part 1")
    parser.add_argument("--quick-store", action="store_true", help="fewer appends in part 2b")
    parser.add_argument("--expert-cpu-us", type=int, default=0, help="CPU each expert spins per call (default 0)")
    parser.add_argument("--floors", action="store_true", help="also the handoff-only and one-row-a-request floors")
    args = parser.parse_args()
    if args.requests < args.batch:
        parser.error(f"--requests ({args.requests}) must be at least --batch ({args.batch})")

    import psycopg

    schema = f"himoe_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.postgres, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in args.postgres else "?"
    pg_url = f"{args.postgres}{sep}options=-csearch_path%3D{schema}"
    folder = tempfile.mkdtemp(prefix="himoe-bench-log-")
    experts = [BusyExpert(f"noop-{i}", args.expert_cpu_us) for i in range(4)]
    engines: dict[str, HiMoE] = {}
    try:
        engines = {
            "off": HiMoE(experts=experts, entry_points=False, environ={}, config=config({"enabled": False})),
            "sqlite": HiMoE(
                experts=experts, entry_points=False, environ={}, config=config({"path": f"{folder}/s.sqlite3"})
            ),
            "postgres": HiMoE(experts=experts, entry_points=False, environ={}, config=config({"url": pg_url})),
        }
        if args.floors:
            for side, write in (
                ("handoff only", write_nothing),
                ("one row a request", one_row_writer(f"{folder}/f.db")),
            ):
                moe = HiMoE(
                    experts=experts, entry_points=False, environ={}, config=config({"path": f"{folder}/{side}.sqlite3"})
                )
                moe.trainer._write_batch_once = write  # private: the floors replace the writer's work
                engines[side] = moe
        texts = requests_text(args.requests)
        cpu = trio.run(cpu_side_by_side, engines, texts, args.batch)
        rates = {
            side: trio.run(logged_per_second, engines[side], requests_text(2000)) for side in ("sqlite", "postgres")
        }
        n = 5_000 if args.quick_store else 50_000
        appends = {
            "sqlite": store_appends_per_second(f"{folder}/appends.sqlite3", n),
            "postgres": store_appends_per_second(pg_url, n),
        }
    finally:
        for moe in engines.values():
            moe.close()
        shutil.rmtree(folder, ignore_errors=True)
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

    print(
        f"himoe decision log, {args.requests} requests per side, batches of {args.batch}, experts spinning "
        f"{args.expert_cpu_us} µs each (k = 2), load {os.getloadavg()[0]:.1f}"
    )
    print()
    print("| logging | CPU µs per request (all threads) | vs logging off |")
    print("| --- | ---: | ---: |")
    for side in cpu:
        print(f"| {side} | {cpu[side]:.0f} | {cpu[side] / cpu['off'] - 1:+.1%} |")
    print()
    print("| store | decisions logged/s through the engine (one trio task) | record_decisions alone, batches of 64 |")
    print("| --- | ---: | ---: |")
    for side in ("sqlite", "postgres"):
        print(f"| {side} | {rates[side]:,.0f} | {appends[side]:,.0f} |")


if __name__ == "__main__":
    main()
