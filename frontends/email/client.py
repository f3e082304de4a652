"""Intake as the email front door calls it: the shared typed client, plus messages to a
concern (`POST /v1/inbound/messages`) and attachments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from frontends.common.intake import ConcernReceipt, IntakeClient
from services.intake.inbound_schemas import InboundMessageRead


class MailIntake(Protocol):
    """What the email front door asks of intake (a fake of this shape serves tests)."""

    async def create_concern(
        self, body: Mapping[str, Any], *, idempotency_key: str, client_address: str | None = None
    ) -> ConcernReceipt: ...

    async def inbound_message(self, message: dict[str, Any]) -> InboundMessageRead: ...

    async def bounce(self, references: list[str], status: str | None) -> None: ...

    async def attach(
        self, concern_id: str, filename: str, content_type: str, data: bytes
    ) -> object: ...


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
