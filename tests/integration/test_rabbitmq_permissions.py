"""deploy/rabbitmq/definitions.json on the real broker: a service's user publishes only its own
events, a district subscriber reads only public ones (Security, low, issue 15: every service's
user could read the private exchange and publish any event). Needs `rabbitmqctl` beside the
broker; skipped without it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
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
    subprocess.run([CTL, "-q", *args], check=True, capture_output=True, timeout=60)


def password_hash(password: str) -> str:
    """RabbitMQ's stored form of a password (rabbit_password_hashing_sha256)."""
    salt = os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


@pytest.fixture(scope="module")
def urls() -> Iterator[dict[str, str]]:
    """A fresh vhost holding the bureau's two exchanges and every user of the definitions with
    its permissions as given there (one import); the URL each user connects with."""
    if CTL is None:
        pytest.skip("rabbitmqctl is not available")
    tag = uuid.uuid4().hex[:8]
    vhost, password = f"sec-{tag}", uuid.uuid4().hex
    users = {user["name"]: f"{user['name']}-{tag}" for user in DEFINITIONS["users"]}
    definitions = {
        "vhosts": [{"name": vhost}],
        "users": [
            {"name": name, "password_hash": password_hash(password), "tags": []}
            for name in users.values()
        ],
        "permissions": [
            {**rights, "user": users[rights["user"]], "vhost": vhost}
            for rights in DEFINITIONS["permissions"]
        ],
        "topic_permissions": [
            {**rights, "user": users[rights["user"]], "vhost": vhost}
            for rights in DEFINITIONS["topic_permissions"]
        ],
        "exchanges": [
            {
                "name": name,
                "vhost": vhost,
                "type": "topic",
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
            for name in ("bureau.events", "bureau.private")
        ],
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
        json.dump(definitions, file)
        file.flush()
        os.chmod(file.name, 0o644)  # the broker's own user reads it
        ctl("import_definitions", file.name)
    try:
        yield {
            name: f"amqp://{user}:{password}@127.0.0.1:5672/{quote(vhost, safe='')}"
            for name, user in users.items()
        }
    finally:
        for user in users.values():
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


async def bound(url: str, queue_name: str, exchange: str) -> bool:
    """Whether the user may bind a queue of its own to `exchange` (read it)."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        try:
            queue = await channel.declare_queue(queue_name, auto_delete=True)
            await queue.bind(exchange, routing_key="#")
        except ChannelClosed:
            return False
        return True
    finally:
        await connection.close()


async def test_intake_publishes_its_own_events_and_no_other(urls: dict[str, str]) -> None:
    url = urls["intake"]

    assert await published(url, "bureau.events", "concern.submitted")
    assert await published(url, "bureau.private", "concern.contact_shared")
    assert not await published(url, "bureau.events", "concern.triaged")  # triage's
    assert not await published(url, "bureau.events", "notification.sent")  # notify's
    assert not await published(url, "bureau.private", "concern.triaged")


# each service: (exchange, an event of its own), then events of the others it may not publish
OWN_AND_OTHERS = {
    "triage": (("bureau.private", "concern.triaged"), ("concern.submitted", "sla.breached")),
    "escalation": (("bureau.events", "sla.breached"), ("concern.triaged", "notification.sent")),
    "notify": (("bureau.events", "notification.failed"), ("concern.resolved", "sla.warning")),
}


@pytest.mark.parametrize("service", OWN_AND_OTHERS)
async def test_every_service_publishes_its_own_events_and_no_other(
    service: str, urls: dict[str, str]
) -> None:
    (exchange, own), others = OWN_AND_OTHERS[service]
    assert await published(urls[service], exchange, own)
    for other in others:
        assert not await published(urls[service], "bureau.events", other), other
        assert not await published(urls[service], "bureau.private", other), other


async def test_a_district_subscriber_reads_public_events_never_private_ones(
    urls: dict[str, str],
) -> None:
    """A district system's user binds its queues to bureau.events, never to bureau.private
    (contacts, summaries, sensitive routings), and publishes nothing."""
    url, queue = urls["subscriber"], f"subscriber.{uuid.uuid4().hex[:8]}"
    assert await bound(url, queue, "bureau.events")
    assert not await bound(url, queue, "bureau.private")
    assert not await published(url, "bureau.events", "concern.submitted")
    assert not await bound(urls["notify"], queue, "bureau.events")  # not a service's queue
