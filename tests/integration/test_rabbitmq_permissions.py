"""deploy/rabbitmq/definitions.json on the real broker: a service's user publishes only its
own events (Security, low). Needs `rabbitmqctl` beside the broker; skipped without it."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import aio_pika
import pytest
from aio_pika.exceptions import ChannelClosed

from shared.settings import REPO_ROOT

pytestmark = pytest.mark.integration

DEFINITIONS = json.loads((REPO_ROOT / "deploy" / "rabbitmq" / "definitions.json").read_text())
CTL = shutil.which("rabbitmqctl")


def ctl(*args: str) -> None:
    assert CTL is not None
    subprocess.run([CTL, "-q", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def intake_user() -> Iterator[tuple[str, str, str]]:
    """A fresh vhost with intake's user and permissions as the definitions give them."""
    if CTL is None:
        pytest.skip("rabbitmqctl is not available")
    vhost, user, password = (
        f"sec-{uuid.uuid4().hex[:8]}",
        f"intake-{uuid.uuid4().hex[:8]}",
        uuid.uuid4().hex,
    )
    ctl("add_vhost", vhost)
    ctl("add_user", user, password)
    try:
        [rights] = [p for p in DEFINITIONS["permissions"] if p["user"] == "intake"]
        ctl(
            "set_permissions",
            "-p",
            vhost,
            user,
            rights["configure"],
            rights["write"],
            rights["read"],
        )
        ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        for topic in DEFINITIONS["topic_permissions"]:
            if topic["user"] == "intake":
                ctl(
                    "set_topic_permissions",
                    "-p",
                    vhost,
                    user,
                    topic["exchange"],
                    topic["write"],
                    topic["read"],
                )
        yield vhost, user, password
    finally:
        ctl("delete_user", user)
        ctl("delete_vhost", vhost)


async def published(url: str, exchange: str, routing_key: str) -> bool:
    """Whether the broker takes one message (confirmed) or refuses it (channel closed)."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        target = await channel.get_exchange(exchange)
        try:
            await target.publish(aio_pika.Message(b"{}"), routing_key=routing_key, timeout=5)
        except ChannelClosed:
            return False
        return True
    finally:
        await connection.close()


async def test_intake_publishes_its_own_events_and_no_other(
    intake_user: tuple[str, str, str],
) -> None:
    vhost, user, password = intake_user
    admin = await aio_pika.connect(f"amqp://guest:guest@127.0.0.1:5672/{quote(vhost, safe='')}")
    channel = await admin.channel()
    for name in ("bureau.events", "bureau.private"):
        await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
    await admin.close()
    url = f"amqp://{user}:{password}@127.0.0.1:5672/{quote(vhost, safe='')}"

    assert await published(url, "bureau.events", "concern.submitted")
    assert await published(url, "bureau.private", "concern.contact_shared")
    assert not await published(url, "bureau.events", "concern.triaged")  # triage's
    assert not await published(url, "bureau.events", "notification.sent")  # notify's
    assert not await published(url, "bureau.private", "concern.triaged")
