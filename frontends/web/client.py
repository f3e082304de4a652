"""The services the family web calls: intake (`frontends.common.intake`) and notify's
survey API (`frontends.common.notify`, with the survey link's own routes), typed."""

from __future__ import annotations

from urllib.parse import quote

from frontends.common.intake import IntakeClient, IntakeError, parse
from frontends.common.notify import NotifyClient as FamilyDoorNotify
from frontends.common.notify import Survey

__all__ = ["IntakeClient", "IntakeError", "NotifyClient", "Survey"]


class NotifyClient(FamilyDoorNotify):
    """Notify's survey API: by tracking number (the status page) and by the link's token
    (errors typed as for intake: 404 unknown, 409 answered, 410 expired)."""

    async def survey(self, token: str) -> Survey:
        response = await self._call("GET", f"/v1/surveys/{quote(token, safe='')}")
        found: Survey = parse(Survey, response, service="Notify")
        return found

    async def answer_survey(self, token: str, score: int, comment: str | None) -> None:
        await self._call(
            "POST",
            f"/v1/surveys/{quote(token, safe='')}",
            json={"score": score, "comment": comment or None},
        )
