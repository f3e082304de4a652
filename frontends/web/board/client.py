"""A typed async client of the aggregates the Board dashboard reads, with the signed-in Board
member's own bearer token: escalation's Board report and standards, intake's call report,
triage's training coverage. Errors are those of `frontends.common.intake`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from frontends.common.intake import IntakeUnavailable, error_from
from frontends.common.settings import FrontendSettings


class BoardClient:
    """Aggregates only: no route this client calls answers a case, a name or a student."""

    def __init__(
        self, settings: FrontendSettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        urls = {
            "intake": settings.intake_url,
            "triage": settings.triage_url,
            "escalation": settings.escalation_url,
        }
        self._http = {
            name: httpx.AsyncClient(
                base_url=url.rstrip("/"), transport=transport, timeout=settings.io_timeout_s
            )
            for name, url in urls.items()
        }

    async def aclose(self) -> None:
        for client in self._http.values():
            await client.aclose()

    async def _get(self, service: str, path: str, token: str, params: dict[str, str]) -> Any:
        try:
            answer = await self._http[service].get(
                path, params=params, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            raise IntakeUnavailable(503, "Unreachable", type(exc).__name__) from None
        if answer.status_code >= 400:
            raise error_from(answer)
        return answer.json()

    async def report(self, token: str, first: str, last: str) -> dict[str, Any]:
        """Escalation's Board report: months `first`..`last` (YYYY-MM)."""
        result: dict[str, Any] = await self._get(
            "escalation", "/v1/board/report", token, {"from": first, "to": last}
        )
        return result

    async def calls(self, token: str, start: datetime, end: datetime) -> dict[str, Any] | None:
        """Intake's call report for `[start, end)`; None where intake has none."""
        try:
            result: dict[str, Any] = await self._get(
                "intake",
                "/v1/calls/report",
                token,
                {"from": start.isoformat(), "to": end.isoformat()},
            )
        except IntakeUnavailable:
            raise
        except Exception:
            return None
        return result

    async def coverage(self, token: str) -> dict[str, Any] | None:
        """Triage's training and pledge coverage (counts only)."""
        try:
            result: dict[str, Any] = await self._get("triage", "/v1/training/coverage", token, {})
        except IntakeUnavailable:
            raise
        except Exception:
            return None
        return result
