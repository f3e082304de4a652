"""The staff side of intake in-process, on the real store and broker: every action of the
state machine over HTTP, refusals, ETag/If-Match, events, work queues and counts."""

# ruff: noqa: F811  (pytest fixtures imported from test_intake_api are parameters here)

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import aio_pika
import httpx
import pytest

from shared.clock import FakeClock
from tests.conftest import Isolation, bearer
from tests.integration.test_intake_api import clock, drain, intake, submit, tap  # noqa: F401

pytestmark = pytest.mark.integration

STAFF = bearer("specialist", sub="sd-lead")


async def act(
    intake: httpx.AsyncClient,
    concern_id: str,
    action: str,
    json: dict[str, Any] | None = None,
    *,
    if_match: str | None = None,
) -> httpx.Response:
    headers = {**STAFF, **({"If-Match": if_match} if if_match is not None else {})}
    return await intake.post(f"/v1/concerns/{concern_id}/{action}", json=json, headers=headers)


async def test_a_case_walks_every_action_and_records_who_did_what_and_when(
    intake: httpx.AsyncClient, clock: FakeClock
) -> None:
    concern_id = (await submit(intake))["id"]
    steps: list[tuple[str, dict[str, Any] | None, str]] = [
        ("acknowledge", None, "acknowledged"),
        ("request-information", {"message": "Which grade is your child in?"}, "awaiting_requester"),
        ("resume", {"reason": "answered by phone"}, "acknowledged"),
        ("replies", {"message": "We found a seat at Roosevelt."}, "acknowledged"),
        ("notes", {"note": "Checked capacity with the registrar."}, "acknowledged"),
        ("callbacks", {"due_at": (clock.now() + timedelta(hours=4)).isoformat()}, "acknowledged"),
        ("resolve", {"summary": "Transfer approved from Monday."}, "resolved"),
        ("reopen", {"reason": "Parent says the bus is missing"}, "reopened"),
        ("resolve", {"summary": "Bus added."}, "resolved"),
        ("close", None, "closed"),
    ]
    for action, payload, expected in steps:
        clock.advance(timedelta(minutes=1))
        answer = await act(intake, concern_id, action, payload)
        assert answer.status_code == 200, (action, answer.text)
        assert answer.json()["status"] == expected, action
    case = (await intake.get(f"/v1/concerns/{concern_id}")).json()
    kinds = [e["kind"] for e in case["timeline"]]
    assert kinds == [
        "submitted",
        "acknowledge",
        "request_information",
        "resume",
        "reply",
        "note",
        "schedule_callback",
        "resolve",
        "reopen",
        "resolve",
        "close",
    ]
    assert {e["actor"] for e in case["timeline"][1:]} == {"sd-lead"}
    assert [h["to"] for h in case["history"]] == [
        "received",
        "acknowledged",
        "awaiting_requester",
        "acknowledged",
        "resolved",
        "reopened",
        "resolved",
        "closed",
    ]
    assert all(h["actor"] for h in case["history"])
    assert [(m["visibility"], m["author"]) for m in case["messages"]] == [
        ("public", "staff"),
        ("public", "staff"),
        ("internal", "staff"),
    ]
    assert case["resolution"]["summary"] == "Bus added."
    assert case["callbacks"][0]["actor"] == "sd-lead"
    assert case["version"] == 11
    timeline = (await intake.get(f"/v1/concerns/{concern_id}/timeline")).json()
    assert [e["kind"] for e in timeline] == kinds


@pytest.mark.parametrize(
    ("setup", "action", "payload"),
    [
        ([], "close", None),
        ([], "resume", None),
        ([], "reopen", None),
        ([("acknowledge", None)], "acknowledge", None),
        ([("resolve", {"summary": "done"})], "replies", {"message": "hello"}),
        ([("resolve", {"summary": "done"}), ("close", None)], "reopen", None),
        ([("resolve", {"summary": "done"}), ("close", None)], "resolve", {"summary": "again"}),
    ],
)
async def test_an_action_the_lifecycle_forbids_is_a_409_problem_and_changes_nothing(
    intake: httpx.AsyncClient,
    setup: list[tuple[str, dict[str, Any] | None]],
    action: str,
    payload: dict[str, Any] | None,
) -> None:
    concern_id = (await submit(intake))["id"]
    for step, step_payload in setup:
        assert (await act(intake, concern_id, step, step_payload)).status_code == 200
    before = (await intake.get(f"/v1/concerns/{concern_id}")).json()
    answer = await act(intake, concern_id, action, payload)
    assert answer.status_code == 409
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "not possible" in answer.json()["detail"]
    assert (await intake.get(f"/v1/concerns/{concern_id}")).json() == before


async def test_a_note_is_possible_even_on_a_closed_case(intake: httpx.AsyncClient) -> None:
    concern_id = (await submit(intake))["id"]
    await act(intake, concern_id, "resolve", {"summary": "done"})
    await act(intake, concern_id, "close")
    assert (await act(intake, concern_id, "notes", {"note": "audit"})).status_code == 200


@pytest.mark.parametrize(
    ("action", "payload", "field"),
    [
        ("resolve", {}, "summary"),
        ("resolve", {"summary": "   "}, "summary"),
        ("replies", {"message": ""}, "message"),
        ("request-information", {}, "message"),
        ("notes", {"note": "x" * 5001}, "note"),
        ("callbacks", {"due_at": "2020-01-01T00:00:00Z"}, "due_at"),
        ("callbacks", {"due_at": "2030-01-01T00:00:00"}, "due_at"),
        ("merge", {"into": "CS-1999-000001", "reason": "dup"}, "into"),
        ("acknowledge", {"reason": "ok", "extra": 1}, "extra"),
    ],
)
async def test_an_invalid_action_body_is_a_422_naming_the_field(
    intake: httpx.AsyncClient, action: str, payload: dict[str, Any], field: str
) -> None:
    concern_id = (await submit(intake))["id"]
    answer = await act(intake, concern_id, action, payload)
    assert answer.status_code == 422, answer.text
    assert field in {e["field"] for e in answer.json()["errors"]}


async def test_action_on_an_unknown_concern_is_a_404(intake: httpx.AsyncClient) -> None:
    assert (await act(intake, "nope", "acknowledge")).status_code == 404


async def test_stale_if_match_is_a_412_and_current_if_match_succeeds(
    intake: httpx.AsyncClient,
) -> None:
    concern_id = (await submit(intake))["id"]
    read = await intake.get(f"/v1/concerns/{concern_id}")
    etag = read.headers["ETag"]
    assert etag == '"1"'
    first = await act(intake, concern_id, "notes", {"note": "mine"}, if_match=etag)
    assert first.status_code == 200
    assert first.headers["ETag"] == '"2"'
    stale = await act(intake, concern_id, "acknowledge", if_match=etag)
    assert stale.status_code == 412
    assert stale.json()["current_version"] == 2
    assert (await intake.get(f"/v1/concerns/{concern_id}")).json()["status"] == "received"
    fresh = await act(intake, concern_id, "acknowledge", if_match=first.headers["ETag"])
    assert fresh.status_code == 200


async def test_concurrent_edits_with_the_same_etag_let_exactly_one_through(
    intake: httpx.AsyncClient,
) -> None:
    concern_id = (await submit(intake))["id"]
    etag = (await intake.get(f"/v1/concerns/{concern_id}")).headers["ETag"]
    answers = await asyncio.gather(
        *(act(intake, concern_id, "notes", {"note": f"note {i}"}, if_match=etag) for i in range(6))
    )
    assert sorted(a.status_code for a in answers) == [200] + [412] * 5
    case = (await intake.get(f"/v1/concerns/{concern_id}")).json()
    assert len(case["messages"]) == 1


async def test_concurrent_edits_without_if_match_all_apply(intake: httpx.AsyncClient) -> None:
    concern_id = (await submit(intake))["id"]
    answers = await asyncio.gather(
        *(act(intake, concern_id, "notes", {"note": f"n{i}"}) for i in range(4))
    )
    assert {a.status_code for a in answers} == {200}
    assert len((await intake.get(f"/v1/concerns/{concern_id}")).json()["messages"]) == 4


async def test_a_malformed_if_match_never_matches(intake: httpx.AsyncClient) -> None:
    concern_id = (await submit(intake))["id"]
    answer = await act(intake, concern_id, "acknowledge", if_match="yesterday")
    assert answer.status_code == 412


async def test_public_reply_shares_its_text_only_on_the_private_exchange(
    intake: httpx.AsyncClient, amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation
) -> None:
    public = await tap(amqp, isolation.events_exchange)
    private = await tap(amqp, isolation.private_exchange)
    concern_id = (await submit(intake))["id"]
    await act(intake, concern_id, "notes", {"note": "internal words"})
    await act(intake, concern_id, "replies", {"message": "public words"})
    events = await drain(public, until="concern.status_changed")
    added = [e for e in events if e["type"] == "org.bureau.concern.message_added.v1"]
    assert [e["data"]["visibility"] for e in added] == ["internal", "public"]
    assert "words" not in str(events)
    shared = await drain(private, until="concern.reply_shared")
    reply = shared[-1]["data"]
    assert reply["text"] == "public words" and reply["concern_id"] == concern_id
    assert reply["author_name"] is None  # the example district does not show staff names
    assert "internal words" not in str(shared)


async def test_resolve_publishes_resolved_and_shares_the_summary_privately(
    intake: httpx.AsyncClient, amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation
) -> None:
    public = await tap(amqp, isolation.events_exchange)
    private = await tap(amqp, isolation.private_exchange)
    concern_id = (await submit(intake))["id"]
    await act(intake, concern_id, "resolve", {"summary": "Route fixed from Monday"})
    events = await drain(public, until="concern.resolved")
    changed = next(e for e in events if e["type"] == "org.bureau.concern.status_changed.v1")
    assert changed["data"]["to_status"] == "resolved" and changed["subject"] == concern_id
    assert "Route fixed" not in str(events)
    # what was done reaches notify privately, for the family's resolution message
    shared = (await drain(private, until="concern.resolution_shared"))[-1]["data"]
    assert (shared["concern_id"], shared["summary"]) == (concern_id, "Route fixed from Monday")


async def test_merge_closes_the_duplicate_publishing_the_merge_and_links_both(
    intake: httpx.AsyncClient, amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation
) -> None:
    public = await tap(amqp, isolation.events_exchange)
    original = await submit(intake)
    duplicate = await submit(intake)
    answer = await act(
        intake,
        duplicate["id"],
        "merge",
        {"into": original["tracking_number"], "reason": "same bus"},
    )
    assert answer.status_code == 200
    assert answer.json()["status"] == "closed"
    assert answer.json()["merged_into"] == original["id"]
    events = await drain(public, until="concern.merged")
    assert events[-1]["subject"] == duplicate["id"]
    assert events[-1]["data"]["into_concern_id"] == original["id"]
    assert events[-1]["data"]["decided_by"] == "sd-lead"
    assert "same bus" not in str(events[-1])  # the reason stays on the case
    changed = [e for e in events if e["type"] == "org.bureau.concern.status_changed.v1"]
    assert changed[-1]["data"]["to_status"] == "closed"
    case = (await intake.get(f"/v1/concerns/{original['id']}")).json()
    assert case["merged_from"] == [duplicate["id"]]
    assert case["status"] == "received"


async def test_merge_into_a_closed_concern_is_a_409_and_into_itself_a_422(
    intake: httpx.AsyncClient,
) -> None:
    closed = (await submit(intake))["id"]
    await act(intake, closed, "resolve", {"summary": "done"})
    await act(intake, closed, "close")
    other = (await submit(intake))["id"]
    assert (await act(intake, other, "merge", {"into": closed, "reason": "dup"})).status_code == 409
    assert (await act(intake, other, "merge", {"into": other, "reason": "dup"})).status_code == 422


async def test_a_merge_needs_a_reason(intake: httpx.AsyncClient) -> None:
    original, duplicate = (await submit(intake))["id"], (await submit(intake))["id"]
    for payload in ({"into": original}, {"into": original, "reason": "  "}):
        answer = await act(intake, duplicate, "merge", payload)
        assert answer.status_code == 422, answer.text
        assert "reason" in {e["field"] for e in answer.json()["errors"]}


async def test_principal_cannot_bury_a_concern_by_merging_it_out_of_their_reach(
    intake: httpx.AsyncClient,
) -> None:
    """Security #1: a principal merged a concern about their own school into another
    school's concern, which closed it for good; and a 409 told them that concern's status."""
    own = await submit(intake, category="school-climate", school_id="roosevelt-ms")
    elsewhere = await submit(intake, category="school-climate", school_id="lincoln-es")
    closed = (await submit(intake, category="school-climate", school_id="lincoln-es"))["id"]
    await act(intake, closed, "resolve", {"summary": "done"})
    await act(intake, closed, "close")
    principal = bearer("principal", sub="p-roosevelt", schools=["roosevelt-ms"])
    for target in (elsewhere["id"], elsewhere["tracking_number"], closed):
        answer = await intake.post(
            f"/v1/concerns/{own['id']}/merge",
            headers=principal,
            json={"into": target, "reason": "duplicate"},
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == "into"
        assert "closed" not in answer.text and "current_status" not in answer.json()
    assert (await intake.get(f"/v1/concerns/{own['id']}")).json()["status"] == "received"


async def test_a_concern_merges_only_into_one_of_the_same_school_or_team(
    intake: httpx.AsyncClient,
) -> None:
    roosevelt = (await submit(intake, category="school-climate", school_id="roosevelt-ms"))["id"]
    lincoln = (await submit(intake, category="school-climate", school_id="lincoln-es"))["id"]
    also_roosevelt = (await submit(intake, category="enrollment", school_id="roosevelt-ms"))["id"]
    refused = await act(intake, roosevelt, "merge", {"into": lincoln, "reason": "dup"})
    assert refused.status_code == 422
    assert "same school or team" in refused.json()["errors"][0]["message"]
    assert (
        await act(intake, roosevelt, "merge", {"into": also_roosevelt, "reason": "dup"})
    ).status_code == 200


async def test_the_requester_of_a_merged_concern_sees_it_and_may_reopen_it(
    intake: httpx.AsyncClient,
) -> None:
    original = await submit(intake)
    duplicate = await submit(intake)
    await act(intake, duplicate["id"], "merge", {"into": original["id"], "reason": "same"})
    token = {"X-Access-Token": duplicate["access_token"]}
    status = f"/v1/tracking/{duplicate['tracking_number']}"
    view = (await intake.get(status, headers=token)).json()
    assert view["merged"] is True and view["can_reopen_until"] is not None
    reopened = await intake.post(
        f"{status}/reopen", headers=token, json={"reason": "it is a different bus"}
    )
    assert reopened.status_code == 200, reopened.text
    assert (reopened.json()["status"], reopened.json()["merged"]) == ("reopened", False)
    case = (await intake.get(f"/v1/concerns/{original['id']}")).json()
    assert case["merged_from"] == []


async def test_legacy_status_endpoint_uses_the_same_machine(intake: httpx.AsyncClient) -> None:
    concern_id = (await submit(intake))["id"]
    missing = await intake.post(f"/v1/concerns/{concern_id}/status", json={"status": "resolved"})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "reason"
    resolved = await intake.post(
        f"/v1/concerns/{concern_id}/status",
        json={"status": "resolved", "reason": "route fixed"},
        headers=STAFF,
    )
    assert resolved.status_code == 200
    assert resolved.json()["resolution"]["summary"] == "route fixed"
    assert resolved.json()["history"][-1]["actor"] == "sd-lead"


# --- work queues ----------------------------------------------------------------------------


async def test_work_queue_filters_sorts_by_due_time_and_pages_with_a_cursor(
    intake: httpx.AsyncClient, clock: FakeClock
) -> None:
    ids = []
    for i in range(5):
        ids.append(
            (
                await submit(
                    intake,
                    category="transportation" if i % 2 else "enrollment",
                    description=f"Concern number {i} about the bus",
                )
            )["id"]
        )
        clock.advance(timedelta(minutes=1))
    await act(intake, ids[0], "resolve", {"summary": "done"})
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, "status": ["received", "resolved"]}
        if cursor:
            params["cursor"] = cursor
        page = (await intake.get("/v1/concerns", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids  # due times follow submission times
    transport = (await intake.get("/v1/concerns", params={"category": "transportation"})).json()
    assert [i["id"] for i in transport["items"]] == [ids[1], ids[3]]
    received = (
        await intake.get("/v1/concerns", params={"status": "received", "sort": "-due"})
    ).json()
    assert [i["id"] for i in received["items"]] == ids[:0:-1]
    text = (await intake.get("/v1/concerns", params={"q": "NUMBER 3"})).json()
    assert [i["id"] for i in text["items"]] == [ids[3]]


async def test_overdue_filter_and_counts_follow_the_clock(
    intake: httpx.AsyncClient, clock: FakeClock
) -> None:
    first = (await submit(intake))["id"]
    clock.advance(timedelta(hours=1))
    await submit(intake, school_id="lincoln-es")
    await act(intake, first, "acknowledge")
    clock.advance(timedelta(hours=72) - timedelta(minutes=30))
    overdue = (await intake.get("/v1/concerns", params={"overdue": "true"})).json()
    assert [i["id"] for i in overdue["items"]] == [first]
    assert overdue["items"][0]["overdue"] is True
    counts = (await intake.get("/v1/concerns/counts")).json()
    assert counts["by_status"]["received"] == 1 and counts["by_status"]["acknowledged"] == 1
    assert counts["total"] == 2 and counts["overdue"] == 1
    school = (await intake.get("/v1/concerns/counts", params={"school_id": "lincoln-es"})).json()
    assert school["total"] == 1


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "garbage"},
        {"limit": 0},
        {"limit": 101},
        {"status": "lost"},
        {"submitted_from": "2026-01-01T00:00:00"},
        {"sort": "random"},
        {"q": "x"},
    ],
)
async def test_bad_search_parameters_are_a_422(
    intake: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    answer = await intake.get("/v1/concerns", params=params)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("", {"submitted_from": "0001-01-01T00:00:00+14:00"}),
        ("", {"due_to": "9999-12-31T23:59:59-12:00"}),
        ("/counts", {"submitted_to": "9999-12-31T23:59:59-12:00"}),
    ],
)
async def test_extreme_dates_in_searches_are_a_422_never_a_500(
    intake: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    """Security (low): extreme values in lists, counts and callbacks answered 500s."""
    answer = await intake.get(f"/v1/concerns{path}", params=params)
    assert answer.status_code == 422, answer.text
    assert answer.headers["x-content-type-options"] == "nosniff"


async def test_a_callback_due_past_the_storable_range_is_a_422(intake: httpx.AsyncClient) -> None:
    concern_id = (await submit(intake))["id"]
    answer = await act(intake, concern_id, "callbacks", {"due_at": "9999-12-31T23:59:59-12:00"})
    assert answer.status_code == 422, answer.text
