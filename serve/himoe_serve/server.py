"""Running the routing app on hypercorn's trio worker, inside a HiMoE's own nursery."""

from __future__ import annotations

import gc
import logging
import signal
from typing import Any

import trio

from himoe_core import HiMoE

from .api_keys import ApiKeys
from .request_tracing import RequestTracing
from .routing_app import RoutingApp
from .serve_settings import ServeSettings

log = logging.getLogger("himoe.serve")

# Hypercorn's own wait for connections once the app has drained: keep-alive connections idle by then.
CLOSE_GRACE_S = 5.0


def build_app(
    moe: HiMoE, settings: ServeSettings, *, keys: ApiKeys | None = None, span_exporter: Any = None, environ: Any = None
) -> RoutingApp:
    """The app for `moe`, with keys from the environment and the keys file, and OpenTelemetry
    when `[serve] otel` is on (`span_exporter` replaces the configured exporter)."""
    keys = keys if keys is not None else ApiKeys.load(settings.keys_file, environ)
    settings.check_exposure(bool(keys))
    tracing = RequestTracing(span_exporter or settings.otel_exporter) if settings.otel else None
    return RoutingApp(moe, settings, keys, tracing=tracing)


async def serve(app: RoutingApp, *, shutdown: trio.Event, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Serve `app` until `shutdown` is set, then drain: `/readyz` turns 503, routing requests in
    flight finish (each within its deadline), connections close. `task_status.started` gets the
    bound URLs (a port of 0 picks a free one)."""
    from hypercorn.config import Config
    from hypercorn.trio import serve as hypercorn_serve

    config = Config()
    config.bind = [app.settings.bind]
    config.accesslog = None  # ours goes through logging, with the trace id
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = CLOSE_GRACE_S
    config.include_server_header = False

    async def drained() -> None:
        await shutdown.wait()
        await app.drain()

    try:
        # RoutingApp reads the ASGI scope as a plain dict; hypercorn types it as TypedDicts
        await hypercorn_serve(app, config, shutdown_trigger=drained, task_status=task_status)  # type: ignore[arg-type]
    finally:
        if app.tracing is not None:
            app.tracing.shutdown()


async def serve_forever(
    moe_options: dict[str, Any], settings: ServeSettings, *, keys: ApiKeys | None = None, announce: Any = print
) -> None:
    """`himoe serve`: open the engine, serve until SIGTERM or SIGINT, drain, flush the traces."""
    async with HiMoE.open(**moe_options) as moe:
        app = build_app(moe, settings, keys=keys)
        # A full collection walks every object the imports and plugins left (~38,000 with numpy and
        # trio: ~20 ms of CPU here) while the event loop waits, and lands on whichever requests are
        # in flight (benchmarks/bench_deadline.py counts them). Freeze that heap once started.
        gc.collect()
        gc.freeze()
        shutdown = trio.Event()
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:

                async def stop_on_signal() -> None:
                    async for signum in signals:
                        log.info("himoe serve: %s received, draining", signal.Signals(signum).name)
                        shutdown.set()
                        return

                async def run_server(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
                    try:
                        await serve(app, shutdown=shutdown, task_status=task_status)
                    finally:
                        nursery.cancel_scope.cancel()  # the signal watcher has nothing left to stop

                nursery.start_soon(stop_on_signal)
                binds = await nursery.start(run_server)
                announce(
                    f"himoe serve: listening on {', '.join(binds)} "
                    f"({len(app.keys)} API key{'s' if len(app.keys) != 1 else ''}; "
                    f"routers: {', '.join(sorted(moe.routers))})"
                )
    # Leaving HiMoE.open waited for the shadows in flight and wrote the pending traces.
    log.info("himoe serve: stopped")
