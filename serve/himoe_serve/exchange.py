from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from himoe_core import CancelToken

from .api_error import ApiError
from .client_gone import ClientGone
from .log_text import is_plain

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

JSON_TYPE = b"application/json"


class Exchange:
    """One HTTP request and its response over ASGI, with what the access log and the metrics
    report about it (status, trace id, router)."""

    __slots__ = ("scope", "_receive", "_send", "status", "trace_id", "router", "started", "disconnected", "_headers")

    def __init__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self.status = 0
        self.trace_id: str | None = None
        self.router = ""
        self.started = False
        self.disconnected = False
        self._headers: dict[bytes, bytes] | None = None

    def header(self, name: bytes) -> bytes | None:
        if self._headers is None:
            self._headers = {k.lower(): v for k, v in self.scope.get("headers", ())}
        return self._headers.get(name)

    async def read_body(self, limit: int) -> bytes:
        """The whole request body; 413 beyond `limit` bytes (refused before reading when the
        declared length already says so)."""
        declared = self.header(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ApiError(
                413,
                f"the request body is {int(declared)} bytes; the limit is {limit} bytes ([serve] max_body_bytes)",
                code="body_too_large",
            )
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                raise ClientGone()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise ApiError(
                    413, f"the request body is over {limit} bytes ([serve] max_body_bytes)", code="body_too_large"
                )
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def read_json(self, limit: int) -> Any:
        body = await self.read_body(limit)
        try:
            return json.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise ApiError(400, f"the request body is not valid JSON: {exc}", code="invalid_json") from None
        except RecursionError:
            raise ApiError(
                400, "the request body nests arrays or objects too deeply to be a request", code="invalid_json"
            ) from None

    async def cancel_on_disconnect(self, token: CancelToken) -> None:
        """Wait for the client to go away, then cancel `token` (and with it the request's experts)."""
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                token.cancel("the client disconnected")
                return

    async def start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.status = status
        self.started = True
        if self.trace_id is not None and is_plain(self.trace_id):  # a client's own may not be
            headers = [*headers, (b"x-himoe-trace-id", self.trace_id.encode())]
        await self._send({"type": "http.response.start", "status": status, "headers": headers})

    async def write(self, body: bytes, *, more: bool = True) -> None:
        await self._send({"type": "http.response.body", "body": body, "more_body": more})

    async def respond(
        self, status: int, body: bytes, content_type: bytes = JSON_TYPE, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        await self.start(
            status,
            [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *((k.encode(), v.encode()) for k, v in headers),
            ],
        )
        await self.write(body, more=False)

    async def respond_json(self, status: int, data: Any, headers: tuple[tuple[str, str], ...] = ()) -> None:
        try:
            body = json.dumps(data, ensure_ascii=False, allow_nan=False).encode()
        except UnicodeEncodeError:  # a lone surrogate from the client, echoed in a message: \ud800 in JSON
            body = json.dumps(data, allow_nan=False).encode()
        await self.respond(status, body, headers=headers)

    async def respond_error(self, error: ApiError) -> None:
        await self.respond_json(error.status, error.body(), headers=error.headers)
