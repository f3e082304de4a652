"""The SLA policies, and the lock that serialises their changes across replicas."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.escalation.policies import Policy
from shared.cache import Cached
from shared.store import Document

POLICIES = "policies"
POLICY_CACHE_TTL_S = 5.0
POLICY_LOCK_LEASE_S = 30.0  # longer than any change takes; a crashed holder frees it then
POLICY_LOCK_WAIT_S = 10.0


class PolicyRepository:
    """The SLA policies, one document each, `_id` = the policy id."""

    def __init__(
        self, db: AsyncDatabase[Document], cache_ttl_s: float = POLICY_CACHE_TTL_S
    ) -> None:
        self._policies = db[POLICIES]
        self._locks = db["locks"]
        # every event chooses a policy: read them once every few seconds, not per event
        self._cached: Cached[list[Policy]] = Cached(self._read_all, cache_ttl_s)

    async def seed(self, policies: Sequence[Policy]) -> int:
        """Insert the policies the store does not have yet; never overwrite an admin's edit."""
        added = 0
        for policy in policies:
            result = await self._policies.update_one(
                {"_id": policy.id}, {"$setOnInsert": _policy_doc(policy)}, upsert=True
            )
            added += result.upserted_id is not None
        self._cached.invalidate()
        return added

    async def all(self) -> list[Policy]:
        """Every policy, in rank order (another replica's edit shows within the cache TTL)."""
        return list(await self._cached.get())

    async def _read_all(self) -> list[Policy]:
        docs = (
            await self._policies.find({}).sort([("rank", ASCENDING), ("_id", ASCENDING)]).to_list()
        )
        return [_policy(d) for d in docs]

    async def get(self, policy_id: str) -> Policy | None:
        doc = await self._policies.find_one({"_id": policy_id})
        return _policy(doc) if doc else None

    async def create(self, policy: Policy) -> bool:
        """False when a policy with this id exists."""
        try:
            await self._policies.insert_one({"_id": policy.id, **_policy_doc(policy)})
        except DuplicateKeyError:
            return False
        self._cached.invalidate()
        return True

    async def replace(self, policy: Policy) -> bool:
        """False when there is no policy with this id."""
        result = await self._policies.replace_one({"_id": policy.id}, _policy_doc(policy))
        self._cached.invalidate()
        return result.matched_count == 1

    async def delete(self, policy_id: str) -> bool:
        result = await self._policies.delete_one({"_id": policy_id})
        self._cached.invalidate()
        return result.deleted_count == 1

    @asynccontextmanager
    async def changing(self) -> AsyncIterator[list[Policy]]:
        """Hold the lock of policy changes (one at a time, across replicas) and give the
        policies as stored now: a check made on them (a catch-all remains) still holds when
        the change is written. Two admins each removing one of the last two catch-alls would
        otherwise both see the other's and both succeed."""
        token = uuid.uuid4().hex
        deadline = time.monotonic() + POLICY_LOCK_WAIT_S
        while True:
            now = datetime.now(UTC)
            try:
                await self._locks.update_one(
                    {"_id": POLICIES, "until": {"$lt": now}},
                    {
                        "$set": {
                            "token": token,
                            "until": now + timedelta(seconds=POLICY_LOCK_LEASE_S),
                        }
                    },
                    upsert=True,
                )
                break
            except DuplicateKeyError:  # another change holds it
                if time.monotonic() > deadline:
                    raise PolicyChangeBusy from None
                await asyncio.sleep(0.05)
        try:
            yield await self._read_all()
        finally:
            self._cached.invalidate()
            await self._locks.delete_one({"_id": POLICIES, "token": token})


class PolicyChangeBusy(RuntimeError):
    """Another policy change holds the lock for longer than a request may wait."""


def _policy_doc(policy: Policy) -> Document:
    return {k: v for k, v in policy.model_dump(mode="json").items() if k != "id"}


def _policy(doc: Document) -> Policy:
    return Policy.model_validate({**{k: v for k, v in doc.items() if k != "_id"}, "id": doc["_id"]})
