"""The same event is never published twice without a fault (issue 14): when two replicas each
added an event to one document (intake: the submission on one replica, a triage decision
handled on another) and both relays' own passes read it before either pulled, each publishes
only the leading run of its own entries (shared/outbox.py `_own_batch`), never its peer's; the
one queued behind the other's looks again a moment later. Each event goes out once, in the
order the document holds them."""

from __future__ import annotations

import asyncio

import pytest
from pymongo.asynchronous.collection import AsyncCollection

from shared.clock import FakeClock
from shared.outbox import FIELD, outbox_entries
from shared.store import Document
from tests.conftest import eventually
from tests.integration.test_outbox import (
    AT,
    RecordingSink,
    concerns,  # noqa: F401 (the fixture: a collection with the outbox indexes)
    relay_for,
    status_changed,
    submitted,
)

pytestmark = pytest.mark.integration


async def test_two_writers_fresh_events_in_one_document_are_each_published_once(
    concerns: AsyncCollection[Document],  # noqa: F811
) -> None:
    clock = FakeClock(AT)
    first, second = submitted("c-two"), status_changed("c-two", "received", "acknowledged")
    mine, theirs = outbox_entries([first]), outbox_entries([second])
    mine[0]["by"], theirs[0]["by"] = "writer-a", "writer-b"  # two replicas' fresh writes
    await concerns.insert_one({"_id": "c-two", FIELD: [*mine, *theirs]})
    sink = RecordingSink(delay_s=0.05)  # both passes read before either pulls
    a = relay_for(concerns, sink, clock=clock, writer="writer-a", fresh_s=5.0)
    b = relay_for(concerns, sink, clock=clock, writer="writer-b", fresh_s=5.0)

    await asyncio.gather(a.drain(own=True, sweep=False), b.drain(own=True, sweep=False))

    # the first writer's event went out; the second waits behind it in the document
    assert sink.ids == [first.id]
    running = [asyncio.create_task(relay.run()) for relay in (a, b)]
    try:  # not woken again: the relay looks again by itself
        await eventually(lambda: len(sink.ids) == 2, what="the second writer's event")
    finally:
        for relay in (a, b):
            await relay.stop()  # a last pass each: anything left would go out again here
        await asyncio.gather(*running)

    assert sink.ids == [first.id, second.id]
    stored = await concerns.find_one({"_id": "c-two"})
    assert stored is not None and stored[FIELD] == []
