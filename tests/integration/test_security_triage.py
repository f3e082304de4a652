"""Issue 15 probes of triage's HTTP routes that the first fixes left open: the member view
an away change answers with, and extreme dates in it."""

# ruff: noqa: F811  (pytest fixtures imported from test_triage_api are parameters here)

from __future__ import annotations

import aio_pika
import httpx
import pytest

from tests.conftest import Isolation, bearer
from tests.integration.test_triage_api import (  # noqa: F401
    decided,
    details,
    publish,
    running,
    settings,
    triage,
)

pytestmark = pytest.mark.integration


async def test_marking_a_member_away_shows_only_the_concerns_the_caller_may_read(
    triage: httpx.AsyncClient, amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation
) -> None:
    """Security #8: the member list hid other schools' concerns, but the answer to marking
    that member away listed every one of their open concerns to an administrator, who reads
    no case."""
    concern = details(school_id="jefferson-hs")
    await publish(amqp, isolation, concern)
    assignee = (await decided(triage, concern.concern_id))["assignee_id"]
    assert assignee is not None
    admin = bearer("admin", sub="it-admin")
    away = await triage.put(
        f"/v1/members/{assignee}/away", json={"away": True, "backup_id": "cover"}, headers=admin
    )
    assert away.status_code == 200, away.text
    assert (away.json()["away"], away.json()["open"]) == (True, [])
    listed = await triage.get(f"/v1/members/{assignee}", headers=admin)
    assert listed.json()["open"] == []
    # the lead who reads every case still sees it
    lead = await triage.put(f"/v1/members/{assignee}/away", json={"away": False})
    assert concern.concern_id in lead.json()["open"]


@pytest.mark.parametrize("until", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"])
async def test_an_away_until_outside_the_storable_range_is_a_422_never_a_500(
    triage: httpx.AsyncClient, until: str
) -> None:
    """Security (low): extreme away-until values answered 500s."""
    answer = await triage.put(
        "/v1/members/sd-1/away", json={"away": True, "backup_id": "cover", "until": until}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["title"] == "Value out of range"
    assert answer.headers["x-content-type-options"] == "nosniff"


async def test_a_backup_from_another_team_reads_and_retriages_the_concerns_handed_to_them(
    triage: httpx.AsyncClient, amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation
) -> None:
    """Issue 16: a backup limited to their own team got 403 on the cases just handed to them
    (intake lets them work it; triage refused its decision, their own open list hid it)."""
    handed, other = details(school_id=None), details(school_id=None)
    for data in (handed, other):
        await publish(amqp, isolation, data)
    first = (await decided(triage, handed.concern_id))["assignee_id"]
    assert first is not None and first != (await decided(triage, other.concern_id))["assignee_id"]
    moved = await triage.post(f"/v1/members/{first}/handover", json={"to": "tr-1"})
    assert moved.json()["moved"] == [handed.concern_id]
    backup = bearer("team_member", sub="tr-1", teams=["transportation"])

    decision = await triage.get(f"/v1/concerns/{handed.concern_id}/triage", headers=backup)
    assert decision.status_code == 200, decision.text
    assert decision.json()["assignee_id"] == "tr-1"
    mine = (await triage.get("/v1/members/tr-1", headers=backup)).json()
    assert mine["open"] == [handed.concern_id]
    raised = await triage.patch(
        f"/v1/concerns/{handed.concern_id}/triage",
        json={"priority": "high", "reason": "the family called again"},
        headers=backup,
    )
    assert raised.status_code == 200, raised.text
    # the rest of the desk's work stays out of reach
    refused = await triage.get(f"/v1/concerns/{other.concern_id}/triage", headers=backup)
    assert refused.status_code == 403
    queue = (await triage.get("/v1/teams/service-desk/queue", headers=backup)).json()
    assert [i["concern_id"] for i in queue] == [handed.concern_id]


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("merge", {"into_concern_id": "x", "reason": "    "}),
        ("triage", {"priority": "high", "reason": " \n\t "}),
    ],
)
async def test_a_merge_or_retriage_with_a_blank_reason_is_refused(
    triage: httpx.AsyncClient,
    amqp: aio_pika.abc.AbstractRobustConnection,
    isolation: Isolation,
    path: str,
    payload: dict[str, str],
) -> None:
    """Security #1: a merge needs a reason (intake refuses a blank one; triage took spaces)."""
    concern = details()
    await publish(amqp, isolation, concern)
    await decided(triage, concern.concern_id)
    url = f"/v1/concerns/{concern.concern_id}/{path}"
    answer = await (triage.post if path == "merge" else triage.patch)(url, json=payload)
    assert answer.status_code == 422, answer.text
    assert "reason" in str(answer.json()["errors"])
    assert (await decided(triage, concern.concern_id))["status"] == "open"


async def test_a_hand_over_answers_only_the_moved_concerns_the_caller_may_read(
    triage: httpx.AsyncClient, amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation
) -> None:
    """Security #8: an administrator (who reads no case) handing over a member's work got
    the ids of every concern moved."""
    concern = details(school_id="jefferson-hs")
    await publish(amqp, isolation, concern)
    holder = (await decided(triage, concern.concern_id))["assignee_id"]
    admin = bearer("admin", sub="it-admin")
    moved = await triage.post(f"/v1/members/{holder}/handover", json={"to": "cover"}, headers=admin)
    assert moved.status_code == 200, moved.text
    assert (moved.json()["to"], moved.json()["moved"]) == ("cover", [])
    # it was handed over all the same
    assert (await decided(triage, concern.concern_id))["assignee_id"] == "cover"
