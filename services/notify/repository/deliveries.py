"""Notify's deliveries log, each delivery with its outbox.

Sending happens at most once per claim: a delivery is inserted once (its `_id` names the
concern, kind, occurrence, channel and recipient) and claimed atomically with a lease, by
the insert itself when it is due at once (only the replica whose insert succeeded holds that
claim), else by a later find-and-update; only the claimant sends, and only the holder of the
lease token may record the outcome. A live sender keeps its claim however long the store is
away (it renews the lease, and its outcome is recorded under its token even after the lease
ran out); another replica takes a delivery over only once its sender is gone: the lease ran
out and stayed exactly as it was (not renewed, not settled) for a whole lease more of that
replica's watch. Requester addresses live here and nowhere else.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.notify.channels import Attachment
from services.notify.domain import REQUESTER, ChannelName, DeliveryStatus, Kind
from shared.clock import as_utc, as_utc_or_none
from shared.events import CloudEvent
from shared.outbox import outbox_push
from shared.store import Document, duplicates_only

DELIVERIES = "deliveries"
LEASE_TOKEN = "lease_token"
LEASE_UNTIL = "lease_until"
MAX_HISTORY = 20


def sent_fields(now: datetime, answer: str, reference: str | None) -> Document:
    """What a delivery records when the provider accepted it."""
    return {
        "status": DeliveryStatus.SENT.value,
        "sent_at": now,
        "updated_at": now,
        "provider_answer": answer,
        "provider_reference": reference,
        "last_error": None,
    }


def released_fields(now: datetime, error: str, next_attempt_at: datetime) -> Document:
    """What a delivery records when its attempt failed and it waits for another."""
    return {
        "status": DeliveryStatus.QUEUED.value,
        "updated_at": now,
        "last_error": error,
        "provider_answer": error,
        "next_attempt_at": next_attempt_at,
    }


def failed_fields(now: datetime, error: str) -> Document:
    """What a delivery records when the bureau gives up on it."""
    return {
        "status": DeliveryStatus.FAILED.value,
        "failed_at": now,
        "updated_at": now,
        "last_error": error,
        "provider_answer": error,
    }


@dataclass(frozen=True)
class NewDelivery:
    """A delivery about to be recorded, its message already rendered."""

    id: str
    concern_id: str
    kind: Kind
    channel: ChannelName
    address: str | None
    language: str
    recipient: str = REQUESTER
    to_name: str | None = None
    subject: str = ""
    text: str = ""
    status: DeliveryStatus = DeliveryStatus.QUEUED
    note: str | None = None
    next_attempt_at: datetime | None = None
    urgent: bool = False
    # subscription webhooks publish no notification events (a subscriber of
    # `notification.sent` would otherwise feed a loop)
    publishes: bool = True
    event_id: str | None = None
    # email only: an HTML alternative of `text`, files attached (the Board packet's)
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    # email only: the Message-ID of the requester's mail the concern came from (answered)
    in_reply_to: str | None = None


@dataclass(frozen=True)
class Attempt:
    number: int
    at: datetime
    ok: bool
    answer: str

    def entry(self) -> Document:
        """The line of the delivery's history that records this attempt."""
        return {"attempt": self.number, "at": self.at, "ok": self.ok, "answer": self.answer}


@dataclass(frozen=True)
class Settlement:
    """How a leased attempt ends: the fields it sets, its line in the history, the events it
    publishes; `final` when the delivery is settled (sent, failed), not put back for later."""

    fields: Document
    attempt: Attempt
    events: list[CloudEvent]
    final: bool = True


@dataclass(frozen=True)
class Delivery:
    id: str
    concern_id: str
    kind: Kind
    channel: ChannelName
    status: DeliveryStatus
    address: str | None
    language: str
    attempts: int
    created_at: datetime
    updated_at: datetime
    recipient: str = REQUESTER
    to_name: str | None = None
    subject: str = ""
    text: str = ""
    next_attempt_at: datetime | None = None
    urgent: bool = False
    publishes: bool = True
    sent_at: datetime | None = None
    failed_at: datetime | None = None
    last_error: str | None = None
    provider_answer: str | None = None
    provider_reference: str | None = None
    lease_token: str | None = None
    lease_until: datetime | None = None
    history: tuple[Attempt, ...] = field(default_factory=tuple)
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    in_reply_to: str | None = None


def from_document(doc: Document) -> Delivery:
    return Delivery(
        id=doc["_id"],
        concern_id=doc["concern_id"],
        kind=Kind(doc["kind"]),
        channel=ChannelName(doc["channel"]),
        status=DeliveryStatus(doc["status"]),
        address=doc.get("address"),
        language=doc.get("language", "en"),
        attempts=int(doc.get("attempts", 0)),
        created_at=as_utc(doc["created_at"]),
        updated_at=as_utc(doc["updated_at"]),
        recipient=doc.get("recipient", REQUESTER),
        to_name=doc.get("to_name"),
        subject=doc.get("subject") or "",
        text=doc.get("text") or "",
        next_attempt_at=as_utc_or_none(doc.get("next_attempt_at")),
        urgent=bool(doc.get("urgent", False)),
        publishes=bool(doc.get("publishes", True)),
        sent_at=as_utc_or_none(doc.get("sent_at")),
        failed_at=as_utc_or_none(doc.get("failed_at")),
        last_error=doc.get("last_error"),
        provider_answer=doc.get("provider_answer"),
        provider_reference=doc.get("provider_reference"),
        lease_token=doc.get(LEASE_TOKEN),
        lease_until=as_utc_or_none(doc.get(LEASE_UNTIL)),
        history=tuple(
            Attempt(
                number=int(h["attempt"]),
                at=as_utc(h["at"]),
                ok=bool(h["ok"]),
                answer=h.get("answer", ""),
            )
            for h in doc.get("history", [])
        ),
        html=doc.get("html"),
        attachments=tuple(Attachment(**a) for a in doc.get("attachments") or ()),
        in_reply_to=doc.get("in_reply_to"),
    )


def _new_document(delivery: NewDelivery, *, now: datetime, lease_until: datetime) -> Document:
    due = delivery.next_attempt_at or now
    doc: Document = {
        "_id": delivery.id,
        "concern_id": delivery.concern_id,
        "kind": delivery.kind.value,
        "channel": delivery.channel.value,
        "status": delivery.status.value,
        "recipient": delivery.recipient,
        "address": delivery.address,
        "to_name": delivery.to_name,
        "language": delivery.language,
        "subject": delivery.subject,
        "text": delivery.text,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
        "last_error": delivery.note,
        "next_attempt_at": due,
        "urgent": delivery.urgent,
        "publishes": delivery.publishes,
        "event_id": delivery.event_id,
        "history": [],
    }
    if delivery.html:
        doc["html"] = delivery.html
    if delivery.attachments:
        doc["attachments"] = [asdict(a) for a in delivery.attachments]
    if delivery.in_reply_to:
        doc["in_reply_to"] = delivery.in_reply_to
    if delivery.status is not DeliveryStatus.QUEUED:
        doc.pop("next_attempt_at")
    elif due <= now:
        # claimed in the write that records it, as `_claim` would (the attempt counts now)
        doc.update(
            {
                "status": DeliveryStatus.SENDING.value,
                "attempts": 1,
                LEASE_TOKEN: uuid.uuid4().hex,
                LEASE_UNTIL: lease_until,
            }
        )
    return doc


def _due(now: datetime) -> Document:
    return {"status": DeliveryStatus.QUEUED.value, "next_attempt_at": {"$lte": now}}


ABANDONED_BATCH = 100
CLAIM_CANDIDATES = 8  # a due look tries these in turn when other replicas take the first ones


class DeliveryRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._deliveries = db[DELIVERIES]
        # leases seen run out, as they were seen, and since when (this replica's watch)
        self._silent: dict[tuple[str, str | None, datetime | None], datetime] = {}
        self.database = db

    async def ensure_indexes(self) -> None:
        await self._deliveries.create_index([("concern_id", 1), ("created_at", DESCENDING)])
        # due work is found through these: the cost grows with what is due, not with history
        await self._deliveries.create_index([("status", 1), ("next_attempt_at", 1)])
        await self._deliveries.create_index([("status", 1), (LEASE_UNTIL, 1)])

    async def record(
        self, deliveries: Sequence[NewDelivery], *, now: datetime, lease_until: datetime
    ) -> list[Delivery]:
        """Record each delivery once, in one write; returns those that were new (not those of a
        redelivered event, or recorded by a peer).

        A delivery due now is recorded already claimed by this replica (its first attempt
        counted, leased until `lease_until`), so that it is sent at once without a second
        round trip; if this replica dies before sending it, the lease runs out and any
        replica's dispatcher takes it, as after a crash mid-send.
        """
        docs = [_new_document(d, now=now, lease_until=lease_until) for d in deliveries]
        if not docs:
            return []
        failed: set[int] = set()
        try:
            await self._deliveries.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            failed = duplicates_only(exc, len(docs))  # recorded before: by a redelivery
        return [from_document(doc) for n, doc in enumerate(docs) if n not in failed]

    async def claim_due(self, *, now: datetime, lease_until: datetime) -> Delivery | None:
        """Take the most overdue delivery nobody holds; None when nothing is due."""
        return await self._claim(
            _due(now), token=uuid.uuid4().hex, now=now, lease_until=lease_until, sort=True
        )

    async def claim_abandoned(
        self, *, now: datetime, lease_until: datetime, silent_for: timedelta
    ) -> list[Delivery]:
        """Take over the deliveries whose sender is gone: each lease ran out and has stayed
        as it was, neither renewed nor settled, for `silent_for` since this replica first
        saw it so. A store outage stops every sender's renewals alike: the watch starts
        when this replica can read again, by when a live sender records or renews too."""
        docs = (
            await self._deliveries.find(
                {"status": DeliveryStatus.SENDING.value, LEASE_UNTIL: {"$lte": now}},
                {LEASE_TOKEN: 1, LEASE_UNTIL: 1},
            )
            .sort(LEASE_UNTIL, ASCENDING)
            .limit(ABANDONED_BATCH)
            .to_list()
        )
        seen = [(d["_id"], d.get(LEASE_TOKEN), as_utc_or_none(d.get(LEASE_UNTIL))) for d in docs]
        self._silent = {key: self._silent.get(key, now) for key in seen}
        taken: list[Delivery] = []
        for (delivery_id, token, until), since in list(self._silent.items()):
            if now - since < silent_for:
                continue
            claimed = await self._claim(
                {
                    "_id": delivery_id,
                    "status": DeliveryStatus.SENDING.value,
                    LEASE_TOKEN: token,
                    LEASE_UNTIL: until,
                },
                token=uuid.uuid4().hex,
                now=now,
                lease_until=lease_until,
            )
            if claimed is not None:
                taken.append(claimed)
        return taken

    async def hand_back(self, delivery_id: str, *, token: str, now: datetime) -> bool:
        """Give up a claim before sending: the delivery is due again at once, its attempt
        not counted (False when this claim is no longer held)."""
        result = await self._deliveries.update_one(
            {"_id": delivery_id, "status": DeliveryStatus.SENDING.value, LEASE_TOKEN: token},
            {
                "$set": {
                    "status": DeliveryStatus.QUEUED.value,
                    "next_attempt_at": now,
                    "updated_at": now,
                },
                "$unset": {LEASE_TOKEN: "", LEASE_UNTIL: ""},
                "$inc": {"attempts": -1},
            },
        )
        return result.modified_count == 1

    async def renew(self, delivery_id: str, *, token: str, lease_until: datetime) -> bool:
        """Extend the lease of a delivery this sender still holds (False when it does not)."""
        result = await self._deliveries.update_one(
            {"_id": delivery_id, "status": DeliveryStatus.SENDING.value, LEASE_TOKEN: token},
            {"$set": {LEASE_UNTIL: lease_until}},
        )
        return result.matched_count == 1

    async def _claim(
        self,
        query: Document,
        *,
        token: str,
        now: datetime,
        lease_until: datetime,
        sort: bool = False,
    ) -> Delivery | None:
        """Take the first delivery `query` matches (the most overdue one with `sort`).

        The candidates are found, then taken by `_id` with `query` re-asserted (so one
        replica wins each), then read back: not one `find_one_and_update`, which SecantusDB
        writes through a filter it cannot serve from an index (a scan of every delivery of
        the history, about 0.7 s at 20,000, on each retry claimed)."""
        if "_id" in query:
            candidates = [query["_id"]]
        else:
            found = self._deliveries.find(query, {"_id": 1})
            if sort:
                found = found.sort("next_attempt_at", ASCENDING)
            candidates = [d["_id"] for d in await found.limit(CLAIM_CANDIDATES).to_list()]
        for delivery_id in candidates:
            taken = await self._deliveries.update_one(
                {"_id": delivery_id, **query},  # `_id` first: the clause served from an index
                # An attempt counts when it starts, so a replica that dies mid-send still uses
                # one up.
                {
                    "$set": {
                        "status": DeliveryStatus.SENDING.value,
                        LEASE_TOKEN: token,
                        LEASE_UNTIL: lease_until,
                        "updated_at": now,
                    },
                    "$inc": {"attempts": 1},
                },
            )
            if taken.modified_count:
                doc = await self._deliveries.find_one(
                    {"_id": delivery_id, LEASE_TOKEN: token}, {"outbox": 0}
                )
                return from_document(doc) if doc else None
        return None

    async def get(self, delivery_id: str) -> Delivery | None:
        doc = await self._deliveries.find_one({"_id": delivery_id}, {"outbox": 0})
        return from_document(doc) if doc else None

    async def get_document(self, delivery_id: str) -> Document | None:
        """The stored document, outbox included (for tests and operators)."""
        return await self._deliveries.find_one({"_id": delivery_id})

    async def for_concern(self, concern_id: str) -> list[Delivery]:
        docs = (
            await self._deliveries.find({"concern_id": concern_id}, {"outbox": 0})
            .sort("created_at", 1)
            .to_list()
        )
        return [from_document(d) for d in docs]

    async def mark_sent(
        self,
        delivery_id: str,
        *,
        token: str,
        now: datetime,
        answer: str,
        reference: str | None,
        attempt: int,
        events: list[CloudEvent],
    ) -> bool:
        """Record the provider's acceptance with its events, if we still hold the lease."""
        fields = sent_fields(now, answer, reference)
        return await self._finish_attempt(
            delivery_id, token, Settlement(fields, Attempt(attempt, now, True, answer), events)
        )

    async def release(
        self,
        delivery_id: str,
        *,
        token: str,
        now: datetime,
        error: str,
        next_attempt_at: datetime,
        attempt: int,
    ) -> bool:
        """Put a delivery whose attempt failed back in the queue for a later try."""
        fields = released_fields(now, error, next_attempt_at)
        tried = Attempt(attempt, now, False, error)
        return await self._finish_attempt(
            delivery_id, token, Settlement(fields, tried, [], final=False)
        )

    async def mark_failed(
        self,
        delivery_id: str,
        *,
        token: str,
        now: datetime,
        error: str,
        attempt: int,
        events: list[CloudEvent],
    ) -> bool:
        """Give up on a delivery, with the events that tell the bureau."""
        fields = failed_fields(now, error)
        return await self._finish_attempt(
            delivery_id, token, Settlement(fields, Attempt(attempt, now, False, error), events)
        )

    async def mark_bounced(
        self,
        delivery_id: str,
        *,
        now: datetime,
        error: str,
        attempt: int,
        events: list[CloudEvent],
    ) -> bool:
        """A sent mail came back undelivered: the delivery fails, with the events that tell
        the bureau. False when it is not (or no longer) sent: the same report again."""
        fields = failed_fields(now, error)
        del fields["provider_answer"]  # what the mail server answered when it took the mail stays
        tried = Attempt(attempt, now, False, error)
        return await self._bounce(delivery_id, Settlement(fields, tried, events))

    async def _bounce(self, delivery_id: str, bounced: Settlement) -> bool:
        """Write a bounce, if the delivery is (still) sent."""
        update: Document = {
            "$set": bounced.fields,
            "$push": {"history": {"$each": [bounced.attempt.entry()], "$slice": -MAX_HISTORY}},
        }
        if bounced.events:
            update["$push"].update(outbox_push(bounced.events))
        result = await self._deliveries.update_one(
            {"_id": delivery_id, "status": DeliveryStatus.SENT.value}, update
        )
        return result.modified_count == 1

    async def _finish_attempt(self, delivery_id: str, token: str, settled: Settlement) -> bool:
        """Write how the attempt ended, if this process still holds the delivery's lease."""
        unset: Document = {LEASE_TOKEN: "", LEASE_UNTIL: ""}
        if settled.final:
            # The text may hold a reply or a survey link: once settled, only the log remains.
            unset.update({"text": "", "html": "", "attachments": "", "next_attempt_at": ""})
        update: Document = {
            "$set": settled.fields,
            "$unset": unset,
            "$push": {"history": {"$each": [settled.attempt.entry()], "$slice": -MAX_HISTORY}},
        }
        if settled.events:
            update["$push"].update(outbox_push(settled.events))
        result = await self._deliveries.update_one(
            {"_id": delivery_id, "status": DeliveryStatus.SENDING.value, LEASE_TOKEN: token},
            update,
        )
        return result.modified_count == 1
