"""The transactional outbox, kept inside each aggregate's own document.

A state change and the events it causes are one MongoDB write: the handler pushes the
encoded events (`outbox_push`) into the document's `outbox` array in the same update that
changes its state.
Each entry names the process that wrote it (`by`) and when (`at`). The relay of that process
publishes its own fresh entries at once, without a claim: it finds them, publishes them with
confirms and pulls what the broker confirmed, two store round trips for a whole batch. Of a
document it publishes only the leading run of its own fresh entries: an entry another
process wrote before them is that process's to publish (its relay may be publishing it at
this moment), and theirs go first, so this relay looks again shortly after. Entries
no live writer took care of (its process died, or they predate `by`) become sweepable once
older than `fresh_s`: any replica's relay then claims such documents (a lease, so replicas do
not publish the same events at once) and publishes them, three round trips per batch.
A crash between the write and the publish loses nothing: the events wait in the document.
A crash after the publish and before the pull publishes them again; consumers skip duplicates
by id.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from pymongo.asynchronous.collection import AsyncCollection

from shared.clock import Clock, as_utc
from shared.events import CloudEvent, encode
from shared.metrics import EVENTS_PUBLISHED
from shared.store import Document

log = logging.getLogger(__name__)

FIELD = "outbox"
CLAIM_BY = "outbox_claim_by"
CLAIM_UNTIL = "outbox_claim_until"
BATCH = 200
DEFERRED_S = 0.1
"""How soon a relay looks again at its entries queued behind another writer's."""
WRITER = uuid.uuid4().hex
"""This process, as the writer of outbox entries: its relay publishes them without a claim."""


def outbox_entries(events: Iterable[CloudEvent]) -> list[Document]:
    """Events as stored in a document's outbox: the exact bytes the relay will publish."""
    return [
        {
            "id": e.id,
            "name": e.name,
            "type": e.type,
            "body": encode(e),
            "by": WRITER,
            "at": e.time,
            **({"private": True} if e.restricted else {}),
        }
        for e in events
    ]


def outbox_push(events: Sequence[CloudEvent]) -> Document:
    """The `$push` fields of an update that records `events` with the state change."""
    return {FIELD: {"$each": outbox_entries(events)}}


def with_outbox(document: Document, events: Sequence[CloudEvent]) -> Document:
    """A new document that carries its first pending events."""
    return {**document, FIELD: outbox_entries(events)}


class EventSink(Protocol):
    async def publish(
        self, *, name: str, event_id: str, event_type: str, body: bytes, private: bool = False
    ) -> None: ...


async def ensure_outbox_index(collection: AsyncCollection[Document]) -> None:
    """Pending events are found through indexes, not by scanning every document: all of
    them, and those a given process wrote."""
    await collection.create_index([(f"{FIELD}.id", 1)], sparse=True, name="outbox_pending")
    await collection.create_index([(f"{FIELD}.by", 1)], sparse=True, name="outbox_writer")


class OutboxRelay:
    """Publishes pending outbox events of the given collections; one runs in every replica."""

    def __init__(
        self,
        *,
        collections: Sequence[AsyncCollection[Document]],
        sink: EventSink,
        clock: Clock,
        lease_s: float,
        poll_s: float,
        service: str = "unknown",
        writer: str = WRITER,
        fresh_s: float = 5.0,
    ) -> None:
        self._service = service
        self._writer = writer
        self._fresh = timedelta(seconds=fresh_s)
        self._collections = list(collections)
        self._sink = sink
        self._clock = clock
        self._lease = timedelta(seconds=lease_s)
        self._poll_s = poll_s
        self._wake = asyncio.Event()
        self._dirty: set[str] = set()  # collections written since the last own pass
        self._deferred: set[str] = set()  # own entries queued behind another writer's
        self._passing = asyncio.Lock()  # one pass at a time: `stop` may race the loop
        self._swept_at = float("-inf")
        self._stopping = False
        self.published = 0

    def wake(self, collection: str | None = None) -> None:
        """Ask for a pass now (called after a local write that added events), over the
        collection written, or over all of them."""
        self._dirty.update([collection] if collection else (c.name for c in self._collections))
        self._wake.set()

    async def run(self) -> None:
        """Publish until stopped; a failed pass is logged and retried with a backoff.

        A wake publishes this process's own writes; stale leftovers of any writer are swept
        every `poll_s`. An idle relay costs the store one query per `poll_s`."""
        failures = 0
        loop = asyncio.get_running_loop()
        while not self._stopping:
            self._wake.clear()
            sweep = loop.time() - self._swept_at >= self._poll_s
            try:
                if sweep:
                    self._swept_at = loop.time()
                own: bool | set[str] = True if failures else self._dirty.copy()
                self._dirty.clear()
                if own or sweep:
                    await self.drain(own=own, sweep=sweep)
                failures = 0
            except Exception:
                failures += 1
                log.warning(
                    "outbox pass failed; will retry",
                    exc_info=True,
                    extra={"consecutive_failures": failures},
                )
            if self._stopping:
                break
            delay = (
                self._poll_s * min(2**failures, 20)
                if failures
                else max(0.0, self._swept_at + self._poll_s - loop.time())
            )
            if self._deferred and not failures:
                self._dirty |= self._deferred
                self._deferred.clear()
                delay = min(delay, DEFERRED_S)
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

    async def drain(self, *, own: bool | Collection[str] = True, sweep: bool = True) -> int:
        """Publish this process's pending events (`own`: all collections, or those named)
        and every stale one (`sweep`); returns how many events were published."""
        total = 0
        async with self._passing:
            for collection in self._collections:
                mine = own if isinstance(own, bool) else collection.name in own
                batches = ([self._own_batch] if mine else []) + (
                    [self._claimed_batch] if sweep else []
                )
                for batch in batches:
                    while True:
                        published, more = await batch(collection)
                        total += published
                        if not more:
                            break
        return total

    async def backlog(self) -> int:
        """How many documents hold unpublished events."""
        counts = [
            await c.count_documents({f"{FIELD}.id": {"$exists": True}}) for c in self._collections
        ]
        return sum(counts)

    async def _own_batch(self, collection: AsyncCollection[Document]) -> tuple[int, bool]:
        """This process's fresh entries: no other relay takes them while they are fresh, so
        no claim is needed; a document another relay claimed (stale) is left to it.

        Only documents with an entry younger than half of `fresh_s`: another replica's sweep
        takes none of them for the other half, the time this pass has to publish and pull
        them (taken when just fresh, a sweep could publish them again meanwhile). Older ones
        are swept, with a claim, by this relay or any other."""
        now = self._clock.now()
        docs = (
            await collection.find(
                {
                    f"{FIELD}.by": self._writer,
                    f"{FIELD}.at": {"$gte": now - self._fresh / 2},
                    CLAIM_UNTIL: {"$not": {"$gt": now}},
                },
                {FIELD: 1},
            )
            .limit(BATCH)
            .to_list()
        )
        if not docs:
            return 0, False
        fresh_from = now - self._fresh / 2
        mine = [{**d, FIELD: self._leading_own(d.get(FIELD, []), fresh_from)} for d in docs]
        behind = sum(self._own_fresh(d.get(FIELD, []), fresh_from) for d in docs) - sum(
            len(m[FIELD]) for m in mine
        )
        if behind:  # queued behind another writer's: theirs first, ours in a moment
            self._deferred.add(collection.name)
        mine = [m for m in mine if m[FIELD]]
        results = await asyncio.gather(*(self._publish_doc(d) for d in mine))
        return await self._pull(collection, mine, results, {}), len(docs) == BATCH

    def _mine_and_fresh(self, entry: Document, fresh_from: datetime) -> bool:
        at = entry.get("at")
        return entry.get("by") == self._writer and at is not None and as_utc(at) >= fresh_from

    def _own_fresh(self, entries: list[Document], fresh_from: datetime) -> int:
        return sum(self._mine_and_fresh(entry, fresh_from) for entry in entries)

    def _leading_own(self, entries: list[Document], fresh_from: datetime) -> list[Document]:
        """The entries this process wrote and may still publish unclaimed, up to the first
        that is not one of them: the order of a document's events is kept."""
        run: list[Document] = []
        for entry in entries:
            if not self._mine_and_fresh(entry, fresh_from):
                break
            run.append(entry)
        return run

    async def _claimed_batch(self, collection: AsyncCollection[Document]) -> tuple[int, bool]:
        """Stale entries, whoever wrote them: claimed first, so that one relay publishes them."""
        now = self._clock.now()
        token = uuid.uuid4().hex
        # No `$or` and no `$exists: false`: some planners (SecantusDB's) scan the whole
        # collection for them; `$not: {$gt}` also matches documents never claimed, and
        # `$not: {$gte}` documents none of whose entries is fresh (or that predate `at`).
        claimable = {
            f"{FIELD}.id": {"$exists": True},
            f"{FIELD}.at": {"$not": {"$gte": now - self._fresh}},
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
            claimed = await collection.find(
                {"_id": {"$in": ids}, CLAIM_BY: token}, {FIELD: 1}
            ).to_list()
        results = await asyncio.gather(*(self._publish_doc(d) for d in claimed))
        published = await self._pull(
            collection,
            claimed,
            results,
            {CLAIM_BY: token},
            release={"$unset": {CLAIM_BY: "", CLAIM_UNTIL: ""}},
        )
        return published, len(docs) == BATCH

    async def _pull(
        self,
        collection: AsyncCollection[Document],
        docs: list[Document],
        results: list[list[str]],
        guard: Document,
        release: Document | None = None,
    ) -> int:
        """Remove what the broker confirmed from the documents; raise if some failed."""
        sent_ids = [event_id for ids_of_doc in results for event_id in ids_of_doc]
        if sent_ids or release:
            await collection.update_many(
                {"_id": {"$in": [d["_id"] for d in docs]}, **guard},
                {"$pull": {FIELD: {"id": {"$in": sent_ids}}}, **(release or {})},
            )
        self.published += len(sent_ids)
        failed = sum(len(d.get(FIELD, [])) for d in docs) - len(sent_ids)
        if failed:
            raise OutboxPublishFailed(f"{failed} events not confirmed by the broker")
        return len(sent_ids)

    async def _publish_doc(self, doc: Document) -> list[str]:
        """Publish one document's events in order; stop at the first failure."""
        sent: list[str] = []
        entry: dict[str, Any]
        for entry in doc.get(FIELD, []):
            try:
                await self._sink.publish(
                    name=entry["name"],
                    event_id=entry["id"],
                    event_type=entry["type"],
                    body=bytes(entry["body"]),
                    **({"private": True} if entry.get("private") else {}),
                )
            except Exception:
                log.warning(
                    "publish failed",
                    exc_info=True,
                    extra={"event_id": entry["id"], "event": entry["name"]},
                )
                break
            sent.append(entry["id"])
            EVENTS_PUBLISHED.labels(self._service, entry["name"]).inc()
        return sent


class OutboxPublishFailed(RuntimeError):
    """Some events could not be published; they stay pending."""
