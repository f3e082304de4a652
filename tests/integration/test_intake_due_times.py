"""The due time a family is told is the SLA clock's, from the first answer on: intake runs the
clock's own arithmetic at the 201 (a business-hours policy, a Saturday submission), and then
follows escalation's `sla.due_changed` in the clock's order (pauses, resumes, re-triage)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aio_pika
import httpx
import pytest
import yaml
from pymongo import AsyncMongoClient

from services.escalation import domain as clock_rules
from services.escalation.config import EscalationConfig
from services.escalation.policies import calendars_of, seed_policies
from services.intake.main import create_app
from services.intake.settings import IntakeSettings
from shared.clock import FakeClock
from shared.district import load_district
from shared.events import SlaDueChanged, encode, new_event
from shared.messaging.publisher import event_message
from shared.settings import DEFAULT_DISTRICT_CONFIG
from tests.conftest import STAFF_ROLES, Isolation, bearer
from tests.integration.test_intake_api import body, drain, tap
from tests.integration.test_intake_events import case_when

pytestmark = pytest.mark.integration

CHICAGO = ZoneInfo("America/Chicago")
SATURDAY = datetime(2026, 3, 14, 10, 0, tzinfo=CHICAGO).astimezone(UTC)


@pytest.fixture
def business_hours_district(tmp_path: Path) -> Path:
    """The shipped district file, its policies counting business hours."""
    raw = yaml.safe_load(Path(DEFAULT_DISTRICT_CONFIG).read_text())
    raw["escalation"]["defaults"]["calendar"] = "business-hours"
    path = tmp_path / "district.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture
def saturday() -> FakeClock:
    return FakeClock(SATURDAY)


@pytest.fixture
async def intake(
    mongo_url: str,
    amqp_url: str,
    isolation: Isolation,
    saturday: FakeClock,
    business_hours_district: Path,
    mongo: AsyncMongoClient,
    amqp: aio_pika.abc.AbstractRobustConnection,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = IntakeSettings(
        mongo_url=mongo_url,
        mongo_db=isolation.db("intake"),
        amqp_url=amqp_url,
        queue_prefix=isolation.queue_prefix,
        events_exchange=isolation.events_exchange,
        private_exchange=isolation.private_exchange,
        outbox_poll_s=0.1,
        retry_delays_ms=[200],
        district_config=business_hours_district,
    )
    app = create_app(settings, clock=saturday)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://intake",
            headers=bearer(*STAFF_ROLES, sub="agent-7"),
        ) as client:
            yield client


def clock_due(district_file: Path, *, category: str, at: datetime) -> datetime:
    """What escalation's clock says, computed on its own from the same district file."""
    district = load_district(district_file)
    config = district.section("escalation", EscalationConfig)
    rules = clock_rules.Rules(
        policies=seed_policies(district, config),
        calendars=calendars_of(district, config),
        district=district,
    )
    known = district.category(category)
    clock = clock_rules.start(
        "c",
        category=category,
        school_id=None,
        priority=known.priority if known else None,
        channel="web",
        started_at=at,
        rules=rules,
    )
    assert clock.resolution_due_at is not None
    return clock.resolution_due_at


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_a_saturday_submission_is_promised_the_business_hours_clock_due_time_everywhere(
    intake: httpx.AsyncClient,
    business_hours_district: Path,
    amqp: aio_pika.abc.AbstractRobustConnection,
    isolation: Isolation,
) -> None:
    private = await tap(amqp, isolation.private_exchange)
    answer = await intake.post("/v1/concerns", json=body())
    created = answer.json()
    due = clock_due(business_hours_district, category="enrollment", at=SATURDAY)

    # 72 opening hours, 9 a day from Monday 08:00: eight working days, not 72 wall hours
    assert due.astimezone(CHICAGO) == datetime(2026, 3, 25, 17, 0, tzinfo=CHICAGO)
    assert instant(created["resolution_due_at"]) == due
    shared = [
        e
        for e in await drain(private, until="concern.contact_shared")
        if e["type"].endswith("concern.contact_shared.v1")
    ]
    assert instant(shared[-1]["data"]["resolution_due_at"]) == due  # the acknowledgement's
    token = {"X-Access-Token": created["access_token"]}
    view = (await intake.get(f"/v1/tracking/{created['tracking_number']}", headers=token)).json()
    case = (await intake.get(f"/v1/concerns/{created['id']}")).json()
    assert instant(view["resolution_due_at"]) == instant(case["resolution_due_at"]) == due


async def publish_due(
    amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation, data: SlaDueChanged
) -> None:
    channel = await amqp.channel(publisher_confirms=True)
    exchange = await channel.get_exchange(isolation.events_exchange)
    event = new_event(
        data, source="/bureau/escalation", subject=data.concern_id, time=data.changed_at
    )
    await exchange.publish(
        event_message(encode(event), event_id=event.id, event_type=event.type),
        routing_key=event.name,
    )


async def test_the_case_follows_the_clock_due_changes_in_the_clock_order(
    intake: httpx.AsyncClient,
    saturday: FakeClock,
    amqp: aio_pika.abc.AbstractRobustConnection,
    isolation: Isolation,
) -> None:
    created = await intake.post("/v1/concerns", json=body())
    cid = created.json()["id"]
    paused_due = SATURDAY + timedelta(days=20)
    later_due = SATURDAY + timedelta(days=30)

    def due(sequence: int, at: datetime, paused: bool) -> SlaDueChanged:
        return SlaDueChanged(
            concern_id=cid,
            resolution_due_at=at,
            paused=paused,
            policy="standard",
            cycle=1,
            sequence=sequence,
            changed_at=saturday.now(),
        )

    await publish_due(amqp, isolation, due(3, paused_due, True))
    await case_when(intake, cid, lambda c: instant(c["resolution_due_at"]) == paused_due)
    await publish_due(amqp, isolation, due(2, later_due, False))  # older: arrives late
    await publish_due(amqp, isolation, due(4, later_due, True))
    case = await case_when(intake, cid, lambda c: instant(c["resolution_due_at"]) == later_due)

    # paused: not overdue even when its due time has passed
    saturday.advance(timedelta(days=40))
    overdue = (await intake.get("/v1/concerns", params={"overdue": "true"})).json()
    assert cid not in [i["id"] for i in overdue["items"]]
    open311 = (await intake.get(f"/open311/v2/requests/{case['tracking_number']}.json")).json()
    assert instant(open311[0]["expected_datetime"]) == later_due
