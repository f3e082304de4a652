"""The bureau as four separate processes, on the real broker and store, for each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aio_pika
import httpx
import pytest
import yaml

from devtools.bureau import LocalBureau
from shared.settings import DEFAULT_DISTRICT_CONFIG
from tests import conftest as polling
from tests.conftest import Isolation, bearer

T = TypeVar("T")

# A web frontend posts concerns; a specialist reads and works them.
FRONTEND = bearer("frontend", sub="e2e-portal")
STAFF = bearer("specialist", sub="e2e-desk")

# A test policy in seconds, so that breaches and escalations happen during the test.
SLA_RESOLUTION_S = 3


def short_sla_district(path: Path) -> Path:
    """The example district with every SLA target shortened to seconds."""
    config = yaml.safe_load(DEFAULT_DISTRICT_CONFIG.read_text())
    for policy in config["sla"]["policies"]:
        policy["first_response_s"] = SLA_RESOLUTION_S
        policy["resolution_s"] = SLA_RESOLUTION_S
    for step in config["sla"]["ladder"]:
        step["after_s"] = 2 * (step["level"] - 1)
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


@pytest.fixture
def bureau(
    tmp_path: Path,
    isolation: Isolation,
    mongo_url: str,
    amqp_url: str,
    amqp: aio_pika.abc.AbstractRobustConnection,
) -> Iterator[LocalBureau]:
    """The four services as processes with this test's names; stopped (and their queues
    deleted, through the `amqp` fixture) afterwards."""
    district = short_sla_district(tmp_path / "district.yaml")
    env = {
        "MONGO_URL": mongo_url,
        "AMQP_URL": amqp_url,
        "QUEUE_PREFIX": isolation.queue_prefix,
        "EVENTS_EXCHANGE": isolation.events_exchange,
        "PRIVATE_EXCHANGE": isolation.private_exchange,
        "DISTRICT_CONFIG": str(district),
        "RETRY_DELAYS_MS": "[200, 500, 1000]",
        "OUTBOX_POLL_S": "0.2",
        "SCHEDULER_TICK_S": "0.2",
        "LOG_LEVEL": "INFO",
    }
    local = LocalBureau(workdir=tmp_path, env=env)
    local.start_smtp()
    per_service = {
        name: {"MONGO_DB": isolation.db(name)}
        for name in ("intake", "triage", "escalation", "notify")
    }
    try:
        local.start_services(per_service_env=per_service)
        yield local
    finally:
        local.stop()


@pytest.fixture
async def public_events(
    amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation, bureau: LocalBureau
) -> AsyncIterator[EventTap]:
    """A queue bound to every event on the (isolated) `bureau.events`, like a district system."""
    channel = await amqp.channel()
    exchange = await channel.declare_exchange(isolation.events_exchange, "topic", durable=True)
    queue = await channel.declare_queue(
        f"{isolation.queue_prefix}probe.events", durable=False, auto_delete=True
    )
    await queue.bind(exchange, routing_key="#")
    yield EventTap(queue)
    await channel.close()


class EventTap:
    """Collects messages from a bound queue and waits for the ones a test expects."""

    def __init__(self, queue: aio_pika.abc.AbstractQueue) -> None:
        self.queue = queue
        self.messages: list[aio_pika.abc.AbstractIncomingMessage] = []

    async def wait_for(
        self,
        predicate: Callable[[aio_pika.abc.AbstractIncomingMessage], bool],
        timeout_s: float = 20.0,
    ) -> aio_pika.abc.AbstractIncomingMessage:
        """The first event on the tap that `predicate` takes; fails the test after
        `timeout_s`."""

        async def taken() -> aio_pika.abc.AbstractIncomingMessage | None:
            while (message := await self.queue.get(fail=False, no_ack=True)) is not None:
                self.messages.append(message)
            return next((m for m in self.messages if predicate(m)), None)

        return await eventually(taken, timeout_s=timeout_s, what="the expected event")


async def eventually(
    check: Callable[[], Awaitable[T | None]], timeout_s: float = 20.0, what: str = "condition"
) -> T:
    """The tests' `eventually` at the pace of services running as processes."""
    return await polling.eventually(check, timeout_s=timeout_s, what=what, interval_s=0.2)


def concern_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "web",
        "category": "transportation",
        "school_id": "lincoln-es",
        "description": "The school bus skipped our stop three mornings this week.",
        "requester": {
            "name": "Maria Gonzalez",
            "email": "maria.gonzalez@example.org",
            "phone": "+15555550123",
            "language": "en",
        },
        "student": {"name": "Lucia Gonzalez", "student_id": "S-778812", "grade": "4"},
    }
    body.update(overrides)
    return body


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client
