"""The attachments' HTTP contract: the limits a concern's files keep (and `refusal`, which
checks a file against them), a stored file as listed, and the files a form waits with until
the family confirms it. Pydantic and the standard library only: a front door imports these to
state the limits and check a file before it is sent, without intake's store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import Problem

# What a family sends: photos, scanned letters, documents. Each type with the bytes its
# files start with, so a file cannot pretend to be what it is not.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "image/heic": (b"",),
    "text/plain": (b"",),
    "application/msword": (b"\xd0\xcf\x11\xe0",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (b"PK\x03\x04",),
    "application/vnd.oasis.opendocument.text": (b"PK\x03\x04",),
}
# How a family knows each type: its common name and the endings of its files.
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "application/pdf": ("PDF", (".pdf",)),
    "image/jpeg": ("JPEG", (".jpg", ".jpeg")),
    "image/png": ("PNG", (".png",)),
    "image/gif": ("GIF", (".gif",)),
    "image/webp": ("WebP", (".webp",)),
    "image/heic": ("HEIC", (".heic",)),
    "text/plain": ("TXT", (".txt",)),
    "application/msword": ("Word", (".doc",)),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (
        "Word",
        (".docx",),
    ),
    "application/vnd.oasis.opendocument.text": ("OpenDocument", (".odt",)),
}


class AttachmentSettings(BaseSettings):
    """Limits of attachments (environment: ATTACHMENT_MAX_BYTES, ATTACHMENTS_PER_CONCERN,
    ATTACHMENT_TYPES)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    attachments_per_concern: int = Field(default=20, gt=0)
    attachment_types: list[str] = Field(default=sorted(SIGNATURES))

    def accepted(self) -> list[str]:
        """The types this bureau takes (configured and known), sorted."""
        return sorted(set(self.attachment_types) & set(SIGNATURES))


class AttachmentKind(BaseModel):
    content_type: str
    name: str
    extensions: list[str]


class AttachmentLimits(BaseModel):
    """What a frontend tells a family before it sends files, and checks them against."""

    max_bytes: int
    per_concern: int
    types: list[AttachmentKind]

    def settings(self) -> AttachmentSettings:
        """These limits as the settings `refusal` checks a file against."""
        return AttachmentSettings(
            attachment_max_bytes=self.max_bytes,
            attachments_per_concern=self.per_concern,
            attachment_types=[t.content_type for t in self.types],
        )


_KIND_ORDER = {kind: n for n, kind in enumerate(SIGNATURES)}


def limits_of(settings: AttachmentSettings) -> AttachmentLimits:
    return AttachmentLimits(
        max_bytes=settings.attachment_max_bytes,
        per_concern=settings.attachments_per_concern,
        types=[
            AttachmentKind(
                content_type=kind,
                name=KINDS.get(kind, (kind, ()))[0],
                extensions=list(KINDS.get(kind, (kind, ()))[1]),
            )
            for kind in sorted(settings.accepted(), key=lambda k: _KIND_ORDER.get(k, 99))
        ],
    )


class FileRead(BaseModel):
    """A stored file as listed: its id, name, type and size."""

    id: str
    filename: str
    content_type: str
    size: int

    @staticmethod
    def fields_of(doc: Mapping[str, Any]) -> dict[str, Any]:
        """These fields of a GridFS file document."""
        meta = doc.get("metadata") or {}
        return {
            "id": str(doc["_id"]),
            "filename": doc.get("filename") or "attachment",
            "content_type": meta.get("content_type", "application/octet-stream"),
            "size": int(doc.get("length", 0)),
        }


class AttachmentRead(FileRead):
    sha256: str
    uploaded_at: datetime
    uploaded_by: str


_FILENAME = re.compile(r"[^\w .()\-]+", re.UNICODE)


def safe_filename(name: str) -> str:
    """A file name that is safe in a header and on a disk: no path, no control characters."""
    name = name.replace("\\", "/").rpartition("/")[2]
    name = _FILENAME.sub("_", name).strip(" .") or "attachment"
    return name[:120]


def named_for(name: str, kind: str) -> str:
    """`name` ending as files of type `kind` do: a computer opens a downloaded file by its
    ending, so a family's `letter.html` taken as plain text is kept as `letter.html.txt`
    (plain text and HEIC have no first bytes to check the content against)."""
    endings = KINDS.get(kind, (kind, ()))[1]
    if not endings or name.lower().endswith(endings):
        return name
    return name[: 120 - len(endings[0])] + endings[0]


def refusal(content_type: str, data: bytes, *, settings: AttachmentSettings) -> Problem | None:
    """Why a file is refused, or None: its type, its size, or content unlike its type."""
    if content_type not in settings.attachment_types or content_type not in SIGNATURES:
        allowed = ", ".join(settings.accepted())
        return Problem(
            415,
            "File type not accepted",
            f"Files of type {content_type} are not accepted; send one of: {allowed}.",
        )
    if len(data) > settings.attachment_max_bytes:
        return Problem(
            413,
            "File too large",
            f"Files are limited to {settings.attachment_max_bytes // (1024 * 1024)} MB.",
        )
    if not data:
        return Problem(422, "Empty file", "The file is empty.")
    if not any(data.startswith(magic) for magic in SIGNATURES[content_type]):
        return Problem(415, "File type not accepted", f"The file's content is not {content_type}.")
    return None


# A form is named by a key its frontend derives (see `services.intake.pending`).
FORM_KEY = r"^[0-9a-f]{32,128}$"


class PendingFileRead(FileRead):
    """A file waiting for the family's confirmation: its id (to remove it), name, type, size."""


class PendingMove(BaseModel):
    """The form's files, now under another key (the form got a new idempotency key)."""

    to: str = Field(pattern=FORM_KEY)


class PendingSend(BaseModel):
    """The concern the form created, to which its files go."""

    concern_id: str = Field(min_length=1, max_length=64)


class PendingOutcome(BaseModel):
    """What became of one pending file on `send`: attached (with the attachment's id), or
    refused by the concern (`status` and `title` say why; the file is dropped)."""

    id: str
    filename: str
    attached: bool
    attachment_id: str | None = None
    status: int | None = None
    title: str | None = None
