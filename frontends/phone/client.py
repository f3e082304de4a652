"""The services as the phone front door calls them: one typed client, one `Bureau` protocol.

`Bureau` is what the routes need; `HttpBureau` is intake's client with the phone's calls
(the PIN, call records, inbound texts) and speaks to notify for SMS opt-outs and a resolved
concern's survey (the family front doors' `frontends.common.notify`); tests pass a fake of the
same shape.
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
    RequesterView,
)
from frontends.common.notify import NotifyClient, Survey
from frontends.common.settings import FrontendSettings
from services.intake.call_schemas import CallOutcome, CallStepCreate, RecentConcern
from services.intake.inbound_schemas import InboundMessageCreate

__all__ = [
    "Bureau",
    "CallOutcome",
    "CallStepCreate",
    "HttpBureau",
    "InboundMessageCreate",
    "RecentConcern",
    "Survey",
]

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

    async def recent_concern(self, phone: str, *, done: bool = False) -> RecentConcern | None:
        """The number's open concern (waiting on the family first); with `done`, when none is
        open, its latest resolved or closed one."""
        ...

    async def start_call(self, call_sid: str) -> None: ...

    async def call_step(self, call_sid: str, step: CallStepCreate) -> None:
        """Where the caller went (and with what outcome), as intake records it."""
        ...

    async def end_call(self, call_sid: str, duration_s: int | None) -> None: ...

    async def voicemail_callback(
        self, call_sid: str, concern_id: str, due_at: datetime
    ) -> None: ...

    async def inbound_text(self, text: InboundMessageCreate) -> None:
        """Thread a text into the sender's open concern; `IntakeNotFound` when none."""
        ...

    async def sms_opt_out(self, phone: str, opted_out: bool) -> None: ...

    async def sms_opted_out(self, phone: str) -> bool:
        """Whether notify holds this number's STOP."""
        ...

    async def concern_survey(self, tracking_number: str) -> Survey:
        """The survey of a concern the caller opened with its PIN: `open` or `answered`;
        `IntakeError` 404 until resolved, 410 expired."""
        ...

    async def answer_concern_survey(self, tracking_number: str, score: int) -> None:
        """The caller's one answer (score 1-5); `IntakeError` 409 when already answered by any
        door, 410 expired."""
        ...


class PhoneNotify(NotifyClient):
    """Notify as the phone calls it: the family front doors' survey, and SMS opt-outs."""

    async def opt_outs(self, method: str, phone: str) -> bool:
        """notify's `/v1/sms-opt-outs/{phone}`; False for its 404 (not opted out): an answer,
        not an error."""
        try:
            await self._call(method, f"/v1/sms-opt-outs/{quote(phone, safe='')}")
        except IntakeNotFound:
            return False
        return True


class HttpBureau(IntakeClient):
    """The services over HTTP: intake's client with the phone's calls, and notify for
    opt-outs."""

    def __init__(
        self, settings: FrontendSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        super().__init__(
            settings.intake_url,
            settings.token_source(),
            timeout_s=settings.io_timeout_s,
            transport=transport,
        )
        self._notify = PhoneNotify(
            settings.notify_url,
            self._token,
            timeout_s=settings.io_timeout_s,
            transport=transport,
        )

    async def aclose(self) -> None:
        await super().aclose()
        await self._notify.aclose()

    async def category_names(self, language: str) -> list[tuple[str, str]]:
        return [
            (c.id, c.name.es if language == "es" else c.name.en) for c in await self.categories()
        ]

    async def status_by_pin(self, tracking_number: str, pin: str) -> RequesterView:
        # the family's own lookup: a 6-digit secret goes as `X-Access-Pin`
        return await self.tracking(tracking_number, pin)

    async def recent_concern(self, phone: str, *, done: bool = False) -> RecentConcern | None:
        query = f"phone={quote(phone)}" + ("&done=true" if done else "")
        try:
            response = await self._call("GET", f"/v1/calls/recent-concern?{query}")
        except IntakeNotFound:
            return None
        found: RecentConcern = self._parse(RecentConcern, response)
        return found

    async def start_call(self, call_sid: str) -> None:
        await self._call("POST", "/v1/calls", json={"call_sid": call_sid})

    async def call_step(self, call_sid: str, step: CallStepCreate) -> None:
        await self._call(
            "POST",
            f"/v1/calls/{quote(call_sid, safe='')}/steps",
            json=step.model_dump(mode="json", exclude_none=True),
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

    async def inbound_text(self, text: InboundMessageCreate) -> None:
        await self._call(
            "POST", "/v1/inbound/messages", json=text.model_dump(mode="json", exclude_defaults=True)
        )

    async def sms_opt_out(self, phone: str, opted_out: bool) -> None:
        """Tell notify that this number said STOP (or START again)."""
        await self._notify.opt_outs("PUT" if opted_out else "DELETE", phone)

    async def sms_opted_out(self, phone: str) -> bool:
        return await self._notify.opt_outs("GET", phone)

    async def concern_survey(self, tracking_number: str) -> Survey:
        return await self._notify.concern_survey(tracking_number)

    async def answer_concern_survey(self, tracking_number: str, score: int) -> None:
        await self._notify.answer_concern_survey(tracking_number, score)
