from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("himoe.ray")

PROBE_TIMEOUT_S = 10.0
DEPLOY_RETRY_S = 30.0
"""After a deployment failed, calls fail at once with its cause for this long, then deploy again."""


def _print_warning(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class RayConnection:
    """This process's way to one Ray cluster: joined (or started) on first use, then each hosted
    expert deployed once as its own Serve application ``himoe-<expert name>``.

    One per address per process (Ray's driver connection is per process). When ray is not
    installed or the cluster cannot be reached, the connection is *unavailable*: one warning
    line names the experts it disables, and they stop accepting requests (`can_handle` is
    False) — the other experts are untouched.
    """

    _by_address: dict[str, RayConnection] = {}
    _registry_lock = threading.Lock()
    _submit_lock = threading.Lock()
    """Held around every Serve call, by every connection of the process: Serve's deployment
    configs register and unregister a module in cloudpickle's process-wide table, which is not
    thread-safe (two at once failed with "not registered for pickle by value")."""

    def __init__(self, address: str, *, label: str, warn: Callable[[str], None] = _print_warning) -> None:
        self.address = address
        self.label = label
        self._warn = warn
        self._lock = threading.Lock()
        self._connected = False
        self.unavailable: str | None = None
        self.expert_names: list[str] = []
        self._apps: dict[str, Any] = {}  # "app/deployment" -> handle once RUNNING
        self._app_locks: dict[str, threading.Lock] = {}
        self._failed: dict[str, tuple[float, str]] = {}

    @classmethod
    def for_address(cls, address: str, *, label: str) -> RayConnection:
        with cls._registry_lock:
            connection = cls._by_address.get(address)
            if connection is None:
                connection = cls._by_address[address] = cls(address, label=label)
            return connection

    def disable(self, cause: str) -> None:
        """Mark Ray unavailable for this process and say so once, in the plugin warning's form."""
        with self._lock:
            if self.unavailable is not None:
                return
            self.unavailable = cause
        names = ", ".join(sorted(self.expert_names)) or "none"
        self._warn(
            f"himoe: warning: plugin {self.label!r}: {cause}; the experts it hosts on Ray are disabled ({names})"
        )

    def connect(self) -> None:
        """Import ray, and join or start the cluster (once; blocking: call it from a thread)."""
        with self._lock:
            if self._connected or self.unavailable is not None:
                return
        try:
            import ray
            from ray import serve
        except ImportError as exc:
            self.disable(f"ray is not installed ({type(exc).__name__}: {exc}); pip install 'ray[serve]'")
            return
        with self._lock:
            if self._connected:
                return
            try:
                self._probe()
                logging.getLogger("ray.serve").setLevel(logging.WARNING)
                if not ray.is_initialized():
                    options: dict[str, Any] = {
                        "address": self.address,
                        "log_to_driver": False,
                        "logging_level": logging.WARNING,
                        "configure_logging": False,
                    }
                    if self.address == "local":
                        options["include_dashboard"] = False
                    ray.init(**options)
                with self._submit_lock:
                    serve.start(proxy_location="Disabled")  # handles only: no HTTP server
                self._connected = True
            except Exception as exc:  # ConnectionError, TimeoutError, AuthenticationError, …
                cause = f"Ray at {self.address!r} is unreachable ({_one_line(exc)})"
        if not self._connected:
            self.disable(cause)

    def _probe(self) -> None:
        """Fail in seconds when nothing listens at a HOST:PORT address (ray.init would retry for
        minutes)."""
        address = self.address.removeprefix("ray://")
        if address in ("local", "auto"):
            return
        host, _, port = address.rpartition(":")
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S).close()

    def handle(self, app: str, deployment: str, build: Callable[[], Any], *, wait_s: float) -> Any:
        """The handle of the Serve application `app` once RUNNING, deploying `build()` first
        unless the cluster already runs it with the same `deployment` (whose name carries the
        settings' version); waits up to `wait_s` seconds (blocking: call it from a thread)."""
        key = f"{app}/{deployment}"  # new settings, new deployment: a handle of the old one is not reused
        handle = self._apps.get(key)
        if handle is not None:
            return handle
        self.connect()
        if self.unavailable is not None:
            raise RuntimeError(self.unavailable)
        with self._registry_lock:
            lock = self._app_locks.setdefault(app, threading.Lock())
        with lock:
            if key in self._apps:
                return self._apps[key]
            failed = self._failed.get(app)
            if failed is not None and time.monotonic() < failed[0] + DEPLOY_RETRY_S:
                raise RuntimeError(failed[1])
            from ray import serve
            from ray.serve.api import RunTarget

            with self._submit_lock:  # Serve's deploy path is not thread-safe (cloudpickle's registry)
                running = serve.status().applications.get(app)
                if running is not None and deployment in running.deployments and _state(running) == "RUNNING":
                    handle = serve.get_app_handle(app)
                else:
                    [handle] = serve.run_many(
                        [RunTarget(build(), name=app, route_prefix=None)],
                        wait_for_ingress_deployment_creation=False,
                        wait_for_applications_running=False,
                    )
            deadline = time.monotonic() + wait_s
            while True:
                with self._submit_lock:
                    status = serve.status().applications.get(app)
                state = _state(status)
                if state == "RUNNING":
                    self._apps[key] = handle
                    self._failed.pop(app, None)
                    return handle
                message = " ".join(str(getattr(status, "message", "") or "").split())[:400]
                if state in ("DEPLOY_FAILED", "UNHEALTHY"):
                    cause = f"the Ray deployment {app!r} is not ready: {state}: {message}"
                    self._failed[app] = (time.monotonic(), cause)
                    raise RuntimeError(cause)
                if time.monotonic() >= deadline:
                    raise RuntimeError(
                        f"the Ray deployment {app!r} is not ready after {wait_s:g} s: {state}"
                        + (f": {message}" if message else "")
                    )
                time.sleep(0.2)


def _state(status: Any) -> str:
    return str(getattr(status, "status", "NOT_STARTED")).rsplit(".", 1)[-1]


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:400]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
