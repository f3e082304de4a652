"""What concerns stored by an older intake lack, computed once per store at startup."""

from __future__ import annotations

import logging

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from services.intake.domain import contact_keys
from shared.store import Document

log = logging.getLogger(__name__)

REQUESTER_KEYS = "requester_keys"
BATCH = 500


async def requester_keys(concerns: AsyncCollection[Document], secret: bytes) -> int:
    """Concerns stored before `requester_keys` existed gain the keyed hashes of the contact
    they still hold (none for an anonymous requester), `BATCH` at a time in `_id` order, so
    that staff find a family's older concerns by phone or email too; answers how many.
    Each write is guarded by the key's absence: a concern written meanwhile keeps its own."""
    done, after = 0, None
    while True:
        query: Document = {REQUESTER_KEYS: {"$exists": False}}
        if after is not None:
            query["_id"] = {"$gt": after}
        batch = await concerns.find(
            query, {"requester.email": 1, "requester.phone": 1}, sort=[("_id", 1)], limit=BATCH
        ).to_list()
        if not batch:
            if done:
                log.info("requester keys computed for older concerns", extra={"concerns": done})
            return done
        updates = [
            UpdateOne(
                {"_id": doc["_id"], REQUESTER_KEYS: {"$exists": False}},
                {"$set": {REQUESTER_KEYS: list(_keys(doc, secret))}},
            )
            for doc in batch
        ]
        done += (await concerns.bulk_write(updates, ordered=False)).modified_count
        after = batch[-1]["_id"]


def _keys(doc: Document, secret: bytes) -> tuple[str, ...]:
    requester = doc.get("requester") or {}
    return contact_keys(requester.get("email"), requester.get("phone"), secret=secret)
