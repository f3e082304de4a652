"""Issue 15 probes of intake that the first fixes left open: links from a case to a family's
other concerns shown to staff who may not read those concerns, and a sensitive routing told
on the public exchange by a callback's assignee."""

# ruff: noqa: F811  (pytest fixtures imported from test_intake_api are parameters here)

from __future__ import annotations

from datetime import timedelta

import aio_pika
import httpx
import pytest

from shared.clock import FakeClock
from shared.events import ConcernAssigned, ConcernTriaged, Priority
from tests.conftest import Isolation, bearer
from tests.integration.test_intake_api import clock, drain, intake, submit, tap  # noqa: F401
from tests.integration.test_intake_events import Publish, case_when, publish  # noqa: F401

pytestmark = pytest.mark.integration


def _triaged_links(case: dict[str, object]) -> list[object]:
    timeline = case["timeline"]
    assert isinstance(timeline, list)
    return [e.get("possible_duplicate_of") for e in timeline if e["kind"] == "triaged"]


async def test_a_case_links_only_to_the_familys_concerns_the_caller_may_read(
    intake: httpx.AsyncClient, publish: Publish, clock: FakeClock
) -> None:
    """Security #8: triage hid a same-parent link to another school's concern from a
    principal, but intake's timeline of the case showed it (the principal learned that the
    family has a concern at another school, and its id)."""
    here = (await submit(intake, category="school-climate", school_id="lincoln-es"))["id"]
    there = (await submit(intake, category="school-climate", school_id="jefferson-hs"))["id"]
    also_here = (await submit(intake, category="school-climate", school_id="lincoln-es"))["id"]
    await publish(
        ConcernTriaged(
            concern_id=here,
            category="school-climate",
            school_id="lincoln-es",
            team_id="school-lincoln-es",
            team_name="Lincoln Elementary Front Office",
            priority=Priority.NORMAL,
            rule="category:school-climate",
            triaged_at=clock.now(),
            decided_by="rules",
            possible_duplicate_of=[there, also_here],
        )
    )
    everything = await case_when(intake, here, lambda c: bool(_triaged_links(c)))
    assert _triaged_links(everything) == [[there, also_here]]

    principal = bearer("principal", sub="p-lincoln", schools=["lincoln-es"])
    case = (await intake.get(f"/v1/concerns/{here}", headers=principal)).json()
    timeline = (await intake.get(f"/v1/concerns/{here}/timeline", headers=principal)).json()
    assert _triaged_links(case) == [[also_here]]
    assert _triaged_links({"timeline": timeline}) == [[also_here]]
    assert there not in str(case) and there not in str(timeline)


async def test_a_case_lists_only_the_merged_concerns_the_caller_may_read(
    intake: httpx.AsyncClient, publish: Publish, clock: FakeClock
) -> None:
    """Security #8: a concern of one school merged into one of the same team showed its id
    in `merged_from` to the other school's principal."""
    kept = (await submit(intake, category="transportation", school_id="lincoln-es"))["id"]
    merged = (await submit(intake, category="transportation", school_id="jefferson-hs"))["id"]
    for cid, school in ((kept, "lincoln-es"), (merged, "jefferson-hs")):
        await publish(_to_transportation(cid, school, clock))
        await case_when(intake, cid, lambda c: c["team"] is not None)
    answer = await intake.post(
        f"/v1/concerns/{merged}/merge", json={"into": kept, "reason": "the same bus"}
    )
    assert answer.status_code == 200, answer.text
    assert (await intake.get(f"/v1/concerns/{kept}")).json()["merged_from"] == [merged]
    principal = bearer("principal", sub="p-lincoln", schools=["lincoln-es"])
    case = (await intake.get(f"/v1/concerns/{kept}", headers=principal)).json()
    assert case["merged_from"] == []


def _to_transportation(concern_id: str, school_id: str, clock: FakeClock) -> ConcernTriaged:
    return ConcernTriaged(
        concern_id=concern_id,
        category="transportation",
        school_id=school_id,
        team_id="transportation",
        team_name="Transportation Department",
        priority=Priority.NORMAL,
        rule="category:transportation",
        triaged_at=clock.now(),
        decided_by="rules",
    )


async def test_a_callback_on_a_sensitively_routed_concern_names_no_assignee_publicly(
    intake: httpx.AsyncClient,
    publish: Publish,
    clock: FakeClock,
    amqp: aio_pika.abc.AbstractRobustConnection,
    isolation: Isolation,
) -> None:
    """Security #2: triage keeps the assignment of a special-education routing off the
    public exchange, but intake's public `concern.callback_scheduled` named the assignee
    (`sped-1`, of the Special Education Department) beside the concern id."""
    cid = (await submit(intake, category="transportation", school_id="lincoln-es"))["id"]
    now = clock.now()
    await publish(
        ConcernTriaged(
            concern_id=cid,
            category="transportation",
            school_id="lincoln-es",
            team_id="special-education",
            team_name="Special Education Department",
            priority=Priority.HIGH,
            rule="special-education-students",
            triaged_at=now,
            sensitive=True,
        )
    )
    await publish(
        ConcernAssigned(
            concern_id=cid,
            team_id="special-education",
            assignee_id="sped-1",
            assignee_name="Beth Carter",
            assigned_at=now,
        )
    )
    await case_when(intake, cid, lambda c: c["assignee"] is not None)
    public = await tap(amqp, isolation.events_exchange)
    due = (clock.now() + timedelta(hours=4)).isoformat()
    sped = bearer("specialist", sub="sped-1", teams=["special-education"])
    answer = await intake.post(f"/v1/concerns/{cid}/callbacks", json={"due_at": due}, headers=sped)
    assert answer.status_code == 200, answer.text
    assert answer.json()["callbacks"][0]["assignee_id"] == "sped-1"  # the case knows
    scheduled = (await drain(public, until="concern.callback_scheduled"))[-1]
    assert scheduled["data"]["concern_id"] == cid
    assert scheduled["data"]["assignee_id"] is None
    assert "sped" not in str(scheduled)
