"""The dead-letter CLI on the real broker: list what a service parked, replay it, purge."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import aio_pika
import pytest

from devtools.launcher import REPO_ROOT
from shared.clock import SystemClock
from shared.events import CloudEvent, ConcernSubmitted, encode
from shared.messaging.dead_letters import list_parked
from shared.runtime import Runtime
from tests.conftest import Isolation, eventually
from tests.integration.test_messaging import settings_for, submitted_event

pytestmark = pytest.mark.integration


def dlq_cli(isolation: Isolation, amqp_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AMQP_URL": amqp_url,
        "QUEUE_PREFIX": isolation.queue_prefix,
        "PYTHONPATH": str(REPO_ROOT),
    }
    return subprocess.run(
        [sys.executable, "-m", "devtools.dlq", *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


async def test_parked_message_is_listed_with_its_error_and_replayed_once_fixed(
    isolation: Isolation,
    mongo_url: str,
    amqp_url: str,
    mongo: Any,
    amqp: aio_pika.abc.AbstractRobustConnection,
) -> None:
    broken = True
    handled: list[str] = []

    async def handler(event: CloudEvent, data: ConcernSubmitted) -> None:
        if broken:
            raise RuntimeError("template missing for category transportation")
        handled.append(event.id)

    settings = settings_for(
        isolation,
        mongo_url,
        amqp_url,
        service_name="notify",
        mongo_db=isolation.db("notify"),
        retry_delays_ms=[50],
    )
    runtime = await Runtime.open(settings, clock=SystemClock(), outbox_collections=[])
    try:
        await runtime.start_consuming({"concern.submitted": handler})
        channel = await amqp.channel()
        exchange = await channel.get_exchange(isolation.events_exchange)
        event = submitted_event("c-dlq-1")
        await exchange.publish(
            aio_pika.Message(encode(event), message_id=event.id, type=event.type),
            routing_key=event.name,
        )
        dlq = f"{isolation.queue_prefix}notify.dlq"

        async def parked() -> bool:
            # Quorum queues report message counts lazily: look at the messages themselves.
            return bool(await list_parked(channel, dlq))

        await eventually(parked, what="the event parked")
        listed = await asyncio.to_thread(dlq_cli, isolation, amqp_url, "list", "notify", "--json")
        assert listed.returncode == 0, listed.stderr
        entries = [json.loads(line) for line in listed.stdout.splitlines()]
        assert [e["message_id"] for e in entries] == [event.id]
        assert "template missing" in entries[0]["error"]
        assert entries[0]["routing_key"] == "concern.submitted"
        assert entries[0]["subject"] == "c-dlq-1"
        assert await parked(), "listing must leave the message parked"

        broken = False
        replayed = await asyncio.to_thread(dlq_cli, isolation, amqp_url, "replay", "notify")
        assert replayed.returncode == 0, replayed.stderr
        assert "replayed 1 message" in replayed.stdout

        async def handled_once() -> bool:
            return handled == [event.id]

        await eventually(handled_once, what="the replayed event handled")
        assert not await parked()
    finally:
        await runtime.close()


async def test_purge_needs_confirmation_and_missing_queue_is_a_clear_error(
    isolation: Isolation, amqp_url: str
) -> None:
    missing = await asyncio.to_thread(dlq_cli, isolation, amqp_url, "list", "triage")
    assert missing.returncode == 1
    assert "does not exist" in missing.stderr
    refused = await asyncio.to_thread(dlq_cli, isolation, amqp_url, "purge", "triage")
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
