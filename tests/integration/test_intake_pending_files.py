"""Intake keeps the files a family chose on a concern form until the family sends it, on the
real store: put, list, remove, move to a new key, attach once to the concern (a retry attaches
nothing twice; staff see nothing before), expiry swept with a fake clock, refusals within the
attachments' limits and the pending caps, and only the family front doors may call."""

# ruff: noqa: F811  (pytest fixtures imported from test_intake_api are parameters here)

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import aio_pika
import httpx
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from services.intake.attachments import AttachmentSettings
from services.intake.main import create_app
from services.intake.pending import PendingSettings, sweep
from shared.auth import Role
from shared.clock import FakeClock
from tests.conftest import Isolation, bearer
from tests.integration.test_intake_api import body, clock, intake_settings  # noqa: F401

pytestmark = pytest.mark.integration

FRONTEND = bearer("frontend", sub="web-frontend")
STAFF = bearer("specialist", sub="tr-lead")
FORM = hashlib.sha256(b"form one").hexdigest()[:40]
OTHER = hashlib.sha256(b"form two").hexdigest()[:40]
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 1000


@pytest.fixture
async def app(
    mongo_url: str,
    amqp_url: str,
    isolation: Isolation,
    clock: FakeClock,
    mongo: AsyncMongoClient,
    amqp: aio_pika.abc.AbstractRobustConnection,
) -> AsyncIterator[FastAPI]:
    """Intake in-process, with small limits: 3 files a concern, 2500 bytes a form, 4000 in all."""
    settings = intake_settings(mongo_url, amqp_url, isolation)
    app = create_app(settings, clock=clock)
    app.state.attachment_settings = AttachmentSettings(
        attachment_max_bytes=2048, attachments_per_concern=3
    )
    app.state.pending_settings = PendingSettings(
        pending_files_ttl_s=3600, pending_files_form_max_bytes=2500, pending_files_max_bytes=4000
    )
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def intake(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Calls as the family web (role `frontend`)."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://intake", headers=FRONTEND
    ) as client:
        yield client


async def put(
    intake: httpx.AsyncClient, name: str, data: bytes, kind: str, form: str = FORM
) -> httpx.Response:
    return await intake.post(
        f"/v1/forms/{form}/attachments",
        params={"filename": name},
        content=data,
        headers={"Content-Type": kind},
    )


async def pending(intake: httpx.AsyncClient, form: str = FORM) -> list[tuple[str, int, str]]:
    answer = await intake.get(f"/v1/forms/{form}/attachments")
    assert answer.status_code == 200, answer.text
    return [(f["filename"], f["size"], f["content_type"]) for f in answer.json()]


async def new_concern(intake: httpx.AsyncClient) -> str:
    created = await intake.post("/v1/concerns", json=body())
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def staff_files(intake: httpx.AsyncClient, concern_id: str) -> list[tuple[str, bytes]]:
    listed = await intake.get(f"/v1/concerns/{concern_id}/attachments", headers=STAFF)
    assert listed.status_code == 200, listed.text
    found = []
    for f in listed.json():
        content = await intake.get(
            f"/v1/concerns/{concern_id}/attachments/{f['id']}", headers=STAFF
        )
        found.append((f["filename"], content.content))
    return found


async def test_a_forms_files_are_kept_listed_removed_and_attached_once_when_it_is_sent(
    intake: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="services")
    photo = await put(intake, "C:\\fotos\\parada.png", PNG, "image/png")
    assert photo.status_code == 201, photo.text
    assert (await put(intake, "carta.pdf", PDF, "application/pdf")).status_code == 201
    extra = await put(intake, "extra.pdf", PDF, "application/pdf")
    assert photo.json()["filename"] == "parada.png"  # no path
    assert await pending(intake) == [
        ("parada.png", len(PNG), "image/png"),
        ("carta.pdf", len(PDF), "application/pdf"),
        ("extra.pdf", len(PDF), "application/pdf"),
    ]
    assert await pending(intake, OTHER) == []  # another form's key finds nothing
    removed = await intake.delete(f"/v1/forms/{FORM}/attachments/{extra.json()['id']}")
    assert removed.status_code == 204
    again = await intake.delete(f"/v1/forms/{FORM}/attachments/{extra.json()['id']}")
    assert again.status_code == 204  # removing it twice changes nothing
    assert [name for name, _, _ in await pending(intake)] == ["parada.png", "carta.pdf"]

    concern_id = await new_concern(intake)
    assert await staff_files(intake, concern_id) == []  # pending files are not the concern's
    sent = await intake.post(f"/v1/forms/{FORM}/send", json={"concern_id": concern_id})
    assert sent.status_code == 200, sent.text
    assert [(o["filename"], o["attached"]) for o in sent.json()] == [
        ("parada.png", True),
        ("carta.pdf", True),
    ]
    assert await staff_files(intake, concern_id) == [("parada.png", PNG), ("carta.pdf", PDF)]
    assert await pending(intake) == []
    retried = await intake.post(f"/v1/forms/{FORM}/send", json={"concern_id": concern_id})
    assert retried.status_code == 200 and retried.json() == []
    assert len(await staff_files(intake, concern_id)) == 2  # nothing attached twice
    ours = [r for r in caplog.records if r.name.startswith(("services", "shared"))]
    said = " ".join(f"{r.getMessage()} {r.__dict__}" for r in ours)
    assert ours and "parada" not in said and "carta" not in said


async def test_a_retry_after_attaching_but_before_forgetting_attaches_nothing_twice(
    intake: httpx.AsyncClient, mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    kept = await put(intake, "carta.pdf", PDF, "application/pdf")
    concern_id = await new_concern(intake)
    db = mongo[isolation.db("intake")]
    pending_doc = await db["pending.files"].find_one({"_id": kept.json()["id"]})
    sent = await intake.post(f"/v1/forms/{FORM}/send", json={"concern_id": concern_id})
    assert sent.json()[0]["attachment_id"] == kept.json()["id"]
    # as if the replica stopped between attaching and forgetting the pending file
    assert pending_doc is not None
    await db["pending.files"].insert_one(pending_doc)
    await db["pending.chunks"].insert_one({"files_id": pending_doc["_id"], "n": 0, "data": PDF})
    retried = await intake.post(f"/v1/forms/{FORM}/send", json={"concern_id": concern_id})
    assert [o["attached"] for o in retried.json()] == [True]
    assert await staff_files(intake, concern_id) == [("carta.pdf", PDF)]
    timeline = await intake.get(f"/v1/concerns/{concern_id}/timeline", headers=STAFF)
    assert [e["kind"] for e in timeline.json()].count("attachment_added") == 1


async def test_files_move_to_the_forms_new_key(intake: httpx.AsyncClient) -> None:
    await put(intake, "carta.pdf", PDF, "application/pdf")
    moved = await intake.post(f"/v1/forms/{FORM}/move", json={"to": OTHER})
    assert moved.status_code == 200, moved.text
    assert [f["filename"] for f in moved.json()] == ["carta.pdf"]
    assert await pending(intake) == [] and len(await pending(intake, OTHER)) == 1


async def test_pending_files_expire_an_hour_after_the_form_last_changed_and_are_swept(
    intake: httpx.AsyncClient, clock: FakeClock, mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    db = mongo[isolation.db("intake")]
    await put(intake, "carta.pdf", PDF, "application/pdf")
    clock.advance(timedelta(minutes=50))
    await put(intake, "parada.png", PNG, "image/png")  # the form changed: both wait again
    clock.advance(timedelta(minutes=50))
    assert len(await pending(intake)) == 2
    assert await sweep(db, clock.now()) == 0
    await put(intake, "otra.pdf", PDF, "application/pdf", form=OTHER)
    clock.advance(timedelta(minutes=11))
    assert await pending(intake) == []  # expired, even before the sweep
    assert len(await pending(intake, OTHER)) == 1
    assert await sweep(db, clock.now(), batch=1) == 1  # a bounded batch at a time
    assert await sweep(db, clock.now()) == 1
    assert await sweep(db, clock.now()) == 0
    assert await db["pending.files"].count_documents({}) == 1  # the other form's file
    chunks = await db["pending.chunks"].distinct("files_id")
    assert len(chunks) == 1
    concern_id = await new_concern(intake)
    sent = await intake.post(f"/v1/forms/{FORM}/send", json={"concern_id": concern_id})
    assert sent.json() == [] and await staff_files(intake, concern_id) == []


async def test_files_are_refused_as_attachments_are_and_past_the_pending_caps(
    intake: httpx.AsyncClient,
) -> None:
    program = await put(intake, "setup.exe", b"MZ\x90\x00", "application/x-msdownload")
    assert program.status_code == 415
    assert program.headers["content-type"].startswith("application/problem+json")
    fake = await put(intake, "letter.pdf", b"MZ not a pdf", "application/pdf")
    assert fake.status_code == 415
    large = await put(intake, "scan.pdf", PDF + b"x" * 3000, "application/pdf")
    assert large.status_code == 413 and large.json()["title"] == "File too large"
    empty = await put(intake, "empty.txt", b"", "text/plain")
    assert empty.status_code == 422
    big = PDF + b"x" * 1500
    assert (await put(intake, "one.pdf", big, "application/pdf")).status_code == 201
    together = await put(intake, "two.pdf", big, "application/pdf")
    assert together.status_code == 413 and together.json()["title"] == "Files too large together"
    second = hashlib.sha256(b"form three").hexdigest()[:40]
    assert (await put(intake, "two.pdf", big, "application/pdf", form=OTHER)).status_code == 201
    full = await put(intake, "three.pdf", big, "application/pdf", form=second)
    assert full.status_code == 429 and full.headers["Retry-After"]
    assert [name for name, _, _ in await pending(intake, second)] == []
    for n in range(3):
        note = await put(intake, f"{n}.txt", b"note", "text/plain", form=second)
        assert note.status_code == 201
    many = await put(intake, "3.txt", b"note", "text/plain", form=second)
    assert many.status_code == 409 and many.json()["title"] == "Too many files"


async def test_a_form_key_that_is_not_the_frontends_hash_is_refused(
    intake: httpx.AsyncClient,
) -> None:
    answer = await put(intake, "carta.pdf", PDF, "application/pdf", form="my-idempotency-key")
    assert answer.status_code == 422
    unknown = await intake.post(f"/v1/forms/{FORM}/send", json={"concern_id": "no-such-concern"})
    assert unknown.status_code == 404


async def test_only_a_family_front_door_keeps_or_sends_a_forms_files(
    intake: httpx.AsyncClient,
) -> None:
    await put(intake, "carta.pdf", PDF, "application/pdf")
    for role in Role:
        if role is not Role.FRONTEND:
            await refused_to(intake, bearer(role.value, sub="someone"))
    assert len(await pending(intake)) == 1
    anonymous = intake.build_request("GET", f"/v1/forms/{FORM}/attachments")
    del anonymous.headers["Authorization"]
    assert (await intake.send(anonymous)).status_code == 401


async def refused_to(intake: httpx.AsyncClient, as_staff: dict[str, str]) -> None:
    for method, path, sent in [
        ("GET", f"/v1/forms/{FORM}/attachments", {}),
        ("POST", f"/v1/forms/{FORM}/send", {"json": {"concern_id": "x"}}),
        ("POST", f"/v1/forms/{FORM}/move", {"json": {"to": OTHER}}),
    ]:
        answer = await intake.request(method, path, headers=as_staff, **sent)
        assert answer.status_code == 403, (method, path, answer.text)
        assert answer.json()["permission"] == "form:files"
    refused = await intake.post(
        f"/v1/forms/{FORM}/attachments",
        params={"filename": "x.pdf"},
        content=PDF,
        headers={**as_staff, "Content-Type": "application/pdf"},
    )
    assert refused.status_code == 403
