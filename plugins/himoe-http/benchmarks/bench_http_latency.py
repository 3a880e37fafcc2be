"""Latency of the himoe-http experts against a loopback OpenAI-style server, side by side with a
bare httpx.AsyncClient doing the same POST (the baseline).

    python plugins/himoe-http/benchmarks/bench_http_latency.py [--warm N] [--cold N] [--json]

Measures, per call, wall-clock ms of `await expert.infer(...)`:

- first call: the first call in this process (imports httpx, builds the client, connects);
- cold: a new expert for every call (new connection pool: client + TCP connect each time);
- warm: one expert reused in one trio run (pooled keep-alive connection);
- baseline: a reused bare httpx.AsyncClient POSTing the same body and parsing the JSON.

The server answers at once, so the figures are the client-side overhead plus loopback I/O.
Everything runs on 127.0.0.1 and the loops are bounded.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ChatHandler(BaseHTTPRequestHandler):
    """An OpenAI-style chat completion endpoint that answers immediately."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # one reply is two writes (headers, body): no 40 ms Nagle stall

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        answer = "you said: " + body["messages"][-1]["content"]
        reply = json.dumps(
            {
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 12, "completion_tokens": len(answer.split())},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(samples: list[float]) -> dict:
    return {
        "n": len(samples),
        "p50_ms": statistics.median(samples),
        "p90_ms": percentile(samples, 0.9),
        "min_ms": min(samples),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", type=int, default=300, help="warm calls (default 300)")
    parser.add_argument("--cold", type=int, default=40, help="cold calls (default 40)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)

    import trio
    from himoe_http import HttpPluginConfig

    from himoe_core import Context, InputData

    server = ThreadingHTTPServer(("127.0.0.1", 0), ChatHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1/chat/completions"
    table = {
        "experts": {
            "local_llm": {
                "kind": "openai-chat",
                "url": url,
                "model": "bench",
                "tasks": ["chat:"],
                "price_per_1k_input": 0.5,
                "price_per_1k_output": 1.5,
            }
        }
    }

    def new_expert():
        return HttpPluginConfig.parse(table).build_experts()[0]

    x = InputData.text("chat: how fast is loopback?")
    results: dict[str, dict] = {}
    try:

        async def first_call() -> float:
            expert = new_expert()
            ctx = Context.start(5000)
            started = time.perf_counter()
            await expert.infer(x, ctx)
            return (time.perf_counter() - started) * 1000.0

        results["first call"] = summary([trio.run(first_call)])

        async def cold() -> list[float]:
            samples = []
            for _ in range(args.cold):
                expert = new_expert()
                ctx = Context.start(5000)
                started = time.perf_counter()
                await expert.infer(x, ctx)
                samples.append((time.perf_counter() - started) * 1000.0)
                await expert.aclose()
            return samples

        results["cold"] = summary(trio.run(cold))

        async def warm() -> list[float]:
            expert = new_expert()
            await expert.infer(x, Context.start(5000))  # open the pooled connection
            samples = []
            for _ in range(args.warm):
                ctx = Context.start(5000)  # made by the engine, not the expert: outside the timing
                started = time.perf_counter()
                out = await expert.infer(x, ctx)
                samples.append((time.perf_counter() - started) * 1000.0)
            assert out.value.as_text() == "you said: how fast is loopback?"
            return samples

        results["warm"] = summary(trio.run(warm))

        async def baseline() -> list[float]:
            import httpx

            body = {"model": "bench", "messages": [{"role": "user", "content": "how fast is loopback?"}]}
            async with httpx.AsyncClient() as client:
                await client.post(url, json=body)
                samples = []
                for _ in range(args.warm):
                    started = time.perf_counter()
                    reply = await client.post(url, json=body, timeout=5.0)
                    reply.json()["choices"][0]["message"]["content"]
                    samples.append((time.perf_counter() - started) * 1000.0)
            return samples

        results["baseline (bare httpx, warm)"] = summary(trio.run(baseline))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    ratio = results["warm"]["p50_ms"] / results["baseline (bare httpx, warm)"]["p50_ms"]
    if args.json:
        json.dump({"results": results, "warm_over_baseline_p50": ratio}, sys.stdout, indent=2)
        print()
        return 0
    print(f"{'case':<30} {'n':>5} {'p50 ms':>8} {'p90 ms':>8} {'min ms':>8}")
    for name, row in results.items():
        print(f"{name:<30} {row['n']:>5} {row['p50_ms']:>8.2f} {row['p90_ms']:>8.2f} {row['min_ms']:>8.2f}")
    print(f"warm expert / bare httpx (p50): {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
