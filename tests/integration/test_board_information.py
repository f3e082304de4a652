"""The Board reads the standard "information requests answered within N days" (the shipped
district's: 5 days): requests for information fed through escalation's own handlers on the real
store (fake time), then read as a Board member reads them, by month, school and in the CSV."""

from __future__ import annotations

import csv
import io
from zoneinfo import ZoneInfo

import pytest

from services.escalation import board_store, handlers
from services.escalation.repository import BOARD_COUNTED
from shared.events import ConcernMessageAdded, MessageAuthor, MessageVisibility, new_event
from tests.integration import test_escalation_api
from tests.integration.test_board_api import EXACT, MARCH, status
from tests.integration.test_escalation_api import HOUR, T0, Service

pytestmark = pytest.mark.integration

service = test_escalation_api.service  # the escalation service fixture, in-process

DAY = 24 * HOUR
STANDARD = "information-answered"


async def family_answers(service: Service, concern_id: str) -> None:
    data = ConcernMessageAdded(
        concern_id=concern_id,
        message_id=f"m-{concern_id}",
        author=MessageAuthor.REQUESTER,
        visibility=MessageVisibility.PUBLIC,
        added_at=service.clock.now(),
    )
    event = new_event(data, source="/bureau/intake", subject=concern_id, time=data.added_at)
    await handlers.on_message_added(event, data, ctx=service.ctx)


async def test_board_member_reads_information_requests_answered_within_their_days(
    service: Service,
) -> None:
    """Asked on Monday: A answers after 2 days (in time), B after 6 (late), C's concern is
    closed unanswered after 4; D (another school) answers after a day; E still waits (not
    counted yet)."""
    for concern_id, school in (("a", "lincoln-es"), ("b", "lincoln-es"), ("c", "lincoln-es")):
        await service.submit(concern_id, T0, school_id=school)
    await service.submit("d", T0, school_id="roosevelt-ms")
    await service.submit("e", T0, school_id="lincoln-es")
    await service.run_until(T0 + HOUR)
    for concern_id in "abcde":
        await status(service, concern_id, "awaiting_requester", "received")
    await service.run_until(T0 + HOUR + DAY)
    await family_answers(service, "d")
    await service.run_until(T0 + HOUR + 2 * DAY)
    await family_answers(service, "a")
    await family_answers(service, "a")  # the answer seen twice: counted once
    await service.run_until(T0 + HOUR + 4 * DAY)
    await status(service, "c", "closed", "awaiting_requester")
    await service.run_until(T0 + HOUR + 6 * DAY)
    await family_answers(service, "b")

    answer = await service.http.get("/v1/board/report", params=MARCH, headers=EXACT)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    [shipped] = [s for s in report["standards"] if s["id"] == STANDARD]
    assert (shipped["within_days"], shipped["target"]) == (5, 0.8)
    month = report["months"][0]
    assert month["information_requests"] == 4  # E still waits
    info = next(s for s in month["standards"] if s["standard"] == STANDARD)
    assert (info["value"], info["met"]) == (0.5, False)  # A and D of A, B, C, D
    by_school = {
        g["key"]: next(s for s in g["standards"] if s["standard"] == STANDARD)
        for g in report["breakdown"]["school"]
    }
    assert (by_school["lincoln-es"]["value"], by_school["lincoln-es"]["met"]) == (0.3333, False)
    assert (by_school["roosevelt-ms"]["value"], by_school["roosevelt-ms"]["met"]) == (1.0, True)

    exported = await service.http.get(
        "/v1/board/report", params={**MARCH, "format": "csv"}, headers=EXACT
    )
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    month_row = next(r for r in rows if r["scope"] == "month")
    assert (month_row[STANDARD], month_row[f"{STANDARD}_met"]) == ("0.5", "no")


async def test_waits_ended_before_the_standard_existed_are_counted_once_at_start(
    service: Service,
) -> None:
    """A store whose clocks were counted before this standard: their ended waits are counted
    by the next start, once, and not again by a start after it or a second replica."""
    await service.submit("a", T0)
    await service.submit("b", T0)
    await service.run_until(T0 + HOUR)
    for concern_id in "ab":
        await status(service, concern_id, "awaiting_requester", "received")
    await service.run_until(T0 + HOUR + DAY)
    await family_answers(service, "a")
    await status(service, "b", "closed", "awaiting_requester")
    counted = (await service.http.get("/v1/board/report", params=MARCH, headers=EXACT)).json()
    assert counted["months"][0]["information_requests"] == 2
    # as the store was before: no wait's fact marked counted, no counter of them, no mark
    # of their backfill
    clocks = service.ctx.repo.collection
    marker, prefix = board_store.LATER_FACTS[0]  # the waits for information
    await clocks.database["board_meta"].delete_one({"_id": marker})
    await clocks.update_many({}, {"$pull": {BOARD_COUNTED: {"$regex": "^i"}}})
    await clocks.database[board_store.MONTHS].update_many(
        {}, {"$unset": {"information_requests": "", "answered_days": ""}}
    )
    before = (await service.http.get("/v1/board/report", params=MARCH, headers=EXACT)).json()
    assert before["months"][0]["information_requests"] == 0

    summaries = board_store.BoardSummaries(
        clocks, timezone=ZoneInfo("America/Chicago"), guarantee=72 * HOUR
    )
    assert await summaries.backfill() == 0  # every clock was counted already
    after = (await service.http.get("/v1/board/report", params=MARCH, headers=EXACT)).json()
    assert after == counted
    assert await summaries.backfill_later_facts(marker, prefix) == 0  # once per store
    await clocks.database["board_meta"].delete_one({"_id": marker})  # another replica's run
    assert await summaries.backfill_later_facts(marker, prefix) == 0  # each fact once
    assert (
        await service.http.get("/v1/board/report", params=MARCH, headers=EXACT)
    ).json() == counted
