"""What a service makes of an unordered bulk write the store partly refused (inbox records,
notify's deliveries, intake's concurrent submissions): a key written before (a redelivery,
another replica) is done; any other refusal, and a write concern the store could not confirm
(applied, not known to be durable), is an error, retried by the consumer as transient or
answered 503 by a route, never taken as stored."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, WriteConcernError

from shared.messaging.transient import is_transient
from shared.store import bulk_errors, duplicates_only

pytestmark = pytest.mark.unit

DUPLICATE = {"code": 11000, "errmsg": "E11000 duplicate key error index: _id_"}
TIMED_OUT = {"code": 64, "errmsg": "waiting for replication timed out", "errInfo": {"wtimeout": 1}}


def refused(*, writes: list[dict[str, Any]], concern: list[dict[str, Any]]) -> BulkWriteError:
    return BulkWriteError({"writeErrors": writes, "writeConcernErrors": concern})


def test_writes_refused_only_as_written_before_are_done() -> None:
    exc = refused(writes=[{"index": 1, **DUPLICATE}, {"index": 3, **DUPLICATE}], concern=[])

    assert duplicates_only(exc, 4) == {1, 3}


def test_a_write_concern_not_confirmed_fails_every_write_not_refused_on_its_own() -> None:
    exc = refused(writes=[{"index": 0, **DUPLICATE}], concern=[TIMED_OUT])

    errors = bulk_errors(exc, 3)

    assert isinstance(errors[0], DuplicateKeyError)
    assert all(isinstance(e, WriteConcernError) and is_transient(e) for e in errors[1:])
    with pytest.raises(WriteConcernError):
        duplicates_only(exc, 3)


def test_another_refusal_is_raised_with_the_stores_words() -> None:
    invalid = {"index": 0, "code": 121, "errmsg": "Document failed validation"}
    exc = refused(writes=[invalid, {"index": 1, **DUPLICATE}], concern=[])

    with pytest.raises(OperationFailure, match="failed validation") as raised:
        duplicates_only(exc, 2)
    assert not isinstance(raised.value, DuplicateKeyError)
