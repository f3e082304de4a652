"""Which concern a text or a reply reaches when the family has more than one: on the real
store, in-process."""

# ruff: noqa: F811  (pytest fixtures imported from test_intake_api are parameters here)

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from shared.clock import FakeClock
from tests.conftest import bearer
from tests.integration.test_intake_api import clock, intake, submit  # noqa: F401

pytestmark = pytest.mark.integration

FRONTEND = bearer("frontend", sub="phone-frontend")
STAFF = bearer("specialist", sub="tr-lead")
NUMBER = "+15555550142"


async def ask(intake: httpx.AsyncClient, concern_id: str) -> None:
    asked = await intake.post(
        f"/v1/concerns/{concern_id}/request-information",
        json={"message": "Which stop?"},
        headers=STAFF,
    )
    assert asked.status_code == 200, asked.text


async def text(intake: httpx.AsyncClient, body: str) -> httpx.Response:
    return await intake.post(
        "/v1/inbound/messages",
        json={"channel": "sms", "from_address": NUMBER, "body": body},
        headers=FRONTEND,
    )


async def test_a_text_answers_the_concern_waiting_on_the_family_not_a_newer_one(
    intake: httpx.AsyncClient, clock: FakeClock
) -> None:
    waiting = await submit(intake)
    clock.advance(timedelta(minutes=5))
    await ask(intake, waiting["id"])
    clock.advance(timedelta(minutes=5))
    newer = await submit(intake)
    answer = await text(intake, "Elm and 5th.")
    assert answer.status_code == 200, answer.text
    assert answer.json()["concern_id"] == waiting["id"]
    assert answer.json()["outcome"] == "requester_message"
    case = (await intake.get(f"/v1/concerns/{waiting['id']}", headers=STAFF)).json()
    assert case["status"] == "acknowledged"
    assert case["messages"][-1]["text"] == "Elm and 5th."
    untouched = (await intake.get(f"/v1/concerns/{newer['id']}", headers=STAFF)).json()
    assert untouched["messages"] == []


async def test_once_answered_the_next_text_goes_to_the_most_recent_open_concern(
    intake: httpx.AsyncClient, clock: FakeClock
) -> None:
    waiting = await submit(intake)
    await ask(intake, waiting["id"])
    clock.advance(timedelta(minutes=5))
    newer = await submit(intake)
    first = await text(intake, "Elm and 5th.")
    assert first.json()["concern_id"] == waiting["id"]
    second = await text(intake, "And the bus was late again today.")
    assert second.json()["concern_id"] == newer["id"]


async def test_a_caller_is_offered_the_concern_waiting_on_them_first(
    intake: httpx.AsyncClient, clock: FakeClock
) -> None:
    waiting = await submit(intake)
    await ask(intake, waiting["id"])
    clock.advance(timedelta(minutes=5))
    await submit(intake)
    found = await intake.get("/v1/calls/recent-concern", params={"phone": NUMBER}, headers=FRONTEND)
    assert found.status_code == 200, found.text
    assert found.json()["view"]["tracking_number"] == waiting["tracking_number"]


async def merge(intake: httpx.AsyncClient, concern_id: str, into: str) -> None:
    merged = await intake.post(
        f"/v1/concerns/{concern_id}/merge",
        json={"into": into, "reason": "the same bus"},
        headers=STAFF,
    )
    assert merged.status_code == 200, merged.text


async def mail(intake: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    message = {
        "channel": "email",
        "from_address": "jo.park@example.org",
        "body": "The bus was late again.",
    } | fields
    return await intake.post("/v1/inbound/messages", json=message, headers=FRONTEND)


async def timeline(intake: httpx.AsyncClient, concern_id: str) -> list[dict[str, Any]]:
    answer = await intake.get(f"/v1/concerns/{concern_id}/timeline", headers=STAFF)
    return [e for e in answer.json() if e["kind"] == "unverified_message"]


@pytest.mark.parametrize("by", ["tracking_number", "references"])
async def test_a_reply_to_a_merged_concern_reaches_the_one_it_was_merged_into(
    intake: httpx.AsyncClient, by: str
) -> None:
    kept = await submit(intake)
    merged = await submit(intake)
    await merge(intake, merged["id"], kept["id"])
    about = (
        {"tracking_number": merged["tracking_number"]}
        if by == "tracking_number"
        else {"references": [f"<{merged['id']}.0a1b2c@district.example>"]}
    )
    answer = await mail(intake, **about)
    assert answer.status_code == 200, answer.text
    assert answer.json()["concern_id"] == kept["id"]
    assert answer.json()["tracking_number"] == kept["tracking_number"]
    assert answer.json()["outcome"] == "requester_message"
    case = (await intake.get(f"/v1/concerns/{kept['id']}", headers=STAFF)).json()
    assert case["messages"][-1]["text"] == "The bus was late again."
    assert await timeline(intake, merged["id"]) == []


async def test_a_reply_to_a_merged_concern_from_another_family_is_kept_for_staff_there(
    intake: httpx.AsyncClient,
) -> None:
    kept = await submit(intake)
    other = {"name": "Ana Ruiz", "email": "ana.ruiz@example.org", "language": "es"}
    merged = await submit(intake, requester=other)
    await merge(intake, merged["id"], kept["id"])
    answer = await mail(
        intake, tracking_number=merged["tracking_number"], from_address="ana.ruiz@example.org"
    )
    assert answer.json()["outcome"] == "unverified"
    assert answer.json()["concern_id"] == kept["id"]
    case = (await intake.get(f"/v1/concerns/{kept['id']}", headers=STAFF)).json()
    assert case["messages"] == []
    assert [e["sender"] for e in await timeline(intake, kept["id"])] == ["ana.ruiz@example.org"]


async def test_a_merge_is_followed_once_not_along_a_chain(intake: httpx.AsyncClient) -> None:
    last = await submit(intake)
    middle = await submit(intake)
    first = await submit(intake)
    await merge(intake, first["id"], middle["id"])
    await merge(intake, middle["id"], last["id"])
    answer = await mail(intake, tracking_number=first["tracking_number"])
    assert answer.json()["concern_id"] == middle["id"]
    assert answer.json()["outcome"] == "unverified"
    assert answer.json()["reason"] == "the concern is closed"
    case = (await intake.get(f"/v1/concerns/{last['id']}", headers=STAFF)).json()
    assert case["messages"] == []
