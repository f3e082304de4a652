"""A typed async client of the aggregates the Board dashboard reads, with the signed-in Board
member's own bearer token: escalation's Board report and standards, intake's call report,
triage's training coverage. Errors are those of `frontends.common.intake`."""

from __future__ import annotations

from typing import Any

import httpx

from frontends.common.intake import IntakeUnavailable, error_from
from frontends.common.settings import FrontendSettings


class BoardClient:
    """The Board's reads are aggregates only (no case, name or student); the training records
    (triage) are for staff who manage members."""

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
        return await self._send("GET", service, path, token, params=params)

    async def _send(
        self,
        method: str,
        service: str,
        path: str,
        token: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        if content is not None:
            headers["content-type"] = "text/csv"
        try:
            answer = await self._http[service].request(
                method, path, params=params, json=json, content=content, headers=headers
            )
        except httpx.HTTPError as exc:
            raise IntakeUnavailable(503, "Unreachable", type(exc).__name__) from None
        if answer.status_code >= 400:
            raise error_from(answer)
        return answer.json()

    async def report(
        self, token: str, first: str, last: str, *, public: bool = False
    ) -> dict[str, Any]:
        """Escalation's Board report: months `first`..`last` (YYYY-MM); `public`: small
        counts suppressed whoever reads (the printed packet)."""
        params = {"from": first, "to": last, **({"public": "true"} if public else {})}
        result: dict[str, Any] = await self._get("escalation", "/v1/board/report", token, params)
        return result

    async def call_months(
        self, token: str, first: str, last: str, *, public: bool = False
    ) -> dict[str, Any] | None:
        """Intake's calls month by month, and by school, category and team, for months
        `first`..`last` (YYYY-MM; from its monthly summaries); None where intake has none."""
        try:
            params = {"from": first, "to": last, **({"public": "true"} if public else {})}
            result: dict[str, Any] = await self._get("intake", "/v1/calls/months", token, params)
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

    async def training_needed(self, token: str) -> list[dict[str, Any]]:
        """Staff who still need the required course or the current pledge."""
        result: list[dict[str, Any]] = await self._get("triage", "/v1/training/needed", token, {})
        return result

    async def record_course(
        self, token: str, staff_id: str, course: str, completed_on: str
    ) -> None:
        await self._send(
            "PUT",
            "triage",
            f"/v1/training/{staff_id}/courses/{course}",
            token,
            json={"completed_on": completed_on},
        )

    async def record_pledge(self, token: str, staff_id: str, version: str, signed_on: str) -> None:
        await self._send(
            "PUT",
            "triage",
            f"/v1/training/{staff_id}/pledge",
            token,
            json={"version": version, "signed_on": signed_on},
        )

    async def import_training(self, token: str, text: bytes) -> dict[str, Any]:
        result: dict[str, Any] = await self._send(
            "POST", "triage", "/v1/training/import", token, content=text
        )
        return result
