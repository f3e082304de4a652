"""Work done once per store when a service starts (a backfill of what older documents lack),
marked done in the service's `migrations` collection so that later starts skip it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pymongo.asynchronous.collection import AsyncCollection

from shared.store import Document

MIGRATIONS = "migrations"


async def once(
    migrations: AsyncCollection[Document], name: str, work: Callable[[], Awaitable[object]]
) -> bool:
    """Run `work` unless the store records `name` as done, then record it; answers whether it
    ran. Replicas starting together may both run it: `work` writes only what is still missing
    (each update guarded by the old form), and the mark is an upsert."""
    if await migrations.find_one({"_id": name}) is not None:
        return False
    await work()
    await migrations.update_one({"_id": name}, {"$set": {"done": True}}, upsert=True)
    return True
