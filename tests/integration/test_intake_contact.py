"""The requester's contact for a callback: staff with a legitimate interest in the concern
(its school or team) see it with a reason, each access recorded; nobody else does."""

# ruff: noqa: F811  (pytest fixtures imported from test_intake_api are parameters here)

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from shared.clock import FakeClock
from tests.conftest import bearer
from tests.integration.test_intake_api import clock, intake, submit  # noqa: F401

pytestmark = pytest.mark.integration

REASON = {"reason": "Calling the parent back about the transfer"}


async def test_staff_of_the_concern_see_the_contact_with_a_reason_and_each_access_is_recorded(
    intake: httpx.AsyncClient,
) -> None:
    created = await submit(intake)  # Roosevelt Middle School; Jo Park, email and phone
    url = f"/v1/concerns/{created['id']}/requester/reveal"
    no_reason = await intake.post(url, json={})
    auditor = await intake.post(url, json=REASON, headers=bearer("auditor"))
    other_school = await intake.post(
        url, json=REASON, headers=bearer("principal", sub="p-lincoln", schools=["lincoln-es"])
    )
    principal = await intake.post(
        url, json=REASON, headers=bearer("principal", sub="p-roosevelt", schools=["roosevelt-ms"])
    )
    accesses = await intake.get(
        f"/v1/concerns/{created['id']}/requester/accesses", headers=bearer("auditor")
    )
    listed = await intake.get("/v1/concerns")

    assert no_reason.status_code == 422
    assert (auditor.status_code, other_school.status_code) == (403, 403)
    assert principal.status_code == 200, principal.text
    contact = principal.json()
    assert (contact["name"], contact["email"], contact["phone"]) == (
        "Jo Park",
        "jo.park@example.org",
        "+15555550142",
    )
    assert principal.headers["cache-control"] == "no-store"
    assert [(a["actor"], a["reason"]) for a in accesses.json()] == [
        ("p-roosevelt", REASON["reason"])
    ]
    assert accesses.json()[0]["id"] == contact["disclosure_id"]
    assert "jo.park@example.org" not in listed.text and "+15555550142" not in listed.text


async def test_an_anonymous_requester_has_no_contact_to_reveal(intake: httpx.AsyncClient) -> None:
    created = await submit(intake, requester={})
    answer = await intake.post(f"/v1/concerns/{created['id']}/requester/reveal", json=REASON)
    assert answer.status_code == 404


async def test_staff_find_a_familys_earlier_concerns_by_email_or_phone_within_their_reach(
    intake: httpx.AsyncClient, clock: FakeClock
) -> None:
    first = await submit(intake)  # Roosevelt; jo.park@example.org, +15555550142
    clock.advance(timedelta(minutes=5))
    second = await submit(
        intake,
        school_id="lincoln-es",
        requester={"email": "Jo.Park@Example.org ", "language": "en"},
    )
    stranger = await submit(
        intake, requester={"email": "someone.else@example.org", "language": "en"}
    )
    search = "/v1/concerns/requester-search"
    why = "The family is on the phone about earlier concerns"
    by_email = await intake.post(search, json={"requester": "JO.PARK@example.org", "reason": why})
    by_phone = await intake.post(search, json={"requester": "+1 555 555 0142", "reason": why})
    principal = await intake.post(
        search,
        json={"requester": "jo.park@example.org", "reason": why},
        headers=bearer("principal", sub="p-roosevelt", schools=["roosevelt-ms"]),
    )
    nonsense = await intake.post(search, json={"requester": "jo park", "reason": why})
    no_reason = await intake.post(search, json={"requester": "jo.park@example.org"})
    accesses = await intake.get(
        f"/v1/concerns/{first['id']}/requester/accesses", headers=bearer("auditor")
    )
    stored = await intake.get(f"/v1/concerns/{first['id']}")

    assert by_email.status_code == 200, by_email.text
    assert [c["id"] for c in by_email.json()["items"]] == [second["id"], first["id"]]
    assert [c["id"] for c in by_phone.json()["items"]] == [first["id"]]
    assert [c["id"] for c in principal.json()["items"]] == [first["id"]]  # not Lincoln's
    assert stranger["id"] not in by_email.text
    assert (nonsense.status_code, no_reason.status_code) == (422, 422)
    assert "jo.park" not in by_email.text.lower() and "requester_keys" not in stored.text
    searches = [a for a in accesses.json() if a["kind"] == "requester_searched"]
    assert [(a["actor"], a["reason"]) for a in searches] == [
        ("agent-7", why),
        ("agent-7", why),
        ("p-roosevelt", why),
    ]


async def test_a_cases_other_concerns_from_the_same_family_are_found_without_typing_contact(
    intake: httpx.AsyncClient,
) -> None:
    first = await submit(intake)  # Roosevelt; jo.park@example.org, +15555550142
    by_phone = await submit(
        intake, school_id="lincoln-es", requester={"phone": "+15555550142", "language": "en"}
    )
    anonymous = await submit(intake, requester={})
    search = "/v1/concerns/requester-search"
    why = "Looking at this family's other concerns"
    others = await intake.post(search, json={"concern_id": first["id"], "reason": why})
    principal = await intake.post(
        search,
        json={"concern_id": by_phone["id"], "reason": why},
        headers=bearer("principal", sub="p-roosevelt", schools=["roosevelt-ms"]),
    )
    nobody = await intake.post(search, json={"concern_id": anonymous["id"], "reason": why})
    both = await intake.post(
        search, json={"concern_id": first["id"], "requester": "+15555550142", "reason": why}
    )

    assert [c["id"] for c in others.json()["items"]] == [by_phone["id"]]
    assert principal.status_code == 403  # that concern is Lincoln's, not theirs
    assert nobody.json()["items"] == []
    assert both.status_code == 422


async def test_a_call_center_agent_finds_the_callers_concerns_and_the_search_is_recorded(
    intake: httpx.AsyncClient,
) -> None:
    first = await submit(intake)  # Roosevelt; jo.park@example.org, +15555550142
    second = await submit(intake, school_id="lincoln-es")
    agent = bearer("intake_agent", sub="cc-9")
    why = "The caller on the phone asks about her concerns"
    found = await intake.post(
        "/v1/concerns/requester-search",
        json={"requester": "+15555550142", "reason": why},
        headers=agent,
    )
    reveal = await intake.post(
        f"/v1/concerns/{first['id']}/requester/reveal", json=REASON, headers=agent
    )
    accesses = await intake.get(
        f"/v1/concerns/{second['id']}/requester/accesses", headers=bearer("auditor")
    )

    assert found.status_code == 200, found.text
    assert {c["id"] for c in found.json()["items"]} == {first["id"], second["id"]}
    assert found.headers["cache-control"] == "no-store"
    assert reveal.status_code == 403  # finding a caller's concerns is not working them
    assert [(a["kind"], a["actor"], a["reason"]) for a in accesses.json()] == [
        ("requester_searched", "cc-9", why)
    ]
