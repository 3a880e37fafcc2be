"""Embed himoe in an asyncio application: a tiny HTTP server, standard library only.

    python docs/examples/embedding/asyncio_app.py            # serve on 127.0.0.1:8000
    curl 'http://127.0.0.1:8000/?q=shout:+hello'
    python docs/examples/embedding/asyncio_app.py --self-test  # start, send 8 requests at once, stop

asyncio and trio cannot share a thread, so the handler calls the thread-safe `run_sync` from
asyncio's thread pool: `await asyncio.to_thread(moe.run_sync, ...)`. The event loop never
blocks; the HiMoE's own trio loop (one background thread) runs every request's experts
concurrently. If the handler task is cancelled (server shutdown, or a framework that cancels
on client disconnect), a CancelToken stops the experts still working on its request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import trio

from himoe_core import (
    CancelToken,
    Context,
    DeadlineExceeded,
    ExpertAux,
    ExpertOut,
    HiMoE,
    InputData,
    InvalidInput,
    MoeError,
    Value,
)


class Shouter:
    """Upper-cases the text after 'shout:', after 100 ms of (simulated) I/O."""

    name = "shouter"

    def can_handle(self, task: str) -> bool:
        return task.startswith("shout:")

    async def infer(self, x: InputData, ctx: Context) -> ExpertOut:
        await trio.sleep(0.1)
        return ExpertOut(Value.text(x.as_text().removeprefix("shout:").strip().upper()), ExpertAux(confidence=0.9))


REASONS = {200: "OK", 400: "Bad Request", 422: "Unprocessable Content", 504: "Gateway Timeout"}
CONFIG = {"himoe": {"budget_ms": 1000}, "routers": {"main": {"experts": ["*"]}}, "state": {"path": ":memory:"}}


def make_handler(moe: HiMoE):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = (await reader.readline()).decode("latin-1")
        while (await reader.readline()).strip():  # skip the headers
            pass
        query = parse_qs(urlsplit(request_line.split(" ")[1] if " " in request_line else "/").query)
        text = query.get("q", [""])[0]
        token = CancelToken()
        try:
            response = await asyncio.to_thread(moe.run_sync, text, cancel=token, budget_ms=500)
            status, body = (
                200,
                {
                    "answer": response.value.to_jsonable(),
                    "router": response.router,
                    "trace_id": response.trace_id,
                    "elapsed_ms": response.elapsed_ms,
                },
            )
        except MoeError as exc:  # every himoe error says what happened in one line
            status = 400 if isinstance(exc, InvalidInput) else 504 if isinstance(exc, DeadlineExceeded) else 422
            body = {"error": f"{type(exc).__name__}: {exc}"}
        except asyncio.CancelledError:
            token.cancel("client went away")  # stops the experts still working on it
            raise
        payload = json.dumps(body).encode()
        writer.write(
            f"HTTP/1.1 {status} {REASONS[status]}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
        writer.close()

    return handle


async def fetch(port: int, text: str) -> dict:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /?q={text.replace(' ', '+')} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])


async def main(port: int, self_test: bool) -> None:
    # to_thread uses the loop's default executor (min(32, cpus + 4) threads): it bounds how many
    # requests wait on himoe at once. Size it for the concurrency you serve.
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=64))
    with HiMoE(experts=[Shouter()], entry_points=False, config=CONFIG) as moe:
        server = await asyncio.start_server(make_handler(moe), "127.0.0.1", 0 if self_test else port)
        async with server:
            if not self_test:
                print(f"serving on http://127.0.0.1:{port}/?q=shout:+hello (Ctrl-C to stop)")
                await server.serve_forever()
            port = server.sockets[0].getsockname()[1]
            started = time.perf_counter()
            texts = [f"shout: request {i}" for i in range(8)] + ["whisper: nobody handles this"]
            results = await asyncio.gather(*(fetch(port, text) for text in texts))
            for text, result in zip(texts, results):
                print(f"{text} -> {result.get('answer', {}).get('data') or result.get('error')}")
            print(
                f"{len(texts)} requests in {1000 * (time.perf_counter() - started):.0f} ms (each answer takes 100 ms)"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--self-test", action="store_true", help="send a few requests to itself, then stop")
    args = parser.parse_args()
    try:
        asyncio.run(main(args.port, args.self_test))
    except KeyboardInterrupt:
        pass
