"""The transactional outbox, kept inside each aggregate's own document.

A state change and the events it causes are one MongoDB write: the handler pushes the
encoded events (`outbox_push`) into the document's `outbox` array in the same update that
changes its state.
The relay claims documents with pending events (a lease, so replicas do not publish the same
events at once), publishes them with confirms and pulls what the broker confirmed. A crash
between the write and the publish loses nothing: the events wait in the document. A crash
after the publish and before the pull publishes them again; consumers skip duplicates by id.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any, Protocol

from pymongo.asynchronous.collection import AsyncCollection

from shared.clock import Clock
from shared.events import CloudEvent, encode
from shared.metrics import EVENTS_PUBLISHED
from shared.store import Document

log = logging.getLogger(__name__)

FIELD = "outbox"
CLAIM_BY = "outbox_claim_by"
CLAIM_UNTIL = "outbox_claim_until"
BATCH = 200


def outbox_entries(events: Iterable[CloudEvent]) -> list[Document]:
    """Events as stored in a document's outbox: the exact bytes the relay will publish."""
    return [{"id": e.id, "name": e.name, "type": e.type, "body": encode(e)} for e in events]


def outbox_push(events: Sequence[CloudEvent]) -> Document:
    """The `$push` fields of an update that records `events` with the state change."""
    return {FIELD: {"$each": outbox_entries(events)}}


def with_outbox(document: Document, events: Sequence[CloudEvent]) -> Document:
    """A new document that carries its first pending events."""
    return {**document, FIELD: outbox_entries(events)}


class EventSink(Protocol):
    async def publish(self, *, name: str, event_id: str, event_type: str, body: bytes) -> None:
        ...


async def ensure_outbox_index(collection: AsyncCollection[Document]) -> None:
    """Pending events are found through an index, not by scanning every document."""
    await collection.create_index([(f"{FIELD}.id", 1)], sparse=True, name="outbox_pending")


class OutboxRelay:
    """Publishes pending outbox events of the given collections; one runs in every replica."""

    def __init__(self, *, collections: Sequence[AsyncCollection[Document]], sink: EventSink,
                 clock: Clock, lease_s: float, poll_s: float, service: str = "unknown") -> None:
        self._service = service
        self._collections = list(collections)
        self._sink = sink
        self._clock = clock
        self._lease = timedelta(seconds=lease_s)
        self._poll_s = poll_s
        self._wake = asyncio.Event()
        self._stopping = False
        self.published = 0

    def wake(self) -> None:
        """Ask for a pass now (called after a local write that added events)."""
        self._wake.set()

    async def run(self) -> None:
        """Publish until stopped; a failed pass is logged and retried at the next poll."""
        failures = 0
        while not self._stopping:
            self._wake.clear()
            try:
                await self.drain()
                failures = 0
            except Exception:
                failures += 1
                log.warning("outbox pass failed; will retry", exc_info=True,
                            extra={"consecutive_failures": failures})
            if self._stopping:
                break
            delay = self._poll_s * min(2 ** failures, 20)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass

    async def stop(self) -> None:
        """Make a last pass so that nothing written before shutdown waits for the next start."""
        self._stopping = True
        self._wake.set()
        try:
            await self.drain()
        except Exception:
            log.warning("last outbox pass failed; events stay pending", exc_info=True)

    async def drain(self) -> int:
        """Publish everything pending now; returns how many events were published."""
        total = 0
        for collection in self._collections:
            while True:
                published, more = await self._drain_batch(collection)
                total += published
                if not more:
                    break
        return total

    async def backlog(self) -> int:
        """How many documents hold unpublished events."""
        counts = [await c.count_documents({f"{FIELD}.id": {"$exists": True}})
                  for c in self._collections]
        return sum(counts)

    async def _drain_batch(self, collection: AsyncCollection[Document]) -> tuple[int, bool]:
        now = self._clock.now()
        token = uuid.uuid4().hex
        # No `$or` and no `$exists: false`: some planners (SecantusDB's) scan the whole
        # collection for them; `$not: {$gt}` also matches documents never claimed.
        claimable = {
            f"{FIELD}.id": {"$exists": True},
            CLAIM_UNTIL: {"$not": {"$gt": now}},
        }
        # Read the pending documents whole, then claim them: when the claim took every one
        # (the usual case, no other replica racing) the copies just read are ours to publish,
        # three store round trips in all for a whole batch.
        docs = await collection.find(claimable, {FIELD: 1}).limit(BATCH).to_list()
        if not docs:
            return 0, False
        ids = [d["_id"] for d in docs]
        claim = await collection.update_many(
            {"_id": {"$in": ids}, **claimable},
            {"$set": {CLAIM_BY: token, CLAIM_UNTIL: now + self._lease}},
        )
        claimed = docs
        if claim.modified_count != len(ids):
            claimed = await collection.find({"_id": {"$in": ids}, CLAIM_BY: token},
                                            {FIELD: 1}).to_list()
        results = await asyncio.gather(*(self._publish_doc(d) for d in claimed))
        sent_ids = [event_id for ids_of_doc in results for event_id in ids_of_doc]
        await collection.update_many(
            {"_id": {"$in": [d["_id"] for d in claimed]}, CLAIM_BY: token},
            {"$pull": {FIELD: {"id": {"$in": sent_ids}}},
             "$unset": {CLAIM_BY: "", CLAIM_UNTIL: ""}},
        )
        self.published += len(sent_ids)
        failed = sum(len(d.get(FIELD, [])) for d in claimed) - len(sent_ids)
        if failed:
            raise OutboxPublishFailed(f"{failed} events not confirmed by the broker")
        return len(sent_ids), len(docs) == BATCH

    async def _publish_doc(self, doc: Document) -> list[str]:
        """Publish one document's events in order; stop at the first failure."""
        sent: list[str] = []
        entry: dict[str, Any]
        for entry in doc.get(FIELD, []):
            try:
                await self._sink.publish(name=entry["name"], event_id=entry["id"],
                                         event_type=entry["type"], body=bytes(entry["body"]))
            except Exception:
                log.warning("publish failed", exc_info=True,
                            extra={"event_id": entry["id"], "event": entry["name"]})
                break
            sent.append(entry["id"])
            EVENTS_PUBLISHED.labels(self._service, entry["name"]).inc()
        return sent


class OutboxPublishFailed(RuntimeError):
    """Some events could not be published; they stay pending."""
