from __future__ import annotations

import json
import logging
import os
import random
import re
import threading
from collections.abc import Callable, Mapping
from contextlib import aclosing
from typing import Any, Literal, overload
from urllib.parse import urlsplit

from himoe_core import Cancelled, Context, ExpertFailed

from .httpx_loader import load_httpx, load_ssl_context
from .redaction import one_line, redact, redact_json, redact_url_in_log_record, safe_url, snippet, url_secrets
from .retry_after import parse_retry_after
from .retry_policy import RetryPolicy
from .streamed_reply import StreamedReply

log = logging.getLogger("himoe_http")

DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
_SNIPPET_BYTES = 1024
# Headers whose values are not secrets; any other configured header's value is kept out of messages.
_PLAIN_HEADERS = {"accept", "accept-language", "content-type", "user-agent", "cache-control"}
# What an HTTP header value may hold (visible ASCII); anything else in a key is refused unsent.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


class HttpCaller:
    """POSTs JSON to one endpoint within a request's deadline and returns the parsed JSON reply.

    - The whole call, retries and waits included, is bounded by ``ctx.remaining_ms()``: each
      attempt gets the remaining time as its httpx timeout, and a trio cancel scope with the same
      deadline guarantees that a server that never answers cannot hold the caller past it.
    - 429, 5xx and connection errors are retried (exponential backoff with full jitter, or the
      server's Retry-After), only while the remaining budget covers the next wait; other 4xx are
      not retried. Every failure is an ``ExpertFailed(name, cause)`` with a one-line cause.
    - Cancelling the caller's trio scope, or ``ctx.cancel``, closes the upstream connection; the
      latter raises ``himoe_core.Cancelled``.
    - The API key is read from the environment variable `api_key_env` at call time and sent as
      ``<auth_header>: Bearer <key>``; it is kept out of every message, log line and result.
    - Connections are pooled: one httpx.AsyncClient per trio run, created on first use (in a
      worker thread, so the event loop never blocks on importing httpx or loading certificates)
      and closed when that run ends.
    """

    def __init__(
        self,
        expert_name: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        api_key_env: str | None = None,
        auth_header: str = "Authorization",
        retry: RetryPolicy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        rng: random.Random | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"HttpCaller needs an http(s) URL, got {safe_url(url)!r}")
        self.expert_name = expert_name
        self.url = url
        self._secrets = tuple(url_secrets(url)) + tuple(
            value for name, value in (headers or {}).items() if name.lower() not in _PLAIN_HEADERS and len(value) >= 4
        )
        httpx_log = logging.getLogger("httpx")
        if redact_url_in_log_record not in httpx_log.filters:  # its request lines show the query
            httpx_log.addFilter(redact_url_in_log_record)
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        self.target = f"{host}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        self.headers = dict(headers or {})
        self.api_key_env = api_key_env
        self.auth_header = auth_header
        self.retry = retry or RetryPolicy()
        self.max_response_bytes = max_response_bytes
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._clients: dict[Any, dict[str, Any]] = {}  # trio run token -> its pool slot

    def __repr__(self) -> str:
        return (
            f"HttpCaller(expert={self.expert_name!r}, url={safe_url(self.url)!r}, api_key_env={self.api_key_env!r}, "
            f"headers={sorted(self.headers)!r}, retry={self.retry!r})"
        )

    # -- the call ----------------------------------------------------------------------------
    async def post_json(self, body: Any, ctx: Context, *, on_event: Callable[[Any], None] | None = None) -> Any:
        """POST `body` as JSON; the reply's JSON, with the API key removed from its strings.

        With `on_event`, the server may answer with server-sent events (`text/event-stream`):
        each `data:` event's JSON is passed to `on_event` as it arrives, and a StreamedReply of
        them is returned. Once an event was passed on, a failure is not retried (its retry would repeat it).
        """
        import trio

        if ctx.cancel.is_cancelled():
            raise Cancelled(ctx.cancel.reason)
        budget_s = ctx.remaining_ms() / 1000.0
        if budget_s <= 0:
            raise ExpertFailed(
                self.expert_name,
                f"timed out after 0 ms: the request's deadline had passed before {self.target} was called",
            )
        api_key = self._read_key()
        accept = "text/event-stream, application/json" if on_event is not None else "application/json"
        headers = {"Content-Type": "application/json", "Accept": accept, **self.headers}
        if api_key is not None:
            headers[self.auth_header] = f"Bearer {api_key}"
        # Everything shown from here on is cleaned of the key, the URL's secrets and header values.
        key = [item for item in (api_key, *self._secrets) if item]
        content = json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
        state: dict[str, Any] = {
            "start": trio.current_time(),
            "attempts": 0,
            "last": None,
            "on_event": on_event,
            "relayed": False,
        }
        token = trio.lowlevel.current_trio_token()
        with trio.CancelScope(deadline=state["start"] + budget_s) as scope:
            unsubscribe = ctx.cancel.on_cancel(lambda: _cancel_soon(token, scope))
            try:
                return await self._attempts(content, headers, key, scope.deadline, state)
            finally:
                unsubscribe()
        # Only reached when this scope caught a cancellation: the deadline, or ctx.cancel.
        if ctx.cancel.is_cancelled():
            raise Cancelled(ctx.cancel.reason or f"the call of expert {self.expert_name!r} to {self.target} was closed")
        raise ExpertFailed(self.expert_name, self._timed_out(state))

    async def _attempts(
        self, content: bytes, headers: dict[str, str], key: list[str], deadline: float, state: dict[str, Any]
    ) -> Any:
        import trio

        client = await self._client()
        while True:
            state["attempts"] += 1
            attempt = state["attempts"]
            outcome, detail, retry_after = await self._send_once(
                client, content, headers, key, deadline - trio.current_time(), state
            )
            if outcome == "ok":
                return detail
            if outcome == "timeout":
                raise ExpertFailed(self.expert_name, self._timed_out(state))
            if outcome == "fail":
                raise ExpertFailed(self.expert_name, detail)
            # A retryable failure: detail is (what happened, what the server said).
            what, said = detail
            if state["relayed"]:
                raise ExpertFailed(self.expert_name, f"{what} after part of the answer was streamed (not retried)")
            state["last"] = what
            plural = "s" if attempt > 1 else ""
            reply = f" (last reply: {said})" if said else ""
            if attempt >= self.retry.max_attempts:
                raise ExpertFailed(self.expert_name, f"{what} after {attempt} attempt{plural}{reply}")
            wait = retry_after if retry_after is not None else self.retry.backoff_s(attempt, self._rng)
            left = deadline - trio.current_time()
            if wait >= left:
                why = (
                    f"Retry-After asks for {wait * 1000:.0f} ms"
                    if retry_after is not None
                    else f"the next backoff is {wait * 1000:.0f} ms"
                )
                raise ExpertFailed(
                    self.expert_name,
                    f"{what} after {attempt} attempt{plural}; not retried: {why}, "
                    f"only {max(0.0, left) * 1000:.0f} ms of the budget are left{reply}",
                )
            log.info(
                "himoe_http: expert %r: %s (attempt %d of %d); retrying in %.0f ms%s",
                self.expert_name,
                what,
                attempt,
                self.retry.max_attempts,
                wait * 1000,
                " (Retry-After)" if retry_after is not None else "",
            )
            await trio.sleep(wait)

    async def _send_once(
        self,
        client: Any,
        content: bytes,
        headers: dict[str, str],
        key: list[str],
        left_s: float,
        state: dict[str, Any] | None = None,
    ) -> tuple[str, Any, float | None]:
        """One attempt, as ("ok", json, None), ("retry", (cause, reply snippet), retry_after_s),
        ("fail", cause, None) or ("timeout", None, None).

        Returns instead of raising, so that no httpx exception — which carries the request and its
        Authorization header — is ever chained to the ExpertFailed the caller raises.
        """
        httpx = load_httpx()
        if left_s <= 0:
            return "timeout", None, None
        try:
            request = client.build_request(
                "POST", self.url, content=content, headers=headers, timeout=httpx.Timeout(left_s)
            )
            response = await client.send(request, stream=True)
            try:
                status = response.status_code
                on_event = state.get("on_event") if state else None
                if (
                    200 <= status <= 299
                    and on_event is not None
                    and state is not None  # it is, with an on_event
                    and response.headers.get("Content-Type", "").startswith("text/event-stream")
                ):
                    return await self._read_events(response, on_event, key, state)
                if 200 <= status <= 299:
                    body = await self._read(response, self.max_response_bytes)
                    if body is None:
                        return (
                            "fail",
                            (
                                f"the reply from {self.target} is larger than max_response_bytes "
                                f"({self.max_response_bytes} bytes)"
                            ),
                            None,
                        )
                else:
                    body = await self._read(response, _SNIPPET_BYTES, truncate=True)
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            return "timeout", None, None
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            return "retry", (f"connection to {self.target} failed ({_describe(exc, key)})", ""), None
        except httpx.HTTPError as exc:
            return "fail", f"request to {self.target} failed ({_describe(exc, key)})", None

        if not 200 <= status <= 299:
            text = snippet(body, key)
            if self.retry.is_retryable_status(status):
                return (
                    "retry",
                    (f"HTTP {status} from {self.target}", text),
                    parse_retry_after(response.headers.get("Retry-After")),
                )
            if 300 <= status <= 399:
                return "fail", f"HTTP {status} from {self.target} (redirects are not followed; fix the url)", None
            return "fail", f"HTTP {status} from {self.target} (not retried)" + (f": {text}" if text else ""), None
        try:
            data = json.loads(body, parse_constant=_reject_constant)
        except ValueError as exc:
            shown = snippet(body, key, 60)
            return (
                "fail",
                (
                    f"malformed JSON reply from {self.target}: {one_line(redact(str(exc), key))}"
                    + (f"; the body starts with {shown!r}" if shown else "; the body is empty")
                ),
                None,
            )
        return "ok", redact_json(data, key), None

    async def _read_events(
        self, response: Any, on_event: Callable[[Any], None], key: list[str], state: dict[str, Any]
    ) -> tuple[str, Any, None]:
        """Server-sent events: each `data:` JSON to `on_event` as it arrives, up to `[DONE]`."""
        events: list[Any] = []
        size = 0
        async with aclosing(response.aiter_lines()) as lines:
            async for line in lines:
                size += len(line) + 1
                if size > self.max_response_bytes:
                    return (
                        "fail",
                        (
                            f"the streamed reply from {self.target} is larger than max_response_bytes "
                            f"({self.max_response_bytes} bytes)"
                        ),
                        None,
                    )
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                try:
                    event = redact_json(json.loads(data, parse_constant=_reject_constant), key)
                except ValueError as exc:
                    return (
                        "fail",
                        (f"malformed event in the stream from {self.target}: {one_line(redact(str(exc), key))}"),
                        None,
                    )
                events.append(event)
                state["relayed"] = True
                on_event(event)
        return "ok", StreamedReply(tuple(events)), None

    @overload
    async def _read(self, response: Any, limit: int, *, truncate: Literal[True]) -> bytes: ...

    @overload
    async def _read(self, response: Any, limit: int, *, truncate: Literal[False] = False) -> bytes | None: ...

    async def _read(self, response: Any, limit: int, *, truncate: bool = False) -> bytes | None:
        """The body, at most `limit` bytes: cut there when `truncate`, else None when larger."""
        declared = response.headers.get("Content-Length", "")
        if not truncate and declared.isdigit() and int(declared) > limit:
            return None  # refused before reading a byte of it
        chunks: list[bytes] = []
        size = 0
        async with aclosing(response.aiter_bytes()) as stream:
            async for chunk in stream:
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    if truncate:
                        return b"".join(chunks)[:limit]
                    return None
        return b"".join(chunks)

    # -- key and messages ------------------------------------------------------------------
    def _read_key(self) -> str | None:
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env, "").strip()
        if not key:
            raise ExpertFailed(
                self.expert_name,
                f"the API key environment variable {self.api_key_env} is not set or empty; export it before calling",
            )
        if not _HEADER_SAFE.fullmatch(key):
            raise ExpertFailed(
                self.expert_name,
                f"the API key in {self.api_key_env} holds characters an HTTP header cannot carry "
                "(spaces, control or non-ASCII characters); it was not sent",
            )
        return key

    def _timed_out(self, state: dict[str, Any]) -> str:
        import trio

        elapsed_ms = (trio.current_time() - state["start"]) * 1000.0
        message = f"timed out after {elapsed_ms:.0f} ms waiting for {self.target}"
        attempts = state["attempts"]
        if attempts > 1:
            message += f" (attempt {attempts} of {self.retry.max_attempts}; before: {state['last']})"
        return message

    # -- the connection pool -----------------------------------------------------------------
    async def _client(self) -> Any:
        """This trio run's httpx.AsyncClient: made once, on first use, closed when the run ends."""
        import trio

        token = trio.lowlevel.current_trio_token()
        with self._lock:
            slot = self._clients.get(token)
            if slot is None:
                slot = self._clients[token] = {"client": None, "error": None, "ready": trio.Event()}
                # A system task owns the pool: it finishes making it even when the call that
                # asked first gives up (a tight deadline), and, being cancelled when the run's
                # main task returns, closes its sockets in the run that opened them.
                trio.lowlevel.spawn_system_task(
                    self._own_pool, token, slot, name=f"himoe_http pool of {self.expert_name!r}"
                )
        await slot["ready"].wait()
        if slot["client"] is None:
            raise ExpertFailed(self.expert_name, f"could not create the HTTP client: {slot['error']}")
        return slot["client"]

    async def _own_pool(self, token: Any, slot: dict[str, Any]) -> None:
        import trio

        try:
            try:
                # Importing httpx and building its SSL context take tens of ms: not on the loop.
                slot["client"] = await trio.to_thread.run_sync(_new_client)
            except Exception as exc:  # reported to the callers; a later call tries again
                slot["error"] = f"{type(exc).__name__}: {one_line(str(exc))}"
                return
            finally:
                if slot["client"] is None:
                    with self._lock:
                        if self._clients.get(token) is slot:
                            del self._clients[token]
                slot["ready"].set()
            await trio.sleep_forever()
        finally:
            with self._lock:
                if self._clients.get(token) is slot:
                    del self._clients[token]
            if slot["client"] is not None:
                with trio.CancelScope(shield=True):
                    await _close_quietly(slot["client"])

    async def aclose(self) -> None:
        """Close this trio run's connections now (the next call opens new ones)."""
        import trio

        with self._lock:
            slot = self._clients.pop(trio.lowlevel.current_trio_token(), None)
        if slot is not None and slot["client"] is not None:
            await _close_quietly(slot["client"])


def _new_client() -> Any:
    httpx = load_httpx()
    return httpx.AsyncClient(follow_redirects=False, timeout=None, verify=load_ssl_context())


def _cancel_soon(token: Any, scope: Any) -> None:
    """From any thread: cancel `scope` on its trio loop (a no-op once that run has ended)."""
    import trio

    try:
        token.run_sync_soon(scope.cancel)
    except trio.RunFinishedError:
        pass


async def _close_quietly(client: Any) -> None:
    """Close a client's pooled connections; a failure to close is logged, never raised."""
    import trio

    with trio.move_on_after(1.0):
        try:
            await client.aclose()
        except Exception as exc:  # nothing to recover: the sockets are being dropped anyway
            log.debug("himoe_http: closing an HTTP client failed: %s", type(exc).__name__)


def _describe(exc: BaseException, key: list[str]) -> str:
    message = one_line(redact(str(exc), key))
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
