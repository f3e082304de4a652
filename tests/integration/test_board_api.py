"""The Board's figures over HTTP, computed in the store: concerns fed through escalation's own
handlers on the real store (fake time), then read as a Board member reads them."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.escalation import board_store, handlers, reports
from services.escalation.domain import SlaClock
from services.escalation.repository import BOARD_COUNTED, from_document
from services.escalation.standards import Figures, figures, tally_clocks
from shared.events import ConcernResolved, ConcernStatusChanged, SurveyAnswered, new_event
from tests.conftest import bearer
from tests.integration import test_escalation_api
from tests.integration.test_escalation_api import HOUR, T0, Service

pytestmark = pytest.mark.integration

service = test_escalation_api.service  # the escalation service fixture, in-process

BOARD = bearer("board", sub="board-member-1")
# A staff reader of reports: exact figures (a Board member's small counts are suppressed, see
# test_board_suppression).
EXACT = bearer("auditor", sub="auditor-1")
MARCH = {"from": "2026-03", "to": "2026-03"}


async def status(service: Service, concern_id: str, to: str, frm: str) -> None:
    await service.feed(
        ConcernStatusChanged(
            concern_id=concern_id, from_status=frm, to_status=to, changed_at=service.clock.now()
        )
    )


async def march(service: Service) -> None:
    """A: 90 wall hours, 30 of them waiting for the parent (60 counted: within 72 h), rated 5.
    B: 80 hours unpaused (missed). C: still open."""
    await service.submit("a", T0, category="enrollment")
    await service.submit("b", T0, category="transportation", school_id=None)
    await service.submit("c", T0, category="enrollment")
    await service.run_until(T0 + HOUR)
    await status(service, "a", "acknowledged", "received")
    await service.run_until(T0 + 10 * HOUR)
    await status(service, "a", "awaiting_requester", "acknowledged")
    await service.run_until(T0 + 40 * HOUR)
    await status(service, "a", "acknowledged", "awaiting_requester")
    await service.run_until(T0 + 80 * HOUR)
    await service.feed(ConcernResolved(concern_id="b", resolved_at=service.clock.now()))
    await service.run_until(T0 + 90 * HOUR)
    await service.feed(ConcernResolved(concern_id="a", resolved_at=service.clock.now()))
    await service.feed(
        SurveyAnswered(concern_id="a", score=5, answered_at=service.clock.now(), has_comment=False)
    )


async def test_board_member_reads_counted_time_compliance_by_month_and_group(
    service: Service,
) -> None:
    await march(service)
    answer = await service.http.get("/v1/board/report", params=MARCH, headers=EXACT)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    month = report["months"][0]
    assert (month["month"], month["received"], month["resolved"]) == ("2026-03", 3, 2)
    assert month["resolved_within_guarantee"] == 0.5  # A's paused hours are not counted
    assert month["satisfaction_mean"] == 5.0
    assert sum(report["total"]["backlog"].values()) == 1  # C, at the end of the period
    assert "paused" in report["counted_time"]
    resolve = next(s for s in month["standards"] if s["standard"] == "resolve-72h")
    assert (resolve["value"], resolve["target"], resolve["met"]) == (0.5, 0.9, False)
    by_category = {g["key"]: g for g in report["breakdown"]["category"]}
    assert by_category["enrollment"]["resolved_within_guarantee"] == 1.0
    assert by_category["transportation"]["resolved_within_guarantee"] == 0.0
    by_school = {g["key"]: g["received"] for g in report["breakdown"]["school"]}
    assert by_school == {"lincoln-es": 2, "none": 1}
    assert {"a", "b", "c"}.isdisjoint(answer.text.replace('"as_of"', "").split('"'))


async def expected_total(service: Service, report: dict[str, Any]) -> Figures:
    """The report's period read clock by clock, as `tally_clocks` defines the figures."""
    docs = await service.ctx.repo.collection.find({}).to_list()
    until = datetime.fromisoformat(report["period_end"])
    return figures(
        tally_clocks(
            [from_document(d) for d in docs],
            start=datetime.fromisoformat(report["period_start"]),
            end=until,
            as_of=min(until, service.clock.now()),
            guarantee=timedelta(hours=72),
        )
    )


FIGURES = (
    "received",
    "resolved",
    "resolved_within_guarantee",
    "resolved_within_target",
    "first_response_within_target",
    "median_hours_to_resolve",
    "p90_hours_to_resolve",
    "breaches",
    "escalations",
    "satisfaction_responses",
    "satisfaction_mean",
    "backlog",
)


async def march_report(service: Service) -> dict[str, Any]:
    answer = await service.http.get("/v1/board/report", params=MARCH, headers=EXACT)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_summed_figures_equal_the_definition_read_clock_by_clock(service: Service) -> None:
    await march(service)
    report = await march_report(service)
    expected = await expected_total(service, report)
    for name in FIGURES:
        assert report["total"][name] == getattr(expected, name), name
    # read in April, once C was resolved there: C was open across the end of March
    await service.run_until(datetime(2026, 4, 3, 15, tzinfo=UTC))
    await service.feed(ConcernResolved(concern_id="c", resolved_at=service.clock.now()))
    report = await march_report(service)
    expected = await expected_total(service, report)
    assert sum(expected.backlog.values()) == 1
    for name in FIGURES:
        assert report["total"][name] == getattr(expected, name), name
    for group_by in ("category", "school", "team"):
        assert sum(g["received"] for g in report["breakdown"][group_by]) == 3


async def test_a_cycle_end_seen_twice_is_counted_once(service: Service) -> None:
    counting = service.ctx.repo.board
    assert isinstance(counting, board_store.BoardSummaries)
    summaries: board_store.BoardSummaries = counting
    changes: list[tuple[str, SlaClock | None, SlaClock]] = []
    asked: dict[str, tuple[SlaClock | None, SlaClock]] = {}

    class Recording:
        """The summaries, remembering every stored change (each one counted)."""

        def facts(self, before: SlaClock | None, after: SlaClock) -> Any:
            asked[after.concern_id] = (before, after)
            return summaries.facts(before, after)

        async def counted(self, concern_id: str, added: Any, removed: Any) -> None:
            changes.append((concern_id, *asked[concern_id]))
            await summaries.counted(concern_id, added, removed)

        async def changed(self, concern_id: str, before: Any, after: SlaClock) -> None:
            changes.append((concern_id, before, after))
            await summaries.changed(concern_id, before, after)

    service.ctx.repo.board = Recording()
    await march(service)
    once = await march_report(service)
    # the resolution event redelivered: the clock has applied it, nothing changes
    resolved = ConcernResolved(concern_id="b", resolved_at=service.clock.now())
    event = new_event(resolved, source="/bureau/intake", subject="b", time=service.clock.now())
    await handlers.on_resolved(event, resolved, ctx=service.ctx)
    await handlers.on_resolved(event, resolved, ctx=service.ctx)
    # and every stored change counted again (a follow-up run twice)
    assert changes
    for change in changes:
        await summaries.changed(*change)
    assert await march_report(service) == once
    assert once["total"]["resolved"] == 2


async def test_clocks_stored_before_summaries_are_counted_once_at_start(service: Service) -> None:
    await march(service)
    counted = await march_report(service)
    db = service.ctx.repo.collection.database
    await db[board_store.MONTHS].drop()
    await db["board_meta"].drop()
    await service.ctx.repo.collection.update_many({}, {"$unset": {BOARD_COUNTED: ""}})
    summaries = board_store.BoardSummaries(
        service.ctx.repo.collection, timezone=ZoneInfo("America/Chicago"), guarantee=72 * HOUR
    )
    assert await summaries.backfill() == 3
    assert await summaries.backfill() == 0  # once
    assert await march_report(service) == counted


async def test_board_report_exports_the_same_figures_as_csv(service: Service) -> None:
    await march(service)
    answer = await service.http.get(
        "/v1/board/report", params={**MARCH, "format": "csv"}, headers=EXACT
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    month = next(r for r in rows if r["scope"] == "month")
    assert (month["key"], month["resolved"], month["resolve-72h"], month["resolve-72h_met"]) == (
        "2026-03",
        "2",
        "0.5",
        "no",
    )
    assert {r["scope"] for r in rows} == {"month", "category", "school", "team", "total"}


async def test_board_member_reads_aggregates_and_never_a_clock(service: Service) -> None:
    await service.submit("a", T0)
    assert (await service.http.get("/v1/clocks/a", headers=BOARD)).status_code == 403
    assert (await service.http.get("/v1/ombudsperson/concerns", headers=BOARD)).status_code == 403
    standards = await service.http.get("/v1/board/standards", headers=BOARD)
    assert standards.status_code == 200 and standards.json()["required_course"] == "cs-101"


async def test_a_report_period_is_checked(service: Service) -> None:
    bad = await service.http.get(
        "/v1/board/report", params={"from": "2026-13", "to": "2026-03"}, headers=BOARD
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "from"
    long = await service.http.get(
        "/v1/board/report", params={"from": "2000-01", "to": "2026-03"}, headers=BOARD
    )
    assert long.status_code == 422


async def test_older_reports_read_the_period_clocks_and_equal_every_clock_read(
    service: Service,
) -> None:
    await service.submit("january", T0 - 50 * 24 * HOUR)
    await service.feed(ConcernResolved(concern_id="january", resolved_at=T0 - 49 * 24 * HOUR))
    await march(service)
    await service.run_until(datetime(2026, 4, 3, 15, tzinfo=UTC))
    await service.feed(ConcernResolved(concern_id="c", resolved_at=service.clock.now()))
    docs = await service.ctx.repo.collection.find({}).to_list()
    every = [reports.facts_of(from_document(d)) for d in docs]
    since, until = datetime(2026, 3, 1, 6, tzinfo=UTC), datetime(2026, 4, 1, 5, tzinfo=UTC)
    read = await board_store.clocks_of_period(
        service.ctx.repo.collection, since=since, until=until, as_of=until
    )
    assert sorted(c.concern_id for c in read) == ["a", "b", "c"]  # not January's
    answer = await service.http.get(
        "/v1/reports/board",
        params={"from": "2026-03-01", "to": "2026-04-01", "group_by": "school"},
        headers=EXACT,
    )
    assert answer.status_code == 200, answer.text
    groups, total = reports.board_report(
        every,
        start=since,
        end=until,
        as_of=until,
        guarantee=72 * HOUR,
        group_by=reports.GroupBy.SCHOOL,
    )
    assert answer.json()["total"] == asdict(total)
    assert answer.json()["groups"] == [{"key": g.key, **asdict(g.figures)} for g in groups]
    assert sum(total.backlog.values()) == 1  # C, open across the end of March
    trend = await service.http.get(
        "/v1/reports/board/trend", params={"from": "2026-01", "to": "2026-03"}, headers=EXACT
    )
    march_row = trend.json()["months"][-1]
    assert {k: v for k, v in march_row.items() if k != "month"} == asdict(total)
