"""Files a family chose on a frontend's concern form, kept by intake until the family confirms
the concern: any replica of the frontend continues the form, none keeps a file itself.

A form is named by a key the frontend derives (a keyed hash of the form's idempotency key
and the browser's own secret): intake never learns the idempotency key, and another browser
holding it finds nothing. Pending files live in a GridFS bucket of their own, never in a
concern's attachments: staff see them only once `send` attached them to the concern the form
created. Checked as attachments are (`refusal`, the same limits), bounded per form and in all
(`PENDING_FILES_*`), they expire `PENDING_FILES_TTL_S` after the form last changed; a sweep
finds the expired ones through an index. Neither a name nor a content reaches an event or a
log line. Only the family front doors (role `frontend`) call these routes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from gridfs import AsyncGridFSBucket, NoFile
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.intake.attachment_schemas import (
    FORM_KEY,
    FileRead,
    PendingFileRead,
    PendingMove,
    PendingOutcome,
    PendingSend,
    refusal,
    safe_filename,
)
from services.intake.attachments import Sent, settings_of, store
from services.intake.context import IntakeContext
from services.intake.files import delete_file, put_file, sweep_uploads
from services.intake.files import ensure_indexes as ensure_upload_indexes
from services.intake.requester_api import client_address
from services.intake.web import Ctx
from shared.authz import Access, Permission
from shared.http import Problem, authorize
from shared.store import Document

log = logging.getLogger(__name__)

BUCKET = "pending"
SWEEP_BATCH = 100

FormFiles = Annotated[Access, Depends(authorize(Permission.FORM_FILES))]
FormKey = Annotated[str, Path(pattern=FORM_KEY, description="the frontend's key of the form")]


class PendingSettings(BaseSettings):
    """Limits of files waiting for a family's confirmation (environment: PENDING_FILES_TTL_S,
    PENDING_FILES_FORM_MAX_BYTES, PENDING_FILES_CLIENT_MAX_BYTES, PENDING_FILES_MAX_BYTES,
    PENDING_FILES_SWEEP_S)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    pending_files_ttl_s: float = Field(default=3600.0, gt=0)
    pending_files_form_max_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    # the forms of one family address together (a new cookie is a new form): no address
    # fills the room every family shares
    pending_files_client_max_bytes: int = Field(default=200 * 1024 * 1024, gt=0)
    pending_files_max_bytes: int = Field(default=1024 * 1024 * 1024, gt=0)
    pending_files_sweep_s: float = Field(default=60.0, gt=0)


def _client_of(request: Request) -> str:
    """Whom a pending file is counted against: the family's address as its front door
    forwards it, hashed (kept no longer than the file)."""
    return hashlib.sha256(client_address(request).encode()).hexdigest()[:32]


def _pending_settings(request: Request) -> PendingSettings:
    settings = getattr(request.app.state, "pending_settings", None)
    if settings is None:
        settings = request.app.state.pending_settings = PendingSettings()
    return settings


def _db(ctx: IntakeContext) -> AsyncDatabase[Document]:
    return ctx.repo.collection.database


def _files(db: AsyncDatabase[Document]) -> AsyncCollection[Document]:
    return db[f"{BUCKET}.files"]


def _bucket(db: AsyncDatabase[Document]) -> AsyncGridFSBucket:
    return AsyncGridFSBucket(db, bucket_name=BUCKET)


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    """A form's files by its key; the expired ones by their expiry (for the sweep); the
    uploads under way (see `services.intake.files`)."""
    await ensure_upload_indexes(db)
    await _files(db).create_index([("metadata.form_key", 1), ("uploadDate", 1)])
    await _files(db).create_index("metadata.expires_at")
    await _files(db).create_index("metadata.client")


def _read(doc: Document) -> PendingFileRead:
    return PendingFileRead(**FileRead.fields_of(doc))


async def _of_form(db: AsyncDatabase[Document], form_key: str, now: datetime) -> list[Document]:
    """The form's files not expired, in the order they were chosen."""
    query = {"metadata.form_key": form_key, "metadata.expires_at": {"$gt": now}}
    return await _files(db).find(query).sort([("uploadDate", 1), ("_id", 1)]).to_list()


async def _touch(db: AsyncDatabase[Document], form_key: str, expires_at: datetime) -> None:
    """The form changed: all its files wait again for the whole time."""
    await _files(db).update_many(
        {"metadata.form_key": form_key}, {"$set": {"metadata.expires_at": expires_at}}
    )


async def _used_bytes(db: AsyncDatabase[Document], client: str | None = None) -> int:
    """What all pending files hold together, or those of one `client` (only the pending
    bucket is read)."""
    match = [{"$match": {"metadata.client": client}}] if client is not None else []
    found = await (
        await _files(db).aggregate(
            [*match, {"$group": {"_id": None, "total": {"$sum": "$length"}}}]
        )
    ).to_list()
    return int(found[0]["total"]) if found else 0


async def sweep(db: AsyncDatabase[Document], now: datetime, *, batch: int = SWEEP_BATCH) -> int:
    """Delete up to `batch` expired pending files, found through the expiry index; answers how
    many were deleted (a full batch: call again)."""
    expired = (
        await _files(db)
        .find({"metadata.expires_at": {"$lte": now}}, {"_id": 1})
        .sort("metadata.expires_at", 1)
        .limit(batch)
        .to_list()
    )
    for doc in expired:  # sent or swept by another replica meanwhile: nothing changes
        await delete_file(db, BUCKET, doc["_id"], now)
    if expired:
        log.info("expired pending files deleted", extra={"count": len(expired)})
    return len(expired)


async def sweeping(ctx: IntakeContext, settings: PendingSettings) -> None:
    """Delete expired pending files, and the chunks failed uploads left in any of intake's
    buckets, a batch at a time, for as long as intake runs."""
    while True:
        try:
            now = ctx.clock.now()
            swept = max(await sweep(_db(ctx), now), await sweep_uploads(_db(ctx), now))
        except Exception:
            log.warning("pending files sweep failed; will retry", exc_info=True)
            swept = 0
        await asyncio.sleep(0 if swept >= SWEEP_BATCH else settings.pending_files_sweep_s)


router = APIRouter(tags=["pending files"])

_REFUSALS: dict[int | str, dict[str, Any]] = {
    409: {"description": "the form holds as many files as a concern takes"},
    413: {"description": "the file is too large, or the form's files together are"},
    415: {"description": "a file type the bureau does not accept"},
    429: {"description": "intake holds as many pending files as it may for now"},
}


@router.post(
    "/v1/forms/{form_key}/attachments",
    status_code=201,
    response_model=PendingFileRead,
    responses=_REFUSALS,
)
async def put(
    form_key: FormKey, request: Request, ctx: Ctx, who: FormFiles, file: Sent
) -> PendingFileRead:
    """Keep one file (the request body, its type in Content-Type) for the form until the family
    sends it; refused as an attachment would be, or when the form or intake holds too much."""
    limits, pending, data = file.settings, _pending_settings(request), file.data
    db = _db(ctx)
    now = ctx.clock.now()
    held = await _of_form(db, form_key, now)
    if len(held) >= limits.attachments_per_concern:
        raise Problem(
            409,
            "Too many files",
            f"A concern takes at most {limits.attachments_per_concern} files.",
        )
    if sum(int(f.get("length", 0)) for f in held) + len(data) > (
        pending.pending_files_form_max_bytes
    ):
        raise Problem(
            413,
            "Files too large together",
            "The files of one form are limited to "
            f"{pending.pending_files_form_max_bytes // (1024 * 1024)} MB together.",
        )
    client = _client_of(request)
    if await _used_bytes(db, client) + len(data) > pending.pending_files_client_max_bytes:
        raise Problem(
            429,
            "Too many pending files",
            "This address has as many files waiting as it may for now; send the concern "
            "without this file and add it later.",
            headers={"Retry-After": "600"},
        )
    if await _used_bytes(db) + len(data) > pending.pending_files_max_bytes:
        log.warning("pending files fill their room")
        raise Problem(
            429,
            "Too many pending files",
            "The bureau cannot keep more files just now; send the concern without this file "
            "and add it later.",
            headers={"Retry-After": "600"},
        )
    expires_at = now + timedelta(seconds=pending.pending_files_ttl_s)
    file_id = str(uuid.uuid4())
    await put_file(
        db,
        BUCKET,
        file_id,
        safe_filename(file.name),
        data,
        metadata={
            "form_key": form_key,
            "content_type": file.kind,
            "expires_at": expires_at,
            "client": client,
        },
        now=now,
    )
    await _touch(db, form_key, expires_at)
    stored = await _files(db).find_one({"_id": file_id})
    if stored is None:  # swept the very moment it was kept: a clock far behind
        raise Problem(409, "File expired", "The file expired at once; try again.")
    return _read(stored)


@router.get("/v1/forms/{form_key}/attachments", response_model=list[PendingFileRead])
async def list_pending(form_key: FormKey, ctx: Ctx, who: FormFiles) -> list[PendingFileRead]:
    """The form's files waiting to be sent, in the order they were chosen (none once expired)."""
    return [_read(f) for f in await _of_form(_db(ctx), form_key, ctx.clock.now())]


@router.delete(
    "/v1/forms/{form_key}/attachments/{file_id}", status_code=204, response_class=Response
)
async def remove(
    form_key: FormKey,
    file_id: Annotated[str, Path(max_length=64)],
    ctx: Ctx,
    who: FormFiles,
) -> Response:
    """Forget one file of the form (an unknown one changes nothing)."""
    db = _db(ctx)
    found = await _files(db).find_one({"_id": file_id, "metadata.form_key": form_key}, {"_id": 1})
    if found is not None:
        await delete_file(db, BUCKET, file_id, ctx.clock.now())
    return Response(status_code=204)


@router.post("/v1/forms/{form_key}/move", response_model=list[PendingFileRead])
async def move(
    form_key: FormKey, body: PendingMove, request: Request, ctx: Ctx, who: FormFiles
) -> list[PendingFileRead]:
    """The form's files, now under the key `to` (the form got a new idempotency key)."""
    db = _db(ctx)
    now = ctx.clock.now()
    expires_at = now + timedelta(seconds=_pending_settings(request).pending_files_ttl_s)
    await _files(db).update_many(
        {"metadata.form_key": form_key, "metadata.expires_at": {"$gt": now}},
        {"$set": {"metadata.form_key": body.to, "metadata.expires_at": expires_at}},
    )
    return [_read(f) for f in await _of_form(db, body.to, now)]


@router.post(
    "/v1/forms/{form_key}/send",
    response_model=list[PendingOutcome],
    responses={404: {"description": "unknown concern"}},
)
async def send(
    form_key: FormKey, body: PendingSend, request: Request, ctx: Ctx, who: FormFiles
) -> list[PendingOutcome]:
    """Attach every file the form holds to the concern it created, then forget them; each
    attachment keeps its pending file's id, so a retry attaches nothing twice. A file the
    concern refuses (too many files) is dropped and said so."""
    db = _db(ctx)
    if await ctx.repo.get_document(body.concern_id) is None:
        raise Problem(404, "Concern not found", "No concern has this id.")
    limits = settings_of(request)
    outcomes: list[PendingOutcome] = []
    for doc in await _of_form(db, form_key, ctx.clock.now()):
        found = _read(doc)
        try:
            stream = await _bucket(db).open_download_stream(doc["_id"])
            data = await stream.read()
        except NoFile:  # sent by another replica meanwhile
            continue
        problem = refusal(found.content_type, data, settings=limits)
        try:
            if problem is not None:
                raise problem
            stored = await store(
                ctx,
                limits,
                body.concern_id,
                who.actor,
                found.filename,
                found.content_type,
                data,
                attachment_id=found.id,
            )
        except Problem as refused:
            if refused.status >= 500 or refused.status == 404:
                raise
            outcomes.append(
                PendingOutcome(
                    id=found.id,
                    filename=found.filename,
                    attached=False,
                    status=refused.status,
                    title=refused.title,
                )
            )
        else:
            outcomes.append(
                PendingOutcome(
                    id=found.id, filename=found.filename, attached=True, attachment_id=stored.id
                )
            )
        await delete_file(db, BUCKET, doc["_id"], ctx.clock.now())
    return outcomes
