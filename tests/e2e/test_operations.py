"""What an operator sees while a concern flows: metrics moving, one trace, health."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from devtools import cli
from devtools.bureau import LocalBureau
from tests.e2e.conftest import FRONTEND, EventTap, concern_body

pytestmark = pytest.mark.e2e

SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? ([0-9.eE+-]+)$")


async def scrape(http: httpx.AsyncClient, url: str) -> dict[str, float]:
    """Series (name + labels) -> value, from a service's /metrics."""
    text = (await http.get(f"{url}/metrics")).text
    series = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match:
            series[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return series


def total(series: dict[str, float], name: str, *labels: str) -> float:
    return sum(
        v
        for k, v in series.items()
        if k.split("{")[0] == name and all(label in k for label in labels)
    )


async def test_metrics_move_and_one_concern_is_one_trace(
    bureau: LocalBureau,
    public_events: EventTap,
    http: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = {name: await scrape(http, bureau.url(name)) for name in bureau.services}
    answer = await http.post(
        f"{bureau.url('intake')}/v1/concerns", json=concern_body(), headers=FRONTEND
    )
    concern_id = answer.json()["id"]
    await public_events.wait_for(
        lambda m: (
            m.routing_key == "concern.escalated" and json.loads(m.body)["subject"] == concern_id
        ),
        timeout_s=30,
    )
    await public_events.wait_for(
        lambda m: (
            m.routing_key == "notification.sent" and json.loads(m.body)["subject"] == concern_id
        ),
        timeout_s=10,
    )
    after = {name: await scrape(http, bureau.url(name)) for name in bureau.services}

    def moved(service: str, name: str, *labels: str) -> bool:
        return total(after[service], name, *labels) > total(before[service], name, *labels)

    assert moved("intake", "bureau_concerns_received_total", 'channel="web"')
    assert moved("intake", "bureau_http_requests_total", 'route="/v1/concerns"', 'status="201"')
    assert moved("intake", "bureau_events_published_total", 'event="concern.submitted"')
    assert moved("triage", "bureau_events_consumed_total", 'outcome="handled"')
    assert moved("triage", "bureau_concern_stage_seconds_count", 'stage="triaged"')
    assert moved("escalation", "bureau_events_published_total", 'event="sla.breached"')
    assert moved("notify", "bureau_deliveries_total", 'status="sent"')

    ours = [
        json.loads(m.body)
        for m in public_events.messages
        if json.loads(m.body).get("subject") == concern_id
    ]
    assert {e["type"].split(".")[3] for e in ours} >= {"submitted", "triaged", "escalated"}
    trace_ids = {e["traceparent"].split("-")[1] for e in ours}
    assert trace_ids == {concern_id.replace("-", "")}

    for name in bureau.services:
        monkeypatch.setenv(f"{name.upper()}_URL", bureau.url(name))
    assert cli.service_health("intake")["ready"] is True
    assert all(cli.service_health(name)["ready"] for name in bureau.services)
