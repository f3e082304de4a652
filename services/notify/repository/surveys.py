"""Survey answers: one survey per concern, found by the hash of its token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.clock import as_utc, as_utc_or_none
from shared.events import CloudEvent
from shared.outbox import outbox_push
from shared.store import Document

SURVEYS = "surveys"


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
        answered_at=as_utc_or_none(doc.get("answered_at")),
        score=doc.get("score"),
    )


class SurveyRepository:
    """One survey per concern, found by the hash of its token; answers carry their outbox.

    The rules (a survey opened once, its expiry only moved later; one answer before it
    expires) are written once here over four store primitives, which the in-memory fake
    (`repository/fakes.py`) replaces."""

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
        survey = {
            "_id": concern_id,
            "token_hash": token_hash,
            "language": language,
            "created_at": now,
            "expires_at": expires_at,
            "answered_at": None,
        }
        if not await self._insert(survey):
            await self._extend(concern_id, expires_at)

    async def by_token_hash(self, token_hash: str) -> Survey | None:
        doc = await self._find(token_hash)
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
        """Record the one answer with its events; None when answered already or expired.

        The survey is found by its token's hash (a unique index), then answered by `_id`
        with the conditions re-asserted (so one answer wins): not one
        `find_one_and_update`, which SecantusDB writes through a filter it cannot serve
        from an index (a scan of every survey of the history)."""
        doc = await self._find(token_hash)
        if doc is None or doc.get("answered_at") is not None:
            return None
        if as_utc(doc["expires_at"]) <= now:
            return None
        answer = {"answered_at": now, "score": score, "comment": comment}
        answered = await self._answer(doc["_id"], answer, now=now, events=events)
        return _survey({**doc, **answer}) if answered else None

    async def get_document(self, concern_id: str) -> Document | None:
        return await self._surveys.find_one({"_id": concern_id})

    # --- the store primitives ----------------------------------------------------------------

    async def _insert(self, survey: Document) -> bool:
        """Store a new survey; False when the concern has one already."""
        try:
            await self._surveys.insert_one(survey)
        except DuplicateKeyError:
            return False
        return True

    async def _extend(self, concern_id: str, expires_at: datetime) -> None:
        """Move a survey's expiry to `expires_at` if that is later."""
        await self._surveys.update_one(
            {"_id": concern_id, "expires_at": {"$lt": expires_at}},
            {"$set": {"expires_at": expires_at}},
        )

    async def _find(self, token_hash: str) -> Document | None:
        return await self._surveys.find_one({"token_hash": token_hash}, {"outbox": 0})

    async def _answer(
        self, concern_id: str, answer: Document, *, now: datetime, events: list[CloudEvent]
    ) -> bool:
        """Write the answer if the survey is still unanswered and open at `now`."""
        answered = await self._surveys.update_one(
            {"_id": concern_id, "answered_at": None, "expires_at": {"$gt": now}},
            {"$set": answer, "$push": outbox_push(events)},
        )
        return answered.modified_count == 1
