"""The record of events a service has handled, so a redelivered event changes nothing.

Lookups and records of concurrently handled events share store round trips (group commit)."""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from shared.batching import GroupCommit
from shared.store import Document, duplicates_only

KEEP_HANDLED_FOR_S = 30 * 24 * 3600


class Inbox:
    """Handled event ids, one document each (the `_id` is the unique index)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._handled = db["inbox"]
        self._lookups: GroupCommit[str, bool] = GroupCommit(self._seen_many)
        self._records: GroupCommit[Document, None] = GroupCommit(self._record_many)

    async def ensure_indexes(self) -> None:
        await self._handled.create_index("handled_at", expireAfterSeconds=KEEP_HANDLED_FOR_S)

    async def seen(self, event_id: str) -> bool:
        return await self._lookups(event_id)

    async def record(self, event_id: str, name: str, handled_at: datetime) -> None:
        await self._records({"_id": event_id, "name": name, "handled_at": handled_at})

    async def _seen_many(self, event_ids: list[str]) -> list[bool]:
        found = {
            d["_id"]
            for d in await self._handled.find({"_id": {"$in": event_ids}}, {"_id": 1}).to_list()
        }
        return [event_id in found for event_id in event_ids]

    async def _record_many(self, entries: list[Document]) -> list[None]:
        try:
            await self._handled.insert_many(entries, ordered=False)
        except BulkWriteError as exc:
            # another replica (or a duplicate delivery) handled some first: those writes were
            # idempotent, so only other errors count
            duplicates_only(exc, len(entries))
        return [None] * len(entries)
