"""Files a requester sends with a concern (photos, letters, PDFs): kept in GridFS in intake's
own database, within size and type limits, listed and downloaded by staff.

A file never travels in an event, and neither its name nor its content is logged. A refused
file gets a problem answer saying why (415 type, 413 size, 409 too many), which a frontend
passes on to the family in plain words. The limits are published (`GET /v1/attachments/limits`)
so a frontend states them and checks a file before it is sent, with `refusal` itself (both in
`services.intake.attachment_schemas`, which a frontend imports without intake's store).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from gridfs import AsyncGridFSBucket, NoFile
from pymongo.asynchronous.collection import AsyncCollection

from services.intake.attachment_schemas import (
    AttachmentLimits,
    AttachmentRead,
    AttachmentSettings,
    FileRead,
    limits_of,
    named_for,
    refusal,
    safe_filename,
)
from services.intake.context import IntakeContext
from services.intake.files import put_file
from services.intake.requester_api import Token, limit_lookups
from services.intake.requester_api import _own_case as own_case
from services.intake.web import CatalogReader, Ctx, Reader, Submitter, check_scope
from shared.http import Problem
from shared.store import Document

log = logging.getLogger(__name__)

BUCKET = "attachments"
router = APIRouter(tags=["attachments"])


def _bucket(ctx: IntakeContext) -> AsyncGridFSBucket:
    return AsyncGridFSBucket(ctx.repo.collection.database, bucket_name=BUCKET)


def settings_of(request: Request) -> AttachmentSettings:
    """The attachment limits of this app (from the environment, read once)."""
    settings = getattr(request.app.state, "attachment_settings", None)
    if settings is None:
        settings = request.app.state.attachment_settings = AttachmentSettings()
    return settings


def _read(doc: Document) -> AttachmentRead:
    meta = doc.get("metadata") or {}
    return AttachmentRead(
        **FileRead.fields_of(doc),
        sha256=meta.get("sha256", ""),
        uploaded_at=doc["uploadDate"],
        uploaded_by=meta.get("uploaded_by", ""),
    )


_REFUSALS: dict[int | str, dict[str, Any]] = {
    409: {"description": "the concern has as many files as allowed"},
    413: {"description": "the file is too large"},
    415: {"description": "a file type the bureau does not accept"},
}


@router.get("/v1/attachments/limits", response_model=AttachmentLimits)
async def limits(request: Request, who: CatalogReader) -> AttachmentLimits:
    """The files a concern takes: types (with their names and file endings), size, count."""
    return limits_of(settings_of(request))


@router.post(
    "/v1/concerns/{concern_id}/attachments",
    status_code=201,
    response_model=AttachmentRead,
    responses={404: {"description": "unknown concern"}, **_REFUSALS},
)
async def upload(concern_id: str, ctx: Ctx, who: Submitter, file: Sent) -> AttachmentRead:
    """Attach one file (the request body, its type in Content-Type) to a concern."""
    return await store(ctx, file.settings, concern_id, who.actor, file.name, file.kind, file.data)


@router.post(
    "/v1/tracking/{tracking_number}/attachments",
    status_code=201,
    response_model=AttachmentRead,
    dependencies=[Depends(limit_lookups)],
    responses={
        404: {"description": "unknown tracking number, or a secret that does not match"},
        **_REFUSALS,
    },
)
async def upload_as_requester(
    tracking_number: str, ctx: Ctx, who: Submitter, token: Token, file: Sent
) -> AttachmentRead:
    """The requester attaches one file to their own concern (with its access token or PIN),
    through a frontend."""
    door, _ = await own_case(ctx, tracking_number, token)
    return await store(ctx, file.settings, door.id, who.actor, file.name, file.kind, file.data)


def content_kind(content_type: str) -> str:
    """The media type of a Content-Type header, without its parameters."""
    return content_type.split(";")[0].strip().lower()


async def read_file(request: Request, settings: AttachmentSettings) -> bytes:
    """The request body, read no further than one byte past the size a file may have (a body
    declared larger is refused at once, 413)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.attachment_max_bytes:
        raise Problem(
            413,
            "File too large",
            f"Files are limited to {settings.attachment_max_bytes // (1024 * 1024)} MB.",
        )
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > settings.attachment_max_bytes:
            break
    return bytes(data)


@dataclass(frozen=True)
class SentFile:
    """A file in a request's body, checked with `refusal` (its name as sent)."""

    name: str
    kind: str
    data: bytes
    settings: AttachmentSettings


async def sent_file(
    request: Request,
    filename: Annotated[str, Query(min_length=1, max_length=255)],
    content_type: Annotated[str, Header(alias="Content-Type")] = "",
) -> SentFile:
    """The request's body as a file (its type in Content-Type, its name in `filename`), refused
    as `refusal` says (415 type, 413 size)."""
    settings = settings_of(request)
    kind = content_kind(content_type)
    data = await read_file(request, settings)
    problem = refusal(kind, data, settings=settings)
    if problem is not None:
        raise problem
    return SentFile(filename, kind, data, settings)


Sent = Annotated[SentFile, Depends(sent_file)]


def attachment_files(ctx: IntakeContext) -> AsyncCollection[Document]:
    """The GridFS files collection of the concerns' attachments."""
    return ctx.repo.collection.database[f"{BUCKET}.files"]


async def store(
    ctx: IntakeContext,
    settings: AttachmentSettings,
    concern_id: str,
    actor: str,
    filename: str,
    kind: str,
    data: bytes,
    *,
    attachment_id: str | None = None,
) -> AttachmentRead:
    """Attach one file, already checked with `refusal`, to a concern: 404 for an unknown
    concern, 409 past the count a concern takes. The same file again (by name and content, or
    by `attachment_id`) is kept once and answered as stored the first time."""
    doc = await ctx.repo.get_document(concern_id)
    if doc is None:
        raise Problem(404, "Concern not found", "No concern has this id.")
    files = attachment_files(ctx)
    name = named_for(safe_filename(filename), kind)
    digest = hashlib.sha256(data).hexdigest()
    same = await files.find_one(
        {"_id": attachment_id}
        if attachment_id is not None
        else {"metadata.concern_id": concern_id, "filename": name, "metadata.sha256": digest}
    )
    if same is None and attachment_id is not None:
        same = await files.find_one(
            {"metadata.concern_id": concern_id, "filename": name, "metadata.sha256": digest}
        )
    if same is not None:  # a retry (a mail taken again, a form sent twice): kept once
        return _read(same)
    if (
        await files.count_documents({"metadata.concern_id": concern_id})
        >= settings.attachments_per_concern
    ):
        raise Problem(
            409,
            "Too many files",
            f"A concern takes at most {settings.attachments_per_concern} files.",
        )
    attachment_id = attachment_id or str(uuid.uuid4())
    now = ctx.clock.now()
    metadata = {"concern_id": concern_id, "content_type": kind, "sha256": digest}
    if not await put_file(
        ctx.repo.collection.database,
        BUCKET,
        attachment_id,
        name,
        data,
        metadata={**metadata, "uploaded_by": actor},
        now=now,
    ):  # another replica attaches the same file at this moment
        raced = await files.find_one({"_id": attachment_id})
        if raced is None:
            raise Problem(409, "File being attached", "This file is being attached; try again.")
        return _read(raced)
    await ctx.repo.collection.update_one(
        {"_id": concern_id},
        {
            "$push": {
                "timeline": {
                    "id": attachment_id,
                    "kind": "attachment_added",
                    "at": now,
                    "actor": actor,
                    "attachment_id": attachment_id,
                    "filename": name,
                    "content_type": kind,
                    "size": len(data),
                }
            },
            "$inc": {"version": 1},
            "$set": {"updated_at": now},
        },
    )
    log.info(
        "attachment stored",
        extra={"concern_id": concern_id, "attachment_id": attachment_id, "size": len(data)},
    )
    stored = await files.find_one({"_id": attachment_id})
    if stored is None:  # the concern was erased while its file was stored
        raise Problem(404, "Concern not found", "No concern has this id.")
    return _read(stored)


@router.get("/v1/concerns/{concern_id}/attachments", response_model=list[AttachmentRead])
async def list_attachments(concern_id: str, ctx: Ctx, who: Reader) -> list[AttachmentRead]:
    """The files attached to a concern, oldest first."""
    doc = await ctx.repo.get_document(concern_id)
    if doc is None:
        raise Problem(404, "Concern not found", "No concern has this id.")
    check_scope(who, doc)
    files = ctx.repo.collection.database[f"{BUCKET}.files"]
    found = (
        await files.find({"metadata.concern_id": concern_id}).sort([("uploadDate", 1)]).to_list()
    )
    return [_read(f) for f in found]


@router.get(
    "/v1/concerns/{concern_id}/attachments/{attachment_id}",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        404: {"description": "unknown concern or file"},
    },
)
async def download(concern_id: str, attachment_id: str, ctx: Ctx, who: Reader) -> Response:
    """One file, as it was sent."""
    doc = await ctx.repo.get_document(concern_id)
    if doc is None:
        raise Problem(404, "Concern not found", "No concern has this id.")
    check_scope(who, doc)
    files = ctx.repo.collection.database[f"{BUCKET}.files"]
    stored = await files.find_one({"_id": attachment_id, "metadata.concern_id": concern_id})
    if stored is None:
        raise Problem(404, "File not found", "This concern has no such file.")
    try:
        stream = await _bucket(ctx).open_download_stream(attachment_id)
        data = await stream.read()
    except NoFile:
        raise Problem(404, "File not found", "This concern has no such file.") from None
    meta = _read(stored)
    name = named_for(meta.filename, meta.content_type)  # files kept before this rule too
    fallback = name.encode("ascii", "replace").decode().replace("?", "_")
    return Response(
        data,
        media_type=meta.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{fallback}"; '
            f"filename*=UTF-8''{quote(name)}",
            "Cache-Control": "no-store",
        },
    )
