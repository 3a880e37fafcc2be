from __future__ import annotations

import time
from typing import Any

from himoe_core import ConfigError


class RequestTracing:
    """OpenTelemetry spans, one per request and one per expert call under it, when `[serve] otel`
    is on. opentelemetry-sdk is optional (`pip install himoe-serve[otel]`) and imported only here.

    The exporter is `console` or `otlp` (`[serve] otel_exporter`), or any SpanExporter given
    programmatically (tests use the SDK's in-memory one). Spans carry the trace id, router,
    status and cost; never a request body or a key.
    """

    def __init__(self, exporter: Any = "console") -> None:  # "console", "otlp" or a SpanExporter
        try:
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
        except ImportError:
            raise ConfigError("[serve] otel = true needs opentelemetry-sdk: pip install 'himoe-serve[otel]'") from None
        processor: SimpleSpanProcessor | BatchSpanProcessor
        if exporter == "console":
            processor = SimpleSpanProcessor(ConsoleSpanExporter())
        elif exporter == "otlp":
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            except ImportError:
                raise ConfigError(
                    '[serve] otel_exporter = "otlp" needs opentelemetry-exporter-otlp-proto-http: '
                    "pip install opentelemetry-exporter-otlp-proto-http (it reads OTEL_EXPORTER_OTLP_* "
                    "for the endpoint)"
                ) from None
            processor = BatchSpanProcessor(OTLPSpanExporter())
        else:
            processor = SimpleSpanProcessor(exporter)
        from opentelemetry.sdk.resources import Resource

        self.provider = TracerProvider(resource=Resource.create({"service.name": "himoe"}))
        self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("himoe_serve")

    def request_span(self, name: str) -> Any:
        return self.tracer.start_span(name)

    def finish(
        self, span: Any, *, status: int, trace_id: str | None, router: str, trace: dict[str, Any] | None
    ) -> None:
        """End the request's span, with a child span per expert call of the trace."""
        from opentelemetry import trace as otel_trace
        from opentelemetry.trace import Status, StatusCode

        end = time.time_ns()
        span.set_attribute("http.response.status_code", status)
        span.set_attribute("himoe.router", router)
        if trace_id is not None:
            span.set_attribute("himoe.trace_id", trace_id)
        if status >= 400:
            span.set_status(Status(StatusCode.ERROR))
        parent = otel_trace.set_span_in_context(span)
        start = span.start_time or end
        for attempt in (trace or {}).get("attempts", ()):
            for call in attempt.get("calls", ()):
                latency_ns = int((call.get("latency_ms") or 0.0) * 1e6)
                child = self.tracer.start_span(f"expert {call['expert']}", context=parent, start_time=start)
                child.set_attribute("himoe.expert", call["expert"])
                child.set_attribute("himoe.router", attempt.get("router", ""))
                child.set_attribute("himoe.call.status", call["status"])
                if call.get("cost_units") is not None:
                    child.set_attribute("himoe.cost_units", float(call["cost_units"]))
                if call["status"] != "ok":
                    child.set_status(Status(StatusCode.ERROR, str(call.get("cause") or call["status"])))
                child.end(end_time=min(end, start + latency_ns))
        span.end(end_time=end)

    def shutdown(self) -> None:
        self.provider.shutdown()
