"""Nothing leaks: a planted student and requester, run through the four services, appear in
no public event, no log line, no error body, not in the requester's view nor in Open311."""

from __future__ import annotations

import json

import httpx
import pytest

from devtools.bureau import LocalBureau
from tests.conftest import bearer
from tests.e2e.conftest import FRONTEND, STAFF, EventTap, concern_body

pytestmark = pytest.mark.e2e

STUDENT = ("Lucia Gonzalez", "Lucia", "Gonzalez", "S-778812", "778812")
CONTACT = (
    "Maria Gonzalez",
    "maria.gonzalez@example.org",
    "maria.gonzalez",
    "+15555550123",
    "5555550123",
)
PLANTED = STUDENT + CONTACT


def assert_clean(where: str, text: str, planted: tuple[str, ...] = PLANTED) -> None:
    found = [p for p in planted if p.lower() in text.lower()]
    assert not found, f"{where} shows {found}"


async def test_student_and_contact_details_leak_nowhere(
    bureau: LocalBureau, public_events: EventTap, http: httpx.AsyncClient
) -> None:
    intake, triage = bureau.url("intake"), bureau.url("triage")
    escalation, notify = bureau.url("escalation"), bureau.url("notify")
    answer = await http.post(f"{intake}/v1/concerns", json=concern_body(), headers=FRONTEND)
    assert answer.status_code == 201, answer.text
    created = answer.json()
    concern_id, tracking = created["id"], created["tracking_number"]

    # error bodies: invalid submissions carrying the planted values are not echoed back
    invalid = [
        concern_body(student={"name": "Lucia Gonzalez", "student_id": "S-778812", "grade": "13"}),
        concern_body(
            requester={
                "name": "Maria Gonzalez",
                "email": "maria.gonzalez@example",
                "phone": "5555550123",
            }
        ),
        concern_body(category="Lucia Gonzalez S-778812"),
    ]
    for body in invalid:
        refused = await http.post(f"{intake}/v1/concerns", json=body, headers=FRONTEND)
        assert refused.status_code == 422, refused.text
        assert_clean("an error body", refused.text)

    # the concern goes all the way: triaged, acknowledged by mail, escalated, replied to
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
    replied = await http.post(
        f"{intake}/v1/concerns/{concern_id}/replies",
        headers=STAFF,
        json={"message": "We are looking into the bus route."},
    )
    assert replied.status_code == 200, replied.text
    reveal = await http.post(
        f"{intake}/v1/concerns/{concern_id}/student/reveal",
        headers=STAFF,
        json={"reason": "Calling the family back"},
    )
    assert reveal.json()["student"]["name"] == "Lucia Gonzalez"  # shown to this caller only
    record = await http.get(f"{intake}/v1/students/S-778812/disclosures", headers=bearer("auditor"))
    assert [e["kind"] for e in record.json()["entries"]][-1] == "revealed"

    await public_events.wait_for(
        lambda m: (
            m.routing_key == "concern.message_added" and json.loads(m.body)["subject"] == concern_id
        ),
        timeout_s=10,
    )

    # public events
    assert {"concern.submitted", "concern.triaged", "concern.escalated"} <= {
        m.routing_key for m in public_events.messages
    }
    for message in public_events.messages:
        assert_clean(f"event {message.routing_key}", message.body.decode())

    # the requester's view and Open311 (JSON and XML, one request and the list)
    token = {"X-Access-Token": created["access_token"]}
    status_page = await http.get(f"{intake}/v1/tracking/{tracking}", headers=token)
    assert status_page.status_code == 200
    assert_clean("the requester view", status_page.text)
    for url in (
        f"{intake}/open311/v2/requests/{tracking}.json",
        f"{intake}/open311/v2/requests/{tracking}.xml",
        f"{intake}/open311/v2/requests.json?service_request_id={tracking}",
    ):
        shown = await http.get(url)
        assert shown.status_code == 200 and tracking in shown.text
        assert_clean(f"Open311 {url}", shown.text)

    # staff views: the student masked, no requester contact anywhere
    case = await http.get(f"{intake}/v1/concerns/{concern_id}", headers=STAFF)
    assert case.json()["student"]["name"] == "L***a G***z"
    for where, url in (
        ("the case", f"{intake}/v1/concerns/{concern_id}"),
        ("the work queue", f"{intake}/v1/concerns"),
        ("the triage decision", f"{triage}/v1/concerns/{concern_id}/triage"),
        ("the SLA clock", f"{escalation}/v1/clocks/{concern_id}"),
        ("the deliveries", f"{notify}/v1/concerns/{concern_id}/deliveries"),
    ):
        shown = await http.get(url, headers=STAFF)
        assert shown.status_code == 200, (where, shown.text)
        assert_clean(where, shown.text)

    # every log line of every service
    for name in ("intake", "triage", "escalation", "notify"):
        log = (bureau.workdir / "logs" / f"{name}.log").read_text(errors="replace")
        assert "concern" in log  # the log was written, so its silence means something
        assert_clean(f"the {name} log", log)
