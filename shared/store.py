"""The MongoDB connection each service opens to its own database."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient, WriteConcern
from pymongo.asynchronous.database import AsyncDatabase

from shared.settings import ServiceSettings

Document = dict[str, Any]


def write_concern(setting: str) -> WriteConcern:
    """What an acknowledged write promises (`STORE_WRITE_CONCERN`): with the journal, a write
    the store acknowledged survives its crash (a 201 means the concern exists); with the
    majority, it also survives the loss of the primary of a replica set."""
    if setting == "majority+journal":
        return WriteConcern(w="majority", j=True)
    if setting == "journal":
        return WriteConcern(j=True)
    return WriteConcern()


def connect_store(settings: ServiceSettings) -> AsyncMongoClient[Document]:
    """A client with timeouts on every operation, timezone-aware datetimes, and the write
    concern of `STORE_WRITE_CONCERN` on every write (a concern, a clock, an outbox entry)."""
    timeout_ms = int(settings.io_timeout_s * 1000)
    concern = write_concern(settings.store_write_concern).document
    options: dict[str, Any] = {"w": concern["w"]} if "w" in concern else {}
    if concern.get("j"):
        options["journal"] = True
    return AsyncMongoClient(
        settings.mongo_url,
        tz_aware=True,
        **options,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        timeoutMS=timeout_ms,
        appname=f"bureau-{settings.service_name}",
    )


def database(
    client: AsyncMongoClient[Document], settings: ServiceSettings
) -> AsyncDatabase[Document]:
    """The database this service owns, and no other service reads."""
    return client[settings.database]


async def ping(db: AsyncDatabase[Document]) -> None:
    """Raise if the store cannot be reached."""
    await db.command("ping")
