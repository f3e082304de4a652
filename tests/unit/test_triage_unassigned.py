"""A re-triage into a team where no member can take the concern tells the bureau that nobody is
assigned any more (`concern.unassigned`), in the same write as the decision: intake,
escalation and notify then stop treating the former assignee as the one who works it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.triage import handlers
from services.triage.handlers import Conflict, Retriage
from shared.clock import FakeClock
from shared.events import ConcernUnassigned, Exchange, UnassignedCause
from tests.unit.test_triage_handlers_fast import T0, Triage, details

pytestmark = pytest.mark.unit


async def _everyone_away(triage: Triage, *members: str) -> None:
    for member in members:
        await handlers.set_away(
            triage.ctx, member, away=True, backup_id=None, until=None, actor="admin"
        )


async def test_a_retriage_to_a_team_with_nobody_available_tells_that_nobody_is_assigned() -> None:
    triage = Triage()
    await triage.on(details("c-1"))
    await _everyone_away(triage, "enr-lead", "enr-1")
    clock = triage.ctx.clock
    assert isinstance(clock, FakeClock)
    clock.advance(timedelta(minutes=5))
    after = await handlers.retriage(
        triage.ctx, "c-1", Retriage(reason="about enrolment", team_id="enrollment"), actor="sd-2"
    )

    assert (after["team_id"], after["assignee_id"]) == ("enrollment", None)
    assert after["history"][-1]["action"] == "unassigned"
    assert after["history"][-1]["former_assignee_id"] == "sd-1"
    told = triage.told()
    assert [e.name for e in told][-2:] == ["concern.triaged", "concern.unassigned"]
    unassigned = told[-1].parsed()
    assert isinstance(unassigned, ConcernUnassigned)
    assert unassigned.model_dump() == {
        "concern_id": "c-1",
        "team_id": "enrollment",
        "unassigned_at": unassigned.unassigned_at,
        "decided_by": "sd-2",
        "cause": UnassignedCause.NO_MEMBER_AVAILABLE,
    }
    assert unassigned.unassigned_at > T0  # later than the assignment it ends
    # a routing that tells nothing: subscribers hear it too, as they heard the assignment
    public = [e for e in triage.decisions.outbox if e.exchange is Exchange.PUBLIC]
    assert "concern.unassigned" in [e.name for e in public]
    assert await triage.loads(["sd-1"]) == {"sd-1": 0}


async def test_a_sensitive_team_with_nobody_available_tells_bureau_services_only() -> None:
    triage = Triage()
    await triage.on(details("c-1"))
    await _everyone_away(triage, "sped-lead", "sped-1")
    await handlers.retriage(
        triage.ctx,
        "c-1",
        Retriage(reason="an IEP question", team_id="special-education"),
        actor="sd-2",
    )

    assert "concern.unassigned" in [e.name for e in triage.told()]
    public = [e for e in triage.decisions.outbox if e.exchange is Exchange.PUBLIC]
    assert "concern.unassigned" not in [e.name for e in public]


async def test_no_unassignment_is_told_when_someone_in_the_new_team_takes_it_or_nobody_had_it() -> (
    None
):
    triage = Triage()
    await triage.on(details("c-1"))
    await handlers.retriage(
        triage.ctx, "c-1", Retriage(reason="the bus", team_id="transportation"), actor="sd-2"
    )
    assert "concern.unassigned" not in [e.name for e in triage.told()]

    # a concern nobody held moves to another team nobody can take: nothing to clear
    await _everyone_away(triage, "tr-1", "tr-2", "enr-lead", "enr-1")
    await triage.on(details("c-2", category="transportation"))
    decision = await triage.decisions.load("c-2")
    assert decision is not None and decision.assignee_id is None
    await handlers.retriage(
        triage.ctx, "c-2", Retriage(reason="enrolment", team_id="enrollment"), actor="sd-2"
    )
    assert "concern.unassigned" not in [e.name for e in triage.told()]


async def test_a_retriage_that_loses_a_race_leaves_the_loads_as_the_stored_decision_says() -> None:
    triage = Triage()
    await triage.on(details("c-1"))

    async def changed_meanwhile(*args: object, **kwargs: object) -> bool:
        return False  # another specialist's change was stored first

    triage.decisions.change = changed_meanwhile  # type: ignore[method-assign]
    with pytest.raises(Conflict):
        await handlers.retriage(
            triage.ctx, "c-1", Retriage(reason="the bus", team_id="transportation"), actor="sd-2"
        )
    assert await triage.loads(["sd-1", "tr-1", "tr-2"]) == {"sd-1": 1, "tr-1": 0, "tr-2": 0}
