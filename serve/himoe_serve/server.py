"""Running the routing app on hypercorn's trio worker, inside a HiMoE's own nursery."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
from collections.abc import Iterator
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
    """`himoe serve`: open the engine, serve until SIGTERM or SIGINT, drain, flush the traces.

    A second SIGTERM or SIGINT during the drain stops now: the routing requests in flight are
    cancelled (each answers 503 `shutting_down` and keeps its trace), and the traces are still
    written before the process exits 0. A third writes the traces and exits 1 at once, leaving
    what still holds the drain (an answer being written to a client that does not read it). A
    signal while the engine opens cancels what it awaits (a state store, say), or drains as soon
    as it listens."""
    shutdown = trio.Event()
    apps: list[RoutingApp] = []  # the app once built: a second signal cancels its requests
    starting = trio.CancelScope()  # cancelled by a signal that comes before the app exists
    # The receiver is left only once HiMoE.open has written the traces, and it re-raises the
    # signals it holds as it closes (trio/_signals.py): handled by a log line, not the default
    # action, which for SIGTERM kills the process.
    with _late_signals_logged(), trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as watching:

            async def watch_signals() -> None:
                received = 0
                async for signum in signals:
                    name = signal.Signals(signum).name
                    received += 1
                    if received == 1 and not apps:
                        log.info("himoe serve: %s received while starting, stopping", name)
                        shutdown.set()
                        starting.cancel()
                    elif received == 1:
                        log.info("himoe serve: %s received, draining", name)
                        shutdown.set()
                    elif received == 2 and apps:
                        log.warning(
                            "himoe serve: %s received again, stopping now: cancelling %d request(s) in flight",
                            name,
                            apps[0].in_flight,
                        )
                        apps[0].stop_now()
                    elif received == 3 and apps:
                        # What still holds the drain cannot be cancelled: an answer being written to
                        # a client that does not read it (hypercorn shields its socket writes).
                        log.warning(
                            "himoe serve: %s received a third time, exiting now: %d request(s) left unanswered; "
                            "writing the traces",
                            name,
                            apps[0].in_flight,
                        )
                        apps[0].moe.close()
                        os._exit(1)
                    else:
                        log.info("himoe serve: %s received again, already stopping", name)

            watching.start_soon(watch_signals)
            try:
                with starting:
                    await _serve_engine(moe_options, settings, keys, announce, shutdown, apps)
            finally:
                watching.cancel_scope.cancel()  # the signal watcher has nothing left to stop
    log.info("himoe serve: stopped")


async def _serve_engine(
    moe_options: dict[str, Any],
    settings: ServeSettings,
    keys: ApiKeys | None,
    announce: Any,
    shutdown: trio.Event,
    apps: list[RoutingApp],
) -> None:
    async with HiMoE.open(**moe_options) as moe:
        app = build_app(moe, settings, keys=keys)
        apps.append(app)
        # A full collection walks every object the imports and plugins left (~38,000 with numpy and
        # trio: ~20 ms of CPU here) while the event loop waits, and lands on whichever requests are
        # in flight (benchmarks/bench_deadline.py counts them). Freeze that heap once started.
        gc.collect()
        gc.freeze()
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(lambda task_status: serve(app, shutdown=shutdown, task_status=task_status))
            announce(
                f"himoe serve: listening on {', '.join(binds)} "
                f"({len(app.keys)} API key{'s' if len(app.keys) != 1 else ''}; "
                f"routers: {', '.join(sorted(moe.routers))})"
            )
    # Leaving HiMoE.open waited for the shadows in flight and wrote the pending traces.


@contextlib.contextmanager
def _late_signals_logged() -> Iterator[None]:
    """SIGTERM and SIGINT logged and ignored instead of their default action, for the signals
    the receiver re-raises as it closes (it restores the handlers found on entry: these)."""

    def late(signum: int, frame: Any) -> None:
        log.info("himoe serve: %s received while stopping, ignored", signal.Signals(signum).name)

    previous = {signum: signal.signal(signum, late) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
