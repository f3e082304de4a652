"""The record of events a service has handled, so a redelivered event changes nothing."""

from __future__ import annotations

from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.store import Document

KEEP_HANDLED_FOR_S = 30 * 24 * 3600


class Inbox:
    """Handled event ids, one document each (the `_id` is the unique index)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._handled = db["inbox"]

    async def ensure_indexes(self) -> None:
        await self._handled.create_index("handled_at", expireAfterSeconds=KEEP_HANDLED_FOR_S)

    async def seen(self, event_id: str) -> bool:
        return await self._handled.find_one({"_id": event_id}, {"_id": 1}) is not None

    async def record(self, event_id: str, name: str, handled_at: datetime) -> None:
        try:
            await self._handled.insert_one(
                {"_id": event_id, "name": name, "handled_at": handled_at})
        except DuplicateKeyError:
            pass  # another replica handled the same delivery first; both writes were idempotent
