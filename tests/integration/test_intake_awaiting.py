"""A concern waiting on the requester is reminded after N days and closed with notice after M
(issue 16; district settings `intake.awaiting_requester`), intake's own sweep running on a
fake clock against the real store and broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
import yaml
from pymongo import AsyncMongoClient

from services.intake.main import create_app
from services.intake.settings import IntakeSettings
from shared.clock import FakeClock, SystemClock
from shared.settings import DEFAULT_DISTRICT_CONFIG
from tests.conftest import STAFF_ROLES, Isolation, bearer, eventually
from tests.integration.test_intake_api import body, drain, tap

pytestmark = pytest.mark.integration


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(SystemClock().now())


@pytest.fixture
def district(tmp_path: Path) -> Path:
    """The shipped district settings (remind after 5 days, close after 10), looked at every
    50 ms instead of every 5 minutes."""
    raw = yaml.safe_load(Path(DEFAULT_DISTRICT_CONFIG).read_text())
    raw["intake"]["awaiting_requester"]["sweep_s"] = 0.05
    path = tmp_path / "district.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True))
    return path


@pytest.fixture
async def intake(
    mongo_url: str,
    amqp_url: str,
    isolation: Isolation,
    clock: FakeClock,
    district: Path,
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
        district_config=district,
    )
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://intake",
            headers=bearer(*STAFF_ROLES, sub="agent-7"),
        ) as client:
            yield client


async def case_once(intake: httpx.AsyncClient, concern_id: str, kind: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        case = dict((await intake.get(f"/v1/concerns/{concern_id}")).json())
        return case if kind in [e["kind"] for e in case["timeline"]] else None

    return await eventually(reached, what=f"a {kind} on the case")


async def test_a_silent_family_is_asked_again_then_the_concern_closes_with_notice(
    intake: httpx.AsyncClient,
    clock: FakeClock,
    isolation: Isolation,
    amqp: aio_pika.abc.AbstractRobustConnection,
) -> None:
    private = await tap(amqp, isolation.private_exchange)
    requester = {**body()["requester"], "language": "es"}
    created = await intake.post("/v1/concerns", json=body(requester=requester))
    concern_id = created.json()["id"]
    asked = await intake.post(
        f"/v1/concerns/{concern_id}/request-information",
        json={"message": "¿En qué grado está su hijo?"},
    )
    assert asked.status_code == 200, asked.text
    await drain(private, until="concern.reply_shared")

    clock.advance(timedelta(days=5, minutes=1))  # five days of silence
    case = await case_once(intake, concern_id, "remind_requester")
    assert case["status"] == "awaiting_requester"
    reminder = (await drain(private, until="concern.reply_shared"))[-1]["data"]
    assert reminder["information_request"] is True
    assert reminder["text"] == "¿En qué grado está su hijo?"  # their question again

    clock.advance(timedelta(days=5))
    case = await case_once(intake, concern_id, "close_unanswered")
    assert case["status"] == "closed"
    assert case["resolution"]["summary"].startswith("Cerramos esta inquietud")
    notice = (await drain(private, until="concern.reply_shared"))[-1]["data"]
    assert notice["information_request"] is False and notice["text"].startswith("Cerramos")
    assert [e["kind"] for e in case["timeline"]].count("remind_requester") == 1
