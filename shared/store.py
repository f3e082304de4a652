"""The MongoDB connection each service opens to its own database."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from shared.settings import ServiceSettings

Document = dict[str, Any]


def connect_store(settings: ServiceSettings) -> AsyncMongoClient[Document]:
    """A client with timeouts on every operation and timezone-aware datetimes."""
    timeout_ms = int(settings.io_timeout_s * 1000)
    return AsyncMongoClient(
        settings.mongo_url,
        tz_aware=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        timeoutMS=timeout_ms,
        appname=f"bureau-{settings.service_name}",
    )


def database(client: AsyncMongoClient[Document],
             settings: ServiceSettings) -> AsyncDatabase[Document]:
    """The database this service owns, and no other service reads."""
    return client[settings.database]


async def ping(db: AsyncDatabase[Document]) -> None:
    """Raise if the store cannot be reached."""
    await db.command("ping")
