"""The Board's monthly packet, prepared once a month has closed: `board.packet_ready`.

On the first of each month at 06:00 (district time) the packet of the month just closed is
due, when the district file names someone to receive it (`board.packet_recipients`). Every
replica looks (a pure computation; the store is read only when the month due changes), and
the one whose write lands first prepares it: the packet's document is inserted under the
month's label with its event in the same write (the outbox), so two replicas, or a restart,
can never publish it twice, and a crash before the publish loses nothing. The month that
closed before the first look (a new install) is recorded as skipped, not mailed. The figures are the
Board report's (`board.board_figures`, from the maintained monthly summaries): aggregates
only, never a case, a name or a student. Notify mails it to the Board's list.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from services.escalation import board
from services.escalation.context import EscalationContext
from shared.board import BoardConfig
from shared.events import (
    BoardFigures,
    BoardPacketReady,
    BoardShortfall,
    BoardStandardResult,
    new_event,
)
from shared.outbox import with_outbox
from shared.store import Document

log = logging.getLogger(__name__)

PACKETS = "board_packets"
SEND_DAY = 1
SEND_AT = time(6, 0)
"""When a month's packet is due: this day of the following month, at this local time."""


def _previous(month: date) -> date:
    return (month - timedelta(days=1)).replace(day=1)


def due_month(now: datetime, timezone: ZoneInfo) -> date:
    """The latest month whose packet is due at `now`: the month before the current one once
    the current month's sending moment (the 1st at 06:00, district time) has passed, else
    the month before that (its packet was due a month ago)."""
    current = now.astimezone(timezone).date().replace(day=1)
    moment = datetime.combine(current.replace(day=SEND_DAY), SEND_AT, tzinfo=timezone)
    return _previous(current) if now >= moment else _previous(_previous(current))


def label(month: date) -> str:
    return month.strftime("%Y-%m")


def packet_of(
    report: dict[str, Any], *, month: str, prepared_at: datetime, suppress_below: int = 0
) -> BoardPacketReady:
    """The event of one month's Board report (`board.board_figures` over that month alone):
    its figures with the backlog at the month's end, each clock standard's compliance, the
    groups that fell short of a standard, and the same figures as CSV. The packet is mailed
    and printed for a public meeting: its groups and CSV are suppressed (`suppress_below`;
    a group whose figure is suppressed is not named as falling short), the district's
    figures stay exact."""
    total = report["total"]
    public = board.suppressed(report, suppress_below)
    return BoardPacketReady(
        month=month,
        period_start=report["period_start"],
        period_end=report["period_end"],
        prepared_at=prepared_at,
        guarantee_hours=report["guarantee_hours"],
        figures=BoardFigures.model_validate({k: total[k] for k in BoardFigures.model_fields}),
        standards=[
            BoardStandardResult(
                standard=s["standard"],
                title=s["name"],
                measure=s["measure"],
                target=s["target"],
                value=s["value"],
                met=s["met"],
            )
            for s in total["standards"]
        ],
        shortfalls=[
            BoardShortfall.model_validate(
                {
                    "scope": scope,
                    "key": group["key"],
                    "standard": item["standard"],
                    "value": item["value"],
                    "target": item["target"],
                }
            )
            for scope in board.BREAKDOWNS
            for group in public["breakdown"][scope]
            for item in group["standards"]
            if item["met"] is False
        ],
        csv=board.report_csv(public),
    )


class BoardPacketJob:
    """Prepares each closed month's packet once across replicas; one runs in every replica."""

    def __init__(self, *, ctx: EscalationContext, tick_s: float) -> None:
        self._ctx = ctx
        self._tick_s = tick_s
        self._packets: AsyncCollection[Document] = ctx.repo.collection.database[PACKETS]
        self._timezone = ZoneInfo(ctx.district.district.timezone)
        self._done: str | None = None  # the last month seen prepared (by anyone)
        # a packet nobody is to receive is not prepared (a new install has no list)
        self.wanted = bool(ctx.district.section("board", BoardConfig).packet_recipients)
        self._stop = asyncio.Event()

    async def run_once(self) -> str | None:
        """Prepare the packet due now unless it exists; returns its month when this replica
        prepared it."""
        if not self.wanted:
            return None
        now = self._ctx.clock.now()
        month = due_month(now, self._timezone)
        key = label(month)
        if key == self._done:
            return None
        if await self._packets.find_one({"_id": key}, {"_id": 1}) is not None:
            self._done = key
            return None
        if await self._packets.find_one({}, {"_id": 1}) is None:
            # The first look ever (a new install, or a list just configured): the month that
            # closed before it is not mailed; the first packet is the next month's.
            with contextlib.suppress(DuplicateKeyError):
                await self._packets.insert_one({"_id": key, "skipped": True, "at": now})
            self._done = key
            return None
        report = await board.board_figures(self._ctx, month, month)
        data = packet_of(
            report, month=key, prepared_at=now, suppress_below=board.suppress_below(self._ctx)
        )
        event = new_event(data, source=self._ctx.source, subject=f"board-packet-{key}", time=now)
        document = {"_id": key, "prepared_at": now, "event_id": event.id}
        try:
            await self._packets.insert_one(with_outbox(document, [event]))
        except DuplicateKeyError:  # another replica's landed first
            self._done = key
            return None
        self._done = key
        self._ctx.published()
        log.info("board packet prepared", extra={"month": key, "event_id": event.id})
        return key

    async def run(self) -> None:
        """Look every tick until `stop`; a failed look is logged and tried again."""
        while not self._stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.warning("board packet not prepared; will retry", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self._tick_s)

    def stop(self) -> None:
        self._stop.set()
