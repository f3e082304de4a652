"""A file upload that fails half-way leaves no chunks behind, on the real store: GridFS writes a
file's chunks before its files document, so a store that fails in between left chunks nobody
listed or deleted (a form's pending file, a concern's attachment). The sweep deletes them once
the upload is old enough to have failed; a file two replicas attach at once is kept once."""

# ruff: noqa: F811  (pytest fixtures imported from test_intake_pending_files are parameters here)

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import AutoReconnect

from services.intake.files import UPLOAD_STALE, sweep_uploads
from shared.clock import FakeClock
from tests.conftest import Isolation
from tests.integration.test_intake_api import clock  # noqa: F401
from tests.integration.test_intake_pending_files import (
    FORM,
    PDF,
    app,  # noqa: F401
    intake,  # noqa: F401
    new_concern,
    pending,
    put,
    staff_files,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def files_documents_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store drops out after a file's chunks are written, before its files document."""
    original = AsyncCollection.insert_one

    async def failing(self: AsyncCollection[Any], document: Any, *args: Any, **kw: Any) -> Any:
        if self.name.endswith(".files"):
            raise AutoReconnect("the store went away")
        return await original(self, document, *args, **kw)

    monkeypatch.setattr(AsyncCollection, "insert_one", failing)


async def chunks_of(mongo: AsyncMongoClient, isolation: Isolation, bucket: str) -> int:
    return await mongo[isolation.db("intake")][f"{bucket}.chunks"].count_documents({})


async def test_a_failed_upload_leaves_no_chunks_once_the_sweep_has_passed(
    intake: httpx.AsyncClient,
    clock: FakeClock,
    mongo: AsyncMongoClient,
    isolation: Isolation,
    monkeypatch: pytest.MonkeyPatch,
    files_documents_fail: None,
) -> None:
    concern_id = await new_concern(intake)
    kept = await put(intake, "carta.pdf", PDF, "application/pdf")
    attached = await intake.post(
        f"/v1/concerns/{concern_id}/attachments",
        params={"filename": "carta.pdf"},
        content=PDF,
        headers={"Content-Type": "application/pdf"},
    )
    assert (kept.status_code, attached.status_code) == (503, 503)  # the store, not a 500
    monkeypatch.undo()
    assert await pending(intake) == [] and await staff_files(intake, concern_id) == []
    assert await chunks_of(mongo, isolation, "pending") == 1
    assert await chunks_of(mongo, isolation, "attachments") == 1
    db = mongo[isolation.db("intake")]

    assert await sweep_uploads(db, clock.now()) == 0  # an upload may still be under way
    clock.advance(UPLOAD_STALE + timedelta(seconds=1))
    assert await sweep_uploads(db, clock.now(), batch=1) == 1  # a bounded batch at a time
    assert await sweep_uploads(db, clock.now()) == 1
    assert await sweep_uploads(db, clock.now()) == 0
    assert await chunks_of(mongo, isolation, "pending") == 0
    assert await chunks_of(mongo, isolation, "attachments") == 0

    again = await put(intake, "carta.pdf", PDF, "application/pdf")  # the family tries again
    assert again.status_code == 201, again.text
    clock.advance(UPLOAD_STALE * 2)
    assert await sweep_uploads(db, clock.now()) == 0  # a whole upload leaves nothing to settle
    sent = await intake.post(f"/v1/forms/{FORM}/send", json={"concern_id": concern_id})
    assert [o["attached"] for o in sent.json()] == [True]
    assert await staff_files(intake, concern_id) == [("carta.pdf", PDF)]


async def test_a_form_sent_by_two_replicas_at_once_attaches_its_file_once(
    intake: httpx.AsyncClient, clock: FakeClock, mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    for attempt in range(5):  # the two sends must both reach the upload; usually the first try
        form = f"{attempt:02d}" + FORM[2:]
        assert (await put(intake, "carta.pdf", PDF, "application/pdf", form=form)).is_success
        concern_id = await new_concern(intake)
        sends = await asyncio.gather(
            *(
                intake.post(f"/v1/forms/{form}/send", json={"concern_id": concern_id})
                for _ in range(2)
            )
        )
        assert [s.status_code for s in sends] == [200, 200], [s.text for s in sends]
        assert await staff_files(intake, concern_id) == [("carta.pdf", PDF)]
    clock.advance(UPLOAD_STALE * 2)
    await sweep_uploads(mongo[isolation.db("intake")], clock.now())
    db = mongo[isolation.db("intake")]
    assert await db["attachments.chunks"].count_documents({}) == 5  # each file's one chunk


async def test_a_deletion_that_fails_half_way_leaves_no_chunks_once_swept(
    intake: httpx.AsyncClient,
    clock: FakeClock,
    mongo: AsyncMongoClient,
    isolation: Isolation,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GridFS deletes a file's files document, then its chunks: the store failing in between
    left the chunks of a file nobody could name any more."""
    kept = await put(intake, "carta.pdf", PDF, "application/pdf")
    original = AsyncCollection.delete_many

    async def failing(self: AsyncCollection[Any], query: Any, *args: Any, **kw: Any) -> Any:
        if self.name.endswith(".chunks"):
            raise AutoReconnect("the store went away")
        return await original(self, query, *args, **kw)

    monkeypatch.setattr(AsyncCollection, "delete_many", failing)
    removed = await intake.delete(f"/v1/forms/{FORM}/attachments/{kept.json()['id']}")
    assert removed.status_code == 503
    monkeypatch.undo()
    assert await pending(intake) == [] and await chunks_of(mongo, isolation, "pending") == 1

    assert await sweep_uploads(mongo[isolation.db("intake")], clock.now()) == 1  # at once
    assert await chunks_of(mongo, isolation, "pending") == 0
