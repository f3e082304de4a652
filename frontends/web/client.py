"""The services the family web calls: intake (`frontends.common.intake`) and notify's
survey API, typed."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from frontends.common.intake import (
    IntakeClient,
    IntakeError,
    IntakeUnavailable,
    ServiceClient,
    send,
)

__all__ = ["IntakeClient", "IntakeError", "NotifyClient", "Survey"]


class Survey(BaseModel):
    """A survey link's state, as notify answers it."""

    language: str
    status: str  # open, answered
    expires_at: datetime


class NotifyClient(ServiceClient):
    """Notify's survey API (errors typed as for intake: 404 unknown, 409 answered,
    410 expired)."""

    async def _call(self, method: str, path: str, json: object = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._token()}"}
        return await send(self._http, method, path, service="Notify", json=json, headers=headers)

    async def survey(self, token: str) -> Survey:
        response = await self._call("GET", f"/v1/surveys/{quote(token, safe='')}")
        try:
            return Survey.model_validate_json(response.content)
        except ValidationError:
            raise IntakeUnavailable(502, "Unexpected answer") from None

    async def answer_survey(self, token: str, score: int, comment: str | None) -> None:
        await self._call(
            "POST",
            f"/v1/surveys/{quote(token, safe='')}",
            json={"score": score, "comment": comment or None},
        )

    async def concern_survey(self, tracking_number: str) -> Survey:
        """The survey of a concern whose family this frontend let in (tracking number and
        access code or PIN, checked by intake); 404 until resolved, 410 expired."""
        response = await self._call("GET", self._by_tracking(tracking_number))
        try:
            return Survey.model_validate_json(response.content)
        except ValidationError:
            raise IntakeUnavailable(502, "Unexpected answer") from None

    async def answer_concern_survey(
        self, tracking_number: str, score: int, comment: str | None
    ) -> None:
        """The family's one answer to their concern's survey (409 when already answered, by
        the link or here)."""
        await self._call(
            "POST",
            self._by_tracking(tracking_number),
            json={"score": score, "comment": comment or None},
        )

    @staticmethod
    def _by_tracking(tracking_number: str) -> str:
        return f"/v1/concerns/by-tracking/{quote(tracking_number, safe='')}/survey"
