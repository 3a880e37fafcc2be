"""Awaiting Ray from trio without a thread per call.

A Ray Serve call gives a ``DeploymentResponse``; once Serve has picked a replica, its result is
an ``ObjectRef``, and ``ObjectRef.future()`` is a ``concurrent.futures.Future``. Both steps end
in a future whose done-callback (run on one of Ray's own threads) wakes the waiting trio task
through ``TrioToken.run_sync_soon``. While a call is in flight it holds no thread of ours: a
thousand calls in flight are a thousand parked trio tasks. When trio cancels the wait (the
request's deadline, a cancelled request), the Ray request is cancelled too
(``DeploymentResponse.cancel()``, which is ``ray.cancel`` on its ObjectRef once it has one).
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

import trio


async def wait_future(future: concurrent.futures.Future) -> Any:
    """The result of `future`, awaited in trio; trio's cancellation leaves the future alone."""
    if not future.done():
        token = trio.lowlevel.current_trio_token()
        task = trio.lowlevel.current_task()
        woken = False

        def wake(_: concurrent.futures.Future) -> None:
            def reschedule() -> None:
                nonlocal woken
                if not woken:  # the wait may have been cancelled (and the task moved on) meanwhile
                    woken = True
                    trio.lowlevel.reschedule(task)

            try:
                token.run_sync_soon(reschedule)
            except trio.RunFinishedError:
                pass

        def abort(_: Any) -> trio.lowlevel.Abort:
            nonlocal woken
            woken = True
            return trio.lowlevel.Abort.SUCCEEDED

        future.add_done_callback(wake)
        await trio.lowlevel.wait_task_rescheduled(abort)
    else:
        await trio.lowlevel.checkpoint()
    return future.result()


async def wait_response(response: Any) -> Any:
    """The result of a Ray Serve ``DeploymentResponse``, awaited in trio; cancelled in Ray when
    trio cancels the wait."""
    try:
        # Serve's assignment of the request to a replica (a concurrent future when the handle is
        # used outside an asyncio loop, as here), then the replica's ObjectRef as a future.
        replica_result = await wait_future(response._replica_result_future)
        return await wait_future(replica_result.to_object_ref().future())
    except trio.Cancelled:
        response.cancel()
        raise
