"""The Board reads the standard "information requests answered within N days" (the shipped
district's: 5 days): requests for information fed through escalation's own handlers on the real
store (fake time), then read as a Board member reads them, by month, school and in the CSV."""

from __future__ import annotations

import csv
import io

import pytest

from services.escalation import handlers
from shared.events import ConcernMessageAdded, MessageAuthor, MessageVisibility, new_event
from tests.integration import test_escalation_api
from tests.integration.test_board_api import BOARD, MARCH, status
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

    answer = await service.http.get("/v1/board/report", params=MARCH, headers=BOARD)
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
        "/v1/board/report", params={**MARCH, "format": "csv"}, headers=BOARD
    )
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    month_row = next(r for r in rows if r["scope"] == "month")
    assert (month_row[STANDARD], month_row[f"{STANDARD}_met"]) == ("0.5", "no")
