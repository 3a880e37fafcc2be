from __future__ import annotations

import threading
from typing import Any

from himoe_core import Context, ExpertFailed, ExpertOut, InputData
from himoe_core.routing import ExpertInfo

from ... import wire
from ...ray_connection import RayConnection
from ...ray_placement import RayPlacement

DEPLOY_WAIT_S = 600.0
"""How long a deployment may take to become ready (a first call is cut by its own deadline
sooner; the deployment goes on, and later calls find it ready)."""


class RayExpert:
    """An expert answered by its Ray Serve deployment, in the place of the local expert.

    It keeps the local expert's name (hence its id), domain, description, example and cost,
    and asks the local instance `can_handle` (cheap, no Ray). `infer` sends plain values to a
    replica and awaits the answer in trio without holding a thread (see trio_bridge); the
    request's deadline and cancellation cancel the call in Ray. Nothing touches Ray before the
    first call or `warm_up()`.
    """

    def __init__(self, local: Any, hosted: RayPlacement, connection: RayConnection, spec: dict) -> None:
        info = ExpertInfo.describe(0, local, "", None)  # type: ignore[arg-type]
        self.name: str = local.name
        self.domain = info.domain
        self.description = info.description
        self.example = info.example
        self.cost_units = float(getattr(local, "cost_units", 0.0) or 0.0)
        # what the local expert declares it handles (its can_handle, asked below, has the last word)
        self.handles = getattr(local, "handles", None)
        self.input_kinds = getattr(local, "input_kinds", None)
        self.hosted = hosted
        self.app = f"himoe-{self.name}"
        self.deployment = f"{self.name}-{hosted.version()}"
        self._local = local
        self._connection = connection
        self._spec = spec
        self._state: tuple[int, list] | None = None
        self._state_lock = threading.Lock()
        self._deploying: threading.Thread | None = None
        self._deploy_error: str | None = None

    def __repr__(self) -> str:
        return f"RayExpert({self.name!r}, address={self._connection.address!r})"

    def can_handle(self, task: str) -> bool:
        return self._connection.unavailable is None and bool(self._local.can_handle(task))

    async def infer(self, x: InputData, ctx: Context) -> ExpertOut:
        import trio

        from ...trio_bridge import wait_response  # here: the entry point stays cheap to import

        handle = await self._handle()
        request = wire.encode_request(
            x, budget_ms=ctx.remaining_ms(), trace_id=ctx.trace_id, state=self._state_for_call()
        )
        try:
            reply = await wait_response(handle.infer.remote(request))
        except trio.Cancelled:
            raise
        except Exception as exc:
            raise ExpertFailed(self.name, _ray_cause(exc)) from exc
        return wire.decode_reply(reply, self.name)

    async def _handle(self) -> Any:
        handle = self._connection._apps.get(f"{self.app}/{self.deployment}")
        if handle is not None:
            return handle
        # Joining Ray and deploying take seconds to minutes: done once, in a background thread,
        # while calls fail at once with the reason (no call waits holding a thread).
        with self._state_lock:
            if self._deploying is None or not self._deploying.is_alive():
                self._deploying = threading.Thread(
                    target=self._deploy_in_background, daemon=True, name=f"himoe-ray-deploy-{self.name}"
                )
                self._deploying.start()
            cause = self._deploy_error
        import trio

        await trio.lowlevel.checkpoint()
        raise ExpertFailed(
            self.name,
            cause or f"the Ray deployment {self.app!r} is not ready yet: it is starting (warm_up() waits for it)",
        )

    def _deploy_in_background(self) -> None:
        try:
            self._deployed(DEPLOY_WAIT_S)
            self._deploy_error = None
        except Exception as exc:  # said by the next call
            self._deploy_error = str(exc)

    def _deployed(self, wait_s: float) -> Any:
        return self._connection.handle(self.app, self.deployment, self._application, wait_s=wait_s)

    def _application(self) -> Any:
        from ray import serve

        from ...expert_replica import ExpertReplica

        deployment = serve.deployment(ExpertReplica, name=self.deployment, **self.hosted.deployment_options())
        # with **options, mypy matches ray's decorator overload; given the class, serve.deployment returns a Deployment
        return deployment.bind(self._spec, self.hosted.max_concurrency)  # type: ignore[attr-defined]

    def _state_for_call(self) -> tuple[int, list] | None:
        return None

    def warm_up(self, wait_s: float | None = DEPLOY_WAIT_S) -> bool:
        """Join Ray and deploy now (instead of on the first request); True once replicas are ready."""
        try:
            handle = self._connection.handle(
                self.app, self.deployment, self._application, wait_s=wait_s or DEPLOY_WAIT_S
            )
        except RuntimeError as exc:
            raise ExpertFailed(self.name, str(exc)) from None
        return bool(handle.warm_up.remote().result())

    def replica_stats(self) -> dict:
        """One replica's counters (calls, cancelled, in_flight, state_version, pid): for tests and ops."""
        handle = self._connection.handle(self.app, self.deployment, self._application, wait_s=DEPLOY_WAIT_S)
        return handle.stats.remote().result()


def _ray_cause(exc: BaseException) -> str:
    """One line saying what went wrong in Ray: a dead replica, a cancelled call, a failed
    (de)serialisation, or the replica's own error."""
    kind = type(exc).__name__
    try:
        message = " ".join(str(exc).split())
    except Exception:
        message = "<unprintable message>"
    if kind in ("ActorDiedError", "RayActorError", "ActorUnavailableError", "WorkerCrashedError", "NodeDiedError"):
        what = "the Ray replica died during the call"
    elif kind in ("TaskCancelledError", "RequestCancelledError"):
        what = "the call was cancelled in Ray"
    elif "serializ" in message.lower() or "pickl" in message.lower():
        what = "the call could not be serialised for Ray"
    else:
        what = "Ray failed the call"
    return f"{what} ({kind}: {message[:400]})"
