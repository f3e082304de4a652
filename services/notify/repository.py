"""Notify's store: one document per delivery, with its outbox.

Sending happens at most once per claim: a delivery is inserted once (its `_id` is the
concern, kind and channel), then claimed atomically with a lease; only the claimant sends,
and only the holder of the lease token may record the outcome. The requester's address lives
here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.notify.domain import ChannelName, DeliveryStatus, Kind
from shared.clock import as_utc
from shared.events import CloudEvent
from shared.outbox import outbox_push
from shared.store import Document

DELIVERIES = "deliveries"
LEASE_TOKEN = "lease_token"
LEASE_UNTIL = "lease_until"


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
    sent_at: datetime | None = None
    failed_at: datetime | None = None
    last_error: str | None = None
    lease_token: str | None = None


def _optional_time(value: Any) -> datetime | None:
    return as_utc(value) if value is not None else None


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
        sent_at=_optional_time(doc.get("sent_at")),
        failed_at=_optional_time(doc.get("failed_at")),
        last_error=doc.get("last_error"),
        lease_token=doc.get(LEASE_TOKEN),
    )


class DeliveryRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._deliveries = db[DELIVERIES]

    async def ensure_indexes(self) -> None:
        await self._deliveries.create_index([("concern_id", 1), ("created_at", DESCENDING)])

    async def add(self, *, delivery_id: str, concern_id: str, kind: Kind, channel: ChannelName,
                  address: str | None, language: str, now: datetime,
                  status: DeliveryStatus = DeliveryStatus.QUEUED,
                  note: str | None = None) -> bool:
        """Record a delivery once; False when it already exists (a redelivered event, a peer)."""
        doc: Document = {
            "_id": delivery_id, "concern_id": concern_id, "kind": kind.value,
            "channel": channel.value, "status": status.value, "address": address,
            "language": language, "attempts": 0, "created_at": now, "updated_at": now,
            "last_error": note,
        }
        try:
            await self._deliveries.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def claim(self, delivery_id: str, *, token: str, now: datetime,
                    lease_until: datetime) -> Delivery | None:
        """Take the delivery for one attempt; None when it is settled or a live lease holds it."""
        doc = await self._deliveries.find_one_and_update(
            {"_id": delivery_id, "$or": [
                {"status": DeliveryStatus.QUEUED.value},
                # the holder died mid-send: its lease ran out, the delivery is free again
                {"status": DeliveryStatus.SENDING.value, LEASE_UNTIL: {"$lte": now}},
            ]},
            # An attempt counts when it starts, so a replica that dies mid-send still uses one up.
            {"$set": {"status": DeliveryStatus.SENDING.value, LEASE_TOKEN: token,
                      LEASE_UNTIL: lease_until, "updated_at": now},
             "$inc": {"attempts": 1}},
            projection={"outbox": 0},
            return_document=ReturnDocument.AFTER,
        )
        return from_document(doc) if doc else None

    async def get(self, delivery_id: str) -> Delivery | None:
        doc = await self._deliveries.find_one({"_id": delivery_id}, {"outbox": 0})
        return from_document(doc) if doc else None

    async def get_document(self, delivery_id: str) -> Document | None:
        """The stored document, outbox included (for tests and operators)."""
        return await self._deliveries.find_one({"_id": delivery_id})

    async def for_concern(self, concern_id: str) -> list[Delivery]:
        docs = await self._deliveries.find({"concern_id": concern_id}, {"outbox": 0}) \
            .sort("created_at", 1).to_list()
        return [from_document(d) for d in docs]

    async def mark_sent(self, delivery_id: str, *, token: str, now: datetime, answer: str,
                        reference: str | None, events: list[CloudEvent]) -> bool:
        """Record the provider's acceptance with its events, if we still hold the lease."""
        return await self._finish_attempt(delivery_id, token, events, {
            "status": DeliveryStatus.SENT.value, "sent_at": now, "updated_at": now,
            "provider_answer": answer, "provider_reference": reference, "last_error": None,
        })

    async def release(self, delivery_id: str, *, token: str, now: datetime, error: str) -> bool:
        """Put a delivery whose attempt failed back in the queue for the next try."""
        return await self._finish_attempt(delivery_id, token, [], {
            "status": DeliveryStatus.QUEUED.value, "updated_at": now, "last_error": error,
        })

    async def mark_failed(self, delivery_id: str, *, token: str, now: datetime, error: str,
                          events: list[CloudEvent]) -> bool:
        """Give up on a delivery, with the events that tell the bureau."""
        return await self._finish_attempt(delivery_id, token, events, {
            "status": DeliveryStatus.FAILED.value, "failed_at": now, "updated_at": now,
            "last_error": error,
        })

    async def _finish_attempt(self, delivery_id: str, token: str, events: list[CloudEvent],
                              fields: Document) -> bool:
        update: Document = {"$set": fields, "$unset": {LEASE_TOKEN: "", LEASE_UNTIL: ""}}
        if events:
            update["$push"] = outbox_push(events)
        result = await self._deliveries.update_one(
            {"_id": delivery_id, "status": DeliveryStatus.SENDING.value, LEASE_TOKEN: token},
            update,
        )
        return result.modified_count == 1

