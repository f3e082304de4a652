"""Idempotency keys of submissions: a retried POST answers the first concern, creates nothing.

A key is claimed (unique `_id`) before the concern is written, with the concern id and the
token nonce the concern will get; the concern insert uses that id. A crash between the two
writes is completed by the retry, and two racing retries both land on the same concern id
(the second insert is refused as a duplicate). Keys expire through a TTL index.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.store import Document

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")


def fingerprint(body: Any) -> str:
    """A stable digest of a request body (keys sorted), to tell a retry from a reuse."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Claim:
    key: str
    fingerprint: str
    concern_id: str
    nonce: str


class IdempotencyKeys:
    def __init__(self, db: AsyncDatabase[Document], *, ttl_s: int) -> None:
        self._keys = db["idempotency_keys"]
        self._ttl_s = ttl_s

    async def ensure_indexes(self) -> None:
        await self._keys.create_index("created_at", expireAfterSeconds=self._ttl_s)

    async def claim(self, candidate: Claim, *, now: datetime) -> Claim:
        """The claim that holds the key: `candidate` if the key was free, else the earlier one."""
        try:
            await self._keys.insert_one(
                {
                    "_id": candidate.key,
                    "fingerprint": candidate.fingerprint,
                    "concern_id": candidate.concern_id,
                    "nonce": candidate.nonce,
                    "created_at": now,
                }
            )
            return candidate
        except DuplicateKeyError:
            pass
        doc = await self._keys.find_one({"_id": candidate.key})
        if doc is None:  # expired between the two calls: try once more
            return await self.claim(candidate, now=now)
        return Claim(
            key=doc["_id"],
            fingerprint=doc["fingerprint"],
            concern_id=doc["concern_id"],
            nonce=doc["nonce"],
        )
