"""Tracing: one concern is one trace, across all four services.

Every CloudEvent carries the `traceparent` extension (W3C trace context). Its trace id is
derived from the concern id (a UUID is 32 hex digits, exactly a trace id), so that every event
about a concern, from any service and at any time (an escalation fired days later by the
scheduler included), lands in the same trace without anything stored. Each handled event is a
span whose parent is the span that published it.

Exporting spans is off by default and configured by the standard OpenTelemetry variables:
`OTEL_TRACES_EXPORTER=otlp` (with `OTEL_EXPORTER_OTLP_ENDPOINT`, ...) or `console`. Without
them, trace context still travels in the events and in the logs (`trace_id`), so an operator
can follow a concern through the logs of all four services.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

log = logging.getLogger(__name__)

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_current: ContextVar[str | None] = ContextVar("bureau_traceparent", default=None)
_tracer: Any = None  # an OpenTelemetry tracer once `configure_tracing` enabled export


def trace_id_for(subject: str | None) -> str:
    """The trace id of a concern: its UUID's hex digits; a random one for anything else."""
    digits = (subject or "").replace("-", "").lower()
    if re.fullmatch(r"[0-9a-f]{32}", digits) and digits != "0" * 32:
        return digits
    return secrets.token_hex(16)


def _new_span_id() -> str:
    return secrets.token_hex(8)


def parse(traceparent: str | None) -> tuple[str, str] | None:
    """(trace id, span id) of a valid W3C traceparent, else None."""
    match = TRACEPARENT.match(traceparent or "")
    return (match.group(1), match.group(2)) if match else None


def traceparent_for(subject: str | None) -> str:
    """The traceparent to put on an event about `subject`: the concern's trace, with the
    current span as parent when the current work belongs to that trace."""
    trace_id = trace_id_for(subject)
    current = parse(_current.get())
    span_id = current[1] if current and current[0] == trace_id else _new_span_id()
    return f"00-{trace_id}-{span_id}-01"


def current_trace_id() -> str | None:
    current = parse(_current.get())
    return current[0] if current else None


@contextlib.contextmanager
def handling(
    traceparent: str | None, *, name: str, service: str, attributes: dict[str, str] | None = None
) -> Iterator[None]:
    """Run the handling of one event as a child span of the span that published it."""
    parent = parse(traceparent)
    trace_id = parent[0] if parent else secrets.token_hex(16)
    if _tracer is None:
        token = _current.set(f"00-{trace_id}-{_new_span_id()}-01")
        try:
            yield
        finally:
            _current.reset(token)
        return
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

    context = None
    if parent:
        remote = SpanContext(
            trace_id=int(parent[0], 16),
            span_id=int(parent[1], 16),
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        context = trace.set_span_in_context(NonRecordingSpan(remote))
    with _tracer.start_as_current_span(
        name,
        context=context,
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "rabbitmq",
            "bureau.service": service,
            **(attributes or {}),
        },
    ) as span:
        span_context = span.get_span_context()
        token = _current.set(f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-01")
        try:
            yield
        finally:
            _current.reset(token)


class TraceIdFilter(logging.Filter):
    """Adds `trace_id` to every log record made while handling traced work."""

    def filter(self, record: logging.LogRecord) -> bool:
        trace_id = current_trace_id()
        if trace_id and not hasattr(record, "trace_id"):
            record.trace_id = trace_id
        return True


def configure_tracing(service: str) -> bool:
    """Export spans when the standard OTEL variables ask for it; returns whether it does."""
    global _tracer
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true" or exporter_name in ("", "none"):
        return False
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

    exporter: SpanExporter
    if exporter_name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        exporter = ConsoleSpanExporter()
    elif exporter_name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    else:
        log.warning(
            "unsupported OTEL_TRACES_EXPORTER; tracing export stays off",
            extra={"exporter": exporter_name},
        )
        return False
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": os.environ.get("OTEL_SERVICE_NAME", f"bureau-{service}")}
        )
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _tracer = trace.get_tracer("bureau")
    log.info("tracing export on", extra={"exporter": exporter_name})
    return True


def use_tracer(tracer: Any) -> None:
    """Use this tracer for event spans (tests use one with an in-memory exporter)."""
    global _tracer
    _tracer = tracer
