"""Triage's store: one decision document per concern, with its outbox."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.events import CloudEvent
from shared.outbox import with_outbox
from shared.store import Document

DECISIONS = "decisions"


class DecisionRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._decisions = db[DECISIONS]

    async def add_first(self, decision: Document, events: list[CloudEvent]) -> bool:
        """Store the first decision of a concern; False when one exists (a redelivery)."""
        try:
            await self._decisions.insert_one(with_outbox(decision, events))
        except DuplicateKeyError:
            return False
        return True

    async def get(self, concern_id: str) -> Document | None:
        return await self._decisions.find_one({"_id": concern_id}, {"outbox": 0})
