"""A Board member reads callbacks on time and calls answered by school, team and category:
callbacks fed through escalation's own handlers on the real store (fake time) and read from
the Board report (JSON and CSV); call records posted to intake as the phone front door posts
them and read from intake's call report. Aggregates only: no case, name or callback id."""

# ruff: noqa: F811  (pytest fixtures imported from test_intake_api are parameters here)

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from services.escalation import board_store, handlers
from services.escalation.repository import BOARD_COUNTED
from shared.clock import FakeClock
from shared.events import (
    CallbackOutcome,
    ConcernCallbackCompleted,
    ConcernCallbackScheduled,
    new_event,
)
from tests.conftest import bearer
from tests.integration import test_escalation_api
from tests.integration.test_board_api import EXACT, MARCH, status
from tests.integration.test_escalation_api import HOUR, T0, Service
from tests.integration.test_intake_api import clock, intake, submit  # noqa: F401

pytestmark = pytest.mark.integration

service = test_escalation_api.service  # the escalation service fixture, in-process

DAY = 24 * HOUR
CALLBACKS = "callbacks"  # the shipped district's standard: callbacks_on_time, 90%
PHONE = bearer("frontend", sub="phone-frontend")


async def scheduled(service: Service, concern_id: str, due: datetime) -> None:
    data = ConcernCallbackScheduled(
        concern_id=concern_id,
        callback_id=f"cb-{concern_id}",
        due_at=due,
        scheduled_at=service.clock.now(),
    )
    event = new_event(data, source="/bureau/intake", subject=concern_id, time=data.scheduled_at)
    await handlers.on_callback_scheduled(event, data, ctx=service.ctx)


async def made(service: Service, concern_id: str, due: datetime) -> None:
    now = service.clock.now()
    data = ConcernCallbackCompleted(
        concern_id=concern_id,
        callback_id=f"cb-{concern_id}",
        outcome=CallbackOutcome.REACHED,
        due_at=due,
        completed_at=now,
        on_time=now <= due,
    )
    event = new_event(data, source="/bureau/intake", subject=concern_id, time=now)
    await handlers.on_callback_completed(event, data, ctx=service.ctx)


async def report(service: Service) -> dict:  # type: ignore[type-arg]
    answer = await service.http.get("/v1/board/report", params=MARCH, headers=EXACT)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def callbacks_in_march(service: Service) -> None:
    """Lincoln: A made on time, B missed. Roosevelt: C made on time. District-wide: D made
    late. E (Lincoln) is due in April: not counted in March."""
    for concern_id, school in (
        ("a", "lincoln-es"),
        ("b", "lincoln-es"),
        ("c", "roosevelt-ms"),
        ("d", None),
        ("e", "lincoln-es"),
    ):
        await service.submit(concern_id, T0, school_id=school)
    due = T0 + DAY
    for concern_id in "abcd":
        await scheduled(service, concern_id, due)
    await scheduled(service, "e", T0 + 40 * DAY)
    await service.run_until(T0 + 20 * HOUR)
    await made(service, "a", due)
    await made(service, "c", due)
    await service.run_until(T0 + DAY + 6 * HOUR)  # the scheduler finds B missed
    await made(service, "d", due)


async def test_board_member_reads_callbacks_on_time_by_school_team_and_category(
    service: Service,
) -> None:
    await callbacks_in_march(service)
    board = await report(service)
    month = board["months"][0]
    assert (month["callbacks_due"], month["callbacks_on_time"]) == (4, 0.5)
    kept = next(s for s in month["standards"] if s["standard"] == CALLBACKS)
    assert (kept["value"], kept["met"]) == (0.5, False)
    by_school = {
        g["key"]: (g["callbacks_due"], g["callbacks_on_time"]) for g in board["breakdown"]["school"]
    }
    assert by_school["lincoln-es"] == (2, 0.5)
    assert by_school["roosevelt-ms"] == (1, 1.0)
    assert by_school["none"] == (1, 0.0)  # no school: district-wide
    [category] = [g for g in board["breakdown"]["category"] if g["callbacks_due"]]
    assert (category["key"], category["callbacks_on_time"]) == ("enrollment", 0.5)
    assert sum(g["callbacks_due"] for g in board["breakdown"]["team"]) == 4
    answer = await service.http.get("/v1/board/report", params=MARCH, headers=EXACT)
    assert "cb-" not in answer.text  # aggregates: no callback, no case

    exported = await service.http.get(
        "/v1/board/report", params={**MARCH, "format": "csv"}, headers=EXACT
    )
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    lincoln = next(r for r in rows if (r["scope"], r["key"]) == ("school", "lincoln-es"))
    assert (lincoln[CALLBACKS], lincoln[f"{CALLBACKS}_met"], lincoln["callbacks_due"]) == (
        "0.5",
        "no",
        "2",
    )


async def test_callbacks_settled_before_they_were_counted_are_counted_once_at_start(
    service: Service,
) -> None:
    await callbacks_in_march(service)
    counted = await report(service)
    clocks = service.ctx.repo.collection
    # as the store was before: no callback's fact marked counted, no counter, no mark
    marker = next(m for m, prefix in board_store.LATER_FACTS if prefix == "k")
    await clocks.database["board_meta"].delete_one({"_id": marker})
    await clocks.update_many({}, {"$pull": {BOARD_COUNTED: {"$regex": "^k"}}})
    await clocks.database[board_store.MONTHS].update_many(
        {}, {"$unset": {"callbacks_due": "", "callbacks_on_time": ""}}
    )
    assert (await report(service))["months"][0]["callbacks_due"] == 0

    summaries = board_store.BoardSummaries(
        clocks, timezone=ZoneInfo("America/Chicago"), guarantee=72 * HOUR
    )
    assert await summaries.backfill() == 0  # every clock was counted already
    assert await report(service) == counted
    await clocks.database["board_meta"].delete_one({"_id": marker})  # another replica's run
    assert await summaries.backfill_later_facts(marker, "k") == 0  # each fact once
    assert await report(service) == counted


async def test_a_wait_resumed_before_the_store_logged_answers_is_not_counted_as_a_failure(
    service: Service,
) -> None:
    """A clock whose wait staff resumed before the clock logged the family's answer (stored
    before 2 Dec 2026): the next start counts it as answered, once."""
    await service.submit("old", T0)
    await service.run_until(T0 + HOUR)
    await status(service, "old", "awaiting_requester", "received")
    await service.run_until(T0 + 2 * DAY)
    await status(service, "old", "acknowledged", "awaiting_requester")  # no `answered` line
    info = "information-answered"

    def value(board: dict) -> float | None:  # type: ignore[type-arg]
        month = board["months"][0]
        return next(s["value"] for s in month["standards"] if s["standard"] == info)

    assert value(await report(service)) == 0.0  # resumed after this store's start: unanswered
    # the store as an older one: it began logging answers after that wait ended
    meta = service.ctx.repo.collection.database["board_meta"]
    await meta.update_one(
        {"_id": board_store.ANSWERED_SINCE}, {"$set": {"at": T0 + 3 * DAY}}, upsert=True
    )
    recount = board_store.LATER_FACTS[-1][0]
    await meta.delete_one({"_id": recount})
    summaries = board_store.BoardSummaries(
        service.ctx.repo.collection, timezone=ZoneInfo("America/Chicago"), guarantee=72 * HOUR
    )
    await summaries.backfill(now=T0 + 30 * DAY)  # a later start keeps the store's mark
    assert summaries.answered_since == T0 + 3 * DAY
    after = await report(service)
    assert value(after) == 1.0
    assert after["months"][0]["information_requests"] == 1  # replaced, not added
    await meta.delete_one({"_id": recount})  # another replica's run: nothing twice
    await summaries.backfill()
    assert await report(service) == after


# --- calls answered by school (intake's call records) -----------------------------------------


async def test_calls_answered_by_school_category_and_team_from_the_phone_records(
    intake: httpx.AsyncClient, clock: FakeClock
) -> None:
    """A status heard by tracking number and PIN counts in its concern's school; a caller's
    choice in a menu wins; a call about no concern, unanswered, is an 'unknown' row."""
    roosevelt = await submit(intake)  # the test district's default school: roosevelt-ms
    lincoln = await submit(intake, school_id="lincoln-es", category="transportation")
    sids = [f"CA{n:032d}" for n in range(1, 5)]
    for sid in sids:
        started = await intake.post("/v1/calls", json={"call_sid": sid}, headers=PHONE)
        assert started.status_code == 201, started.text
    clock.advance(timedelta(seconds=20))
    heard = await intake.post(
        f"/v1/calls/{sids[0]}/steps",
        json={
            "step": "status:heard",
            "outcome": "status_heard",
            "tracking_number": lincoln["tracking_number"],
        },
        headers=PHONE,
    )
    assert heard.status_code == 200, heard.text
    assert (heard.json()["concern_id"], heard.json()["school_id"]) == (lincoln["id"], "lincoln-es")
    chose = await intake.post(
        f"/v1/calls/{sids[1]}/steps",
        json={"step": "school", "school_id": "lincoln-es"},
        headers=PHONE,
    )
    assert chose.status_code == 200, chose.text
    tied = await intake.post(
        f"/v1/calls/{sids[1]}/steps",
        json={"step": "status:heard", "outcome": "status_heard", "concern_id": roosevelt["id"]},
        headers=PHONE,
    )
    assert tied.json()["school_id"] == "lincoln-es"  # the caller's choice wins
    await intake.post(
        f"/v1/calls/{sids[2]}/steps",
        json={"step": "status:heard", "outcome": "status_heard", "concern_id": roosevelt["id"]},
        headers=PHONE,
    )
    await intake.post(f"/v1/calls/{sids[3]}/end", json={}, headers=PHONE)  # abandoned

    answer = await intake.get("/v1/calls/report", headers=EXACT)
    assert answer.status_code == 200, answer.text
    calls = answer.json()
    by_school = {g["key"]: (g["calls"], g["answered"]) for g in calls["by_school"]}
    assert by_school == {"lincoln-es": (2, 2), "roosevelt-ms": (1, 1), "unknown": (1, 0)}
    by_category = {g["key"]: g["calls"] for g in calls["by_category"]}
    assert by_category == {"transportation": 1, "enrollment": 2, "unknown": 1}
    assert sum(g["calls"] for g in calls["by_team"]) == 4
    for private in (lincoln["id"], lincoln["tracking_number"], "Jo Park"):
        assert private not in answer.text
