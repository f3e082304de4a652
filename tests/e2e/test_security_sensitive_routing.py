"""Security #2 across the four services (issue 15): a bus concern about a student with special
education services, routed to the Special Education Department, worked by its staff (a
callback, a merge) and escalated, tells nothing of that routing on the public exchange, where
any district system or webhook reads it beside the concern's tracking number."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from devtools.bureau import LocalBureau
from tests.conftest import bearer
from tests.e2e.conftest import FRONTEND, STAFF, EventTap, concern_body, eventually

pytestmark = pytest.mark.e2e

# what tells the routing: the team, its rule and tag, its people (ids and names)
TELLING = ("special", "sped-", "Jordan Blake", "Beth Carter")
SPED_STAFF = bearer("specialist", sub="sped-1", teams=["special-education"])


async def _routed(http: httpx.AsyncClient, triage: str, concern_id: str) -> dict[str, object]:
    async def decided() -> dict[str, object] | None:
        answer = await http.get(f"{triage}/v1/concerns/{concern_id}/triage", headers=STAFF)
        return dict(answer.json()) if answer.status_code == 200 else None

    return await eventually(decided, what=f"triage of {concern_id}")


async def test_a_special_education_routing_is_told_by_no_public_event(
    bureau: LocalBureau, public_events: EventTap, http: httpx.AsyncClient
) -> None:
    intake, triage = bureau.url("intake"), bureau.url("triage")
    student = {"name": "Lucia Gonzalez", "grade": "4", "special_education": True}
    ids = []
    for _ in range(2):  # the family wrote twice about the same bus
        answer = await http.post(
            f"{intake}/v1/concerns",
            json=concern_body(school_id=None, student=student),
            headers=FRONTEND,
        )
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    kept, duplicate = ids
    for concern_id in ids:
        assert (await _routed(http, triage, concern_id))["team_id"] == "special-education"

    due = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    callback = await http.post(
        f"{intake}/v1/concerns/{kept}/callbacks", json={"due_at": due}, headers=SPED_STAFF
    )
    assert callback.status_code == 200, callback.text
    merged = await http.post(
        f"{intake}/v1/concerns/{duplicate}/merge",
        json={"into": kept, "reason": "the same bus, written twice"},
        headers=SPED_STAFF,
    )
    assert merged.status_code == 200, merged.text
    # the test policy's seconds: the kept concern breaches and escalates
    for name in ("concern.escalated", "concern.merged", "concern.callback_scheduled"):
        await public_events.wait_for(
            lambda m, name=name: m.routing_key == name and json.loads(m.body)["subject"] in ids,
            timeout_s=30,
        )

    told = {
        m.routing_key: m.body.decode()
        for m in public_events.messages
        if json.loads(m.body)["subject"] in ids
        and any(word.lower() in m.body.decode().lower() for word in TELLING)
    }
    assert told == {}, "\n".join(told.values())
