"""One concern, from a Saturday submission on a business-hours policy to its resolution, across
the four services (real broker, real store, one shared fake time): it is routed to its school
first, waits on the family (the clock pauses) and resumes with their reply, gets a callback
made on time, and is resolved with a summary the family reads. At every step, the due time the
family is told (the receipt, the acknowledgement, the status page's API) is the SLA clock's.

The services run as apps in this process rather than as separate processes, so that they share
one fake clock: a Saturday and the next business days pass in seconds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aio_pika
import httpx
import pytest
import yaml
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from services.escalation.main import create_app as escalation_app
from services.escalation.settings import EscalationSettings
from services.intake.main import create_app as intake_app
from services.intake.settings import IntakeSettings
from services.notify.channels import RecordingChannel
from services.notify.domain import format_local_time
from services.notify.main import create_app as notify_app
from services.notify.settings import NotifySettings
from services.triage.main import create_app as triage_app
from services.triage.settings import TriageSettings
from shared.clock import FakeClock
from shared.settings import DEFAULT_DISTRICT_CONFIG
from tests.conftest import Isolation, bearer
from tests.e2e.conftest import FRONTEND, concern_body, eventually

pytestmark = pytest.mark.e2e

TIMEZONE = "America/Chicago"
CHICAGO = ZoneInfo(TIMEZONE)
SATURDAY = datetime(2026, 3, 14, 10, 0, tzinfo=CHICAGO)
PARENT = "maria.gonzalez@example.org"
# The school's front office works the case: only the school's team is within its reach.
SCHOOL_OFFICE = bearer("team_member", sub="office-lincoln", teams=["school-lincoln-es"])
AUDITOR = bearer("auditor", sub="e2e-auditor")  # reads any case and clock, acts on none
SUMMARY = "Lucia is enrolled at Lincoln from Monday; her records arrived from her old school."


@dataclass
class Bureau:
    clock: FakeClock
    intake: httpx.AsyncClient
    escalation: httpx.AsyncClient
    mail: RecordingChannel


@pytest.fixture
async def shared_time_bureau(
    tmp_path: Path,
    isolation: Isolation,
    mongo_url: str,
    amqp_url: str,
    amqp: aio_pika.abc.AbstractRobustConnection,  # deletes this test's queues afterwards
) -> AsyncIterator[Bureau]:
    """The four services on the shipped district file, its policies on business hours."""
    raw = yaml.safe_load(DEFAULT_DISTRICT_CONFIG.read_text())
    raw["escalation"]["defaults"]["calendar"] = "business-hours"
    district = tmp_path / "district.yaml"
    district.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False))

    def common(service: str) -> dict[str, Any]:
        return {
            "mongo_url": mongo_url,
            "mongo_db": isolation.db(service),
            "amqp_url": amqp_url,
            "queue_prefix": isolation.queue_prefix,
            "events_exchange": isolation.events_exchange,
            "private_exchange": isolation.private_exchange,
            "district_config": district,
            "outbox_poll_s": 0.1,
            "retry_delays_ms": [200, 500, 1000, 2000],  # under load, before a dead letter
        }

    clock = FakeClock(SATURDAY.astimezone(UTC))
    mail = RecordingChannel()
    apps: dict[str, FastAPI] = {
        "intake": intake_app(IntakeSettings(**common("intake")), clock=clock),
        "triage": triage_app(TriageSettings(**common("triage")), clock=clock),
        "escalation": escalation_app(
            EscalationSettings(**common("escalation"), scheduler_tick_s=0.1), clock=clock
        ),
        "notify": notify_app(
            NotifySettings(**common("notify"), dispatch_tick_s=0.1), clock=clock, email=mail
        ),
    }
    async with AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(app.router.lifespan_context(app))

        async def client(name: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=apps[name])
            return await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url=f"http://{name}")
            )

        yield Bureau(clock, await client("intake"), await client("escalation"), mail)


def due(doc: dict[str, Any]) -> datetime:
    """The resolution due time a view or a clock states."""
    value = doc["resolution_due_at"]
    assert value, f"no due time in {doc}"
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def read(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> Any:
    answer = await client.get(path, headers=headers)
    return answer.json() if answer.status_code == 200 else None


async def post(
    client: httpx.AsyncClient, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> Any:
    answer = await client.post(path, json=body, headers=headers or SCHOOL_OFFICE)
    assert answer.status_code in (200, 201), f"{path}: {answer.status_code} {answer.text}"
    return answer.json()


class Family:
    """The concern as its family and the SLA clock see it."""

    def __init__(self, bureau: Bureau, created: dict[str, Any]) -> None:
        self.bureau = bureau
        self.id = created["id"]
        self.status_path = f"/v1/tracking/{created['tracking_number']}"
        self.token = {"X-Access-Token": created["access_token"]}

    async def view(self) -> dict[str, Any]:
        """The requester's view: what the status page shows."""
        view = await read(self.bureau.intake, self.status_path, self.token)
        assert view is not None, "the family cannot open their status"
        return view

    async def clock_when(self, condition: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The SLA clock once `condition` holds and the family's view shows its due time."""

        async def agreed() -> dict[str, Any] | None:
            clock = await read(self.bureau.escalation, f"/v1/clocks/{self.id}", AUDITOR)
            if clock is None or not condition(clock):
                return None
            return clock if due(await self.view()) == due(clock) else None

        return await eventually(agreed, what="the family's due time to be the clock's")

    async def reply(self, message: str) -> dict[str, Any]:
        return await post(
            self.bureau.intake, f"{self.status_path}/messages", {"message": message}, self.token
        )


async def holidays_ahead(bureau: Bureau, calendar: str) -> float:
    """The calendar's `bureau_calendar_holidays_ahead`, as escalation's `/metrics` tells."""
    text = (await bureau.escalation.get("/metrics")).text
    return next(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "bureau_calendar_holidays_ahead"
        and sample.labels == {"calendar": calendar}
    )


def kinds(clock: dict[str, Any]) -> list[str]:
    return [entry["kind"] for entry in clock["history"]]


async def test_a_saturday_concern_is_promised_the_clocks_due_time_from_receipt_to_resolution(
    shared_time_bureau: Bureau,
) -> None:
    bureau = shared_time_bureau
    # Saturday 10:00: a parent writes about enrollment at Lincoln, not yet raised at the school.
    body = concern_body(
        category="enrollment",
        school_contacted=False,
        description="We moved in February and Lucia still has no place at Lincoln Elementary.",
    )
    receipt = await post(bureau.intake, "/v1/concerns", body, FRONTEND)
    family = Family(bureau, receipt)

    # The receipt, the status page and the clock: 72 opening hours from Monday 08:00.
    clock = await family.clock_when(lambda c: c["status"] == "running")
    promised = due(clock)
    assert promised == datetime(2026, 3, 25, 17, 0, tzinfo=CHICAGO)
    assert due(receipt) == promised
    assert clock["calendar"] == "business-hours"
    # The calendar names holidays in the coming year, on the gauge an alert watches.
    assert await holidays_ahead(bureau, "business-hours") == 12

    # ... and the acknowledgement the family receives says the same day and hour.
    async def acknowledged() -> str | None:
        return next((m.text for m in bureau.mail.sent if m.to == PARENT), None)

    acknowledgement = await eventually(acknowledged, what="the acknowledgement mail")
    assert receipt["tracking_number"] in acknowledgement
    assert format_local_time(promised, TIMEZONE, "en") in acknowledgement

    # School first: the concern goes to Lincoln's own team, which has someone on it.
    async def routed() -> dict[str, Any] | None:
        case = await read(bureau.intake, f"/v1/concerns/{family.id}", AUDITOR)
        return case if case and case.get("team") and case.get("assignee") else None

    case = await eventually(routed, what="triage")
    assert case["team"]["id"] == "school-lincoln-es"
    assert case["assignee"]["id"] in ("office-lincoln", "p-lincoln")
    assert (await family.view())["team_name"] == "Lincoln Elementary Front Office"

    # Monday 09:00 the office answers; at 10:00 it asks the family a question: the clock stops.
    bureau.clock.advance(timedelta(hours=47))
    await post(bureau.intake, f"/v1/concerns/{family.id}/acknowledge")
    bureau.clock.advance(timedelta(hours=1))
    await post(
        bureau.intake,
        f"/v1/concerns/{family.id}/request-information",
        {"message": "Which school did Lucia attend before, and in which grade?"},
    )
    assert (await family.view())["status"] == "awaiting_requester"
    await family.clock_when(lambda c: c["status"] == "paused")

    # Tuesday 10:00 the family answers: the clock runs again, one business day (9 h) later.
    bureau.clock.advance(timedelta(days=1))
    answered = await family.reply("She was in grade 4 at Roosevelt Elementary in Tulsa.")
    assert answered["status"] == "acknowledged"
    clock = await family.clock_when(lambda c: c["status"] == "running" and c["elapsed_s"] > 0)
    resumed = due(clock)
    assert resumed == datetime(2026, 3, 26, 17, 0, tzinfo=CHICAGO)

    # The office promises a call back by noon, and makes it at 11:00, on time.
    noon = bureau.clock.now() + timedelta(hours=2)
    scheduled = await post(
        bureau.intake,
        f"/v1/concerns/{family.id}/callbacks",
        {"due_at": noon.isoformat(), "remind_before_minutes": 30},
    )
    [callback] = scheduled["callbacks"]
    assert callback["assignee_id"] == "office-lincoln"
    await family.clock_when(lambda c: "callback_scheduled" in kinds(c))
    bureau.clock.advance(timedelta(hours=1))
    await post(
        bureau.intake,
        f"/v1/concerns/{family.id}/callbacks/{callback['id']}/complete",
        {"outcome": "reached"},
    )
    clock = await family.clock_when(lambda c: "callback_on_time" in kinds(c))
    assert due(clock) == resumed  # a callback moves no due time

    # Tuesday 11:30 the office resolves it, saying what was done; the family reads it.
    bureau.clock.advance(timedelta(minutes=30))
    await post(bureau.intake, f"/v1/concerns/{family.id}/resolve", {"summary": SUMMARY})
    clock = await family.clock_when(lambda c: c["status"] == "stopped")
    view = await family.view()
    assert view["status"] == "resolved"
    assert view["resolution"]["summary"] == SUMMARY
    assert due(view) == resumed
    assert "breached" not in kinds(clock)

    async def resolution_mail() -> str | None:
        sent = bureau.mail.sent
        return next((m.text for m in sent if m.to == PARENT and SUMMARY in m.text), None)

    await eventually(resolution_mail, what="the resolution mail with its summary")
