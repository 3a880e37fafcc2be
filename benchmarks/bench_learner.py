"""One learner for replicas on PostgreSQL (issue 19): replay parity, online parity, snapshot propagation.

    python benchmarks/bench_learner.py            # the GSM8K replay stream, 1,307 prompts (~3 min on 2 cores)
    python benchmarks/bench_learner.py --n 200    # a shorter stream

Needs PostgreSQL (HIMOE_BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test);
each run uses a schema of its own, dropped afterwards.

The GSM8K replay stream (benchmarks/data, as bench_routellm_gsm8k.py) goes through 3 `himoe
serve` processes in learner mode on one PostgreSQL schema, alternating: prompt t is decided by
replica t mod 3 (`POST /v1/route`), and its reward — the recorded correctness of the expert it
picked — is sent to replica t+1 mod 3 (`POST /v1/feedback`). One `himoe learn --every S`
process trains and publishes snapshots meanwhile, S = 0.5 s and 2 s.

- Replay parity: once the learner has consumed the log, its parameters against one inline
  process (HiMoE.feedback on a state file holding the same decisions) fed the same joined
  events in the same order: the largest absolute difference of any parameter.
- Online parity: RouteLLM's APGR of the progressive scores (each prompt ranked by the router's
  estimate of strong minus weak when it routed it, before learning from it) of the 3 replicas,
  against one process that decides and learns inline on the same stream.
- Snapshot propagation: learner's commit → a replica routing with it (`/readyz`'s
  snapshot_lag_s, sampled every 50 ms per replica), p50 and p95.
- Nothing lost (without faults): decisions logged = route requests answered, feedback rows =
  feedback accepted.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent / "tests")]

import bench_routellm_gsm8k as gsm  # noqa: E402
from private_cluster import PrivateCluster, free_port, with_schema  # noqa: E402

from himoe_core import HiMoE  # noqa: E402
from himoe_core.state import DecisionEvent, SqliteStateStore, open_state_store  # noqa: E402
from himoe_core.state.state_schema import split_state  # noqa: E402

SERVER = os.environ.get("HIMOE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
ROUTER = {
    "kind": "linucb",
    "experts": ["weak", "strong"],
    "k": 1,
    "cost_weight": 0.01,
    "encoder": {"id": "hashing", "dim": 256, "word_ngrams": [1, 1]},
}
REPLICAS = 3
SEED = 1
PLUGIN = """
import sys
sys.path.insert(0, {here!r})
from himoe_core import hookimpl
from replay_expert import ReplayExpert

@hookimpl
def register_experts(register):
    register(ReplayExpert("weak", {{}}, 1.0))     # /v1/route decides without calling them
    register(ReplayExpert("strong", {{}}, 20.0))
"""
CONFIG = """
[routers.r]
kind = "linucb"
experts = ["weak", "strong"]
k = 1
cost_weight = 0.01
encoder = {{ id = "hashing", dim = 256, word_ngrams = [1, 1] }}
gating = {{ seed = {seed} }}

[state]
url = "{url}"
learning = "learner"
flush_every = 1
sync_s = {sync}
reward_window_s = 3600
"""


def parameters(state: dict[str, Any]) -> dict[str, np.ndarray]:
    return split_state(state)[1]


def single_process(order: np.ndarray) -> dict[str, Any]:
    """One inline process deciding and learning on the stream: the baseline of online parity."""
    import trio

    moe = HiMoE(
        experts=list(gsm.EXPERTS.values()),
        entry_points=False,
        config={"routers": {"r": {**ROUTER, "gating": {"seed": SEED}}}, "state": {"enabled": False}},
    )
    scores = np.zeros(len(order))

    async def stream() -> None:
        for t, i in enumerate(order):
            decision = await moe.decide(gsm.PROMPTS[i])
            scores[t] = gsm.strong_advantage(moe.traces.get(decision.trace_id) or {})
            picked = moe.traces.get(decision.trace_id)["attempts"][0]["picks"][0]["expert"]
            moe.feedback(decision.trace_id, reward=float((gsm.STRONG_OK if picked == "strong" else gsm.WEAK_OK)[i]))

    trio.run(stream)
    moe.close()
    return {"apgr": gsm.progressive_metrics(scores, order)["apgr"]}


class Cluster:
    """3 `himoe serve` replicas and one `himoe learn` on one schema, as processes."""

    def __init__(self, url: str, folder: Path, sync: float, every: float) -> None:
        plugins = folder / "plugins"
        plugins.mkdir(mode=0o755)
        (plugins / "bench_replay_plugin.py").write_text(PLUGIN.format(here=str(HERE)))
        config = folder / "himoe.toml"
        config.write_text(CONFIG.format(url=url, seed=SEED, sync=sync))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.urls = []
        base = [sys.executable, "-m", "himoe_core", "--plugins-dir", str(plugins)]
        for n in range(REPLICAS):
            port = free_port()
            env = {**os.environ, "HIMOE_STATE_URL": ""}
            self.procs.append(
                subprocess.Popen(
                    [*base, "serve", "--config", str(config), "--port", str(port)],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=open(folder / f"replica-{n}.log", "wb"),  # noqa: SIM115
                )
            )
            self.urls.append(f"http://127.0.0.1:{port}")
        self.learner = subprocess.Popen(
            [*base, "learn", "--config", str(config), "--every", str(every)],
            stdout=open(folder / "learner.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        self.clients = [httpx.Client(base_url=u, timeout=60.0) for u in self.urls]
        deadline = time.monotonic() + 120
        for client in self.clients:
            while True:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"a replica did not start; see {folder}")
                time.sleep(0.1)

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        for proc in [*self.procs, self.learner]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self.procs, self.learner]:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def replicated(order: np.ndarray, url: str, sync: float, every: float) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="himoe-bench-learner-"))
    cluster = Cluster(url, folder, sync, every)
    scores = np.zeros(len(order))
    rewards: dict[str, float] = {}
    answered = accepted = retries = 0
    lags: dict[tuple[int, int], float] = {}
    sampling = threading.Event()

    def sample() -> None:
        probes = [httpx.Client(base_url=u, timeout=10.0) for u in cluster.urls]
        while not sampling.is_set():
            for n, probe in enumerate(probes):
                try:
                    body = probe.get("/readyz").json()
                except (httpx.HTTPError, ValueError):
                    continue
                if body.get("model_version"):
                    lags.setdefault((n, body["model_version"]), body["snapshot_lag_s"])
            sampling.wait(0.05)
        for probe in probes:
            probe.close()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    try:
        for t, i in enumerate(order):
            decider, scorer = cluster.clients[t % REPLICAS], cluster.clients[(t + 1) % REPLICAS]
            answer = decider.post(
                "/v1/route", json={"model": "himoe", "messages": [{"role": "user", "content": gsm.PROMPTS[i]}]}
            )
            answer.raise_for_status()
            answered += 1
            body = answer.json()
            gate = {entry["expert"]: entry.get("estimate", entry["logit"]) for entry in body["gate"]}
            scores[t] = float(gate["strong"] - gate["weak"])
            picked = body["picks"][0]["expert"]
            reward = float((gsm.STRONG_OK if picked == "strong" else gsm.WEAK_OK)[i])
            rewards[body["trace_id"]] = reward
            while True:  # the decider's writer logs the decision a moment after answering
                given = scorer.post("/v1/feedback", json={"trace_id": body["trace_id"], "reward": reward})
                if given.status_code == 200:
                    accepted += 1
                    break
                # Not logged yet (the trace and then its decision): a moment later it is.
                if "unknown trace id" not in given.text and "without the decision record" not in given.text:
                    raise RuntimeError(f"feedback refused: {given.text}")
                retries += 1
                time.sleep(0.01)
        streamed_s = time.monotonic() - started
        store = open_state_store(url)
        try:
            deadline = time.monotonic() + 300
            while True:  # the learner consumes every joined decision
                last = store.joined_decisions(reward_window_s=3600, default_reward=None, now=time.time(), limit=10**7)
                if last and store.learner_position() >= last[-1].position or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            time.sleep(max(1.0, 3 * sync))  # the replicas' follow-up
            sampling.set()
            sampler.join()
            learned = store.load_router("r")
            joined = store.joined_decisions(reward_window_s=3600, default_reward=None, now=time.time(), limit=10**7)
            traces = {j.trace_id: store.trace(j.trace_id) for j in joined}
            logged, feedback_rows = store.count("decisions"), store.count("feedback")
            snapshot = store.snapshot()[0]
        finally:
            store.close()
    finally:
        sampling.set()
        cluster.stop()
    assert learned is not None, "the learner saved no router state"
    # Replay parity: one inline process fed the same joined events in the same order.
    path = folder / "inline.sqlite3"
    copy = SqliteStateStore(str(path))
    for j in joined:
        trace = traces[j.trace_id]
        assert trace is not None
        copy.record_traces([trace])
        copy.record_decisions([DecisionEvent(j.event_id, j.trace_id, j.router, j.record, "copy", 0, j.created)])
    copy.close()
    with HiMoE(
        experts=list(gsm.EXPERTS.values()),
        entry_points=False,
        config={"routers": {"r": {**ROUTER, "gating": {"seed": SEED}}}, "state": {"path": str(path)}},
    ) as inline:
        for j in joined:
            inline.feedback(j.trace_id, reward=rewards[j.trace_id])
        reference = parameters(inline.routers["r"].handle.state_dict() or {})
    mine = parameters(learned[0])
    assert mine.keys() == reference.keys()
    difference = max(float(np.max(np.abs(mine[k] - reference[k]), initial=0.0)) for k in mine)
    lag = np.array(sorted(lags.values())) if lags else np.zeros(1)
    return {
        "apgr": gsm.progressive_metrics(scores, order)["apgr"],
        "parity": difference,
        "events": len(joined),
        "snapshots": snapshot,
        "lag_p50_ms": 1000 * float(np.percentile(lag, 50)),
        "lag_p95_ms": 1000 * float(np.percentile(lag, 95)),
        "lag_samples": len(lags),
        "answered": answered,
        "logged": logged,
        "accepted": accepted,
        "feedback_rows": feedback_rows,
        "feedback_retries": retries,
        "decisions_per_s_per_replica": answered / streamed_s / REPLICAS,
    }


def faults(order: np.ndarray) -> dict[str, Any]:
    """The stream through 3 replicas and 2 learners on a private cluster, while replica 0 is
    SIGKILLed (a quarter in), the leading learner is SIGKILLed (half-way: the standby takes over)
    and PostgreSQL restarts (three quarters in, down for 10 prompts)."""
    import signal

    pg = PrivateCluster()
    folder = Path(tempfile.mkdtemp(prefix="himoe-bench-learner-faults-"))
    cluster = Cluster(pg.url, folder, 0.5, 0.5)
    base = [sys.executable, "-m", "himoe_core", "--plugins-dir", str(folder / "plugins")]
    standby = subprocess.Popen(
        [*base, "learn", "--config", str(folder / "himoe.toml"), "--every", "0.5"],
        stdout=open(folder / "standby.log", "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    live = list(range(REPLICAS))
    answered = accepted = 0
    events: list[str] = []
    down_answer_ms: list[float] = []
    try:
        n = len(order)
        for t, i in enumerate(order):
            if t == n // 4:
                cluster.procs[0].send_signal(signal.SIGKILL)
                live.remove(0)
                events.append(f"replica 0 SIGKILLed at prompt {t}")
            if t == n // 2:
                leader = cluster.learner if "leading" in (folder / "learner.log").read_text() else standby
                leader.send_signal(signal.SIGKILL)
                events.append(f"leading learner SIGKILLed at prompt {t}")
            if t == 3 * n // 4:
                pg.halt()
                events.append(f"PostgreSQL stopped at prompt {t}")
            if t == 3 * n // 4 + 10:
                pg.start()
                events.append(f"PostgreSQL started at prompt {t}")
            down = 3 * n // 4 <= t < 3 * n // 4 + 10
            decider = cluster.clients[live[t % len(live)]]
            scorer = cluster.clients[live[(t + 1) % len(live)]]
            started = time.monotonic()
            answer = decider.post(
                "/v1/route", json={"model": "himoe", "messages": [{"role": "user", "content": gsm.PROMPTS[i]}]}
            )
            answer.raise_for_status()
            answered += 1
            if down:
                down_answer_ms.append(1000 * (time.monotonic() - started))
                continue  # feedback needs the store: not sent while it is down
            body = answer.json()
            picked = body["picks"][0]["expert"]
            reward = float((gsm.STRONG_OK if picked == "strong" else gsm.WEAK_OK)[i])
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                try:
                    given = scorer.post("/v1/feedback", json={"trace_id": body["trace_id"], "reward": reward})
                except httpx.TimeoutException:
                    continue
                if given.status_code == 200:
                    accepted += 1
                    break
                time.sleep(0.05)  # not logged yet, or the store is back a moment later
        store = open_state_store(pg.url)
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                last = store.joined_decisions(reward_window_s=3600, default_reward=None, now=time.time(), limit=10**7)
                if not last or store.learner_position() >= last[-1].position:
                    break
                time.sleep(0.2)
            logged, rows = store.count("decisions"), store.count("feedback")
            caught_up = store.learner_position() >= (last[-1].position if last else 0)
        finally:
            store.close()
    finally:
        if standby.poll() is None:
            standby.terminate()
            standby.wait(timeout=30)
        cluster.stop()
        pg.stop()
    took_over = "leading" in (folder / "standby.log").read_text() and "leading" in (folder / "learner.log").read_text()
    return {
        "answered": answered,
        "logged": logged,
        "accepted": accepted,
        "feedback_rows": rows,
        "learner_caught_up": caught_up,
        "standby_took_over": took_over,
        "events": events,
        "down_answer_ms_max": max(down_answer_ms, default=0.0),
        "down_answer_ms_median": float(np.median(down_answer_ms)) if down_answer_ms else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=0, help="prompts (default: all 1,307)")
    parser.add_argument("--faults", action="store_true", help="the fault run only, on a private cluster")
    args = parser.parse_args()
    gsm.load_data()
    order = gsm.stream_order(SEED, args.n or len(gsm.PROMPTS))
    if args.faults:
        r = faults(order)
        print(
            "; ".join(r["events"])
            + f". Decisions logged {r['logged']} / answered {r['answered']}; feedback rows {r['feedback_rows']} / "
            f"accepted {r['accepted']}; standby took over: {r['standby_took_over']}; learner caught up: "
            f"{r['learner_caught_up']}; answers while PostgreSQL was down: median {r['down_answer_ms_median']:.0f} ms, slowest {r['down_answer_ms_max']:.0f} ms",
            flush=True,
        )
        return
    single = single_process(order)
    print(f"single process (inline): progressive APGR {single['apgr']:.4f}", flush=True)
    for every in (0.5, 2.0):
        schema = f"himoe_bench_{secrets.token_hex(6)}"
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            r = replicated(order, with_schema(SERVER, schema), sync=every, every=every)
        finally:
            with psycopg.connect(SERVER, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        print(
            f"3 replicas + learner, sync every {every:g} s: progressive APGR {r['apgr']:.4f} "
            f"(single {single['apgr']:.4f}, difference {r['apgr'] - single['apgr']:+.4f}); "
            f"replay parity max |Δ| {r['parity']:.2e} over {r['events']} events, {r['snapshots']} snapshots; "
            f"snapshot propagation p50 {r['lag_p50_ms']:.0f} ms, p95 {r['lag_p95_ms']:.0f} ms "
            f"({r['lag_samples']} samples); decisions logged {r['logged']} / answered {r['answered']}, "
            f"feedback rows {r['feedback_rows']} / accepted {r['accepted']} "
            f"({r['feedback_retries']} retries for a decision not yet logged); "
            f"{r['decisions_per_s_per_replica']:.1f} decisions/s per replica",
            flush=True,
        )


if __name__ == "__main__":
    main()
