"""One concern through the four services, over HTTP, RabbitMQ, MongoDB and SMTP."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from devtools.bureau import LocalBureau
from tests.e2e.conftest import FRONTEND, STAFF, EventTap, concern_body, eventually

pytestmark = pytest.mark.e2e

PLANTED = (
    "Lucia Gonzalez",
    "S-778812",
    "maria.gonzalez@example.org",
    "+15555550123",
    "Maria Gonzalez",
    "skipped our stop",
)


async def test_concern_is_triaged_acknowledged_and_escalated_when_its_clock_runs_out(
    bureau: LocalBureau, public_events: EventTap, http: httpx.AsyncClient
) -> None:
    answer = await http.post(
        f"{bureau.url('intake')}/v1/concerns", json=concern_body(), headers=FRONTEND
    )
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["status"] == "received"
    assert created["tracking_number"].startswith("CS-")
    concern_id = created["id"]

    async def triaged() -> dict | None:
        case = (
            await http.get(f"{bureau.url('intake')}/v1/concerns/{concern_id}", headers=STAFF)
        ).json()
        return case if case.get("team") else None

    case = await eventually(triaged, what="triage")
    assert case["team"]["id"] == "transportation"
    assert case["priority"] == "normal"

    assert bureau.smtp is not None
    mails = bureau.smtp.wait_for(
        lambda m: (
            created["tracking_number"] in m.text and m.recipients == ("maria.gonzalez@example.org",)
        ),
        timeout_s=20,
    )
    assert len(mails) == 1

    escalated = await public_events.wait_for(
        lambda m: (
            m.routing_key == "concern.escalated" and json.loads(m.body)["subject"] == concern_id
        ),
        timeout_s=30,
    )
    data = json.loads(escalated.body)["data"]
    assert data["level"] == 1
    assert data["role"] == "principal"
    assert data["escalated_to"] == "p-lincoln"

    async def shows_escalation() -> dict | None:
        case = (
            await http.get(f"{bureau.url('intake')}/v1/concerns/{concern_id}", headers=STAFF)
        ).json()
        return case if case.get("escalation") else None

    assert (await eventually(shows_escalation, what="escalation on the case"))["escalation"][
        "level"
    ] >= 1


async def test_public_events_carry_no_student_or_contact_information(
    bureau: LocalBureau, public_events: EventTap, http: httpx.AsyncClient
) -> None:
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
    seen = {m.routing_key for m in public_events.messages}
    assert {"concern.submitted", "concern.triaged", "sla.breached"} <= seen
    for message in public_events.messages:
        body = message.body.decode()
        for secret in PLANTED:
            assert secret not in body, f"{message.routing_key} leaks {secret!r}"


async def test_resolved_concern_is_not_escalated(
    bureau: LocalBureau, public_events: EventTap, http: httpx.AsyncClient
) -> None:
    intake = bureau.url("intake")
    concern_id = (
        await http.post(f"{intake}/v1/concerns", json=concern_body(), headers=FRONTEND)
    ).json()["id"]
    resolved = await http.post(
        f"{intake}/v1/concerns/{concern_id}/status",
        json={"status": "resolved", "reason": "bus route fixed"},
        headers=STAFF,
    )
    assert resolved.status_code == 200, resolved.text
    await public_events.wait_for(
        lambda m: (
            m.routing_key == "concern.resolved" and json.loads(m.body)["subject"] == concern_id
        )
    )

    async def stopped_clock() -> dict[str, Any] | None:
        answer = await http.get(f"{bureau.url('escalation')}/v1/clocks/{concern_id}", headers=STAFF)
        ok = answer.status_code == 200 and answer.json()["status"] == "stopped"
        return dict(answer.json()) if ok else None

    clock = await eventually(stopped_clock, what="the SLA clock stopped by the resolution")
    # A stopped clock fires nothing more, and a breach is written to its history together
    # with its sla.breached event: none there, none ever published.
    assert "breached" not in [entry["kind"] for entry in clock["history"]]
    assert clock["breached_at"] is None
    again = await http.post(
        f"{intake}/v1/concerns/{concern_id}/status", json={"status": "acknowledged"}, headers=STAFF
    )
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
