"""The inbox on the real store: concurrently handled events share its round trips."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from pymongo import AsyncMongoClient

from shared.inbox import Inbox
from tests.conftest import Isolation, store_operations

pytestmark = pytest.mark.integration

AT = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


async def test_concurrent_events_are_looked_up_and_recorded_in_shared_round_trips(
    mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    inbox = Inbox(mongo[isolation.db("svc")])
    await inbox.ensure_indexes()
    await inbox.record("e-old", "concern.submitted", AT)
    ids = ["e-old", *(f"e-{i}" for i in range(49))]
    before = await store_operations(mongo, isolation.db("svc"))

    seen = await asyncio.gather(*(inbox.seen(event_id) for event_id in ids))
    await asyncio.gather(*(inbox.record(event_id, "concern.submitted", AT) for event_id in ids))

    assert seen == [True] + [False] * 49
    used = await store_operations(mongo, isolation.db("svc")) - before
    assert used["inbox"] <= 4  # not 100: two per flush at most
    assert await asyncio.gather(*(inbox.seen(event_id) for event_id in ids)) == [True] * 50
    assert await mongo[isolation.db("svc")]["inbox"].count_documents({}) == 50
