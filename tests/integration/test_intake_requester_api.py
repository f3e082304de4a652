"""The requester's side in-process: the status page by tracking number and token, its
privacy, messages, and reopening within 14 days."""

# ruff: noqa: F811  (pytest fixtures imported from test_intake_api are parameters here)

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from shared.clock import FakeClock
from tests.conftest import bearer
from tests.integration.test_intake_api import body, clock, intake, submit  # noqa: F401

pytestmark = pytest.mark.integration

STAFF = bearer("specialist", sub="tr-lead")
PLANTED = (
    "Lucia Gonzalez",
    "S-778812",
    "jo.park@example.org",
    "+15555550142",
    "Jo Park",
    "private note text",
    "tr-lead",
    "Ana Kowalski",
)


async def open_case(intake: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, str]]:
    created = await submit(
        intake, student={"name": "Lucia Gonzalez", "student_id": "S-778812", "grade": "4"}
    )
    return created, {"X-Access-Token": created["access_token"]}


async def staff(
    intake: httpx.AsyncClient, concern_id: str, action: str, json: dict[str, Any] | None = None
) -> None:
    answer = await intake.post(f"/v1/concerns/{concern_id}/{action}", json=json, headers=STAFF)
    assert answer.status_code == 200, answer.text


async def test_requester_sees_status_due_time_public_replies_and_resolution_only(
    intake: httpx.AsyncClient,
) -> None:
    created, token = await open_case(intake)
    await staff(intake, created["id"], "notes", {"note": "private note text"})
    await staff(intake, created["id"], "replies", {"message": "We are checking the route."})
    await staff(intake, created["id"], "resolve", {"summary": "A new stop was added."})
    answer = await intake.get(f"/v1/tracking/{created['tracking_number']}", headers=token)
    assert answer.status_code == 200
    view = answer.json()
    assert view["status"] == "resolved"
    assert view["resolution_due_at"] == created["resolution_due_at"]
    assert view["category_name"] == "Enrollment"
    assert [m["text"] for m in view["messages"]] == ["We are checking the route."]
    assert view["messages"][0]["author"] == "staff"
    assert view["resolution"]["summary"] == "A new stop was added."
    assert view["can_reopen_until"] is not None
    for secret in PLANTED:
        assert secret not in answer.text, secret
    assert "description" not in view and "transfer schools" not in answer.text


async def test_wrong_token_looks_exactly_like_an_unknown_tracking_number(
    intake: httpx.AsyncClient,
) -> None:
    created, token = await open_case(intake)
    other, _ = await open_case(intake)
    wrong = await intake.get(
        f"/v1/tracking/{created['tracking_number']}",
        headers={"X-Access-Token": other["access_token"]},
    )
    unknown = await intake.get("/v1/tracking/CS-1999-000001", headers=token)
    garbage = await intake.get(
        f"/v1/tracking/{created['tracking_number']}", headers={"X-Access-Token": "x"}
    )
    assert wrong.status_code == unknown.status_code == garbage.status_code == 404
    assert wrong.json() | {"instance": None} == unknown.json() | {"instance": None}
    assert wrong.json() | {"instance": None} == garbage.json() | {"instance": None}
    post = await intake.post(
        f"/v1/tracking/{created['tracking_number']}/messages",
        json={"message": "hi"},
        headers={"X-Access-Token": other["access_token"]},
    )
    assert post.status_code == 404


async def test_missing_token_is_a_422_naming_the_header(intake: httpx.AsyncClient) -> None:
    created, _ = await open_case(intake)
    answer = await intake.get(f"/v1/tracking/{created['tracking_number']}")
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "header.X-Access-Token"


async def test_requester_answer_ends_the_wait_for_information(intake: httpx.AsyncClient) -> None:
    created, token = await open_case(intake)
    await staff(intake, created["id"], "request-information", {"message": "Which stop?"})
    answer = await intake.post(
        f"/v1/tracking/{created['tracking_number']}/messages",
        json={"message": "Oak Street and 5th"},
        headers=token,
    )
    assert answer.status_code == 200
    assert answer.json()["status"] == "acknowledged"
    assert [m["author"] for m in answer.json()["messages"]] == ["staff", "requester"]
    case = (await intake.get(f"/v1/concerns/{created['id']}")).json()
    assert case["timeline"][-1]["kind"] == "requester_message"
    assert case["timeline"][-1]["actor"] == "requester"


async def test_requester_may_reopen_within_14_days_but_not_after(
    intake: httpx.AsyncClient, clock: FakeClock
) -> None:
    first, first_token = await open_case(intake)
    second, second_token = await open_case(intake)
    for created in (first, second):
        await staff(intake, created["id"], "resolve", {"summary": "done"})
    clock.advance(timedelta(days=13, hours=23))
    reopened = await intake.post(
        f"/v1/tracking/{first['tracking_number']}/reopen",
        json={"reason": "The bus skipped us again."},
        headers=first_token,
    )
    assert reopened.status_code == 200
    assert reopened.json()["status"] == "reopened"
    clock.advance(timedelta(hours=2))
    late = await intake.post(
        f"/v1/tracking/{second['tracking_number']}/reopen", headers=second_token
    )
    assert late.status_code == 409
    assert "14 days" in late.json()["detail"]
    assert (
        await intake.get(f"/v1/tracking/{second['tracking_number']}", headers=second_token)
    ).json()["can_reopen_until"] is None


async def test_requester_cannot_reopen_an_open_concern_or_write_to_a_closed_one(
    intake: httpx.AsyncClient,
) -> None:
    created, token = await open_case(intake)
    early = await intake.post(f"/v1/tracking/{created['tracking_number']}/reopen", headers=token)
    assert early.status_code == 409
    await staff(intake, created["id"], "resolve", {"summary": "done"})
    await staff(intake, created["id"], "close")
    late = await intake.post(
        f"/v1/tracking/{created['tracking_number']}/messages",
        json={"message": "one more thing"},
        headers=token,
    )
    assert late.status_code == 409


async def test_requester_message_is_validated(intake: httpx.AsyncClient) -> None:
    created, token = await open_case(intake)
    for payload in ({"message": ""}, {"message": "x" * 5001}, {}):
        answer = await intake.post(
            f"/v1/tracking/{created['tracking_number']}/messages", json=payload, headers=token
        )
        assert answer.status_code == 422


async def test_tracking_lookups_are_rate_limited_per_address(intake: httpx.AsyncClient) -> None:
    created, token = await open_case(intake)
    url = f"/v1/tracking/{created['tracking_number']}"
    answers = [await intake.get(url, headers={"X-Access-Token": "guess"}) for _ in range(30)]
    assert {a.status_code for a in answers} == {404}
    refused = await intake.get(url, headers=token)  # even the right token must wait now
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["content-type"].startswith("application/problem+json")


async def test_closing_a_resolved_concern_keeps_the_reopen_window_the_family_was_promised(
    intake: httpx.AsyncClient,
) -> None:
    created, token = await open_case(intake)
    await staff(intake, created["id"], "resolve", {"summary": "A new stop was added."})
    await staff(intake, created["id"], "close", {"reason": "resolved and confirmed"})
    tracking = created["tracking_number"]
    view = (await intake.get(f"/v1/tracking/{tracking}", headers=token)).json()
    reopened = await intake.post(
        f"/v1/tracking/{tracking}/reopen",
        headers=token,
        json={"reason": "The stop is still skipped."},
    )

    assert view["status"] == "closed" and view["can_reopen_until"] is not None
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["status"] == "reopened"
