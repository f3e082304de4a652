"""The MongoDB connection each service opens to its own database."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient, WriteConcern
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    BulkWriteError,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
    WriteConcernError,
)

from shared.settings import ServiceSettings

Document = dict[str, Any]
DUPLICATE_KEY = 11000


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


def bulk_errors(exc: BulkWriteError, count: int) -> list[PyMongoError | None]:
    """Each write's own outcome in an unordered bulk write of `count` that raised `exc`: its
    refusal (`DuplicateKeyError` for a key written before), or, when the store could not
    confirm the write concern, a `WriteConcernError` for every write not refused on its own
    (applied, but not known to be durable: never answered as stored)."""
    errors: list[PyMongoError | None] = [None] * count
    for error in exc.details.get("writeErrors", []):
        code, message = error.get("code"), error.get("errmsg", "write refused")
        kind = DuplicateKeyError if code == DUPLICATE_KEY else OperationFailure
        errors[int(error["index"])] = kind(message, code)  # its text: the index it broke
    unconfirmed = exc.details.get("writeConcernErrors", [])
    if unconfirmed:
        last = unconfirmed[-1]
        failure = WriteConcernError(
            last.get("errmsg", "write concern failed"), last.get("code"), last
        )
        errors = [error or failure for error in errors]
    return errors


def duplicates_only(exc: BulkWriteError, count: int) -> set[int]:
    """The writes of an unordered bulk write refused only because their key was written
    before (by a redelivery, another replica): those are done. Raises anything else, a
    write concern the store could not confirm included."""
    errors = bulk_errors(exc, count)
    other = next(
        (e for e in errors if e is not None and not isinstance(e, DuplicateKeyError)), None
    )
    if other is not None or not any(errors):
        raise other or exc
    return {n for n, error in enumerate(errors) if error is not None}
