"""himoe-ray benchmark, all in one run on one local Ray (2 CPUs):

1. throughput of a CPU-bound expert under concurrent load: `math_sympy` integrals (one sympy
   worker per instance: `[plugins.himoe-math] workers = 1`), in-process vs 1 vs 2 Ray replicas
   (num_cpus = 1 each); target: 2 replicas >= 1.7x of 1;
2. the latency the Ray hop adds per call: a no-op expert (EchoExpert) in-process vs on Ray,
   sequential calls, p50/p99;
3. the trio bridge vs `trio.to_thread.run_sync(response.result)`: many no-op calls in flight
   on one replica, throughput and p50, and the threads each holds.

Beside each throughput figure it prints where the machine's CPU went during the run, by role
(the routing process, its sympy workers, Ray Serve's replicas, controller and proxy, raylet and
GCS, and everything else on the machine), read from /proc: it says whether 2 replicas were short
of cores or short of work.

    python plugins/himoe-ray/benchmarks/bench_ray.py [--requests 24] [--in-flight 8] [--json]

Ray's temporary folder and token live in a temporary directory removed at the end. Other
processes on the machine share its cores: `uptime` is printed beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time

INTEGRALS = [
    "math: integrate x**4*sin(x)*exp(x)",
    "math: integrate x**3*cos(2*x)*exp(x)",
    "math: integrate x**5*exp(-x)*sin(x)",
    "math: integrate x**4*cos(x)*exp(2*x)",
]


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def throughput(moe, requests: int, in_flight: int) -> float:
    import trio

    async def main():
        limiter = trio.CapacityLimiter(in_flight)

        async def one(i):
            async with limiter:
                response = await moe.run(INTEGRALS[i % len(INTEGRALS)], budget_ms=600_000)
                assert response.value.as_json()["result"], response

        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            for i in range(requests):
                nursery.start_soon(one, i)
        return requests / (trio.current_time() - start)

    return trio.run(main)


def cpu_seconds_by_process() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command line, user + system CPU seconds so far), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as file:
                fields = file.read().rsplit(b")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as file:
                command = file.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # exited while being read
        table[int(entry)] = (int(fields[1]), command, (int(fields[11]) + int(fields[12])) / tick)
    return table


def role(pid: int, table: dict) -> str:
    parent, command, _ = table[pid]
    if pid == os.getpid():
        return "routing process"
    for needle, name in (
        ("ServeReplica", "Ray Serve replicas"),
        ("ServeController", "Ray Serve controller"),
        ("ProxyActor", "Ray Serve proxy"),
        ("raylet", "raylet"),
        ("gcs_server", "Ray GCS"),
        ("ray", "other Ray processes"),
    ):
        if needle in command:
            return name
    if parent == os.getpid():
        return "sympy workers of the routing process"
    if parent in table and "ServeReplica" in table[parent][1]:
        return "sympy workers in Ray replicas"
    return "everything else on the machine"


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (processes that came and went included)."""
    with open("/proc/stat") as file:
        fields = [int(value) for value in file.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cores_by_role(before: dict, after: dict, busy: float, seconds: float) -> dict[str, float]:
    """The cores each role kept busy between two snapshots, on average; `busy` is the machine's
    busy CPU seconds in between, so short-lived processes land in "everything else"."""
    used: dict[str, float] = {}
    for pid, (_, _, cpu) in after.items():
        spent = cpu - before[pid][2] if pid in before and before[pid][1] == after[pid][1] else cpu
        name = role(pid, after)
        if name != "everything else on the machine":
            used[name] = used.get(name, 0.0) + spent / seconds
    used["everything else on the machine"] = max(0.0, busy / seconds - sum(used.values()))
    return dict(sorted(used.items(), key=lambda item: -item[1]))


def measured(moe, requests: int, in_flight: int) -> tuple[float, dict[str, float]]:
    before, busy, start = cpu_seconds_by_process(), machine_busy_seconds(), time.perf_counter()
    rate = throughput(moe, requests, in_flight)
    after, busy = cpu_seconds_by_process(), machine_busy_seconds() - busy
    return rate, cores_by_role(before, after, busy, time.perf_counter() - start)


def math_moe(ray_experts: dict | None):
    from himoe_core import HiMoE

    config = {
        "plugins": {"himoe-math": {"workers": 1}},
        "routers": {"r": {"experts": ["math_sympy"], "k": 1}},
        "state": {"enabled": False},
    }
    if ray_experts is not None:
        config["ray"] = {"address": "local", "experts": ray_experts}
    moe = HiMoE(config=config, environ={"HIMOE_LOAD_PLUGINS": "himoe-math,himoe-ray"})
    moe.host.experts.get_by_name("math_sympy").warm_up()
    return moe


def hop_latency(expert, calls: int) -> list[float]:
    import trio

    from himoe_core import Context, InputData

    async def main():
        times = []
        for i in range(calls):
            start = time.perf_counter()
            await expert.infer(InputData.text(f"echo: {i}"), Context.start(60_000.0))
            times.append((time.perf_counter() - start) * 1000)
        return times

    return trio.run(main)


def bridge_vs_thread(handle, calls: int, in_flight: int) -> dict:
    import trio
    from himoe_ray.trio_bridge import wait_response
    from himoe_ray.wire import encode_request

    from himoe_core import InputData

    request = encode_request(InputData.text("echo: x"), budget_ms=60_000.0, trace_id="bench", state=None)
    results = {}
    for how in ("bridge", "to_thread"):

        async def main(how: str = how):
            limiter = trio.CapacityLimiter(in_flight)
            latencies = []
            peak_threads = [threading.active_count()]

            async def one():
                async with limiter:
                    start = time.perf_counter()
                    response = handle.infer.remote(request)
                    if how == "bridge":
                        await wait_response(response)
                    else:
                        await trio.to_thread.run_sync(response.result, limiter=trio.CapacityLimiter(in_flight))
                    latencies.append((time.perf_counter() - start) * 1000)
                    peak_threads[0] = max(peak_threads[0], threading.active_count())

            start = trio.current_time()
            async with trio.open_nursery() as nursery:
                for _ in range(calls):
                    nursery.start_soon(one)
            elapsed = trio.current_time() - start
            return {
                "calls_per_s": calls / elapsed,
                "p50_ms": percentile(latencies, 50),
                "p99_ms": percentile(latencies, 99),
                "peak_threads": peak_threads[0],
            }

        trio.run(main)  # warm
        results[how] = trio.run(main)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=24)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--hop-calls", type=int, default=300)
    parser.add_argument("--bridge-calls", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    base = tempfile.mkdtemp(prefix="himoe-ray-bench-")
    token = os.path.join(base, "auth_token")
    with open(token, "w") as file:
        file.write(secrets.token_hex(32))
    os.environ.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": token, "RAY_USAGE_STATS_ENABLED": "0"})
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _temp_dir=os.path.join(base, "t"),
        log_to_driver=False,
        logging_level="warning",
        object_store_memory=200 * 1024 * 1024,
    )
    figures: dict = {"uptime_before": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()}
    try:
        local = math_moe(None)
        throughput(local, 4, 2)  # warm
        figures["in_process_req_per_s"], figures["in_process_cores"] = measured(local, args.requests, args.in_flight)
        local.close()
        for replicas in (1, 2):
            moe = math_moe(
                {
                    "math_sympy": {
                        "replicas": replicas,
                        "num_cpus": 1,
                        "max_concurrency": max(1, args.in_flight // replicas),
                    }
                }
            )
            throughput(moe, 4, 2)
            rate, cores = measured(moe, args.requests, args.in_flight)
            figures[f"ray_{replicas}_replica_req_per_s"], figures[f"ray_{replicas}_replica_cores"] = rate, cores
            moe.close()
            from ray import serve

            serve.delete("himoe-math_sympy")
        figures["ratio_2_over_1"] = figures["ray_2_replica_req_per_s"] / figures["ray_1_replica_req_per_s"]

        from himoe_core import HiMoE
        from himoe_core.testing import EchoExpert

        echo = HiMoE(
            config={
                "ray": {
                    "address": "local",
                    "experts": {
                        "himoe_core.testing:EchoExpert": {
                            "kwargs": {"name": "ray_echo", "prefix": "echo:"},
                            "num_cpus": 0.5,
                            "max_concurrency": 64,
                        }
                    },
                },
                "state": {"enabled": False},
            },
            environ={"HIMOE_LOAD_PLUGINS": "himoe-ray"},
        )
        remote = echo.host.experts.get_by_name("ray_echo")
        remote.warm_up()
        in_process = hop_latency(EchoExpert("local_echo", prefix="echo:"), args.hop_calls)
        on_ray = hop_latency(remote, args.hop_calls)
        figures["hop_ms"] = {
            "in_process_p50": percentile(in_process, 50),
            "in_process_p99": percentile(in_process, 99),
            "ray_p50": percentile(on_ray, 50),
            "ray_p99": percentile(on_ray, 99),
            "added_p50": percentile(on_ray, 50) - percentile(in_process, 50),
            "added_p99": percentile(on_ray, 99) - percentile(in_process, 99),
        }
        handle = remote._connection._apps[f"{remote.app}/{remote.deployment}"]
        figures["bridge_vs_to_thread"] = bridge_vs_thread(handle, args.bridge_calls, 64)
        echo.close()
    finally:
        figures["uptime_after"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        ray.shutdown()
        shutil.rmtree(base, ignore_errors=True)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"machine load: {figures['uptime_before']}  ->  {figures['uptime_after']}")
    print(f"math_sympy integrals, {args.requests} requests, {args.in_flight} in flight:")
    print(f"  in-process (1 sympy worker)  {figures['in_process_req_per_s']:.2f} req/s")
    print(f"  Ray, 1 replica               {figures['ray_1_replica_req_per_s']:.2f} req/s")
    print(
        f"  Ray, 2 replicas              {figures['ray_2_replica_req_per_s']:.2f} req/s  "
        f"({figures['ratio_2_over_1']:.2f}x of 1; target >= 1.7x)"
    )
    for run in ("in_process", "ray_1_replica", "ray_2_replica"):
        spent = ", ".join(f"{name} {cores:.2f}" for name, cores in figures[f"{run}_cores"].items() if cores >= 0.01)
        print(f"  cores busy during {run.replace('_', ' ')}: {spent}")
    hop = figures["hop_ms"]
    print(
        f"Ray hop, no-op expert, {args.hop_calls} sequential calls: in-process p50 {hop['in_process_p50']:.3f} ms "
        f"p99 {hop['in_process_p99']:.3f} ms; on Ray p50 {hop['ray_p50']:.2f} ms p99 {hop['ray_p99']:.2f} ms "
        f"(added p50 {hop['added_p50']:.2f} ms, p99 {hop['added_p99']:.2f} ms)"
    )
    for how, row in figures["bridge_vs_to_thread"].items():
        print(
            f"{how:>9}: {args.bridge_calls} no-op calls, 64 in flight: {row['calls_per_s']:.0f} calls/s, "
            f"p50 {row['p50_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms, peak threads {row['peak_threads']}"
        )


if __name__ == "__main__":
    main()
