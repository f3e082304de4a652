"""Prometheus metrics every service exposes on `/metrics`.

One process serves one service, so the process-wide default registry is the service's; the
`service` label lets one Prometheus scrape them all side by side.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)

HTTP_REQUESTS = Counter(
    "bureau_http_requests_total", "HTTP requests answered", ["service", "method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "bureau_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["service", "method", "route"],
    buckets=LATENCY_BUCKETS,
)

EVENTS_CONSUMED = Counter(
    "bureau_events_consumed_total",
    "Events taken from the service queue, by outcome (handled, duplicate, retried, parked, "
    "dropped)",
    ["service", "event", "outcome"],
)
EVENT_HANDLING = Histogram(
    "bureau_event_handling_seconds",
    "Time a handler took",
    ["service", "event"],
    buckets=LATENCY_BUCKETS,
)
EVENT_AGE = Histogram(
    "bureau_event_age_seconds",
    "Time from an event's creation to its handling here (per-hop end-to-end latency)",
    ["service", "event"],
    buckets=LAG_BUCKETS,
)
REDELIVERIES = Counter(
    "bureau_event_redeliveries_total", "Messages the broker delivered again", ["service", "event"]
)

EVENTS_PUBLISHED = Counter(
    "bureau_events_published_total",
    "Events the outbox relay published with confirms",
    ["service", "event"],
)
OUTBOX_BACKLOG = Gauge(
    "bureau_outbox_backlog", "Documents holding events not yet published", ["service"]
)
QUEUE_MESSAGES = Gauge(
    "bureau_queue_messages",
    "Messages waiting in this service's queues (events = consumer lag, dlq = dead letters)",
    ["service", "queue"],
)

CONCERNS_RECEIVED = Counter(
    "bureau_concerns_received_total", "Concerns received by intake", ["channel", "category"]
)
CONCERN_STAGE_SECONDS = Histogram(
    "bureau_concern_stage_seconds",
    "Time from a concern's submission to a stage (triaged, acknowledged, ...)",
    ["stage"],
    buckets=LAG_BUCKETS,
)
OPEN_CLOCKS = Gauge("bureau_open_sla_clocks", "SLA clocks running")
CALENDAR_HOLIDAYS_AHEAD = Gauge(
    "bureau_calendar_holidays_ahead",
    "Holidays a calendar of the district file names in the next 365 days (0: every holiday "
    "would count as a working day)",
    ["calendar"],
)
DELIVERIES = Counter(
    "bureau_deliveries_total", "Notifications by channel and final status", ["channel", "status"]
)


log = logging.getLogger(__name__)
SCRAPE_REFRESH_TIMEOUT_S = 2.0  # inside `bureau health`'s 3 s
_refreshers: list[Callable[[], Awaitable[None]]] = []


def refresh_on_scrape(refresh: Callable[[], Awaitable[None]]) -> None:
    """Have `refresh` set its gauges before each scrape (a gauge read at the source: queue
    depth from the broker, backlog from the store)."""
    _refreshers.append(refresh)


def unregister_refresh(refresh: Callable[[], Awaitable[None]]) -> None:
    if refresh in _refreshers:
        _refreshers.remove(refresh)


async def refresh_gauges() -> None:
    """Run every registered refresh, each within a time limit; a failed one leaves its gauges
    as they were (logged), the scrape still answers."""

    async def one(refresh: Callable[[], Awaitable[None]]) -> None:
        try:
            await asyncio.wait_for(refresh(), timeout=SCRAPE_REFRESH_TIMEOUT_S)
        except Exception as exc:
            log.warning("could not refresh gauges", extra={"error": type(exc).__name__})

    await asyncio.gather(*(one(r) for r in list(_refreshers)))


def exposition() -> tuple[bytes, str]:
    """The current metrics in Prometheus text format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


async def fresh_exposition() -> tuple[bytes, str]:
    """The metrics, gauges read at their source first."""
    await refresh_gauges()
    return exposition()


class HttpMetrics:
    """ASGI middleware counting requests and timing answers by route template (not raw
    path, so that ids do not explode the label set)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") == "/metrics":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(self.service, method, template, str(status)).inc()
            HTTP_DURATION.labels(self.service, method, template).observe(
                time.perf_counter() - started
            )
