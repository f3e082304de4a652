"""Escalation's HTTP API in-process on the real store and broker: policies admin, clocks,
the Ombudsperson view and the Board reports.

Concerns are fed through the service's own handlers (the broker path is covered in
test_escalation_scheduler.py and test_escalation_replicas.py); time is a fake clock.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import httpx
import pytest
from pymongo import AsyncMongoClient

from services.escalation import handlers
from services.escalation.context import EscalationContext
from services.escalation.main import create_app
from services.escalation.settings import EscalationSettings
from shared.clock import FakeClock
from shared.events import (
    Channel,
    ConcernReopened,
    ConcernResolved,
    ConcernStatusChanged,
    ConcernSubmitted,
    EventData,
    SurveyAnswered,
    new_event,
)
from tests.conftest import Isolation, bearer

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 09:00 in Chicago
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


class Service:
    def __init__(self, http: httpx.AsyncClient, ctx: EscalationContext, clock: FakeClock) -> None:
        self.http, self.ctx, self.clock = http, ctx, clock

    async def feed(self, data: EventData) -> None:
        """Handle an event as the consumer would."""
        subject = str(data.model_dump()["concern_id"])
        event = new_event(data, source="/bureau/intake", subject=subject, time=self.clock.now())
        handler = {
            ConcernSubmitted: handlers.on_submitted,
            ConcernResolved: handlers.on_resolved,
            ConcernReopened: handlers.on_reopened,
            SurveyAnswered: handlers.on_survey_answered,
            ConcernStatusChanged: handlers.on_status_changed,
        }[type(data)]
        await handler(event, data, ctx=self.ctx)  # type: ignore[operator]

    async def submit(
        self,
        concern_id: str,
        at: datetime,
        *,
        category: str = "enrollment",
        school_id: str | None = "lincoln-es",
        channel: Channel = Channel.WEB,
    ) -> None:
        await self.feed(
            ConcernSubmitted(
                concern_id=concern_id,
                tracking_number="CS-2026-000001",
                channel=channel,
                category=category,
                school_id=school_id,
                submitted_at=at,
                resolution_due_at=at + 3 * DAY,
            )
        )

    async def run_until(self, at: datetime, step: timedelta = 6 * HOUR) -> None:
        """Move the fake time to `at`, letting the scheduler fire along the way."""
        while self.clock.now() < at:
            self.clock.advance(min(step, at - self.clock.now()))
            await handlers.fire_due(ctx=self.ctx)


@pytest.fixture
async def service(
    mongo_url: str,
    amqp_url: str,
    isolation: Isolation,
    mongo: AsyncMongoClient,
    amqp: aio_pika.abc.AbstractRobustConnection,
) -> AsyncIterator[Service]:
    settings = EscalationSettings(
        mongo_url=mongo_url,
        mongo_db=isolation.db("escalation"),
        amqp_url=amqp_url,
        queue_prefix=isolation.queue_prefix,
        events_exchange=isolation.events_exchange,
        private_exchange=isolation.private_exchange,
        scheduler_tick_s=3600,
        outbox_poll_s=0.1,
    )
    clock = FakeClock(T0)
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        # an administrator who also reads the Ombudsperson's view and the reports
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://escalation",
            headers=bearer("admin", "ombudsperson"),
        ) as http:
            yield Service(http, app.state.ctx, clock)


def policy_body(**changes: Any) -> dict[str, Any]:
    return {
        "id": "pre-k-business",
        "rank": 5,
        "category": "pre-k",
        "first_response_s": 3600,
        "resolution_s": 9 * 3600,
        "calendar": "business-hours",
        "warnings": [],
        "ladder": [{"level": 1, "role": "principal", "after_s": 0}],
        **changes,
    }


def problem_fields(answer: httpx.Response) -> list[str]:
    assert answer.headers["content-type"] == "application/problem+json"
    return [e["field"] for e in answer.json().get("errors", [])]


# --- policies ----------------------------------------------------------------------------------


async def test_policies_are_seeded_from_the_district_file_in_order(service: Service) -> None:
    answer = await service.http.get("/v1/policies")
    assert answer.status_code == 200
    policies = answer.json()
    assert [(p["id"], p["rank"], p["resolution_s"]) for p in policies] == [
        ("critical", 10, 86400),
        ("standard", 20, 259200),
    ]
    assert policies[0]["reminder_interval_s"] == 7200  # escalation.policies.critical
    assert policies[1]["warnings"] == [50, 75]  # escalation.defaults


async def test_created_policy_selects_new_concerns_and_counts_business_hours(
    service: Service,
) -> None:
    created = await service.http.post("/v1/policies", json=policy_body())
    assert created.status_code == 201, created.text
    assert (await service.http.get("/v1/policies/pre-k-business")).json()[
        "calendar"
    ] == "business-hours"
    friday_4pm = datetime(2026, 3, 6, 22, 0, tzinfo=UTC)  # 16:00 CST, before the DST change
    await service.submit("c-prek", friday_4pm, category="pre-k")
    clock = (await service.http.get("/v1/clocks/c-prek")).json()
    assert clock["policy"] == "pre-k-business"
    # 1 h on Friday, then 8 h on Monday 9 March from 08:00 CDT (UTC-5): 16:00 CDT.
    assert datetime.fromisoformat(clock["resolution_due_at"]) == datetime(
        2026, 3, 9, 21, 0, tzinfo=UTC
    )
    assert datetime.fromisoformat(clock["first_response_due_at"]) == datetime(
        2026, 3, 6, 23, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"category": "astrology"}, "category"),
        ({"calendar": "lunar"}, "calendar"),
        ({"resolution_s": -5}, "resolution_s"),
        ({"warnings": [120]}, "warnings"),
        ({"ladder": [{"level": 1, "role": "janitor", "after_s": 0}]}, "ladder.0.role"),
        ({"pause_statuses": ["closed"]}, "pause_statuses"),
        # Security (low): a huge duration was accepted; matching concerns then got no SLA clock
        ({"resolution_s": 10**15, "first_response_s": 3600}, "resolution_s"),
        ({"reminder_interval_s": 10**12}, "reminder_interval_s"),
        ({"ladder": [{"level": 1, "role": "principal", "after_s": 10**13}]}, "ladder.0.after_s"),
    ],
)
async def test_invalid_policy_is_refused_naming_the_field(
    service: Service, changes: dict[str, Any], field: str
) -> None:
    answer = await service.http.post("/v1/policies", json=policy_body(**changes))
    assert answer.status_code == 422
    assert field in problem_fields(answer)


async def test_policy_admin_conflicts_and_unknown_ids(service: Service) -> None:
    http = service.http
    assert (await http.post("/v1/policies", json=policy_body(id="standard"))).status_code == 409
    assert (await http.get("/v1/policies/nope")).status_code == 404
    replacement = {k: v for k, v in policy_body().items() if k != "id"}
    assert (await http.put("/v1/policies/nope", json=replacement)).status_code == 404
    # The id is the path's; a body naming one is refused.
    assert "id" in problem_fields(await http.put("/v1/policies/standard", json=policy_body()))
    assert (await http.delete("/v1/policies/nope")).status_code == 404
    # The only catch-all policy can be neither deleted nor narrowed.
    assert (await http.delete("/v1/policies/standard")).status_code == 409
    narrowed = {**policy_body(category="enrollment", calendar="around-the-clock")}
    del narrowed["id"]
    assert (await http.put("/v1/policies/standard", json=narrowed)).status_code == 409
    widened = {**narrowed, "category": None, "resolution_s": 200000, "rank": 99}
    replaced = await http.put("/v1/policies/standard", json=widened)
    assert replaced.status_code == 200, replaced.text
    assert (await http.get("/v1/policies/standard")).json()["resolution_s"] == 200000
    assert (await http.delete("/v1/policies/critical")).status_code == 204
    assert [p["id"] for p in (await http.get("/v1/policies")).json()] == ["standard"]


async def test_two_admins_removing_the_last_two_catch_all_policies_at_once_leave_one(
    service: Service,
) -> None:
    http = service.http
    fallback = policy_body(id="fallback", category=None, rank=30, calendar="around-the-clock")
    assert (await http.post("/v1/policies", json=fallback)).status_code == 201
    narrowed = {k: v for k, v in policy_body(category="enrollment").items() if k != "id"}

    answers = await asyncio.gather(
        http.delete("/v1/policies/standard"),
        http.delete("/v1/policies/fallback"),
        http.put("/v1/policies/fallback", json=narrowed),
    )

    policies = (await http.get("/v1/policies")).json()
    catch_alls = [p["id"] for p in policies if p["category"] is None and p["priority"] is None]
    statuses = [a.status_code for a in answers]
    assert len(catch_alls) == 1, (statuses, catch_alls)  # each change saw the one before it
    assert 409 in statuses and 500 not in statuses


# --- clocks and the Ombudsperson ---------------------------------------------------------------


async def test_clock_shows_pause_and_history(service: Service) -> None:
    await service.submit("c-1", T0)
    await service.feed(
        ConcernStatusChanged(
            concern_id="c-1",
            from_status="received",
            to_status="awaiting_requester",
            changed_at=T0 + HOUR,
        )
    )
    paused = (await service.http.get("/v1/clocks/c-1")).json()
    # nothing to fire while paused; the due time told stays the one as of the pause
    assert (paused["status"], paused["resolution_due_at"], paused["next_due_at"]) == (
        "paused",
        "2026-03-05T15:00:00Z",
        None,
    )
    assert paused["elapsed_s"] == 3600
    assert [h["kind"] for h in paused["history"]] == ["started", "paused"]
    assert (await service.http.get("/v1/clocks/nobody")).status_code == 404


async def test_ombudsperson_sees_level_3_and_long_overdue_concerns_oldest_first(
    service: Service,
) -> None:
    assert (
        await service.http.post("/v1/policies", json=policy_body(calendar="around-the-clock"))
    ).status_code == 201  # pre-k: level 1 only, 9 h target
    await service.submit("c-old", T0)
    await service.submit("c-young", T0 + DAY)
    await service.submit("c-resolved", T0)
    await service.submit("c-prek", T0 + HOUR, category="pre-k", school_id=None)
    await service.feed(ConcernResolved(concern_id="c-resolved", resolved_at=T0 + 2 * DAY))
    await service.run_until(T0 + 5 * DAY + HOUR)

    view = (await service.http.get("/v1/ombudsperson/concerns")).json()
    # c-old reached level 3 at day 5 (3 days + 2); c-prek was due at 10:00 on day 0 and is
    # four days overdue since 10:00 on day 4; c-young is at level 2.
    assert [(c["concern_id"], c["reason"], c["level"]) for c in view] == [
        ("c-old", "level_3", 3),
        ("c-prek", "long_overdue", 1),
    ]
    assert view[1]["overdue_hours"] == 5 * 24 + 1 - 10
    kinds = [h["kind"] for h in view[0]["history"]]
    assert kinds[0] == "started" and kinds.count("escalated") == 3

    await service.run_until(T0 + 6 * DAY + HOUR)
    view = (await service.http.get("/v1/ombudsperson/concerns")).json()
    assert [c["concern_id"] for c in view] == ["c-old", "c-prek", "c-young"]


async def test_ombudsperson_sees_every_concern_merged_into_another(service: Service) -> None:
    """Security #1: a merge closed a concern out of every view; oversight now sees it."""
    await service.submit("c-merged", T0)
    await service.submit("c-resolved", T0)
    await service.feed(
        ConcernStatusChanged(
            concern_id="c-merged", from_status="received", to_status="closed", changed_at=T0 + HOUR
        )
    )
    await service.feed(ConcernResolved(concern_id="c-resolved", resolved_at=T0 + HOUR))
    await service.feed(
        ConcernStatusChanged(
            concern_id="c-resolved",
            from_status="resolved",
            to_status="closed",
            changed_at=T0 + 2 * HOUR,
        )
    )
    service.clock.advance(DAY)
    view = (await service.http.get("/v1/ombudsperson/concerns")).json()
    assert [(c["concern_id"], c["reason"]) for c in view] == [("c-merged", "merged")]


async def test_metrics_count_the_open_sla_clocks_running_or_paused(service: Service) -> None:
    await service.submit("c-open", T0)
    await service.submit("c-closed", T0)
    await service.feed(ConcernResolved(concern_id="c-closed", resolved_at=T0 + HOUR))

    answer = await service.http.get("/metrics")

    assert answer.status_code == 200
    assert "\nbureau_open_sla_clocks 1.0\n" in answer.text


# --- Board reports -----------------------------------------------------------------------------


async def _month_of_concerns(service: Service) -> None:
    """Three concerns in March: resolved in 2 h, resolved in 4 days, and one still open."""
    await service.submit("fast", T0, category="enrollment", channel=Channel.PHONE)
    await service.submit("slow", T0, category="transportation", school_id=None)
    await service.submit("open", T0 + 2 * DAY, category="transportation")
    await service.feed(
        ConcernStatusChanged(
            concern_id="fast",
            from_status="received",
            to_status="acknowledged",
            changed_at=T0 + HOUR,
        )
    )
    await service.feed(ConcernResolved(concern_id="fast", resolved_at=T0 + 2 * HOUR))
    await service.feed(SurveyAnswered(concern_id="fast", score=5, answered_at=T0 + 3 * HOUR))
    await service.run_until(T0 + 4 * DAY)
    await service.feed(ConcernResolved(concern_id="slow", resolved_at=T0 + 4 * DAY))
    await service.feed(SurveyAnswered(concern_id="slow", score=2, answered_at=T0 + 5 * DAY))
    await service.run_until(T0 + 10 * DAY)


async def test_board_report_by_category_in_json(service: Service) -> None:
    await _month_of_concerns(service)
    answer = await service.http.get(
        "/v1/reports/board",
        params={"from": "2026-03-01", "to": "2026-04-01", "group_by": "category"},
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    groups = {g["key"]: g for g in report["groups"]}
    assert sorted(groups) == ["enrollment", "transportation"]
    total = report["total"]
    assert (total["received"], total["resolved"]) == (3, 2)
    assert total["resolved_within_guarantee"] == 0.5  # 2 h yes, 96 h no
    assert total["first_response_within_target"] == 0.5  # fast acknowledged; slow never
    assert (total["median_hours_to_resolve"], total["p90_hours_to_resolve"]) == (49.0, 96.0)
    # slow: both targets; open (submitted day 2): both targets by day 10.
    assert total["breaches"] == {"first_response": 2, "resolution": 2, "callback": 0}
    # slow (no school): level 1 at day 3, level 2 (its department's assistant
    # superintendent) at day 4, resolved at day 4 before level 3 (day 5).
    # open: level 1 at day 5, level 2 at day 6, level 3 at day 7.
    assert total["escalations"] == {"1": 2, "2": 2, "3": 1}
    assert (total["satisfaction_responses"], total["satisfaction_mean"]) == (2, 3.5)
    # As of today (day 10 of the fake time): `open` is 8 days old.
    assert total["backlog"] == {"under_24h": 0, "24h_to_72h": 0, "72h_to_7d": 0, "over_7d": 1}
    assert groups["transportation"]["received"] == 2
    assert groups["enrollment"]["satisfaction_mean"] == 5.0


async def test_board_report_in_csv_and_monthly_trend(service: Service) -> None:
    await _month_of_concerns(service)
    answer = await service.http.get(
        "/v1/reports/board",
        params={"from": "2026-03-01", "to": "2026-04-01", "group_by": "channel", "format": "csv"},
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["group"], r["received"]) for r in rows] == [
        ("phone", "1"),
        ("web", "2"),
        ("total", "3"),
    ]
    trend = await service.http.get(
        "/v1/reports/board/trend", params={"from": "2026-02", "to": "2026-03"}
    )
    months = trend.json()["months"]
    assert [(m["month"], m["received"], m["resolved"]) for m in months] == [
        ("2026-02", 0, 0),
        ("2026-03", 3, 2),
    ]
    trend_csv = await service.http.get(
        "/v1/reports/board/trend", params={"from": "2026-02", "to": "2026-03", "format": "csv"}
    )
    assert trend_csv.text.splitlines()[0].startswith("month,received,resolved")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "March", "to": "2026-04-01"}, "from"),
        ({"from": "2026-03-01", "to": "2026-02-01"}, "to"),
        ({"from": "2026-03-01", "to": "2026-04-01", "group_by": "shoe_size"}, "group_by"),
        ({"from": "2026-03-01", "to": "2026-04-01", "format": "xlsx"}, "format"),
        ({"to": "2026-04-01"}, "from"),
    ],
)
async def test_bad_report_parameters_are_refused_naming_the_field(
    service: Service, params: dict[str, str], field: str
) -> None:
    answer = await service.http.get("/v1/reports/board", params=params)
    assert answer.status_code == 422
    assert any(f.endswith(field) for f in problem_fields(answer))


async def test_trend_parameters_are_checked(service: Service) -> None:
    bad = await service.http.get(
        "/v1/reports/board/trend", params={"from": "2026-13", "to": "2026-03"}
    )
    assert bad.status_code == 422 and problem_fields(bad) == ["from"]
    long = await service.http.get(
        "/v1/reports/board/trend", params={"from": "2000-01", "to": "2026-03"}
    )
    assert long.status_code == 422 and problem_fields(long) == ["to"]
