"""Intake as the email front door calls it: the shared typed client, plus messages to a
concern (`POST /v1/inbound/messages`) and attachments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from frontends.common.intake import ConcernReceipt, IntakeClient, IntakeUnavailable, error_from
from services.intake.inbound import InboundMessageRead


class MailIntake(Protocol):
    """What the email front door asks of intake (a fake of this shape serves tests)."""

    async def create_concern(
        self, body: Mapping[str, Any], *, idempotency_key: str, client_address: str | None = None
    ) -> ConcernReceipt: ...

    async def inbound_message(self, message: dict[str, Any]) -> InboundMessageRead: ...

    async def bounce(self, references: list[str], status: str | None) -> None: ...

    async def attach(
        self, concern_id: str, filename: str, content_type: str, data: bytes
    ) -> None: ...


class EmailIntakeClient(IntakeClient):
    async def inbound_message(self, message: dict[str, Any]) -> InboundMessageRead:
        """A mail to an existing concern; `IntakeNotFound` when none matches."""
        response = await self._call("POST", "/v1/inbound/messages", json=message)
        answer: InboundMessageRead = self._parse(InboundMessageRead, response)
        return answer

    async def bounce(self, references: list[str], status: str | None) -> None:
        """Report that the bureau's mail did not arrive; `IntakeNotFound` when it names no
        mail of a concern."""
        await self._call(
            "POST", "/v1/inbound/bounces", json={"references": references, "status": status}
        )

    async def attach(self, concern_id: str, filename: str, content_type: str, data: bytes) -> None:
        """Store one file with a concern; an `IntakeError` says why it was refused."""
        try:
            response = await self._http.post(
                f"/v1/concerns/{quote(concern_id, safe='')}/attachments",
                params={"filename": filename},
                content=data,
                headers={"Authorization": f"Bearer {self._token()}", "Content-Type": content_type},
            )
        except httpx.HTTPError as exc:
            raise IntakeUnavailable(503, "Unreachable", type(exc).__name__) from None
        if response.status_code >= 400:
            raise error_from(response)
