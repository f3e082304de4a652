"""Webhook subscriptions: district systems that receive public events, signed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase

from services.notify.repository.templates import CACHE_TTL_S
from shared.cache import Cached
from shared.clock import as_utc
from shared.store import Document

SUBSCRIPTIONS = "subscriptions"


@dataclass(frozen=True)
class Subscription:
    id: str
    url: str
    event_types: tuple[str, ...]
    secret: str
    created_at: datetime

    def wants(self, event_name: str) -> bool:
        """Whether it asked for this event, or for every public event (`*`)."""
        return event_name in self.event_types or "*" in self.event_types


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
        return [s for s in await self._cached.get() if s.wants(event_name)]
