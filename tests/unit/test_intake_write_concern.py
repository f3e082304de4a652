"""A 201 means durable (issue 14): intake inserts concurrent submissions with one
`insert_many` (services/intake/repository.py `_insert_many`). pymongo raises `BulkWriteError`
when the store applied the inserts but could not satisfy the write concern (`w: "majority",
j: true`: replication timed out, the primary stepped down) with `writeConcernErrors` and no
`writeErrors`. Such a concern is not known to be durable: a failover can roll it back, so the
family must not get a 201 for it (a 503, and their retry with the same Idempotency-Key finds
or makes it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.errors import BulkWriteError, PyMongoError

from services.intake import domain
from services.intake.repository import ConcernRepository
from services.intake.students import StudentVault
from shared.events import envelopes
from shared.messaging.transient import is_transient
from tests.unit.test_intake_handlers_fast import enrollment_concern

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)
VAULT = StudentVault(keys={"k1": bytes(32)}, current="k1", hash_key=b"student-hash")


def bulk_result(*, write_errors: list[Any], write_concern_errors: list[Any]) -> dict[str, Any]:
    """The `details` of a `BulkWriteError`, as pymongo builds them."""
    return {
        "writeErrors": write_errors,
        "writeConcernErrors": write_concern_errors,
        "nInserted": 1 - len(write_errors),
        "nUpserted": 0,
        "nMatched": 0,
        "nModified": 0,
        "nRemoved": 0,
        "upserted": [],
    }


class Concerns:
    """The `concerns` collection of a store that answers every insert with `error`."""

    def __init__(self, error: BulkWriteError) -> None:
        self.error = error

    async def insert_many(self, documents: list[Any], **_: Any) -> None:
        raise self.error


class Database(dict[str, Any]):
    def __missing__(self, name: str) -> Any:
        return None


def a_concern() -> tuple[domain.Concern, list[Any]]:
    new = enrollment_concern()
    concern, events = domain.submit(
        new,
        concern_id="c-1",
        tracking=domain.tracking_number(2026, 1),
        now=NOW,
        guarantee=timedelta(hours=72),
        contact_secret=b"contact",
        access_token_hash="hash",
    )
    return concern, envelopes(events, source="/bureau/intake", time=NOW)


def repository(error: BulkWriteError) -> ConcernRepository:
    return ConcernRepository(Database(concerns=Concerns(error)), VAULT)  # type: ignore[arg-type]


async def test_an_id_already_stored_is_answered_as_a_replay() -> None:
    # the fake store works as the repository expects: a duplicate `_id` is "exists already"
    duplicate = {"index": 0, "code": 11000, "errmsg": "E11000 duplicate key error: _id c-1"}
    repo = repository(
        BulkWriteError(bulk_result(write_errors=[duplicate], write_concern_errors=[]))
    )

    assert await repo.add(*a_concern()) is False


async def test_a_concern_whose_write_concern_failed_is_not_answered_as_stored() -> None:
    timed_out = {
        "code": 64,
        "codeName": "WriteConcernFailed",
        "errmsg": "waiting for replication timed out",
        "errInfo": {"wtimeout": True},
    }
    repo = repository(
        BulkWriteError(bulk_result(write_errors=[], write_concern_errors=[timed_out]))
    )

    with pytest.raises(PyMongoError) as raised:  # a store error: the route answers 503
        await repo.add(*a_concern())
    # and a consumer retries the event that caused such a write, never parks it
    assert is_transient(raised.value)
