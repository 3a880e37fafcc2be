from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class StreamedReply:
    """What `HttpCaller.post_json(on_event=...)` returns when the server answered with
    server-sent events: the `data:` events' JSON, in order (a JSON reply is returned as is)."""

    events: tuple[Any, ...]
