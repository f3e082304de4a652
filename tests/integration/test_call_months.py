"""Calls answered month by month through intake's API on the real store: call records posted
as the phone front door posts them (a provider's retries included) are counted once into the
monthly summaries, which always equal a recount of the records; a concern routed after its
call moves the call to its team; records stored before the summaries are counted once at
start. The Board reads `GET /v1/calls/months`: aggregates only."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from pymongo import AsyncMongoClient

from services.intake import call_months
from shared.clock import FakeClock
from shared.events import ConcernTriaged, Priority
from shared.migrations import MIGRATIONS
from tests.conftest import STAFF_ROLES, Isolation, bearer, eventually
from tests.integration.test_intake_api import clock, intake, submit  # noqa: F401
from tests.integration.test_intake_events import Publish, publish  # noqa: F401
from tests.integration.test_intake_students import Running, running  # noqa: F401

pytestmark = pytest.mark.integration

PHONE = bearer("frontend", sub="phone-frontend")
BOARD = bearer("board", sub="board-member-1")
EXACT = bearer("auditor", sub="auditor-1")  # a staff reader: exact figures
CHICAGO = ZoneInfo("America/Chicago")  # the test district's time zone


async def stored(db: Any) -> dict[str, dict[str, int]]:
    """The summaries the store keeps, in the recount's flat form (documents of zeros left)."""
    found = {d["_id"]: call_months.flat(d) for d in await db["call_months"].find().to_list()}
    return {key: counters for key, counters in found.items() if counters}


async def recounted(db: Any) -> dict[str, dict[str, int]]:
    records = await db["calls"].find().to_list()
    concerns = {
        c["_id"]: c
        for c in await db["concerns"]
        .find({}, {"school_id": 1, "category": 1, "team_id": 1})
        .to_list()
    }
    return call_months.recount(records, concerns, CHICAGO)


async def phone_calls(intake: httpx.AsyncClient, clock: FakeClock | None = None) -> list[str]:
    """Four calls: a status heard about Lincoln's concern (the step posted twice, a retry),
    a voicemail to a new concern (posted twice), a hang-up in the menu (ended twice), one
    connected to a person after a minute. Their call ids."""
    lincoln = await submit(intake, school_id="lincoln-es", category="transportation")
    voicemail = await submit(intake, channel="phone")
    sids = [f"CM{n:032d}" for n in range(1, 5)]
    for sid in sids:
        started = await intake.post("/v1/calls", json={"call_sid": sid}, headers=PHONE)
        assert started.status_code == 201, started.text
    if clock is not None:
        clock.advance(timedelta(seconds=12))
    heard = {
        "step": "status:heard",
        "outcome": "status_heard",
        "tracking_number": lincoln["tracking_number"],
    }
    due = {"concern_id": voicemail["id"], "callback_due_at": "2030-01-01T12:00:00Z"}
    for _ in range(2):  # the provider retries each request: counted once
        answer = await intake.post(f"/v1/calls/{sids[0]}/steps", json=heard, headers=PHONE)
        assert answer.status_code == 200, answer.text
        answer = await intake.post(f"/v1/calls/{sids[1]}/voicemail", json=due, headers=PHONE)
        assert answer.status_code == 200, answer.text
        answer = await intake.post(f"/v1/calls/{sids[2]}/end", json={}, headers=PHONE)
        assert answer.status_code == 200, answer.text
    if clock is not None:
        clock.advance(timedelta(seconds=48))
    connected = {"step": "desk", "outcome": "connected"}
    answer = await intake.post(f"/v1/calls/{sids[3]}/steps", json=connected, headers=PHONE)
    assert answer.status_code == 200, answer.text
    await intake.post(f"/v1/calls/{sids[3]}/end", json={}, headers=PHONE)
    return sids


async def test_calls_answered_by_month_are_the_recount_of_the_records_counted_once(
    intake: httpx.AsyncClient,
    clock: FakeClock,
    publish: Publish,
    mongo: AsyncMongoClient[Any],
    isolation: Isolation,
) -> None:
    db = mongo[isolation.db("intake")]
    await phone_calls(intake, clock)
    month = call_months.month_of(clock.now(), CHICAGO)

    summaries = await stored(db)
    assert summaries == await recounted(db)
    assert summaries[f"{month}|total|all"] == {
        "calls": 4,
        "answered": 3,
        "callbacks": 1,
        "waits.12": 2,  # the status heard and the voicemail, 12 s after the start
        "waits.60": 1,  # the person who picked up after a minute
    }

    answer = await intake.get(
        "/v1/calls/months", params={"from": month, "to": month}, headers=EXACT
    )
    assert answer.status_code == 200, answer.text
    [figures] = answer.json()["months"]
    assert (figures["calls"], figures["answered"], figures["answered_share"]) == (4, 3, 0.75)
    assert (figures["p90_answer_s"], figures["callbacks_scheduled"]) == (60, 1)
    schools = {g["key"]: (g["calls"], g["answered"]) for g in answer.json()["by_school"]}
    assert schools == {"lincoln-es": (1, 1), "roosevelt-ms": (1, 1), "unknown": (2, 1)}
    teams = {g["key"]: g["calls"] for g in answer.json()["by_team"]}
    assert teams == {"none": 2, "unknown": 2}  # no triage here: not yet routed
    assert "CM0000" not in answer.text  # aggregates only: no call id

    # triage routes the voicemail's concern: its call moves to the team, once per event
    voicemail = (await db["calls"].find_one({"_id": f"CM{2:032d}"}))["concern_id"]
    routed = ConcernTriaged(
        concern_id=voicemail,
        category="enrollment",
        team_id="enrollment",
        team_name="Enrollment Center",
        priority=Priority.NORMAL,
        rule="category",
        triaged_at=clock.now(),
    )
    event = await publish(routed)

    async def moved() -> dict[str, dict[str, int]] | None:
        now = await stored(db)
        return now if f"{month}|team|enrollment" in now else None

    after = await eventually(moved, what="the voicemail's call to move to its team")
    assert after == await recounted(db)
    assert after[f"{month}|team|enrollment"] == {
        "calls": 1,
        "answered": 1,
        "callbacks": 1,
        "waits.12": 1,
    }
    assert after[f"{month}|team|none"] == {"calls": 1, "answered": 1, "waits.12": 1}

    # redelivered, then re-routed to another team: the call moves once more, and only once
    await publish(routed, event)
    await publish(routed.model_copy(update={"team_id": "buses", "team_name": "Buses"}))

    async def rerouted() -> dict[str, dict[str, int]] | None:
        now = await stored(db)
        return now if f"{month}|team|buses" in now else None

    final = await eventually(rerouted, what="the call to follow the concern's new team")
    assert final == await recounted(db)
    assert f"{month}|team|enrollment" not in final  # its counts all moved back out
    assert final[f"{month}|team|buses"] == after[f"{month}|team|enrollment"]
    assert final[f"{month}|total|all"] == summaries[f"{month}|total|all"]

    refused = await intake.get(
        "/v1/calls/months", params={"from": "2024-01", "to": month}, headers=EXACT
    )
    assert refused.status_code == 422


async def test_records_stored_before_the_summaries_are_counted_once_at_start(
    running: Running,
    mongo: AsyncMongoClient[Any],
    isolation: Isolation,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = mongo[isolation.db("intake")]
    staff = bearer(*STAFF_ROLES, sub="agent-7")
    async with running() as intake:
        intake.headers.update(staff)
        await phone_calls(intake)
    counted = await stored(db)
    # the store as an intake from before the summaries left it: records without claims
    await db["calls"].update_many({}, {"$unset": {"board": ""}})
    await db["call_months"].delete_many({})
    await db[MIGRATIONS].delete_many({"_id": call_months.BACKFILL})

    monkeypatch.setattr(call_months, "BATCH", 3)  # four records: two batches
    monkeypatch.setattr(call_months, "BACKFILL_BUDGET_S", 0.0)  # a start out of time...
    async with running():
        pass
    assert await db[MIGRATIONS].find_one({"_id": call_months.BACKFILL}) is None
    paused = await db["calls"].count_documents({"board": {"$exists": True}})
    assert paused == 3  # ...counted one batch, and the next start goes on
    monkeypatch.setattr(call_months, "BACKFILL_BUDGET_S", 60.0)
    async with running():
        pass
    assert await stored(db) == counted == await recounted(db)
    assert await db[MIGRATIONS].find_one({"_id": call_months.BACKFILL}) is not None

    async with running():  # a later start walks nothing and counts nothing again
        pass
    assert await stored(db) == counted
