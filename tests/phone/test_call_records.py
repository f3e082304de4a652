"""Intake keeps the phone front door's call records: path, outcomes, time to answer, the
callback a voicemail promises, the caller's recent concern, and the Board's call report."""

# ruff: noqa: F811  (pytest fixtures imported from test_intake_api are parameters here)

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from shared.clock import FakeClock
from tests.conftest import bearer
from tests.integration.test_intake_api import clock, intake, submit  # noqa: F401

pytestmark = pytest.mark.integration

PHONE = bearer("frontend", sub="phone-frontend")
BOARD = bearer("assistant_superintendent", sub="as-north")
STAFF = bearer("specialist", sub="sd-lead")
SID = "CA" + "0" * 31 + "1"


async def test_a_voicemail_call_records_its_path_outcome_answer_time_and_callback(
    intake: httpx.AsyncClient, clock: FakeClock
) -> None:
    started = await intake.post("/v1/calls", json={"call_sid": SID}, headers=PHONE)
    assert started.status_code == 201, started.text
    again = await intake.post("/v1/calls", json={"call_sid": SID}, headers=PHONE)
    assert again.status_code == 200
    await intake.post(
        f"/v1/calls/{SID}/steps", json={"step": "language", "language": "es"}, headers=PHONE
    )
    clock.advance(timedelta(seconds=40))
    created = await submit(intake, channel="phone")
    due = (clock.now() + timedelta(hours=24)).isoformat()
    for _ in range(2):  # the provider retries: one callback, one outcome
        answer = await intake.post(
            f"/v1/calls/{SID}/voicemail",
            headers=PHONE,
            json={"concern_id": created["id"], "callback_due_at": due},
        )
        assert answer.status_code == 200, answer.text
    record = answer.json()
    assert record["path"] == ["language"]
    assert record["language"] == "es"
    assert record["outcomes"] == ["voicemail_left"]
    assert record["answered_after_s"] == 40.0
    assert record["concern_id"] == created["id"]
    case = (await intake.get(f"/v1/concerns/{created['id']}")).json()
    assert [c["due_at"] for c in case["callbacks"]] == [due.replace("+00:00", "Z")]

    ended = await intake.post(f"/v1/calls/{SID}/end", json={"duration_s": 75}, headers=PHONE)
    assert ended.json()["outcomes"] == ["voicemail_left"]
    report = (await intake.get("/v1/calls/report", headers=BOARD)).json()
    assert report["calls"] == 1
    assert report["by_outcome"]["voicemail_left"] == 1
    assert report["callbacks_scheduled"] == 1
    assert report["median_answer_s"] == 40.0


async def test_a_call_that_ends_without_an_outcome_counts_as_abandoned(
    intake: httpx.AsyncClient,
) -> None:
    sid = SID[:-1] + "2"
    await intake.post("/v1/calls", json={"call_sid": sid}, headers=PHONE)
    await intake.post(f"/v1/calls/{sid}/steps", json={"step": "menu"}, headers=PHONE)
    ended = await intake.post(f"/v1/calls/{sid}/end", json={}, headers=PHONE)
    assert ended.json()["outcomes"] == ["abandoned"]
    assert ended.json()["answered_after_s"] is None
    unknown = await intake.post(f"/v1/calls/{SID[:-1]}9/end", json={}, headers=PHONE)
    assert unknown.status_code == 404


async def test_the_recent_concern_of_a_number_is_its_latest_open_one_without_private_data(
    intake: httpx.AsyncClient, clock: FakeClock
) -> None:
    await submit(intake)
    clock.advance(timedelta(minutes=5))
    latest = await submit(
        intake, requester={"name": "Jo Park", "phone": "+15555550142", "language": "es"}
    )
    found = await intake.get(
        "/v1/calls/recent-concern", params={"phone": "+15555550142"}, headers=PHONE
    )
    assert found.status_code == 200, found.text
    assert found.json()["view"]["tracking_number"] == latest["tracking_number"]
    assert found.json()["language"] == "es"
    assert "Jo Park" not in found.text
    none = await intake.get(
        "/v1/calls/recent-concern", params={"phone": "+15555550999"}, headers=PHONE
    )
    assert none.status_code == 404


async def test_a_number_whose_concerns_are_all_done_is_told_its_latest_resolved_one_when_asked(
    intake: httpx.AsyncClient, clock: FakeClock
) -> None:
    # a text answering the survey of a resolved concern: the phone asks for done ones too
    number = "+15555550143"
    first = await submit(intake, requester={"phone": number, "language": "es"})
    clock.advance(timedelta(minutes=5))
    latest = await submit(intake, requester={"phone": number, "language": "es"})
    for concern in (first, latest):
        resolved = await intake.post(
            f"/v1/concerns/{concern['id']}/status",
            json={"status": "resolved", "reason": "route fixed"},
            headers=STAFF,
        )
        assert resolved.status_code == 200, resolved.text
    asked = {"phone": number}
    assert (
        await intake.get("/v1/calls/recent-concern", params=asked, headers=PHONE)
    ).status_code == 404
    found = await intake.get(
        "/v1/calls/recent-concern", params={**asked, "done": "true"}, headers=PHONE
    )
    assert found.status_code == 200, found.text
    assert found.json()["view"]["tracking_number"] == latest["tracking_number"]
    assert found.json()["view"]["status"] == "resolved" and found.json()["language"] == "es"
    # an open one still comes first
    reopened = await submit(intake, requester={"phone": number})
    found = await intake.get(
        "/v1/calls/recent-concern", params={**asked, "done": "true"}, headers=PHONE
    )
    assert found.json()["view"]["tracking_number"] == reopened["tracking_number"]


async def test_a_voicemail_for_an_unknown_or_closed_concern_is_refused_as_problem_details(
    intake: httpx.AsyncClient, clock: FakeClock
) -> None:
    await intake.post("/v1/calls", json={"call_sid": SID}, headers=PHONE)
    due = (clock.now() + timedelta(hours=24)).isoformat()
    unknown = await intake.post(
        f"/v1/calls/{SID}/voicemail",
        headers=PHONE,
        json={"concern_id": "no-such-concern", "callback_due_at": due},
    )
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert unknown.json()["title"] == "Concern not found"

    created = await submit(intake, channel="phone")
    resolved = await intake.post(
        f"/v1/concerns/{created['id']}/resolve", json={"summary": "Bus stop moved."}
    )
    assert resolved.status_code == 200, resolved.text
    refused = await intake.post(
        f"/v1/calls/{SID}/voicemail",
        headers=PHONE,
        json={"concern_id": created["id"], "callback_due_at": due},
    )
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["title"] == "Action not allowed"
    ended = await intake.post(f"/v1/calls/{SID}/end", json={"duration_s": 60}, headers=PHONE)
    assert "voicemail_left" not in ended.json()["outcomes"]  # nothing recorded for a refusal
