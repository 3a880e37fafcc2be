from __future__ import annotations

import math
import threading

import trio


class StreamRelay:
    """`ctx.options["stream"]` of a streamed chat request: the pieces of answer a streaming
    expert sends (`stream(expert_name, text)`), queued for the SSE response as they come.

    The first expert to stream owns the relay; pieces from others are dropped (their answers
    still reach the aggregator whole). Callable from the event loop or from a worker thread.
    """

    def __init__(self, completion_id: str, created: int) -> None:
        self.completion_id = completion_id
        self.created = created
        self.owner: str | None = None
        self.streamed: list[str] = []
        self._send, self.receive = trio.open_memory_channel(math.inf)
        self._token = trio.lowlevel.current_trio_token()
        self._lock = threading.Lock()

    def __call__(self, expert: str, text: str) -> None:
        with self._lock:
            if self.owner is None:
                self.owner = expert
            if expert != self.owner or not isinstance(text, str) or not text:
                return
        try:
            trio.lowlevel.current_trio_token()
        except RuntimeError:  # a worker thread
            try:
                self._token.run_sync_soon(self._push, text)
            except trio.RunFinishedError:
                pass
            return
        self._push(text)

    def _push(self, text: str) -> None:
        try:
            self._send.send_nowait(text)
        except (trio.ClosedResourceError, trio.BrokenResourceError):  # the request has ended
            pass

    def close(self) -> None:
        self._send.close()
