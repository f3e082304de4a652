"""What notify costs the store per concern: the store is the bureau's bottleneck, so each
message is recorded and settled in two writes, and events that notify no one read nothing.
Counted by the store itself (`top`), over the real store and a real SMTP server."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from devtools.smtp_sink import SmtpSink
from services.notify import handlers
from services.notify.channels import SmtpEmailChannel
from services.notify.context import NotifyContext
from services.notify.domain import ChannelName
from services.notify.main import build_context
from services.notify.settings import NotifySettings
from shared.clock import FakeClock
from shared.district import load_district
from shared.events import (
    ConcernAssigned,
    ConcernContactShared,
    ConcernStatusChanged,
    ConcernSubmitted,
    ConcernTriaged,
    EventData,
    NotificationSent,
    Priority,
    RequesterContact,
    envelopes,
)
from shared.settings import DEFAULT_DISTRICT_CONFIG
from tests.conftest import store_operations

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
ADDRESS = "ana.perez@example.org"
DISTRICT = load_district(DEFAULT_DISTRICT_CONFIG)


async def notify_context(
    client: AsyncMongoClient[Any], db_name: str, sink: SmtpSink
) -> NotifyContext:
    channel = SmtpEmailChannel(
        host="127.0.0.1", port=sink.port, timeout_s=5, mail_from="Bureau <bureau@district.example>"
    )
    return await build_context(
        client[db_name],
        settings=NotifySettings(),
        clock=FakeClock(NOW),
        district=DISTRICT,
        channels={ChannelName.EMAIL: channel},
    )


def a_concern_as_notify_hears_of_it(concern_id: str) -> list[EventData]:
    """The events of a new concern up to its assignment, as they reach notify."""
    return [
        ConcernSubmitted(
            concern_id=concern_id,
            tracking_number="CS-2026-000123",
            category="transportation",
            school_id="lincoln-es",
            channel="web",
            submitted_at=NOW,
            resolution_due_at=NOW + timedelta(hours=72),
        ),
        ConcernContactShared(
            concern_id=concern_id,
            tracking_number="CS-2026-000123",
            category="transportation",
            submitted_at=NOW,
            resolution_due_at=NOW + timedelta(hours=72),
            requester=RequesterContact(name="Ana Pérez", email=ADDRESS, language="en"),
        ),
        ConcernTriaged(
            concern_id=concern_id,
            category="transportation",
            priority=Priority.NORMAL,
            team_id="transportation",
            team_name="Transportation Department",
            school_id="lincoln-es",
            rule="transportation",
            triaged_at=NOW,
        ),
        ConcernAssigned(
            concern_id=concern_id,
            team_id="transportation",
            assignee_id="tr-lead",
            assignee_name="Ana Kowalski",
            assigned_at=NOW,
        ),
        ConcernStatusChanged(
            concern_id=concern_id, from_status="received", to_status="acknowledged", changed_at=NOW
        ),
        NotificationSent(
            concern_id=concern_id,
            delivery_id=f"{concern_id}:acknowledgement:email",
            kind="acknowledgement",
            channel="email",
            sent_at=NOW,
        ),
    ]


async def handle(ctx: NotifyContext, concern_id: str) -> None:
    for data in a_concern_as_notify_hears_of_it(concern_id):
        [event] = envelopes([data], source="/bureau/test", time=NOW)
        await handlers.on_event(event, data, ctx=ctx)
    await ctx.dispatch.settle()


async def test_a_new_concern_costs_notify_two_writes_per_message_and_one_or_two_per_fact(
    mongo: AsyncMongoClient[Any], isolation: Any, sink: SmtpSink
) -> None:
    db_name = isolation.db("notify")
    ctx = await notify_context(mongo, db_name, sink)
    await handle(ctx, str(uuid.uuid4()))  # templates and subscriptions are now in memory
    sink.mails.clear()
    before = await store_operations(mongo, db_name)

    await handle(ctx, str(uuid.uuid4()))

    # the acknowledgement and the assignment went out, without a dispatcher pass
    assert sorted(r for m in sink.mails for r in m.recipients) == sorted(
        [ADDRESS, "ana.kowalski@district.example"]
    )
    used = await store_operations(mongo, db_name) - before
    # each message: recorded already claimed, then marked sent with its event
    assert used["deliveries"] == 4
    # contact, triage and assignment each remembered in one write; the facts read back by
    # `_id` only after contact and assignment, which notify someone (a triage that is not
    # critical does not), and read once by `_id` before an assignment is remembered (the
    # member it is taken from, if any, is told); submitted, status changed and notification
    # sent read nothing
    assert used["concerns"] == 6
    assert +used == Counter(deliveries=4, concerns=6)


async def test_facts_arriving_together_for_a_new_concern_are_all_kept(
    mongo: AsyncMongoClient[Any], mongo_url: str, isolation: Any, sink: SmtpSink
) -> None:
    db_name = isolation.db("notify")
    other: AsyncMongoClient[Any] = AsyncMongoClient(mongo_url, tz_aware=True)
    try:
        replicas = [await notify_context(client, db_name, sink) for client in (mongo, other, mongo)]
        for n in range(5):
            concern = str(uuid.uuid4())
            _, contact, triaged, assigned, *_ = a_concern_as_notify_hears_of_it(concern)
            # three replicas take the three facts of one new concern at the same moment
            await asyncio.gather(
                *(
                    handlers.on_event(
                        envelopes([data], source="/bureau/test", time=NOW)[0], data, ctx=ctx
                    )
                    for ctx, data in zip(replicas, (contact, triaged, assigned), strict=True)
                )
            )

            facts = await replicas[0].concerns.get(concern)
            assert facts is not None, n
            assert facts.contact is not None and facts.contact.email == ADDRESS
            assert (facts.team_id, facts.priority, facts.assignee_id) == (
                "transportation",
                "normal",
                "tr-lead",
            )
        for ctx in replicas:
            await ctx.dispatch.settle()
    finally:
        await other.close()
