"""Notify's store: deliveries (with their outbox), what notify knows of each concern,
templates, subscriptions and surveys.

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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.notify.domain import REQUESTER, ChannelName, DeliveryStatus, Kind
from services.notify.templates import MessageTemplate, fallback_languages, template_key
from shared.cache import Cached
from shared.clock import as_utc
from shared.events import (
    CloudEvent,
    ConcernAssigned,
    ConcernContactShared,
    ConcernTriaged,
    EventData,
)
from shared.outbox import outbox_push
from shared.store import Document

DELIVERIES = "deliveries"
CONCERNS = "concerns"
TEMPLATES = "templates"
SUBSCRIPTIONS = "subscriptions"
CACHE_TTL_S = 5.0
SURVEYS = "surveys"
LEASE_TOKEN = "lease_token"
LEASE_UNTIL = "lease_until"
MAX_HISTORY = 20
DUPLICATE_KEY = 11000


def _optional_time(value: Any) -> datetime | None:
    return as_utc(value) if value is not None else None


# --- deliveries ---------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Attempt:
    number: int
    at: datetime
    ok: bool
    answer: str


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
        next_attempt_at=_optional_time(doc.get("next_attempt_at")),
        urgent=bool(doc.get("urgent", False)),
        publishes=bool(doc.get("publishes", True)),
        sent_at=_optional_time(doc.get("sent_at")),
        failed_at=_optional_time(doc.get("failed_at")),
        last_error=doc.get("last_error"),
        provider_answer=doc.get("provider_answer"),
        provider_reference=doc.get("provider_reference"),
        lease_token=doc.get(LEASE_TOKEN),
        lease_until=_optional_time(doc.get(LEASE_UNTIL)),
        history=tuple(
            Attempt(
                number=int(h["attempt"]),
                at=as_utc(h["at"]),
                ok=bool(h["ok"]),
                answer=h.get("answer", ""),
            )
            for h in doc.get("history", [])
        ),
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
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            failed = {int(e["index"]) for e in errors}
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
        seen = [(d["_id"], d.get(LEASE_TOKEN), _optional_time(d.get(LEASE_UNTIL))) for d in docs]
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
        return await self._finish_attempt(
            delivery_id,
            token,
            events,
            {
                "status": DeliveryStatus.SENT.value,
                "sent_at": now,
                "updated_at": now,
                "provider_answer": answer,
                "provider_reference": reference,
                "last_error": None,
            },
            Attempt(attempt, now, True, answer),
            final=True,
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
        return await self._finish_attempt(
            delivery_id,
            token,
            [],
            {
                "status": DeliveryStatus.QUEUED.value,
                "updated_at": now,
                "last_error": error,
                "provider_answer": error,
                "next_attempt_at": next_attempt_at,
            },
            Attempt(attempt, now, False, error),
            final=False,
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
        return await self._finish_attempt(
            delivery_id,
            token,
            events,
            {
                "status": DeliveryStatus.FAILED.value,
                "failed_at": now,
                "updated_at": now,
                "last_error": error,
                "provider_answer": error,
            },
            Attempt(attempt, now, False, error),
            final=True,
        )

    async def _finish_attempt(
        self,
        delivery_id: str,
        token: str,
        events: list[CloudEvent],
        fields: Document,
        attempt: Attempt,
        *,
        final: bool,
    ) -> bool:
        unset: Document = {LEASE_TOKEN: "", LEASE_UNTIL: ""}
        if final:
            # The text may hold a reply or a survey link: once settled, only the log remains.
            unset.update({"text": "", "next_attempt_at": ""})
        entry = {
            "attempt": attempt.number,
            "at": attempt.at,
            "ok": attempt.ok,
            "answer": attempt.answer,
        }
        update: Document = {
            "$set": fields,
            "$unset": unset,
            "$push": {"history": {"$each": [entry], "$slice": -MAX_HISTORY}},
        }
        if events:
            update["$push"].update(outbox_push(events))
        result = await self._deliveries.update_one(
            {"_id": delivery_id, "status": DeliveryStatus.SENDING.value, LEASE_TOKEN: token},
            update,
        )
        return result.modified_count == 1


# --- what notify knows of a concern -------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    name: str | None
    email: str | None
    phone: str | None
    language: str
    preferred_channel: str | None = None


@dataclass(frozen=True)
class ConcernFacts:
    """What notify learnt of a concern from events: enough to address and word messages."""

    concern_id: str
    tracking_number: str | None = None
    category: str | None = None
    school_id: str | None = None
    resolution_due_at: datetime | None = None
    contact: Contact | None = None
    team_id: str | None = None
    priority: str | None = None
    assignee_id: str | None = None


class ConcernRepository:
    """One document per concern; each event fills its own fields, idempotent by nature.

    Remembering a fact returns the concern's facts as they stand after the write, so the
    handler that writes them and then words a message reads nothing more.
    """

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._concerns = db[CONCERNS]

    async def remember(self, data: EventData, now: datetime) -> ConcernFacts | None:
        """Keep what `data` teaches of its concern; returns the facts after the write, or None
        when the event teaches nothing (or nothing newer than what is known)."""
        if isinstance(data, ConcernContactShared):
            return await self.remember_contact(data, now)
        if isinstance(data, ConcernTriaged):
            return await self.remember_triage(data)
        if isinstance(data, ConcernAssigned):
            return await self.remember_assignment(
                data.concern_id, data.assignee_id, data.assigned_at
            )
        return None

    async def remember_contact(
        self, data: ConcernContactShared, now: datetime
    ) -> ConcernFacts | None:
        """Keep the requester's contact; the first one shared for a concern stays."""
        requester = data.requester
        contact = {
            "name": requester.name,
            "email": str(requester.email) if requester.email else None,
            "phone": requester.phone,
            "language": requester.language,
            # not in the contract yet: read it when intake starts sharing it
            "preferred_channel": getattr(requester, "preferred_channel", None),
        }
        return await self._upsert(
            data.concern_id,
            {"contact": None},
            {
                "contact": contact,
                "tracking_number": data.tracking_number,
                "category": data.category,
                "resolution_due_at": data.resolution_due_at,
                "contact_at": now,
            },
        )

    async def remember_triage(self, data: ConcernTriaged) -> ConcernFacts | None:
        """The owning team and priority; a later decision (re-triage) wins over an older one."""
        return await self._upsert(
            data.concern_id,
            _older("triaged_at", data.triaged_at),
            {
                "team_id": data.team_id,
                "priority": data.priority.value,
                "school_id": data.school_id,
                "triage_category": data.category,
                "triaged_at": data.triaged_at,
            },
        )

    async def remember_assignment(
        self, concern_id: str, assignee_id: str, assigned_at: datetime
    ) -> ConcernFacts | None:
        """Who works the concern; a later assignment wins."""
        return await self._upsert(
            concern_id,
            _older("assigned_at", assigned_at),
            {"assignee_id": assignee_id, "assigned_at": assigned_at},
        )

    async def _upsert(
        self, concern_id: str, unless_known: Document, fields: Document
    ) -> ConcernFacts | None:
        """Set `fields` where `unless_known` holds (or on a new document), then read the
        facts; None when the document already knows better.

        Two round trips, not one `find_one_and_update`: SecantusDB answers that command by
        scanning the collection when it matches an existing document (about 150 ms at
        20,000 concerns), while `update_one` and `find_one` by `_id` stay under 2 ms."""
        query = {"_id": concern_id, **unless_known}
        try:
            changed = await self._concerns.update_one(query, {"$set": fields}, upsert=True)
        except DuplicateKeyError:
            # The document exists and knows better, or a peer created it a moment ago for
            # another fact (the condition may then hold): try again on what is there now.
            changed = await self._concerns.update_one(query, {"$set": fields})
        if not changed.matched_count and changed.upserted_id is None:
            return None
        doc = await self._concerns.find_one({"_id": concern_id})
        return _facts(doc) if doc else None

    async def get(self, concern_id: str) -> ConcernFacts | None:
        doc = await self._concerns.find_one({"_id": concern_id})
        return _facts(doc) if doc else None


def _older(stamp: str, at: datetime) -> Document:
    """A condition: the document has no `stamp` yet, or an older one. `$not` rather than an
    `$or`, which SecantusDB runs as a scan of the whole collection even beside an `_id`."""
    return {stamp: {"$not": {"$gte": at}}}


def _facts(doc: Document) -> ConcernFacts:
    raw = doc.get("contact")
    contact = (
        Contact(
            name=raw.get("name"),
            email=raw.get("email"),
            phone=raw.get("phone"),
            language=raw.get("language") or "en",
            preferred_channel=raw.get("preferred_channel"),
        )
        if raw
        else None
    )
    return ConcernFacts(
        concern_id=doc["_id"],
        tracking_number=doc.get("tracking_number"),
        category=doc.get("category") or doc.get("triage_category"),
        school_id=doc.get("school_id"),
        resolution_due_at=_optional_time(doc.get("resolution_due_at")),
        contact=contact,
        team_id=doc.get("team_id"),
        priority=doc.get("priority"),
        assignee_id=doc.get("assignee_id"),
    )


# --- templates ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredTemplate:
    template: MessageTemplate
    updated_at: datetime
    origin: str


def _template(doc: Document) -> StoredTemplate:
    return StoredTemplate(
        template=MessageTemplate(
            kind=Kind(doc["kind"]),
            channel=ChannelName(doc["channel"]),
            language=doc["language"],
            subject=doc.get("subject"),
            body=doc["body"],
        ),
        updated_at=as_utc(doc["updated_at"]),
        origin=doc.get("origin", "seed"),
    )


class TemplateRepository:
    def __init__(self, db: AsyncDatabase[Document], cache_ttl_s: float = CACHE_TTL_S) -> None:
        self._templates = db[TEMPLATES]
        # rendering reads templates for every message: keep them all (a few dozen) in memory
        self._cached: Cached[dict[str, StoredTemplate]] = Cached(self._by_key, cache_ttl_s)

    async def _by_key(self) -> dict[str, StoredTemplate]:
        return {t.template.key: t for t in await self.all()}

    async def seed(self, templates: list[MessageTemplate], now: datetime) -> int:
        """Insert the shipped templates that are missing, in one write; edited ones are kept."""
        if not templates:
            return 0
        result = await self._templates.bulk_write(
            [
                UpdateOne(
                    {"_id": t.key},
                    {
                        "$setOnInsert": {
                            "kind": t.kind.value,
                            "channel": t.channel.value,
                            "language": t.language,
                            "subject": t.subject,
                            "body": t.body,
                            "updated_at": now,
                            "origin": "seed",
                        }
                    },
                    upsert=True,
                )
                for t in templates
            ],
            ordered=False,
        )
        self._cached.invalidate()
        return result.upserted_count

    async def get(self, kind: Kind, channel: ChannelName, language: str) -> StoredTemplate | None:
        return (await self._cached.get()).get(template_key(kind, channel, language))

    async def find(self, kind: Kind, channel: ChannelName, language: str) -> MessageTemplate | None:
        """The template in `language`, else in English."""
        for lang in fallback_languages(language):
            stored = await self.get(kind, channel, lang)
            if stored is not None:
                return stored.template
        return None

    async def put(self, template: MessageTemplate, now: datetime) -> StoredTemplate:
        await self._templates.update_one(
            {"_id": template.key},
            {
                "$set": {
                    "kind": template.kind.value,
                    "channel": template.channel.value,
                    "language": template.language,
                    "subject": template.subject,
                    "body": template.body,
                    "updated_at": now,
                    "origin": "admin",
                }
            },
            upsert=True,
        )
        self._cached.invalidate()
        return StoredTemplate(template, now, "admin")

    async def all(self) -> list[StoredTemplate]:
        docs = await self._templates.find({}).sort("_id", 1).to_list()
        return [_template(d) for d in docs]


# --- subscriptions ------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscription:
    id: str
    url: str
    event_types: tuple[str, ...]
    secret: str
    created_at: datetime


def _subscription(doc: Document) -> Subscription:
    return Subscription(
        id=doc["_id"],
        url=doc["url"],
        event_types=tuple(doc["event_types"]),
        secret=doc["secret"],
        created_at=as_utc(doc["created_at"]),
    )


class SubscriptionRepository:
    """District systems that receive public events as signed webhooks.

    The secret is kept as given: signing needs it (an HMAC key cannot be stored hashed).
    """

    def __init__(self, db: AsyncDatabase[Document], cache_ttl_s: float = CACHE_TTL_S) -> None:
        self._subscriptions = db[SUBSCRIPTIONS]
        # every public event asks which subscriptions want it: read them once a few seconds
        self._cached: Cached[list[Subscription]] = Cached(self.all, cache_ttl_s)

    async def ensure_indexes(self) -> None:
        await self._subscriptions.create_index("event_types")

    async def create(
        self, *, url: str, event_types: list[str], secret: str, now: datetime
    ) -> Subscription:
        doc = {
            "_id": str(uuid.uuid4()),
            "url": url,
            "event_types": sorted(set(event_types)),
            "secret": secret,
            "created_at": now,
        }
        await self._subscriptions.insert_one(doc)
        self._cached.invalidate()
        return _subscription(doc)

    async def get(self, subscription_id: str) -> Subscription | None:
        doc = await self._subscriptions.find_one({"_id": subscription_id})
        return _subscription(doc) if doc else None

    async def all(self) -> list[Subscription]:
        docs = await self._subscriptions.find({}).sort("created_at", 1).to_list()
        return [_subscription(d) for d in docs]

    async def delete(self, subscription_id: str) -> bool:
        result = await self._subscriptions.delete_one({"_id": subscription_id})
        self._cached.invalidate()
        return result.deleted_count == 1

    async def matching(self, event_name: str) -> list[Subscription]:
        """Subscriptions that asked for this event (or for every public event, `*`); other
        replicas' changes show within the cache TTL."""
        return [
            s
            for s in await self._cached.get()
            if event_name in s.event_types or "*" in s.event_types
        ]


# --- surveys ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Survey:
    concern_id: str
    language: str
    created_at: datetime
    expires_at: datetime
    answered_at: datetime | None
    score: int | None


def _survey(doc: Document) -> Survey:
    return Survey(
        concern_id=doc["_id"],
        language=doc.get("language", "en"),
        created_at=as_utc(doc["created_at"]),
        expires_at=as_utc(doc["expires_at"]),
        answered_at=_optional_time(doc.get("answered_at")),
        score=doc.get("score"),
    )


class SurveyRepository:
    """One survey per concern, found by the hash of its token; answers carry their outbox."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._surveys = db[SURVEYS]

    async def ensure_indexes(self) -> None:
        await self._surveys.create_index("token_hash", unique=True)

    async def open(
        self,
        *,
        concern_id: str,
        token_hash: str,
        language: str,
        expires_at: datetime,
        now: datetime,
    ) -> None:
        """Open the concern's survey, or move its expiry to a later resolution's."""
        try:
            await self._surveys.insert_one(
                {
                    "_id": concern_id,
                    "token_hash": token_hash,
                    "language": language,
                    "created_at": now,
                    "expires_at": expires_at,
                    "answered_at": None,
                }
            )
        except DuplicateKeyError:
            await self._surveys.update_one(
                {"_id": concern_id, "expires_at": {"$lt": expires_at}},
                {"$set": {"expires_at": expires_at}},
            )

    async def by_token_hash(self, token_hash: str) -> Survey | None:
        doc = await self._surveys.find_one({"token_hash": token_hash}, {"outbox": 0})
        return _survey(doc) if doc else None

    async def answer(
        self,
        *,
        token_hash: str,
        score: int,
        comment: str | None,
        now: datetime,
        events: list[CloudEvent],
    ) -> Survey | None:
        """Record the one answer with its events; None when answered already or expired."""
        doc = await self._surveys.find_one_and_update(
            {"token_hash": token_hash, "answered_at": None, "expires_at": {"$gt": now}},
            {
                "$set": {"answered_at": now, "score": score, "comment": comment},
                "$push": outbox_push(events),
            },
            projection={"outbox": 0},
            return_document=ReturnDocument.AFTER,
        )
        return _survey(doc) if doc else None

    async def get_document(self, concern_id: str) -> Document | None:
        return await self._surveys.find_one({"_id": concern_id})
