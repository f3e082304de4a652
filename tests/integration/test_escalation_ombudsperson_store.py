"""The Ombudsperson's list on the real store: read through the indexed `ombudsperson_from`
that every write of a clock keeps, and given once at startup to clocks stored before it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import AsyncMongoClient

from services.escalation.domain import ClockStatus, Entry
from services.escalation.repository import (
    CLOCKS,
    FREE,
    LEASE_UNTIL,
    OMBUDSPERSON_FROM,
    VERSION,
    ClockRepository,
    to_document,
)
from tests.conftest import Isolation
from tests.unit.test_escalation_ombudsperson import AT_THE_TOP, BREACHED, MERGED, OPEN

pytestmark = pytest.mark.integration

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
OVERDUE_BEFORE = NOW - timedelta(days=7)
MERGED_SINCE = NOW - timedelta(days=30)


async def listed(clocks: ClockRepository) -> list[str]:
    found = await clocks.for_ombudsperson(
        overdue_before=OVERDUE_BEFORE, limit=50, merged_since=MERGED_SINCE
    )
    return [c.concern_id for c in found]


async def test_the_list_follows_each_write_of_a_clock(
    mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    clocks = ClockRepository(mongo[isolation.db("escalation")])
    await clocks.ensure_indexes()
    for n, clock in enumerate([OPEN, BREACHED, MERGED]):
        await clocks.start(replace(clock, concern_id=f"c-{n}"))
    assert await listed(clocks) == ["c-1", "c-2"]  # long overdue, merged lately

    stored = await clocks.get("c-0")
    assert stored is not None
    await clocks.save(stored, replace(stored.clock, level=3, breached_at=NOW))  # climbed
    resolved = await clocks.get("c-1")
    assert resolved is not None
    stop = Entry(NOW, "resolved", 1)
    await clocks.save(
        resolved,
        replace(resolved.clock, status=ClockStatus.STOPPED, stopped_at=NOW, history=(stop,)),
    )
    assert await listed(clocks) == ["c-0", "c-2"]


async def test_clocks_stored_before_the_index_field_are_given_it_once(
    mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    db = mongo[isolation.db("escalation")]
    older = [replace(AT_THE_TOP, concern_id="old-1"), replace(OPEN, concern_id="old-2")]
    await db[CLOCKS].insert_many(
        [
            {
                **{k: v for k, v in to_document(c).items() if k != OMBUDSPERSON_FROM},
                VERSION: 1,
                LEASE_UNTIL: FREE,
            }
            for c in older
        ]
    )
    clocks = ClockRepository(db)
    await clocks.ensure_indexes()
    assert await listed(clocks) == ["old-1"]
    assert await db[CLOCKS].count_documents({OMBUDSPERSON_FROM: {"$exists": False}}) == 0
