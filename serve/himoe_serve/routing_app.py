from __future__ import annotations

import json
import logging
import math
import time
from typing import Any

import trio

from himoe_core import (
    Cancelled,
    CancelToken,
    DeadlineExceeded,
    HiMoE,
    InvalidInput,
    MoeError,
    NoExpertSelected,
    Response,
    StateError,
)

from .api_error import ApiError
from .api_keys import ApiKeys
from .chat_request import ChatRequest
from .client_gone import ClientGone
from .exchange import Exchange
from .log_text import log_text
from .request_tracing import RequestTracing
from .serve_metrics import ServeMetrics
from .serve_settings import ServeSettings
from .stream_relay import StreamRelay

log = logging.getLogger("himoe.serve")
access_log = logging.getLogger("himoe.serve.access")

SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
FEEDBACK_KEYS = {"trace_id", "reward", "task_loss", "scores", "expected", "shadow_scores"}
# Endpoints anyone may call: a load balancer's probes carry no key.
OPEN_PATHS = {"/healthz", "/readyz"}
# Endpoints with a span of their own here; chat completions make theirs with the expert calls.
SPANNED_PATHS = {"/v1/route", "/v1/feedback"}
CHAT_PATH = "/v1/chat/completions"


class RoutingApp:
    """The ASGI application of `himoe serve`: OpenAI-compatible chat completions routed by a
    HiMoE, feedback, models, probes and metrics (docs/serving.md lists every endpoint).

    It runs in the trio run of the `HiMoE.open` block that owns `moe`, so shadow routers and the
    trace writer live beside it. `drain()` makes `/readyz` answer 503 and new routing requests
    be refused, and returns once the requests in flight are done; `stop_now()` cancels those.
    A routing request counts as in flight once its body has arrived, within `[serve] body_timeout_s`.
    """

    def __init__(
        self,
        moe: HiMoE,
        settings: ServeSettings,
        keys: ApiKeys,
        *,
        metrics: ServeMetrics | None = None,
        tracing: RequestTracing | None = None,
    ) -> None:
        self.moe = moe
        self.settings = settings
        self.keys = keys
        self.metrics = metrics or ServeMetrics()
        if moe.model_status() is not None:
            self.metrics.follow_model(moe.model_status)
        self.tracing = tracing
        self.ready = False
        self.draining = False
        self.stopping = False
        self.in_flight = 0
        self._idle: trio.Event | None = None
        self._reading: set[trio.CancelScope] = set()  # routing requests whose body is arriving
        self._running: set[CancelToken] = set()  # the routing requests in flight
        self._routes = {
            CHAT_PATH: ("POST", self._chat),
            "/v1/route": ("POST", self._route_only),
            "/v1/feedback": ("POST", self._feedback),
            "/v1/models": ("GET", self._models),
            "/healthz": ("GET", self._healthz),
            "/readyz": ("GET", self._readyz),
            "/metrics": ("GET", self._metrics),
        }

    # -- lifecycle ---------------------------------------------------------------------------------
    @property
    def bodies_arriving(self) -> int:
        """Routing requests whose body is still arriving (not in flight yet)."""
        return len(self._reading)

    async def drain(self) -> None:
        """Stop taking routing requests (`/readyz` 503) and wait for those in flight, each
        bounded by its own deadline."""
        self.draining = True
        log.info("himoe serve: draining, %d request(s) in flight", self.in_flight)
        for reading in list(self._reading):  # a body still arriving is refused (503), not waited for
            reading.cancel()
        while self.in_flight:
            self._idle = trio.Event()
            await self._idle.wait()

    def stop_now(self) -> None:
        """Cancel the routing requests in flight (a second signal during the drain): each
        answers 503 `shutting_down`, its trace is kept, and `drain()` returns once they end."""
        self.draining = True
        self.stopping = True
        for reading in list(self._reading):
            reading.cancel()
        for token in list(self._running):
            token.cancel("the server is stopping now")

    # -- ASGI --------------------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":  # websockets: not served
            return
        exchange = Exchange(scope, receive, send)
        started = time.perf_counter()
        span = (
            self.tracing.request_span(f"{scope['method']} {scope['path']}")
            if self.tracing is not None and scope["path"] in SPANNED_PATHS
            else None
        )
        try:
            await self._handle(exchange)
        except ApiError as error:
            await self._send_error(exchange, error)
            if scope["path"] == CHAT_PATH:  # refused before _chat (401, 405), which counts the rest
                self.metrics.observe_request("-", exchange.status, time.perf_counter() - started)
        except ClientGone:
            exchange.status = 499
        except Exception:  # a bug of ours: logged with its traceback, answered without it
            log.exception(
                "himoe serve: %s %s failed (trace %s)",
                scope.get("method"),
                log_text(scope.get("path", "")),
                log_text(exchange.trace_id or "-"),
            )
            await self._send_error(
                exchange,
                ApiError(
                    500,
                    f"internal error (logged as trace {exchange.trace_id})"
                    if exchange.trace_id
                    else "internal error (see the server log)",
                    type="server_error",
                    code="internal_error",
                ),
            )
        finally:
            elapsed = time.perf_counter() - started
            if span is not None and self.tracing is not None:
                self.tracing.finish(
                    span, status=exchange.status, trace_id=exchange.trace_id, router=exchange.router or "-", trace=None
                )
            access_log.info(
                "%s %s %d %.1fms trace=%s router=%s",
                scope.get("method"),
                log_text(scope.get("path", "")),
                exchange.status,
                elapsed * 1000.0,
                log_text(exchange.trace_id or "-"),
                exchange.router or "-",
            )

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.ready = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.ready = False
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _send_error(self, exchange: Exchange, error: ApiError) -> None:
        if exchange.started or exchange.disconnected:
            exchange.status = exchange.status or error.status
            return
        await exchange.respond_error(error)

    async def _handle(self, exchange: Exchange) -> None:
        path = exchange.scope["path"]
        route = self._routes.get(path)
        if route is None:
            raise ApiError(
                404, f"no endpoint {path}; see /v1/models, /v1/chat/completions, /v1/feedback", code="not_found"
            )
        method, handler = route
        if exchange.scope["method"] != method:
            raise ApiError(
                405,
                f"{path} takes {method}, not {exchange.scope['method']}",
                code="method_not_allowed",
                headers=(("allow", method),),
            )
        if self.keys and path not in OPEN_PATHS and not self.keys.accepts(exchange.header(b"authorization")):
            raise ApiError(
                401,
                "a valid API key is required: send 'Authorization: Bearer <key>'",
                type="authentication_error",
                code="invalid_api_key",
            )
        await handler(exchange)

    # -- endpoints ---------------------------------------------------------------------------------
    async def _healthz(self, exchange: Exchange) -> None:
        await exchange.respond_json(200, {"status": "ok"})

    async def _readyz(self, exchange: Exchange) -> None:
        if self.draining:
            await exchange.respond_json(503, {"status": "draining"})
        elif not self.ready:
            await exchange.respond_json(503, {"status": "starting"})
        else:
            # Ready even while the state store is down: the replica routes on its last snapshot,
            # and says so here for whoever watches it (a load balancer should keep sending).
            model = self.moe.model_status() or {}
            if self.keys and model.get("error") and not self.keys.accepts(exchange.header(b"authorization")):
                model = {**model, "error": "see the server's log"}  # it names the store's host and port
            await exchange.respond_json(200, {"status": "ready", "in_flight": self.in_flight, **model})

    async def _metrics(self, exchange: Exchange) -> None:
        await exchange.respond(200, self.metrics.render(), content_type=self.metrics.content_type)

    async def _models(self, exchange: Exchange) -> None:
        models = ["himoe", *(f"himoe/{r}" for r in sorted(self.moe.routers))]
        await exchange.respond_json(
            200,
            {
                "object": "list",
                "data": [{"id": m, "object": "model", "created": 0, "owned_by": "himoe"} for m in models],
            },
        )

    async def _feedback(self, exchange: Exchange) -> None:
        body = await self._read_json(exchange, routing=False)
        if not isinstance(body, dict):
            raise ApiError(
                400, 'the feedback body must be a JSON object such as {"trace_id": …, "reward": 1}', code="invalid_body"
            )
        unknown = sorted(set(body) - FEEDBACK_KEYS)
        if unknown:
            raise ApiError(
                400,
                f"unknown field {unknown[0]!r}; feedback takes {', '.join(sorted(FEEDBACK_KEYS))}",
                code="unknown_field",
            )
        trace_id = body.get("trace_id")
        if not isinstance(trace_id, str) or not trace_id:
            raise ApiError(
                400, f"'trace_id' must be the trace id of a response, got {trace_id!r}", code="invalid_trace_id"
            )
        exchange.trace_id = trace_id
        for key in ("reward", "task_loss"):
            value = body.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ApiError(400, f"'{key}' must be a number, got {value!r}", code="invalid_" + key)
        for key in ("scores", "shadow_scores"):
            if body.get(key) is not None and not isinstance(body[key], dict):
                raise ApiError(
                    400, f"'{key}' must be an object of name → number, got {body[key]!r}", code="invalid_" + key
                )
        try:
            # Store work (the trace writer's flush, the feedback row, and with a shared store the
            # wait for another replica to log the decision: [state] feedback_wait_s): off the loop.
            summary = await trio.to_thread.run_sync(
                lambda: self.moe.feedback(
                    trace_id,
                    reward=body.get("reward"),
                    task_loss=body.get("task_loss"),
                    scores=body.get("scores"),
                    expected=body.get("expected"),
                    shadow_scores=body.get("shadow_scores"),
                )
            )
        except InvalidInput as exc:
            unknown_trace = str(exc).startswith("unknown trace id")
            self.metrics.feedback.labels("unknown_trace" if unknown_trace else "refused").inc()
            raise ApiError(
                404 if unknown_trace else 400, str(exc), code="trace_not_found" if unknown_trace else "invalid_feedback"
            ) from None
        except StateError as exc:
            self.metrics.feedback.labels("refused").inc()
            error = ApiError.of_store_fault(exc)
            if error.status >= 500:  # what the client is not told: the store's own words
                log.log(
                    logging.ERROR if error.status == 500 else logging.WARNING,
                    "himoe serve: feedback on trace %s not recorded: %s",
                    log_text(trace_id),
                    exc,
                )
            raise error from None
        except MoeError as exc:
            self.metrics.feedback.labels("refused").inc()
            raise ApiError(400, str(exc), code="invalid_feedback") from None
        outcome = "repeat" if summary.get("repeat") else "learned"
        self.metrics.feedback.labels(outcome).inc()
        exchange.router = summary.get("router") or ""
        await exchange.respond_json(
            200,
            {
                "status": outcome,
                "trace_id": trace_id,
                "router": summary.get("router"),
                "experts_updated": summary.get("experts_updated", []),
            },
        )

    async def _route_only(self, exchange: Exchange) -> None:
        """`POST /v1/route`: the body of a chat completion; which experts the router picks, with
        the gate and the propensities, and no expert called. The decision is recorded, so
        `POST /v1/feedback` with its trace id trains the router on how the picks did."""
        self._refuse_if_draining()
        body = await self._read_json(exchange, routing=True)
        self._refuse_if_draining()  # the drain may have started while the body arrived
        request = ChatRequest.parse(body, self.moe.routers)
        exchange.router = request.router or ""
        exchange.trace_id = self.moe.new_trace_id()
        try:
            decision = await self.moe.decide(
                request.text,
                task=request.task,
                context=request.context,
                router=request.router,
                k=request.k,
                trace_id=exchange.trace_id,
            )
        except MoeError as exc:
            raise ApiError.of(exc) from None
        exchange.router = decision.router
        attempt = (self.moe.traces.get(decision.trace_id) or {"attempts": [{}]})["attempts"][0]
        await exchange.respond_json(
            200,
            {
                "object": "himoe.route",
                "trace_id": decision.trace_id,
                "router": decision.router,
                "model_version": decision.model_version,
                "picks": [
                    {
                        "expert": pick["expert"],
                        "id": pick["id"],
                        "propensity": decision.propensity if rank == 0 else None,
                    }
                    for rank, pick in enumerate(attempt.get("picks", []))
                ],
                "gate": attempt.get("gate", []),
                # over many candidates the gate lists the top few and the picks; the rest in summary
                **({"gate_rest": attempt["gate_rest"]} if "gate_rest" in attempt else {}),
            },
        )

    def _refuse_if_draining(self) -> None:
        if self.draining:
            self.metrics.rejections.labels("draining").inc()
            raise ApiError(
                503,
                "the server is shutting down; retry on another replica",
                type="server_error",
                code="draining",
                headers=(("retry-after", "1"),),
            )

    def _admit(self) -> None:
        """Refuse a routing request while draining (503) or over `[serve] max_in_flight` (429)."""
        self._refuse_if_draining()
        limit = self.settings.max_in_flight
        if limit and self.in_flight >= limit:
            self.metrics.rejections.labels("max_in_flight").inc()
            raise ApiError(
                429,
                f"too many requests in flight ({limit}, [serve] max_in_flight); retry shortly",
                type="rate_limit_error",
                code="overloaded",
                headers=(("retry-after", "1"),),
            )

    async def _read_json(self, exchange: Exchange, *, routing: bool) -> Any:
        """The request's JSON body, which has `[serve] body_timeout_s` to arrive: later, 408 and
        the connection closed. A routing request's body still arriving when the drain starts is
        refused with 503: neither a slow body nor the drain waits on the other."""
        timeout = self.settings.body_timeout_s
        with trio.move_on_after(timeout) as reading:
            if routing:
                self._reading.add(reading)
            try:
                return await exchange.read_json(self.settings.max_body_bytes)
            finally:
                self._reading.discard(reading)
        if routing:
            self._refuse_if_draining()
        raise ApiError(
            408,
            f"the request body did not arrive within {timeout:g} s ([serve] body_timeout_s)",
            code="body_timeout",
            headers=(("connection", "close"),),
        )

    async def _chat(self, exchange: Exchange) -> None:
        span = self.tracing.request_span(f"POST {CHAT_PATH}") if self.tracing else None
        response: Response | None = None
        started = time.perf_counter()
        admitted = False
        try:
            self._admit()  # at once, before the body
            # Counted in flight once its body is here: a client slow to send it holds no slot
            body = await self._read_json(exchange, routing=True)
            self._admit()  # again: the drain or other requests may have come meanwhile
            admitted = True
            self.in_flight += 1
            self.metrics.in_flight.inc()
            request = ChatRequest.parse(body, self.moe.routers)
            exchange.router = request.router or ""
            exchange.trace_id = self.moe.new_trace_id()
            response, relay = await self._route(exchange, request)
            if response is not None and not exchange.disconnected:
                await self._reply(exchange, request, response, relay)
        except ApiError as error:  # answered here, so that the metrics below see its status
            await self._send_error(exchange, error)
        finally:
            if admitted:
                self.in_flight -= 1
                self.metrics.in_flight.dec()
                if self._idle is not None and not self.in_flight:
                    self._idle.set()
            if exchange.disconnected and not exchange.status:
                exchange.status = 499  # for the access log too
            status = exchange.status or 500
            trace = (
                response.trace
                if response is not None
                else (self.moe.traces.get(exchange.trace_id) if exchange.trace_id else None)
            )
            if not exchange.router and trace and trace.get("attempts"):  # failed after routing (a 504)
                exchange.router = trace["attempts"][-1].get("router") or ""
            self._observe(exchange, status, time.perf_counter() - started, trace, span)

    async def _route(self, exchange: Exchange, request: ChatRequest) -> tuple[Response | None, StreamRelay | None]:
        """Run the request, cancelling it through its CancelToken if the client goes away; with
        `stream`, pieces a streaming expert sends go out as they come."""
        token = CancelToken()
        if self.stopping:
            token.cancel("the server is stopping now")
        relay = StreamRelay(f"chatcmpl-{exchange.trace_id}", int(time.time())) if request.stream else None
        options = {**request.options, "stream": relay} if relay is not None else request.options
        error: MoeError | None = None
        response: Response | None = None
        self._running.add(token)
        async with trio.open_nursery() as watcher:
            watcher.start_soon(exchange.cancel_on_disconnect, token)
            try:
                async with trio.open_nursery() as relaying:
                    if relay is not None:
                        relaying.start_soon(self._relay, exchange, relay, token)
                    try:
                        response = await self.moe.run(
                            request.text,
                            task=request.task,
                            context=request.context,
                            budget_ms=request.budget_ms,
                            router=request.router,
                            k=request.k,
                            cancel=token,
                            trace_id=exchange.trace_id,
                            options=options,
                        )
                    except MoeError as exc:
                        error = exc
                    finally:
                        if relay is not None:
                            relay.close()  # the relay sends what is queued, then ends
            finally:
                watcher.cancel_scope.cancel()
                self._running.discard(token)
        if response is not None:
            return response, relay
        if exchange.disconnected:
            return None, relay
        assert error is not None, "without a response, the request failed with a MoeError"
        if isinstance(error, DeadlineExceeded) or (isinstance(error, NoExpertSelected) and error.failures):
            log.warning("himoe serve: trace %s: %s", exchange.trace_id, error)  # the client is told less
        failure = ApiError.of(error)
        if self.stopping and isinstance(error, Cancelled):
            failure = ApiError(
                503,
                "the server stopped before the request finished (a second stop signal during the drain); "
                "retry on another replica",
                type="server_error",
                code="shutting_down",
            )
        if exchange.started:  # mid-stream: the status is sent already, the error goes as an event
            await self._end_stream_with_error(exchange, failure)
            return None, relay
        raise failure from None

    async def _relay(self, exchange: Exchange, relay: StreamRelay, token: CancelToken) -> None:
        try:
            async for text in relay.receive:
                if not exchange.started:
                    await exchange.start(200, SSE_HEADERS)
                    await exchange.write(
                        _chunk(
                            relay,
                            relay.owner,
                            {"role": "assistant", "content": ""},
                            None,
                            {"himoe": {"trace_id": exchange.trace_id}},
                        )
                    )
                await exchange.write(_chunk(relay, relay.owner, {"content": text}, None, {}))
                relay.streamed.append(text)
        except Exception:  # the connection is gone: stop the request too
            exchange.disconnected = True
            token.cancel("the client connection failed mid-stream")

    async def _end_stream_with_error(self, exchange: Exchange, error: ApiError) -> None:
        try:
            await exchange.write(b"data: " + json.dumps(error.body()).encode() + b"\n\n")
            await exchange.write(b"data: [DONE]\n\n", more=False)
        except Exception:
            exchange.disconnected = True

    async def _reply(
        self, exchange: Exchange, request: ChatRequest, response: Response, relay: StreamRelay | None
    ) -> None:
        trace = response.trace
        served: dict[str, Any] = next((a for a in reversed(trace.get("attempts", ())) if a.get("status") == "ok"), {})
        weights = (served.get("mix") or {}).get("weights") or {}
        experts = [
            {
                "name": c["expert"],
                "status": c["status"],
                "latency_ms": c.get("latency_ms"),
                "cost_units": c.get("cost_units"),
                "weight": weights.get(c["expert"]),
            }
            for c in served.get("calls", ())
        ]
        answered = max(weights, key=lambda name: (weights[name], name)) if weights else response.router
        exchange.router = response.router
        value = response.value
        text = value.as_text()
        content = text if text is not None else value.render()
        himoe = {
            "trace_id": response.trace_id,
            "router": response.router,
            "experts": experts,
            "cost_units": _finite(response.mix.cost_units),
            "latency_ms": round(response.elapsed_ms, 3),
            "value": value.to_jsonable(),
        }
        if relay is None:
            await exchange.respond_json(
                200,
                {
                    "id": f"chatcmpl-{response.trace_id}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": answered,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                            "logprobs": None,
                        }
                    ],
                    "himoe": himoe,
                },
            )
            return
        if not exchange.started:  # nothing streamed: the whole answer is one content chunk
            await exchange.start(200, SSE_HEADERS)
            await exchange.write(
                _chunk(
                    relay,
                    answered,
                    {"role": "assistant", "content": ""},
                    None,
                    {"himoe": {"trace_id": response.trace_id}},
                )
            )
            await exchange.write(_chunk(relay, answered, {"content": content}, None, {}))
        else:
            streamed = "".join(relay.streamed)
            if relay.owner != answered or not content.startswith(streamed):
                await self._end_stream_with_error(
                    exchange,
                    ApiError(
                        502,
                        f"the answer streamed from expert {relay.owner!r} was not the one chosen ({answered!r}); "
                        "ask without stream, or route to one expert",
                        type="server_error",
                        code="stream_superseded",
                    ),
                )
                return
            if content != streamed:
                await exchange.write(_chunk(relay, answered, {"content": content[len(streamed) :]}, None, {}))
        await exchange.write(_chunk(relay, answered, {}, "stop", {"himoe": himoe}))
        await exchange.write(b"data: [DONE]\n\n", more=False)

    def _observe(
        self, exchange: Exchange, status: int, seconds: float, trace: dict[str, Any] | None, span: Any
    ) -> None:
        router = exchange.router or "-"
        self.metrics.observe_request(router, status, seconds)
        if trace:
            for attempt in trace.get("attempts", ()):
                self.metrics.observe_calls(attempt.get("calls", ()))
        if span is not None and self.tracing is not None:  # a span comes from the tracing
            self.tracing.finish(span, status=status, trace_id=exchange.trace_id, router=router, trace=trace)


def _chunk(
    relay: StreamRelay, model: str | None, delta: dict[str, Any], finish: str | None, extra: dict[str, Any]
) -> bytes:
    data = {
        "id": relay.completion_id,
        "object": "chat.completion.chunk",
        "created": relay.created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        **extra,
    }
    return b"data: " + json.dumps(data, ensure_ascii=False, allow_nan=False).encode() + b"\n\n"


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
