"""`himoe serve`: the routing service lives in the himoe-serve distribution, imported only here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

# The modules a missing `himoe-serve` (or a broken install of it) shows up as.
SERVE_MODULES = {"himoe_serve", "hypercorn", "prometheus_client", "h11", "h2", "wsproto", "priority"}


def add_serve_command(add_command: Callable[..., argparse.ArgumentParser]) -> None:
    serve = add_command("serve", help="serve OpenAI-compatible chat completions, routed (needs himoe-serve)")
    serve.add_argument("--config", metavar="FILE", help="a himoe TOML config (its [serve] table too)")
    serve.add_argument("--host", help="the address to listen on (default: [serve] host, 127.0.0.1)")
    serve.add_argument("--port", type=_port, help="the TCP port (default: [serve] port, 8000; 0: any free port)")
    serve.add_argument(
        "--allow-public-without-keys", action="store_true", help="listen beyond loopback even though no API key is set"
    )
    serve.set_defaults(handler=_serve)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port 0..65535, got {text!r}")
    return int(text)


def _serve(args: argparse.Namespace) -> Any:
    try:
        from himoe_serve.serve_command import run_command
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in SERVE_MODULES:
            raise
        print(
            f"himoe: error: `himoe serve` needs the himoe-serve distribution (module {exc.name!r} is missing): "
            "pip install 'himoe[serve]'",
            file=sys.stderr,
        )
        return 1
    from .stderr_log_handler import StderrLogHandler

    StderrLogHandler.uninstall()  # the server logs through `logging`, with times; not twice
    return run_command(args)
