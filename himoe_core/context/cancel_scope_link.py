"""Bridge a thread-safe CancelToken to the trio cancel scope of the current run."""

from __future__ import annotations

from typing import Callable

import trio

from .cancel_token import CancelToken


def link_cancel_scope(token: CancelToken, scope: trio.CancelScope) -> Callable[[], None]:
    """Cancel `scope` as soon as `token` is cancelled, from whatever thread cancels it.

    Call from inside the trio run that owns `scope`; returns the function that unlinks them.
    """
    trio_token = trio.lowlevel.current_trio_token()

    def cancel() -> None:
        try:
            trio_token.run_sync_soon(scope.cancel)
        except trio.RunFinishedError:
            pass

    return token.on_cancel(cancel)
