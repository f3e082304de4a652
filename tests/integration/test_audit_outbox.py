"""Audit of issue 14 ("the same event is sometimes published twice with one id without
faults: find why"): a relay's own pass (shared/outbox.py `_own_batch`) finds the documents
holding one fresh entry of its writer and then publishes *every* entry of each, its peers'
fresh ones too, without a claim. When two replicas each added an event to one document
(intake: the submission on one replica, a triage decision handled on another) and both own
passes read it before either pulled, both publish both events."""

from __future__ import annotations

import asyncio

import pytest
from pymongo.asynchronous.collection import AsyncCollection

from shared.clock import FakeClock
from shared.outbox import FIELD, outbox_entries
from shared.store import Document
from tests.integration.test_outbox import (
    AT,
    RecordingSink,
    concerns,  # noqa: F401 (the fixture: a collection with the outbox indexes)
    relay_for,
    status_changed,
    submitted,
)

pytestmark = pytest.mark.integration


@pytest.mark.xfail(
    strict=True,
    reason="audit gap: shared/outbox.py _own_batch publishes a matched document's entries of "
    "other writers too, unclaimed",
)
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

    assert sorted(sink.ids) == sorted([first.id, second.id])
