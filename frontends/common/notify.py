"""Notify's API as a family front door calls it: the survey of a concern whose family the
front door let in (tracking number with the access code or PIN, checked by intake), by
tracking number. Errors are typed as for intake (`frontends.common.intake`): 404 no survey
(not resolved yet), 409 already answered (by any door), 410 expired; `IntakeUnavailable` when
notify does not answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from frontends.common.intake import ServiceClient, parse, send


class Survey(BaseModel):
    """A survey's state, as notify answers it."""

    language: str
    status: str  # open, answered
    expires_at: datetime


class NotifyClient(ServiceClient):
    """Notify's API with the frontend's own token; one instance per process."""

    async def _call(
        self, method: str, path: str, json: object = None, **sent: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._token()}"}
        return await send(
            self._http, method, path, service="Notify", json=json, headers=headers, **sent
        )

    async def concern_survey(self, tracking_number: str) -> Survey:
        """The survey of a concern: `open` or `answered`; 404 until resolved, 410 expired."""
        response = await self._call("GET", self._by_tracking(tracking_number))
        found: Survey = parse(Survey, response, service="Notify")
        return found

    async def answer_concern_survey(
        self, tracking_number: str, score: int, comment: str | None = None
    ) -> None:
        """The family's one answer to their concern's survey (409 when already answered,
        by the link or another door; 410 expired)."""
        await self._call(
            "POST",
            self._by_tracking(tracking_number),
            json={"score": score, "comment": comment or None},
        )

    @staticmethod
    def _by_tracking(tracking_number: str) -> str:
        return f"/v1/concerns/by-tracking/{quote(tracking_number, safe='')}/survey"
