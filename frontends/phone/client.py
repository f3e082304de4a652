"""The services as the phone front door calls them: one typed client, one `Bureau` protocol.

`Bureau` is what the routes need; `HttpBureau` speaks to intake (concerns, the PIN, call
records, inbound texts) and notify (SMS opt-outs); tests pass a fake of the same shape.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from frontends.common.intake import (
    ConcernReceipt,
    IntakeClient,
    IntakeNotFound,
    IntakeUnavailable,
    RequesterView,
    error_from,
)
from frontends.common.settings import FrontendSettings
from services.intake.calls import CallOutcome, RecentConcern

__all__ = ["Bureau", "CallOutcome", "HttpBureau", "RecentConcern"]

log = logging.getLogger(__name__)


class Bureau(Protocol):
    """What the phone front door asks of the services."""

    async def ready(self) -> bool: ...

    async def category_names(self, language: str) -> list[tuple[str, str]]:
        """(id, name in `language`) of each category, in the district's order."""
        ...

    async def create_concern(
        self, body: dict[str, Any], *, idempotency_key: str
    ) -> ConcernReceipt: ...

    async def status_by_pin(self, tracking_number: str, pin: str) -> RequesterView:
        """The requester's view with the PIN; `IntakeNotFound` when they do not match,
        `IntakeRateLimited` (or another `IntakeError`) when locked out."""
        ...

    async def recent_concern(self, phone: str) -> RecentConcern | None: ...

    async def start_call(self, call_sid: str) -> None: ...

    async def call_step(
        self,
        call_sid: str,
        step: str,
        *,
        language: str | None = None,
        outcome: CallOutcome | None = None,
        served_at: datetime | None = None,
        concern_id: str | None = None,
    ) -> None: ...

    async def end_call(self, call_sid: str, duration_s: int | None) -> None: ...

    async def voicemail_callback(
        self, call_sid: str, concern_id: str, due_at: datetime
    ) -> None: ...

    async def inbound_text(
        self,
        from_number: str,
        body: str,
        tracking_number: str | None = None,
        message_sid: str | None = None,
    ) -> None:
        """Thread a text into the sender's open concern; `IntakeNotFound` when none."""
        ...

    async def sms_opt_out(self, phone: str, opted_out: bool) -> None: ...


class PhoneIntake(IntakeClient):
    """Intake's client with the calls the phone front door adds."""

    async def status_by_pin(self, tracking_number: str, pin: str) -> RequesterView:
        response = await self._call(
            "GET", self._tracking_path(tracking_number), headers={"X-Access-Pin": pin}
        )
        view: RequesterView = self._parse(RequesterView, response)
        return view

    async def recent_concern(self, phone: str) -> RecentConcern | None:
        try:
            response = await self._call("GET", f"/v1/calls/recent-concern?phone={quote(phone)}")
        except IntakeNotFound:
            return None
        found: RecentConcern = self._parse(RecentConcern, response)
        return found

    async def start_call(self, call_sid: str) -> None:
        await self._call("POST", "/v1/calls", json={"call_sid": call_sid})

    async def call_step(
        self,
        call_sid: str,
        step: str,
        *,
        language: str | None = None,
        outcome: CallOutcome | None = None,
        served_at: datetime | None = None,
        concern_id: str | None = None,
    ) -> None:
        body: dict[str, Any] = {
            "step": step,
            "language": language,
            "outcome": outcome.value if outcome else None,
            "served_at": served_at.isoformat() if served_at else None,
            "concern_id": concern_id,
        }
        await self._call(
            "POST",
            f"/v1/calls/{quote(call_sid, safe='')}/steps",
            json={k: v for k, v in body.items() if v is not None},
        )

    async def end_call(self, call_sid: str, duration_s: int | None) -> None:
        await self._call(
            "POST",
            f"/v1/calls/{quote(call_sid, safe='')}/end",
            json={"duration_s": duration_s} if duration_s is not None else {},
        )

    async def voicemail_callback(self, call_sid: str, concern_id: str, due_at: datetime) -> None:
        await self._call(
            "POST",
            f"/v1/calls/{quote(call_sid, safe='')}/voicemail",
            json={"concern_id": concern_id, "callback_due_at": due_at.isoformat()},
        )

    async def inbound_text(
        self,
        from_number: str,
        body: str,
        tracking_number: str | None = None,
        message_sid: str | None = None,
    ) -> None:
        payload = {"channel": "sms", "from_address": from_number, "body": body}
        if tracking_number:
            payload["tracking_number"] = tracking_number
        if message_sid:
            payload["external_id"] = message_sid
        await self._call("POST", "/v1/inbound/messages", json=payload)


class HttpBureau:
    """The services over HTTP: intake, and notify for opt-outs."""

    def __init__(
        self, settings: FrontendSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._token = settings.token_source()
        self.intake = PhoneIntake(
            settings.intake_url, self._token, timeout_s=settings.io_timeout_s, transport=transport
        )
        self._notify = httpx.AsyncClient(
            base_url=settings.notify_url.rstrip("/"),
            timeout=settings.io_timeout_s,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self.intake.aclose()
        await self._notify.aclose()

    async def ready(self) -> bool:
        return await self.intake.ready()

    async def category_names(self, language: str) -> list[tuple[str, str]]:
        return [
            (c.id, c.name.es if language == "es" else c.name.en)
            for c in await self.intake.categories()
        ]

    async def create_concern(self, body: dict[str, Any], *, idempotency_key: str) -> ConcernReceipt:
        return await self.intake.create_concern(body, idempotency_key=idempotency_key)

    async def status_by_pin(self, tracking_number: str, pin: str) -> RequesterView:
        return await self.intake.status_by_pin(tracking_number, pin)

    async def recent_concern(self, phone: str) -> RecentConcern | None:
        return await self.intake.recent_concern(phone)

    async def start_call(self, call_sid: str) -> None:
        await self.intake.start_call(call_sid)

    async def call_step(
        self,
        call_sid: str,
        step: str,
        *,
        language: str | None = None,
        outcome: CallOutcome | None = None,
        served_at: datetime | None = None,
        concern_id: str | None = None,
    ) -> None:
        await self.intake.call_step(
            call_sid,
            step,
            language=language,
            outcome=outcome,
            served_at=served_at,
            concern_id=concern_id,
        )

    async def end_call(self, call_sid: str, duration_s: int | None) -> None:
        await self.intake.end_call(call_sid, duration_s)

    async def voicemail_callback(self, call_sid: str, concern_id: str, due_at: datetime) -> None:
        await self.intake.voicemail_callback(call_sid, concern_id, due_at)

    async def inbound_text(
        self,
        from_number: str,
        body: str,
        tracking_number: str | None = None,
        message_sid: str | None = None,
    ) -> None:
        await self.intake.inbound_text(from_number, body, tracking_number, message_sid)

    async def sms_opt_out(self, phone: str, opted_out: bool) -> None:
        """Tell notify that this number said STOP (or START again)."""
        path = f"/v1/sms-opt-outs/{quote(phone, safe='')}"
        headers = {"Authorization": f"Bearer {self._token()}"}
        try:
            response = await (
                self._notify.put(path, headers=headers)
                if opted_out
                else self._notify.delete(path, headers=headers)
            )
        except httpx.HTTPError as exc:
            raise IntakeUnavailable(503, "Unreachable", type(exc).__name__) from None
        if response.status_code >= 400 and response.status_code != 404:
            raise error_from(response)
