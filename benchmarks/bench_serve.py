"""`himoe serve` under load, against calling the same no-op expert in-process, with LiteLLM's
proxy (mock_response) and RouteLLM's OpenAI server (random router) side by side in one run.

    python benchmarks/bench_serve.py                     # himoe serve + in-process (peers when found)
    python benchmarks/bench_serve.py --litellm /tmp/bench-litellm/bin/python \\
                                     --routellm /tmp/bench-routellm/bin/python
    python benchmarks/bench_serve.py --quick             # smoke run: tiny counts, figures meaningless

The peers are never installed into the project: make throwaway venvs under /tmp and point the
options at their interpreters, e.g.

    uv venv /tmp/bench-litellm && VIRTUAL_ENV=/tmp/bench-litellm uv pip install 'litellm[proxy]'
    uv venv /tmp/bench-routellm && VIRTUAL_ENV=/tmp/bench-routellm uv pip install 'routellm[serve]'

A peer that is not given, does not start or does not answer is reported with the reason.

The load generator is a second process (this file with `load`): a fixed number of OpenAI chat
requests over keep-alive HTTP/1.1 connections on loopback, at a fixed concurrency, stopped early
at a fixed duration. Each server is measured alone (one at a time) with the same generator and
the same load: first one connection (latency), then `--concurrency` connections (requests/s).
"Added latency" is a server's latency percentile minus that of `await moe.run(...)` on the same
no-op expert in-process. Progress goes to stderr, the report (markdown) to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

PROMPT = "hello"
READY_TIMEOUT_S = 300.0  # a peer's first start imports a lot; generous on a shared machine


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100.0 * (len(ordered) - 1))))
    return ordered[index]


# -- the load generator (a second process) ------------------------------------------------------------
async def _one_connection(host: str, port: int, request: bytes, state: dict[str, Any]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while state["started"] < state["count"] and time.perf_counter() < state["stop_at"]:
            state["started"] += 1
            began = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(b":") for line in head.split(b"\r\n")[1:] if line)
            }
            if b"content-length" in headers:
                await reader.readexactly(int(headers[b"content-length"]))
            elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
                while True:
                    size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            else:
                raise RuntimeError("a reply with neither Content-Length nor chunked encoding")
            state["latencies"].append((time.perf_counter() - began) * 1000.0)
            if status != 200:
                state["errors"][str(status)] = state["errors"].get(str(status), 0) + 1
    finally:
        writer.close()


async def _load(
    url: str, body: str, count: int, concurrency: int, duration_s: float, warmup: int, headers: list[str]
) -> dict[str, Any]:
    host, port = url.removeprefix("http://").split("/")[0].rsplit(":", 1)
    path = "/" + url.removeprefix("http://").split("/", 1)[1]
    payload = body.encode()
    extra = "".join(f"{h}\r\n" for h in headers)
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n{extra}"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    if warmup:
        warm = {
            "started": 0,
            "count": warmup,
            "stop_at": time.perf_counter() + duration_s,
            "latencies": [],
            "errors": {},
        }
        await asyncio.gather(*(_one_connection(host, int(port), request, warm) for _ in range(concurrency)))
    state = {"started": 0, "count": count, "stop_at": time.perf_counter() + duration_s, "latencies": [], "errors": {}}
    began = time.perf_counter()
    await asyncio.gather(*(_one_connection(host, int(port), request, state) for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    done = len(state["latencies"])
    return {
        "requests": done,
        "errors": state["errors"],
        "seconds": elapsed,
        "rps": done / elapsed,
        "p50_ms": percentile(state["latencies"], 50),
        "p99_ms": percentile(state["latencies"], 99),
    }


def run_load(
    url: str,
    body: dict[str, Any],
    *,
    count: int,
    concurrency: int,
    duration_s: float,
    warmup: int,
    headers: list[str] = (),
) -> dict[str, Any]:
    """Run the generator in a second process and return its figures."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "load",
        "--url",
        url,
        "--body",
        json.dumps(body),
        "--count",
        str(count),
        "--concurrency",
        str(concurrency),
        "--duration",
        str(duration_s),
        "--warmup",
        str(warmup),
    ]
    for header in headers:
        command += ["--header", header]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration_s * 2 + 120)
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout)


# -- an upstream stub for RouteLLM (a third process) ----------------------------------------------------
STUB_REPLY = {
    "id": "chatcmpl-stub",
    "object": "chat.completion",
    "created": 0,
    "model": "stub",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


async def _stub(port: int) -> None:
    """The cheapest OpenAI-compatible upstream: any request, the same chat completion."""
    body = json.dumps(STUB_REPLY).encode()
    reply = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        await reader.readexactly(int(line.split(b":", 1)[1]))
                writer.write(reply)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


# -- in-process baseline -------------------------------------------------------------------------------
def in_process(count: int, concurrency: int, warmup: int) -> dict[str, Any]:
    """`await moe.run(...)` on the no-op expert, `concurrency` tasks at a time, in one trio run."""
    import trio
    from noop_expert import NoopExpert

    from himoe_core import HiMoE

    async def main() -> dict[str, Any]:
        async with HiMoE.open(
            experts=[NoopExpert("noop")], entry_points=False, config={"state": {"enabled": False}}
        ) as moe:

            async def shape(n: int, tasks: int) -> dict[str, Any]:
                latencies: list[float] = []
                left = [n]

                async def worker() -> None:
                    while left[0] > 0:
                        left[0] -= 1
                        began = time.perf_counter()
                        await moe.run(PROMPT)
                        latencies.append((time.perf_counter() - began) * 1000.0)

                began = time.perf_counter()
                async with trio.open_nursery() as nursery:
                    for _ in range(tasks):
                        nursery.start_soon(worker)
                elapsed = time.perf_counter() - began
                return {
                    "requests": n,
                    "errors": {},
                    "seconds": elapsed,
                    "rps": n / elapsed,
                    "p50_ms": percentile(latencies, 50),
                    "p99_ms": percentile(latencies, 99),
                }

            await shape(warmup, concurrency)
            return {"latency": await shape(count, 1), "throughput": await shape(count, concurrency)}

    return trio.run(main)


# -- the servers -------------------------------------------------------------------------------------------
NOOP_PLUGIN = textwrap.dedent('''
    """The benchmark's no-op expert as a plugin file, for `himoe serve`."""
    import sys

    sys.path.insert(0, {here!r})

    from himoe_core import hookimpl
    from noop_expert import NoopExpert


    @hookimpl
    def register_experts(register):
        register(NoopExpert("noop"))
''')


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, timeout: float = READY_TIMEOUT_S) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"it exited with status {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"not ready within {timeout:.0f} s")


KEY = "sk-bench-0123456789abcdef0123456789"  # servers that take keys are measured with one
AUTH = f"Authorization: Bearer {KEY}"


def himoe_server(folder: Path, *, state: bool = False) -> dict[str, Any]:
    """`himoe serve` on the no-op expert; with `state`, its default SQLite state file on (every
    trace and decision written by the trace writer), in `folder`."""
    plugins = folder / "plugins"
    plugins.mkdir(exist_ok=True)
    (plugins / "bench_noop_plugin.py").write_text(NOOP_PLUGIN.format(here=str(HERE)))
    port = free_port()
    config = folder / ("himoe-state.toml" if state else "himoe.toml")
    state_table = f'path = "{folder / "state.sqlite3"}"' if state else "enabled = false"
    config.write_text(f'[himoe]\nplugins_dir = "{plugins}"\n\n[state]\n{state_table}\n\n[serve]\nport = {port}\n')
    himoe = Path(sys.executable).parent / "himoe"
    return {
        "command": [str(himoe), "serve", "--config", str(config)],
        "env": {"HIMOE_LOAD_PLUGINS": "bench-noop-plugin", "HIMOE_API_KEYS": KEY},
        "ready": f"http://127.0.0.1:{port}/readyz",
        "url": f"http://127.0.0.1:{port}/v1/chat/completions",
        "body": {"model": "himoe", "messages": [{"role": "user", "content": PROMPT}]},
    }


def stub_server() -> dict[str, Any]:
    port = free_port()
    return {
        "command": [sys.executable, str(Path(__file__).resolve()), "stub", "--port", str(port)],
        "env": {},
        "ready": f"http://127.0.0.1:{port}/",
        "url": f"http://127.0.0.1:{port}/v1/chat/completions",
        "body": {"model": "stub", "messages": [{"role": "user", "content": PROMPT}]},
    }


def litellm_server(python: str, folder: Path) -> dict[str, Any]:
    port = free_port()
    config = folder / "litellm.yaml"
    config.write_text(
        textwrap.dedent("""
        model_list:
          - model_name: mock
            litellm_params:
              model: openai/mock
              api_key: unused
              mock_response: "hello"
    """)
    )
    return {
        "command": [
            str(Path(python).parent / "litellm"),
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        "env": {"LITELLM_MASTER_KEY": KEY, "LITELLM_LOG": "ERROR"},
        "ready": f"http://127.0.0.1:{port}/health/liveliness",
        "url": f"http://127.0.0.1:{port}/v1/chat/completions",
        "body": {"model": "mock", "messages": [{"role": "user", "content": PROMPT}]},
    }


def routellm_server(python: str, folder: Path, upstream: str) -> dict[str, Any]:
    """RouteLLM's openai_server, bound to loopback (its __main__ binds 0.0.0.0) with uvicorn as
    its __main__ runs it. Its request model drops unknown fields, so litellm's mock_response
    cannot reach litellm: the routed completion goes to `upstream`, the stub."""
    port = free_port()
    launch = (
        "import sys; sys.argv = ['openai_server', '--routers', 'random', '--strong-model', 'openai/strong-mock', "
        f"'--weak-model', 'openai/weak-mock', '--base-url', {upstream!r}, '--api-key', 'unused']; "
        "import uvicorn; from routellm import openai_server; "
        f"uvicorn.run(openai_server.app, host='127.0.0.1', port={port})"
    )
    return {
        "command": [python, "-c", launch],
        "env": {"OPENAI_API_KEY": "unused"},
        "ready": f"http://127.0.0.1:{port}/docs",
        "url": f"http://127.0.0.1:{port}/v1/chat/completions",
        "body": {"model": "router-random-0.5", "messages": [{"role": "user", "content": PROMPT}]},
    }


class Started:
    """A server process, its log, stopped on exit."""

    def __init__(self, name: str, spec: dict[str, Any], folder: Path) -> None:
        self.name, self.spec = name, spec
        self.log_path = folder / f"{name.split()[0]}.log"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            spec["command"], stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **spec["env"]}, cwd=folder
        )

    def __enter__(self) -> Started:
        try:
            say(f"{self.name}: starting")
            wait_ready(self.spec["ready"], self.process)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def last_line(self) -> str:
        lines = [line for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]
        return lines[-1][:300] if lines else "no output"


def measure(name: str, spec: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    url, body = spec["url"], spec["body"]
    probe = run_load(url, body, count=1, concurrency=1, duration_s=60, warmup=0, headers=[AUTH])
    if probe["errors"]:
        raise RuntimeError(f"it answered a chat request with HTTP {', '.join(probe['errors'])}")
    say(f"{name}: latency, {args.latency_count} requests on one connection")
    latency = run_load(
        url, body, count=args.latency_count, concurrency=1, duration_s=args.duration, warmup=args.warmup, headers=[AUTH]
    )
    say(f"{name}: throughput, {args.count} requests on {args.concurrency} connections")
    throughput = run_load(
        url,
        body,
        count=args.count,
        concurrency=args.concurrency,
        duration_s=args.duration,
        warmup=args.warmup,
        headers=[AUTH],
    )
    return {"latency": latency, "throughput": throughput, "load": os.getloadavg()[0]}


# -- the report --------------------------------------------------------------------------------------------
def report(results: dict[str, Any], failures: dict[str, str], args: argparse.Namespace, loads: list[float]) -> str:
    base = results["in-process (await moe.run)"]
    himoe = results.get("himoe serve")
    lines = [
        f"Load: {args.count} requests on {args.concurrency} keep-alive connections (throughput) and "
        f"{args.latency_count} on one (latency), after {args.warmup} warm-up requests, each run capped at "
        f"{args.duration:g} s; loopback, generator in a second process. Load average during the run: "
        f"{min(loads):.1f}–{max(loads):.1f} on {os.cpu_count()} CPUs (shared machine).",
        "",
        "| target | req/s | p50 ms (1 conn) | p99 ms (1 conn) | added p50 / p99 ms | p50 / p99 ms "
        f"({args.concurrency} conns) | errors | himoe serve req/s ÷ this |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, result in results.items():
        lat, thr = result["latency"], result["throughput"]
        added = (
            "—"
            if name == next(iter(results))
            else f"{lat['p50_ms'] - base['latency']['p50_ms']:.2f} / {lat['p99_ms'] - base['latency']['p99_ms']:.2f}"
        )
        ratio = f"{himoe['throughput']['rps'] / thr['rps']:.2f}×" if himoe else "—"
        errors = {**lat["errors"], **thr["errors"]}
        lines.append(
            f"| {name} | {thr['rps']:,.0f} | {lat['p50_ms']:.2f} | {lat['p99_ms']:.2f} | {added} | "
            f"{thr['p50_ms']:.2f} / {thr['p99_ms']:.2f} | {sum(errors.values()) or 0} | {ratio} |"
        )
    for name, why in failures.items():
        lines.append(f"| {name} | not measured: {why} | | | | | | |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv[:1] == ["stub"]:
        asyncio.run(_stub(int(argv[argv.index("--port") + 1])))
        return 0
    if argv[:1] == ["load"]:
        parser = argparse.ArgumentParser(prog="bench_serve.py load")
        parser.add_argument("--url", required=True)
        parser.add_argument("--body", required=True)
        parser.add_argument("--count", type=int, required=True)
        parser.add_argument("--concurrency", type=int, required=True)
        parser.add_argument("--duration", type=float, required=True)
        parser.add_argument("--warmup", type=int, default=0)
        parser.add_argument("--header", action="append", default=[])
        a = parser.parse_args(argv[1:])
        print(json.dumps(asyncio.run(_load(a.url, a.body, a.count, a.concurrency, a.duration, a.warmup, a.header))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=5000, help="requests per throughput run (default 5000)")
    parser.add_argument("--latency-count", type=int, default=1000, help="requests per latency run (default 1000)")
    parser.add_argument("--concurrency", type=int, default=32, help="connections in the throughput run (default 32)")
    parser.add_argument("--duration", type=float, default=60.0, help="cap on each run, seconds (default 60)")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up requests before each run (default 200)")
    parser.add_argument("--litellm", metavar="PYTHON", help="the interpreter of a venv with litellm[proxy]")
    parser.add_argument("--routellm", metavar="PYTHON", help="the interpreter of a venv with routellm[serve]")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny counts, no peers")
    args = parser.parse_args(argv)
    if args.quick:
        args.count, args.latency_count, args.concurrency, args.warmup, args.duration = 60, 30, 4, 10, 30.0
        args.litellm = args.routellm = None
    loads = [os.getloadavg()[0]]
    results: dict[str, Any] = {}
    failures: dict[str, str] = {}
    say("in-process baseline")
    results["in-process (await moe.run)"] = in_process(args.count, args.concurrency, args.warmup)
    with tempfile.TemporaryDirectory(prefix="himoe-bench-serve-") as tmp:
        folder = Path(tmp)
        targets = [
            ("himoe serve", lambda: himoe_server(folder)),
            ("himoe serve, state on (SQLite)", lambda: himoe_server(folder, state=True)),
        ]
        if args.litellm is None:
            failures["LiteLLM proxy (mock_response)"] = (
                "skipped (--quick)" if args.quick else "no venv given (--litellm)"
            )
        elif not Path(args.litellm).exists():
            failures["LiteLLM proxy (mock_response)"] = f"{args.litellm} does not exist (did its install fail?)"
        else:
            targets.append(("LiteLLM proxy (mock_response)", lambda: litellm_server(args.litellm, folder)))
        for name, build in targets:
            try:
                with Started(name, build(), folder) as server:
                    try:
                        results[name] = measure(name, server.spec, args)
                    except Exception as exc:
                        raise RuntimeError(f"{exc}; its last log line: {server.last_line()}") from None
            except Exception as exc:
                failures[name] = str(exc)
                say(f"{name}: {exc}")
        name = "RouteLLM openai_server (random) + upstream stub"
        if args.routellm is None:
            failures[name] = "skipped (--quick)" if args.quick else "no venv given (--routellm)"
        elif not Path(args.routellm).exists():
            failures[name] = f"{args.routellm} does not exist (did its install fail?)"
        else:
            try:
                with Started("upstream stub alone", stub_server(), folder) as stub:
                    results["upstream stub alone (RouteLLM's upstream)"] = measure("upstream stub", stub.spec, args)
                    upstream = stub.spec["url"].removesuffix("/chat/completions")
                    with Started(name, routellm_server(args.routellm, folder, upstream), folder) as server:
                        try:
                            results[name] = measure(name, server.spec, args)
                        except Exception as exc:
                            raise RuntimeError(f"{exc}; its last log line: {server.last_line()}") from None
            except Exception as exc:
                failures[name] = str(exc)
                say(f"{name}: {exc}")
        for result in results.values():
            if "load" in result:
                loads.append(result["load"])
    print(report(results, failures, args, loads))
    return 0 if "himoe serve" in results else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
