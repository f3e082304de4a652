"""One acknowledgement through any store outage: a sender that is alive keeps its claim while
it retries recording the outcome, however long the store is away; a peer takes a delivery over
only when its sender is gone, and then resends it with the same Message-ID."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import AutoReconnect

from devtools.smtp_sink import SmtpSink
from services.notify import handlers
from services.notify.channels import SmtpEmailChannel
from services.notify.context import NotifyContext
from services.notify.dispatcher import dispatch_due
from services.notify.domain import ChannelName
from services.notify.main import build_context
from services.notify.settings import NotifySettings
from shared.clock import FakeClock
from tests.conftest import eventually
from tests.integration.test_notify_acknowledgement import (
    DISTRICT,
    MAIL_FROM,
    NOW,
    contact_event,
    delivery_document,
)

pytestmark = pytest.mark.integration

LEASE_S = 60


async def replica(
    client: AsyncMongoClient[Any], db_name: str, smtp_port: int, clock: FakeClock
) -> NotifyContext:
    """One notify replica; replicas share the store and wall time (one fake clock)."""
    channel = SmtpEmailChannel(host="127.0.0.1", port=smtp_port, mail_from=MAIL_FROM, timeout_s=5.0)
    settings = NotifySettings(delivery_lease_s=LEASE_S, delivery_backoff_s=[5, 30])
    return await build_context(
        client[db_name],
        settings=settings,
        clock=clock,
        district=DISTRICT,
        channels={ChannelName.EMAIL: channel},
    )


class StoreOutage:
    """Makes the outcome writes of one replica fail as a store that is down makes them fail."""

    def __init__(self, ctx: NotifyContext) -> None:
        self.down = True
        self.failed = 0
        for name in ("mark_sent", "renew"):
            setattr(ctx.repo, name, self._failing(getattr(ctx.repo, name)))

    def _failing(self, write: Callable[..., Awaitable[bool]]) -> Callable[..., Awaitable[bool]]:
        async def maybe(*args: Any, **kwargs: Any) -> bool:
            if self.down:
                self.failed += 1
                raise AutoReconnect("connection refused")
            return await write(*args, **kwargs)

        return maybe


async def test_sender_alive_through_a_store_outage_longer_than_its_lease_sends_once(
    mongo: AsyncMongoClient[Any], isolation: Any, sink: SmtpSink
) -> None:
    clock = FakeClock(NOW)
    owner = await replica(mongo, isolation.db("notify"), sink.port, clock)
    peer = await replica(mongo, isolation.db("notify"), sink.port, clock)
    outage = StoreOutage(owner)
    event, data = contact_event()

    await handlers.on_event(event, data, ctx=owner)  # recorded, claimed, sent at once
    await eventually(
        lambda: len(sink.mails) == 1 and outage.failed >= 2,
        what="the mail accepted and its record failing",
    )
    clock.advance(timedelta(seconds=130))  # the store stays away for twice the lease

    outage.down = False  # the store is back: the peer looks before the owner's next retry
    assert await dispatch_due(ctx=peer) == 0
    await owner.dispatch.settle()  # the owner records what it sent
    clock.advance(timedelta(seconds=2 * LEASE_S + 1))
    assert await dispatch_due(ctx=peer) == 0

    doc = await delivery_document(owner, data.concern_id)
    assert (doc["status"], doc["attempts"]) == ("sent", 1)
    assert len(sink.mails) == 1


async def test_sender_gone_between_the_mail_servers_accept_and_the_record_resends_once(
    mongo: AsyncMongoClient[Any], isolation: Any, sink: SmtpSink
) -> None:
    # the documented crash window: at most one duplicate, with the same Message-ID, so a
    # mailbox that drops duplicates shows one
    clock = FakeClock(NOW)
    owner = await replica(mongo, isolation.db("notify"), sink.port, clock)
    peer = await replica(mongo, isolation.db("notify"), sink.port, clock)
    outage = StoreOutage(owner)
    event, data = contact_event()
    await handlers.on_event(event, data, ctx=owner)
    await eventually(
        lambda: len(sink.mails) == 1 and outage.failed >= 1,
        what="the mail accepted and its record failing",
    )
    owner.dispatch.abandon()  # the owner dies before it could record
    await asyncio.gather(owner.dispatch.settle(), return_exceptions=True)

    clock.advance(timedelta(seconds=LEASE_S + 1))
    assert await dispatch_due(ctx=peer) == 0  # lease ran out: watched first
    clock.advance(timedelta(seconds=LEASE_S))
    assert await dispatch_due(ctx=peer) == 1  # silent a whole lease: taken over
    clock.advance(timedelta(seconds=10 * LEASE_S))
    assert await dispatch_due(ctx=peer) == 0

    first, second = sink.mails
    assert first.message["Message-ID"] == second.message["Message-ID"]
    doc = await delivery_document(peer, data.concern_id)
    assert (doc["status"], doc["attempts"]) == ("sent", 2)


async def test_claimed_delivery_that_waited_too_long_to_start_is_handed_back_and_sent_once(
    mongo: AsyncMongoClient[Any], isolation: Any, sink: SmtpSink
) -> None:
    clock = FakeClock(NOW)
    ctx = await replica(mongo, isolation.db("notify"), sink.port, clock)
    event, data = contact_event()

    await handlers.on_event(event, data, ctx=ctx)  # recorded claimed, its send queued
    clock.advance(timedelta(seconds=LEASE_S * 0.75))  # no slot for it until now
    await ctx.dispatch.settle()
    assert sink.mails == []
    assert await dispatch_due(ctx=ctx) == 1  # due at once, not after its lease

    doc = await delivery_document(ctx, data.concern_id)
    assert (doc["status"], doc["attempts"]) == ("sent", 1)
    assert len(sink.mails) == 1
