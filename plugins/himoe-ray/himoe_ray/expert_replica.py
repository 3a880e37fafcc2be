from __future__ import annotations

import asyncio
import inspect
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import wire
from .expert_building import build_from_spec

_GRACE_S = 1.0
"""How long past the caller's deadline a replica lets a call run: the caller cancels it at the
deadline anyway; this only bounds a call whose cancellation was lost (the caller died)."""


class ExpertReplica:
    """One Ray Serve replica of a hosted expert (the deployment's class; runs inside Ray).

    Each call runs in a thread of the replica's own pool (`max_concurrency` threads): a plain
    ``def infer`` directly, an ``async def infer`` under its own ``trio.run``, as it would under
    himoe. When Serve cancels the call (the caller's deadline or cancellation), the call's
    CancelToken is cancelled, which cancels the trio run (and is what a long sync expert polls).
    """

    def __init__(self, spec: dict, max_concurrency: int) -> None:
        self._expert = build_from_spec(spec)
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="himoe-ray-call")
        self._lock = threading.Lock()
        self._counts = {"calls": 0, "cancelled": 0, "in_flight": 0}
        self._state_version = 0
        self._state_lock = asyncio.Lock()

    async def infer(self, request: dict) -> dict:
        from himoe_core import CancelToken

        if request["state"] is not None:
            await self._sync_state(*request["state"])
        token = CancelToken()
        with self._lock:
            self._counts["calls"] += 1
            self._counts["in_flight"] += 1
        call = asyncio.get_running_loop().run_in_executor(self._pool, self._call, request, token)
        try:
            return await asyncio.shield(call)
        except asyncio.CancelledError:
            token.cancel("cancelled by the caller")
            with self._lock:
                self._counts["cancelled"] += 1
            raise

    def _call(self, request: dict, token: Any) -> dict:
        from himoe_core import Context, ExpertOut

        try:
            x = wire.decode_input(request)
            budget_ms = float(request["budget_ms"]) + _GRACE_S * 1000.0
            if inspect.iscoroutinefunction(self._expert.infer):
                result = _run_in_trio(self._expert, x, budget_ms, request["trace_id"], token)
            else:
                result = self._expert.infer(x, Context.start(budget_ms, trace_id=request["trace_id"], cancel=token))
            out = ExpertOut.of(result, cost_units=float(getattr(self._expert, "cost_units", 0.0) or 0.0))
            return wire.encode_out(out)
        except Exception as exc:  # sent back as plain data: the caller raises it as ExpertFailed/InvalidInput
            return wire.encode_error(exc)
        finally:
            with self._lock:
                self._counts["in_flight"] -= 1

    async def _sync_state(self, version: int, ref: list) -> None:
        """Load the caller's learned state when it is newer than this replica's."""
        if version <= self._state_version:
            return
        async with self._state_lock:
            if version > self._state_version:
                state = await ref[0]
                self._expert.load_state_dict(state)
                self._state_version = version

    def stats(self) -> dict:
        """Calls started, cancelled and in flight on this replica, and the state version it uses."""
        import os

        with self._lock:
            return {**self._counts, "state_version": self._state_version, "pid": os.getpid()}

    def warm_up(self) -> bool:
        warm_up = getattr(self._expert, "warm_up", None)
        return (warm_up() is not False) if callable(warm_up) else True  # None (nothing said) is ready


def _run_in_trio(expert: Any, x: Any, budget_ms: float, trace_id: str, token: Any) -> Any:
    import trio

    from himoe_core import Context

    async def main() -> Any:
        ctx = Context.start(budget_ms, trace_id=trace_id, cancel=token)
        trio_token = trio.lowlevel.current_trio_token()
        with trio.CancelScope(deadline=trio.current_time() + budget_ms / 1000.0) as scope:

            def cancel() -> None:
                try:
                    trio_token.run_sync_soon(scope.cancel)
                except trio.RunFinishedError:
                    pass

            unsubscribe = token.on_cancel(cancel)
            try:
                return await expert.infer(x, ctx)
            finally:
                unsubscribe()
        raise TimeoutError("cancelled" if token.is_cancelled() else f"past its deadline on Ray ({budget_ms:g} ms)")

    return trio.run(main)
