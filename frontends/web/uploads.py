"""Files a family chose on the concern form, between the form, "check your answers" and "Send
my concern": kept by intake (its pending files), never by the web, so that whichever web
replica answers the next request continues the form.

Each form's files are kept under a form key: a keyed hash (`FORM_SECRET`) of the form's
idempotency key and the browser's CSRF cookie. Intake never learns the idempotency key, and
another browser holding it finds nothing. Intake checks each file as an attachment, bounds
what a form and all forms hold, forgets a form's files an hour after it last changed, and
attaches them to the concern only once the family sent it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from frontends.common.intake import (
    IntakeClient,
    IntakeError,
    PendingFileRead,
    PendingOutcome,
)

log = logging.getLogger(__name__)

# One kept file: its id (to remove it), its name, type and size.
PendingFile = PendingFileRead


class PendingFiles:
    """The files of forms not sent yet, kept by intake under each form's key."""

    def __init__(self, intake: IntakeClient, *, secret: str) -> None:
        self._intake = intake
        self._secret = secret.encode()

    def form_key(self, key: str, owner: str) -> str:
        """The name intake knows the form by: the idempotency key `key` bound to the browser
        `owner` (its CSRF cookie), through the web's secret."""
        return hmac.new(self._secret, f"{owner}\n{key}".encode(), hashlib.sha256).hexdigest()[:40]

    async def files(self, key: str, owner: str) -> list[PendingFile]:
        """The files kept for this form, in the order they were chosen; none while intake does
        not answer (they stay kept)."""
        try:
            return await self._intake.pending_files(self.form_key(key, owner))
        except IntakeError as exc:
            log.warning("pending files not listed", extra={"status": exc.status})
            return []

    async def add(
        self,
        key: str,
        owner: str,
        filename: str,
        content_type: str,
        data: bytes,
        *,
        client_address: str | None = None,
    ) -> PendingFile:
        """Keep one file for this form; an `IntakeError` says why intake would not (counted
        against the family's address)."""
        return await self._intake.pend_file(
            self.form_key(key, owner), filename, content_type, data, client_address=client_address
        )

    async def remove(self, key: str, owner: str, file_id: str) -> None:
        """Forget one file of this form (an unknown id changes nothing)."""
        try:
            await self._intake.unpend_file(self.form_key(key, owner), file_id)
        except IntakeError as exc:
            log.warning("pending file not removed", extra={"status": exc.status})

    async def move(self, key: str, new_key: str, owner: str) -> None:
        """The files of a form, now under the form's new idempotency key."""
        try:
            await self._intake.move_pending(
                self.form_key(key, owner), self.form_key(new_key, owner)
            )
        except IntakeError as exc:
            log.warning("pending files not moved", extra={"status": exc.status})

    async def send(self, key: str, owner: str, concern_id: str) -> list[PendingOutcome]:
        """Attach the form's files to the concern it created; what became of each. A file
        intake could not take just then stays kept: sending the form again adds it."""
        form_key = self.form_key(key, owner)
        try:
            return await self._intake.send_pending(form_key, concern_id)
        except IntakeError as exc:
            log.warning(
                "pending files not attached", extra={"concern_id": concern_id, "status": exc.status}
            )
            return [
                PendingOutcome(id=f.id, filename=f.filename, attached=False)
                for f in await self.files(key, owner)
            ]
