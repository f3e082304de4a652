"""The services the family web calls: intake (`frontends.common.intake`) and notify's
survey API, typed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from frontends.common.intake import (
    IntakeClient,
    IntakeError,
    IntakeUnavailable,
    error_from,
)

__all__ = ["IntakeClient", "IntakeError", "NotifyClient", "Survey"]


class Survey(BaseModel):
    """A survey link's state, as notify answers it."""

    language: str
    status: str  # open, answered
    expires_at: datetime


class NotifyClient:
    """Notify's survey API (errors typed as for intake: 404 unknown, 409 answered,
    410 expired)."""

    def __init__(
        self,
        base_url: str,
        token: Callable[[], str],
        *,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._token = token
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, json: object = None) -> httpx.Response:
        try:
            response = await self._http.request(
                method, path, json=json, headers={"Authorization": f"Bearer {self._token()}"}
            )
        except httpx.HTTPError as exc:
            raise IntakeUnavailable(503, "Unreachable", type(exc).__name__) from None
        if response.status_code >= 400:
            raise error_from(response)
        return response

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
