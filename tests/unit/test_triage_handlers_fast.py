"""Triage's handlers and staff commands on in-memory repositories (milliseconds, no store):
routing and least-loaded assignment told in one write, redeliveries counting nothing twice,
loads following resolution and reopening, re-triage reassigning inside the new team, a merge
kept among related concerns, a hand-over to the backup."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

import pytest
import yaml

from services.triage import handlers
from services.triage.config import load_config
from services.triage.context import TriageContext
from services.triage.fakes import FakeDecisionRepository, FakeMemberRepository, FakeRuleRepository
from services.triage.handlers import Conflict, Invalid, Retriage
from shared.clock import FakeClock
from shared.district import DistrictConfig
from shared.events import (
    Channel,
    CloudEvent,
    ConcernDetailsShared,
    ConcernReopened,
    ConcernResolved,
    ConcernStatus,
    ConcernStatusChanged,
    EventData,
    Exchange,
    new_event,
)
from shared.settings import DEFAULT_DISTRICT_CONFIG

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DESK = ["sd-1", "sd-2", "sd-3"]


@cache
def district() -> DistrictConfig:
    """The example district with members in the Service Desk and Transportation teams (read
    once for the module: the model is frozen)."""
    raw = yaml.safe_load(DEFAULT_DISTRICT_CONFIG.read_text())
    for staff_id in [*DESK, "tr-1", "tr-2"]:
        raw["staff"].append({"id": staff_id, "name": f"Staff {staff_id}", "role": "specialist"})
    members = {"service-desk": DESK, "transportation": ["tr-1", "tr-2"]}
    for team in raw["teams"]:
        team["members"] = members.get(team["id"], team.get("members", []))
    return DistrictConfig.model_validate(raw)


class Triage:
    def __init__(self) -> None:
        self.decisions = FakeDecisionRepository()
        self.members = FakeMemberRepository()
        known = district()
        self.ctx = TriageContext(
            decisions=self.decisions,  # type: ignore[arg-type]  # the fakes have the interface
            rules=FakeRuleRepository(),  # type: ignore[arg-type]
            members=self.members,  # type: ignore[arg-type]
            clock=FakeClock(T0),
            district=known,
            config=load_config(known),
            source="/bureau/triage",
            published=lambda: None,
        )

    async def on(self, data: EventData) -> None:
        subject = getattr(data, "concern_id", None)
        event = new_event(data, source="/bureau/intake", subject=subject, time=T0)
        await handlers.HANDLERS.bind(self.ctx)[event.name](event, data)

    async def loads(self, ids: list[str]) -> dict[str, int]:
        return await self.members.loads(ids)

    def told(self) -> list[CloudEvent]:
        """The events bureau services get (full copies of routing events)."""
        return [e for e in self.decisions.outbox if e.exchange is Exchange.PRIVATE]


def details(
    concern_id: str, *, category: str = "other", contact_key: str | None = None
) -> ConcernDetailsShared:
    return ConcernDetailsShared(
        concern_id=concern_id,
        category=category,
        school_id="lincoln-es",
        channel=Channel.WEB,
        description=f"The question of concern {concern_id}, asked in its own words",
        contact_key=contact_key,
        submitted_at=T0,
    )


async def test_a_new_concern_is_routed_assigned_and_told_once() -> None:
    triage = Triage()
    await triage.on(details("c-1"))
    await triage.on(details("c-1"))  # redelivered
    decision = await triage.decisions.load("c-1")
    assert decision is not None
    assert (decision.team_id, decision.priority.value, decision.assignee_id) == (
        "service-desk",
        "low",
        "sd-1",
    )
    assert [e.name for e in triage.told()] == ["concern.triaged", "concern.assigned"]
    assert await triage.loads(DESK) == {"sd-1": 1, "sd-2": 0, "sd-3": 0}


async def test_concerns_go_to_the_least_loaded_member() -> None:
    triage = Triage()
    for n in range(4):
        await triage.on(details(f"c-{n}"))
    assert await triage.loads(DESK) == {"sd-1": 2, "sd-2": 1, "sd-3": 1}


async def test_a_resolved_concern_leaves_its_assignees_load_and_a_reopened_one_returns() -> None:
    triage = Triage()
    await triage.on(details("c-1"))
    await triage.on(ConcernResolved(concern_id="c-1", resolved_at=T0))
    await triage.on(ConcernResolved(concern_id="c-1", resolved_at=T0))  # redelivered
    assert (await triage.loads(["sd-1"]))["sd-1"] == 0
    await triage.on(ConcernReopened(concern_id="c-1", reopened_at=T0))
    assert (await triage.loads(["sd-1"]))["sd-1"] == 1
    decision = await triage.decisions.load("c-1")
    assert decision is not None and decision.status == "open"


async def test_a_retriage_to_another_category_reassigns_inside_its_team() -> None:
    triage = Triage()
    await triage.on(details("c-1"))
    after = await handlers.retriage(
        triage.ctx,
        "c-1",
        Retriage(reason="it is about the bus", category="transportation"),
        actor="sd-lead",
    )
    assert (after["team_id"], after["assignee_id"]) == ("transportation", "tr-1")
    assert after["history"][-2]["changes"]["team_id"] == ["service-desk", "transportation"]
    assert await triage.loads(["sd-1", "tr-1"]) == {"sd-1": 0, "tr-1": 1}
    assert [e.name for e in triage.told()][-2:] == ["concern.triaged", "concern.assigned"]


async def test_a_concern_closed_unanswered_leaves_the_queue_and_the_load_until_reopened() -> None:
    # the family never answered the request for information: intake closed it after a notice
    triage = Triage()
    await triage.on(details("c-1"))
    closed = ConcernStatusChanged(
        concern_id="c-1",
        from_status=ConcernStatus.AWAITING_REQUESTER,
        to_status=ConcernStatus.CLOSED,
        changed_at=T0,
    )
    await triage.on(closed)
    await triage.on(closed)  # redelivered
    decision = await triage.decisions.load("c-1")
    assert decision is not None and decision.status == "resolved"
    assert (await triage.loads(["sd-1"]))["sd-1"] == 0
    assert await triage.decisions.queue("service-desk", 50) == []
    # nothing else moves it: an acknowledgement is no close
    await triage.on(details("c-2"))
    await triage.on(
        ConcernStatusChanged(
            concern_id="c-2",
            from_status=ConcernStatus.RECEIVED,
            to_status=ConcernStatus.ACKNOWLEDGED,
            changed_at=T0,
        )
    )
    assert [d["_id"] for d in await triage.decisions.queue("service-desk", 50)] == ["c-2"]
    # the family reopens it within the window: back in the queue and on the load
    await triage.on(ConcernReopened(concern_id="c-1", reopened_at=T0))
    assert sorted(d["_id"] for d in await triage.decisions.queue("service-desk", 50)) == [
        "c-1",
        "c-2",
    ]
    assert (await triage.loads(["sd-1"]))["sd-1"] == 2  # c-2 went to sd-1 meanwhile


async def test_a_concern_is_not_merged_into_one_resolved_or_closed() -> None:
    triage = Triage()
    await triage.on(details("c-1"))
    await triage.on(details("c-2"))
    await triage.on(ConcernResolved(concern_id="c-1", resolved_at=T0))

    with pytest.raises(Conflict, match="resolved or closed"):
        await handlers.merge(triage.ctx, "c-2", into="c-1", reason="same bus", actor="sd-lead")
    decision = await triage.decisions.load("c-2")
    assert decision is not None and decision.status == "open"


async def test_a_merge_stays_among_concerns_of_one_school_or_team() -> None:
    triage = Triage()
    await triage.on(details("c-1"))
    await triage.on(details("c-2"))
    merged = await handlers.merge(triage.ctx, "c-2", into="c-1", reason="same", actor="sd-lead")
    assert (merged["status"], merged["merged_into"]) == ("merged", "c-1")
    assert await handlers.merge(triage.ctx, "c-2", into="c-1", reason="same", actor="sd-lead")
    with pytest.raises(Invalid):
        await handlers.merge(triage.ctx, "c-1", into="c-1", reason="self", actor="sd-lead")
    assert (await triage.loads(["sd-2"]))["sd-2"] == 0


async def test_a_handover_moves_every_open_concern_to_the_backup() -> None:
    triage = Triage()
    for n in range(4):
        await triage.on(details(f"c-{n}"))
    await handlers.set_away(
        triage.ctx, "sd-1", away=True, backup_id="sd-3", until=None, actor="sd-lead"
    )
    target, moved = await handlers.handover(
        triage.ctx, "sd-1", to=None, reason="on leave", actor="sd-lead"
    )
    assert (target, sorted(moved)) == ("sd-3", ["c-0", "c-3"])
    assert await triage.loads(DESK) == {"sd-1": 0, "sd-2": 1, "sd-3": 3}
    await triage.on(details("c-9"))  # a new concern skips the member who is away
    decision = await triage.decisions.load("c-9")
    assert decision is not None and decision.assignee_id != "sd-1"
