"""A real `himoe serve` app on hypercorn, on 127.0.0.1 and a free port, in a thread of its own."""

from __future__ import annotations

import queue
import threading
from typing import Any

import attrs
import httpx
import pytest
import trio
from himoe_serve import RoutingApp, ServeSettings, build_app, serve

from himoe_core import HiMoE

START_TIMEOUT_S = 120.0  # generous: the machine is shared, and a plugin's first import can be slow


@attrs.define
class RunningServer:
    url: str
    app: RoutingApp
    moe: HiMoE
    _token: Any
    _shutdown: trio.Event
    _thread: threading.Thread

    def client(self, key: str | None = None, **options: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=options.pop("timeout", 60.0), **options)

    def call_in_loop(self, function: Any, *args: Any) -> Any:
        return trio.from_thread.run_sync(function, *args, trio_token=self._token)

    def stop(self) -> None:
        if self._thread.is_alive():
            try:
                self.call_in_loop(self._shutdown.set)
            except trio.RunFinishedError:
                pass
            self._thread.join(timeout=START_TIMEOUT_S)
        assert not self._thread.is_alive(), "the server did not stop"


def start_server(
    *,
    experts: tuple = (),
    config: dict | None = None,
    entry_points: bool = False,
    environ: dict | None = None,
    keys: str | None = None,
    span_exporter: Any = None,
    **settings: Any,
) -> RunningServer:
    config = {"state": {"enabled": False}, **(config or {})}
    config.setdefault("serve", {}).update({"port": 0, **settings})
    started: queue.Queue = queue.Queue()

    async def main() -> None:
        try:
            async with HiMoE.open(
                experts=list(experts), entry_points=entry_points, config=config, environ=environ or {}
            ) as moe:
                app = build_app(
                    moe,
                    ServeSettings.from_config(moe.config),
                    span_exporter=span_exporter,
                    environ={"HIMOE_API_KEYS": keys} if keys else {},
                )
                shutdown = trio.Event()
                async with trio.open_nursery() as nursery:
                    binds = await nursery.start(
                        lambda task_status: serve(app, shutdown=shutdown, task_status=task_status)
                    )
                    started.put((binds[0], app, moe, trio.lowlevel.current_trio_token(), shutdown))
        except BaseException as exc:
            started.put(exc)
            raise

    thread = threading.Thread(target=trio.run, args=(main,), daemon=True)
    thread.start()
    got = started.get(timeout=START_TIMEOUT_S)
    if isinstance(got, BaseException):
        raise got
    url, app, moe, token, shutdown = got
    return RunningServer(url, app, moe, token, shutdown, thread)


@pytest.fixture
def server_factory():
    servers: list[RunningServer] = []

    def factory(**options: Any) -> RunningServer:
        server = start_server(**options)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()
