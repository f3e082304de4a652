"""Trace context: one concern is one trace, and each handled event is a child span."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import tracing
from shared.events import Channel, ConcernSubmitted, ConcernTriaged, Priority, new_event

pytestmark = pytest.mark.unit

AT = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)


def submitted(concern_id: str) -> ConcernSubmitted:
    return ConcernSubmitted(
        concern_id=concern_id,
        tracking_number="CS-2026-000001",
        channel=Channel.WEB,
        category="enrollment",
        submitted_at=AT,
        resolution_due_at=AT,
    )


def triaged(concern_id: str) -> ConcernTriaged:
    return ConcernTriaged(
        concern_id=concern_id,
        category="enrollment",
        team_id="enrollment",
        team_name="Enrollment Center",
        priority=Priority.NORMAL,
        rule="category:enrollment",
        triaged_at=AT,
    )


def test_trace_id_of_a_concern_is_its_uuid_and_stable() -> None:
    concern_id = str(uuid.uuid4())
    assert tracing.trace_id_for(concern_id) == concern_id.replace("-", "")
    first = tracing.parse(
        new_event(submitted(concern_id), source="/t", subject=concern_id).traceparent
    )
    later = tracing.parse(
        new_event(submitted(concern_id), source="/t", subject=concern_id).traceparent
    )
    assert first is not None and later is not None
    assert first[0] == later[0] == concern_id.replace("-", "")


def test_subject_that_is_not_a_uuid_gets_a_valid_random_trace() -> None:
    traceparent = new_event(submitted("c-1"), source="/t", subject="c-1").traceparent
    parsed = tracing.parse(traceparent)
    assert parsed is not None and parsed[0] != "0" * 32


def test_event_emitted_while_handling_is_a_child_of_the_handling_span() -> None:
    concern_id = str(uuid.uuid4())
    incoming = new_event(submitted(concern_id), source="/bureau/intake", subject=concern_id)
    with tracing.handling(incoming.traceparent, name="handle", service="triage"):
        handling_span = tracing.parse(tracing._current.get())
        outgoing = new_event(triaged(concern_id), source="/bureau/triage", subject=concern_id)
    assert handling_span is not None
    assert tracing.parse(outgoing.traceparent) == (concern_id.replace("-", ""), handling_span[1])
    assert tracing.current_trace_id() is None  # the context does not leak past the handler


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracing.use_tracer(provider.get_tracer("test"))
    yield memory
    tracing.use_tracer(None)


def test_exported_span_continues_the_publishers_span(exporter: InMemorySpanExporter) -> None:
    concern_id = str(uuid.uuid4())
    incoming = new_event(submitted(concern_id), source="/bureau/intake", subject=concern_id)
    parent = tracing.parse(incoming.traceparent)
    assert parent is not None
    with tracing.handling(incoming.traceparent, name="handle concern.submitted", service="triage"):
        outgoing = new_event(triaged(concern_id), source="/bureau/triage", subject=concern_id)
    (span,) = exporter.get_finished_spans()
    assert f"{span.context.trace_id:032x}" == concern_id.replace("-", "")
    assert span.parent is not None and f"{span.parent.span_id:016x}" == parent[1]
    assert tracing.parse(outgoing.traceparent) == (parent[0], f"{span.context.span_id:016x}")


def test_tracing_export_is_off_without_otel_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    assert tracing.configure_tracing("intake") is False
