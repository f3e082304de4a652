"""Across the four services on the broker: a concern re-triaged into the Special Education team
while all its members are away (no backup) is left with no assignee, and its former assignee,
from another team, can no longer open the case, read its clock or its deliveries (security
review: they kept all three after the concern moved away)."""

from __future__ import annotations

import httpx
import pytest

from devtools.bureau import LocalBureau
from tests.conftest import bearer
from tests.e2e.conftest import FRONTEND, STAFF, concern_body, eventually

pytestmark = pytest.mark.e2e

ADMIN = bearer("admin", sub="e2e-admin")


async def test_the_former_assignee_loses_the_concern_once_it_moves_to_a_team_with_nobody_in(
    bureau: LocalBureau, http: httpx.AsyncClient
) -> None:
    intake, triage = bureau.url("intake"), bureau.url("triage")
    escalation, notify = bureau.url("escalation"), bureau.url("notify")
    answer = await http.post(f"{intake}/v1/concerns", json=concern_body(), headers=FRONTEND)
    assert answer.status_code == 201, answer.text
    concern_id = answer.json()["id"]

    async def assigned() -> str | None:
        decision = await http.get(f"{triage}/v1/concerns/{concern_id}/triage", headers=STAFF)
        return decision.json().get("assignee_id") if decision.status_code == 200 else None

    former = await eventually(assigned, what="the concern assigned in Transportation")
    worker = bearer("team_member", sub=former, teams=["transportation"])
    reads = {
        "case": f"{intake}/v1/concerns/{concern_id}",
        "clock": f"{escalation}/v1/clocks/{concern_id}",
        "deliveries": f"{notify}/v1/concerns/{concern_id}/deliveries",
    }

    async def statuses() -> dict[str, int]:
        return {k: (await http.get(url, headers=worker)).status_code for k, url in reads.items()}

    async def all_read() -> dict[str, int] | None:
        found = await statuses()
        return found if set(found.values()) == {200} else None

    await eventually(all_read, what="the assignee reading case, clock and deliveries")

    for member in ("sped-lead", "sped-1"):  # the whole team away, nobody covering
        away = await http.put(
            f"{triage}/v1/members/{member}/away", json={"away": True}, headers=ADMIN
        )
        assert away.status_code == 200, away.text
    moved = await http.patch(
        f"{triage}/v1/concerns/{concern_id}/triage",
        json={"reason": "an IEP transport question", "team_id": "special-education"},
        headers=STAFF,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["assignee_id"] is None

    async def all_refused() -> dict[str, int] | None:
        found = await statuses()
        return found if set(found.values()) == {403} else None

    await eventually(all_refused, what="case, clock and deliveries refused to the former assignee")
