"""Triage's handlers and commands on the real store (SecantusDB over TCP).

Replicas are simulated by contexts over separate client connections to the same database.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymongo import AsyncMongoClient

from services.triage import handlers
from services.triage.assignment import Strategy
from services.triage.config import load_config
from services.triage.context import TriageContext
from services.triage.handlers import Conflict, Invalid, Retriage
from services.triage.repository import (
    DECISIONS,
    DecisionRepository,
    MemberRepository,
    RuleRepository,
)
from shared.clock import FakeClock
from shared.district import DistrictConfig, load_district
from shared.events import (
    DUAL_EVENTS,
    Channel,
    CloudEvent,
    ConcernDetailsShared,
    ConcernMerged,
    ConcernReopened,
    ConcernResolved,
    EventData,
    Exchange,
    Priority,
    decode,
    encode,
    new_event,
)
from shared.settings import DEFAULT_DISTRICT_CONFIG
from tests.conftest import Isolation

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DESK = ["sd-1", "sd-2", "sd-3"]


def district_with_members(tmp_path: Path) -> DistrictConfig:
    """The example district with members in the Service Desk and Transportation teams."""
    raw = yaml.safe_load(DEFAULT_DISTRICT_CONFIG.read_text())
    for staff_id in [*DESK, "tr-1", "tr-2", "cover"]:
        raw["staff"].append({"id": staff_id, "name": f"Staff {staff_id}", "role": "specialist"})
    for team in raw["teams"]:
        if team["id"] == "service-desk":
            team["members"] = DESK
        if team["id"] == "transportation":
            team["members"] = ["tr-1", "tr-2"]
    path = tmp_path / "district.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_district(path)


@pytest.fixture
def district(tmp_path: Path) -> DistrictConfig:
    return district_with_members(tmp_path)


def context(
    client: AsyncMongoClient,
    db_name: str,
    district: DistrictConfig,
    clock: FakeClock,
    **config: Any,
) -> TriageContext:
    db = client[db_name]
    triage_config = load_config(district).model_copy(update=config)
    return TriageContext(
        decisions=DecisionRepository(db),
        rules=RuleRepository(db),
        members=MemberRepository(db),
        clock=clock,
        district=district,
        config=triage_config,
        source="/bureau/triage",
        published=lambda: None,
    )


def details(
    concern_id: str,
    *,
    category: str = "other",
    school_id: str | None = "lincoln-es",
    description: str | None = None,
    contact_key: str | None = None,
    at: datetime = T0,
    flags: list[str] | None = None,
) -> ConcernDetailsShared:
    return ConcernDetailsShared(
        concern_id=concern_id,
        category=category,
        school_id=school_id,
        channel=Channel.WEB,
        description=description or f"Question number {concern_id} about {uuid.uuid4().hex}",
        contact_key=contact_key,
        student_flags=flags or [],
        submitted_at=at,
    )


def envelope(data: EventData) -> CloudEvent:
    return new_event(
        data, source="/bureau/intake", subject=getattr(data, "concern_id", None), time=T0
    )


async def triage(ctx: TriageContext, data: ConcernDetailsShared) -> None:
    await handlers.on_details_shared(envelope(data), data, ctx=ctx)


async def outbox(
    client: AsyncMongoClient, db_name: str, concern_id: str, *, public: bool = False
) -> list[CloudEvent]:
    """The pending events of a decision as bureau services get them (full copies of routing
    events), or with `public` as outside subscribers do."""
    doc = await client[db_name][DECISIONS].find_one({"_id": concern_id}, {"outbox": 1})
    assert doc is not None
    events = [decode(bytes(e["body"])) for e in doc.get("outbox", [])]
    return [
        e
        for e in events
        if e.exchange is (Exchange.PUBLIC if public else Exchange.PRIVATE)
        or e.name not in DUAL_EVENTS
    ]


async def loads(ctx: TriageContext, ids: list[str]) -> dict[str, int]:
    return await ctx.members.loads(ids)


async def test_new_concern_is_routed_assigned_and_told_in_one_write(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    db = isolation.db("triage")
    ctx = context(mongo, db, district, FakeClock(T0))
    await triage(ctx, details("c-1"))

    decision = await ctx.decisions.get("c-1")
    assert decision is not None
    assert (decision["team_id"], decision["priority"], decision["rule"]) == (
        "service-desk",
        "low",
        "category:other",
    )
    assert decision["assignee_id"] == "sd-1"
    assert [h["action"] for h in decision["history"]] == ["routed", "assigned"]
    assert {h["by"] for h in decision["history"]} == {"rules"}
    assert "description" not in decision
    events = await outbox(mongo, db, "c-1")
    assert [e.name for e in events] == ["concern.triaged", "concern.assigned"]
    assert events[0].data["decided_by"] == "rules"
    assert events[1].data["assignee_id"] == "sd-1"


async def test_redelivered_concern_changes_nothing(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    db = isolation.db("triage")
    ctx = context(mongo, db, district, FakeClock(T0))
    data = details("c-1")
    await triage(ctx, data)
    await triage(ctx, data)
    assert await loads(ctx, DESK) == {"sd-1": 1, "sd-2": 0, "sd-3": 0}
    assert len(await outbox(mongo, db, "c-1")) == 2


async def test_safety_words_make_the_concern_critical_for_the_alert(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    db = isolation.db("triage")
    ctx = context(mongo, db, district, FakeClock(T0))
    await triage(
        ctx,
        details(
            "c-1", category="transportation", description="A student showed a knife on the bus."
        ),
    )
    triaged = (await outbox(mongo, db, "c-1"))[0]
    assert triaged.data["priority"] == "critical"
    assert triaged.data["rule"] == "category:transportation+safety-words"


@pytest.mark.parametrize("strategy", [Strategy.LEAST_LOADED, Strategy.ROUND_ROBIN])
async def test_two_replicas_assigning_at_once_keep_the_team_balanced(
    mongo: AsyncMongoClient,
    second_client: AsyncMongoClient,
    isolation: Isolation,
    district: DistrictConfig,
    strategy: Strategy,
) -> None:
    db = isolation.db("triage")
    clock = FakeClock(T0)
    a = context(mongo, db, district, clock, assignment=strategy)
    b = context(second_client, db, district, clock, assignment=strategy)
    concerns = [f"c-{i:02d}" for i in range(30)]
    await asyncio.gather(*(triage(a if i % 2 else b, details(c)) for i, c in enumerate(concerns)))

    assert await loads(a, DESK) == {"sd-1": 10, "sd-2": 10, "sd-3": 10}
    holders: Counter[str] = Counter()
    for c in concerns:
        decision = await a.decisions.get(c)
        assert decision is not None
        holders[decision["assignee_id"]] += 1
    assert holders == {"sd-1": 10, "sd-2": 10, "sd-3": 10}


async def test_no_member_gets_a_second_concern_while_another_has_none(
    mongo: AsyncMongoClient,
    second_client: AsyncMongoClient,
    isolation: Isolation,
    district: DistrictConfig,
) -> None:
    db = isolation.db("triage")
    clock = FakeClock(T0)
    a, b = context(mongo, db, district, clock), context(second_client, db, district, clock)
    await asyncio.gather(
        triage(a, details("c-1")), triage(b, details("c-2")), triage(a, details("c-3"))
    )
    assert await loads(a, DESK) == {"sd-1": 1, "sd-2": 1, "sd-3": 1}


async def test_resolution_frees_the_member_and_reopening_counts_again(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    db = isolation.db("triage")
    ctx = context(mongo, db, district, FakeClock(T0))
    await triage(ctx, details("c-1"))
    resolved = ConcernResolved(concern_id="c-1", resolved_at=T0)
    await handlers.on_resolved(envelope(resolved), resolved, ctx=ctx)
    await handlers.on_resolved(envelope(resolved), resolved, ctx=ctx)
    assert (await loads(ctx, ["sd-1"]))["sd-1"] == 0
    await triage(ctx, details("c-2"))
    decision = await ctx.decisions.get("c-2")
    assert decision is not None and decision["assignee_id"] == "sd-1"  # free again
    reopened = ConcernReopened(concern_id="c-1", reopened_at=T0)
    await handlers.on_reopened(envelope(reopened), reopened, ctx=ctx)
    assert (await loads(ctx, ["sd-1"]))["sd-1"] == 2
    c1 = await ctx.decisions.get("c-1")
    assert c1 is not None and c1["status"] == "open"


async def test_resolution_of_an_untriaged_concern_is_retried(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    ctx = context(mongo, isolation.db("triage"), district, FakeClock(T0))
    resolved = ConcernResolved(concern_id="unknown", resolved_at=T0)
    with pytest.raises(LookupError):
        await handlers.on_resolved(envelope(resolved), resolved, ctx=ctx)


async def test_away_member_new_concerns_go_to_the_backup_and_hand_over_moves_open_ones(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    db = isolation.db("triage")
    ctx = context(mongo, db, district, FakeClock(T0))
    for c in ("c-1", "c-2", "c-3", "c-4"):  # sd-1 gets c-1 and c-4
        await triage(ctx, details(c))
    await handlers.set_away(ctx, "sd-1", away=True, backup_id="cover", until=None, actor="lead")

    for c in ("c-5", "c-6", "c-7"):
        await triage(ctx, details(c))
    assigned = {
        c: (await ctx.decisions.get(c) or {}).get("assignee_id") for c in ("c-5", "c-6", "c-7")
    }
    assert "sd-1" not in assigned.values()
    assert "cover" in assigned.values()
    covered = next(c for c, who in assigned.items() if who == "cover")
    decision = await ctx.decisions.get(covered)
    assert decision is not None and decision["covering_for"] == "sd-1"

    to, moved = await handlers.handover(ctx, "sd-1", to=None, reason="on leave", actor="lead")
    assert (to, sorted(moved)) == ("cover", ["c-1", "c-4"])
    assert (await loads(ctx, ["sd-1"]))["sd-1"] == 0
    for c in ("c-1", "c-4"):
        moved_decision = await ctx.decisions.get(c)
        assert moved_decision is not None
        assert moved_decision["assignee_id"] == "cover"
        assert moved_decision["history"][-1] | {"at": None} == {
            "at": None,
            "by": "lead",
            "action": "assigned",
            "assignee_id": "cover",
            "how": "handover",
            "covering_for": "sd-1",
            "reason": "on leave",
        }
        last = (await outbox(mongo, db, c))[-1]
        assert (last.name, last.data["assignee_id"], last.data["decided_by"]) == (
            "concern.assigned",
            "cover",
            "lead",
        )
    assert await handlers.handover(ctx, "sd-1", to=None, reason=None, actor="lead") == ("cover", [])


async def test_hand_over_without_backup_asks_whom_to(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    ctx = context(mongo, isolation.db("triage"), district, FakeClock(T0))
    await ctx.members.ensure(DESK)
    with pytest.raises(Invalid) as refused:
        await handlers.handover(ctx, "sd-2", to=None, reason=None, actor="lead")
    assert refused.value.field == "to"


async def test_same_requester_within_14_days_is_flagged_as_possible_duplicate(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    db = isolation.db("triage")
    clock = FakeClock(T0)
    ctx = context(mongo, db, district, clock)
    await triage(ctx, details("first", category="transportation", contact_key="k1"))
    await triage(
        ctx,
        details("again", category="transportation", contact_key="k1", at=T0 + timedelta(days=13)),
    )
    await triage(
        ctx,
        details("later", category="transportation", contact_key="k1", at=T0 + timedelta(days=30)),
    )
    await triage(
        ctx,
        details(
            "someone-else", category="transportation", contact_key="k2", at=T0 + timedelta(days=1)
        ),
    )

    again = (await outbox(mongo, db, "again"))[0]
    assert again.data["possible_duplicate_of"] == ["first"]
    stored = await ctx.decisions.get("again")
    assert stored is not None
    assert stored["possible_duplicates"][0]["reason"] == "same_requester"
    for not_flagged in ("later", "someone-else"):
        assert (await outbox(mongo, db, not_flagged))[0].data["possible_duplicate_of"] == []


async def test_very_similar_text_is_flagged_and_different_text_is_not(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    db = isolation.db("triage")
    ctx = context(mongo, db, district, FakeClock(T0))
    text = "The crossing guard at Elm and Fifth has been missing every afternoon."
    await triage(ctx, details("first", description=text, contact_key="k1"))
    await triage(
        ctx,
        details(
            "similar",
            description="Crossing guard at Elm and Fifth missing every afternoon!",
            contact_key="k2",
        ),
    )
    await triage(
        ctx,
        details(
            "different",
            description="The crossing guard at Elm and Fifth was very kind to my son today.",
            contact_key="k3",
        ),
    )
    assert (await outbox(mongo, db, "similar"))[0].data["possible_duplicate_of"] == ["first"]
    assert (await outbox(mongo, db, "different"))[0].data["possible_duplicate_of"] == []


async def test_merge_is_published_and_frees_the_assignee(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    db = isolation.db("triage")
    ctx = context(mongo, db, district, FakeClock(T0))
    await triage(ctx, details("first"))
    await triage(ctx, details("dup"))
    merged = await handlers.merge(ctx, "dup", into="first", reason="same bus stop", actor="sd-lead")
    assert (merged["status"], merged["merged_into"]) == ("merged", "first")
    assert merged["history"][-1]["by"] == "sd-lead"
    last = (await outbox(mongo, db, "dup"))[-1]
    assert (last.name, last.data["into_concern_id"], last.data["decided_by"]) == (
        "concern.merged",
        "first",
        "sd-lead",
    )
    assert (await loads(ctx, ["sd-2"]))["sd-2"] == 0
    assert (await handlers.merge(ctx, "dup", into="first", reason="again", actor="x"))[
        "version"
    ] == merged["version"]  # asked twice: one merge
    with pytest.raises(Conflict):
        await handlers.merge(ctx, "first", into="dup", reason="loop", actor="x")
    with pytest.raises(Invalid):
        await handlers.merge(ctx, "first", into="first", reason="self", actor="x")


async def test_a_merge_stays_within_one_school_or_team(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    ctx = context(mongo, isolation.db("triage"), district, FakeClock(T0))
    await triage(ctx, details("lincoln", category="school-climate", school_id="lincoln-es"))
    await triage(ctx, details("jefferson", category="school-climate", school_id="jefferson-hs"))
    with pytest.raises(Invalid, match="same school or team"):
        await handlers.merge(ctx, "lincoln", into="jefferson", reason="dup", actor="x")


async def test_a_merge_made_in_intake_drops_the_concern_from_queue_and_load_until_reopened(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    """Security #1: intake's merge closed a concern that triage kept in its queue and load."""
    ctx = context(mongo, isolation.db("triage"), district, FakeClock(T0))
    await triage(ctx, details("first"))
    await triage(ctx, details("dup"))
    holder = (await ctx.decisions.get("dup"))["assignee_id"]  # type: ignore[index]
    merged = ConcernMerged(
        concern_id="dup", into_concern_id="first", merged_at=T0, decided_by="p-lincoln"
    )
    for _ in range(2):  # a redelivery changes nothing
        await handlers.on_merged(envelope(merged), merged, ctx=ctx)
    decision = await ctx.decisions.get("dup")
    assert decision is not None
    assert (decision["status"], decision["merged_into"]) == ("merged", "first")
    assert [h["action"] for h in decision["history"]].count("merged") == 1
    assert "dup" not in [d["_id"] for d in await ctx.decisions.queue("service-desk", 100)]
    assert "dup" not in (await ctx.members.get(holder) or {}).get("open", [])
    reopened = ConcernReopened(concern_id="dup", reopened_at=T0 + timedelta(days=1))
    await handlers.on_reopened(envelope(reopened), reopened, ctx=ctx)
    assert "dup" in [d["_id"] for d in await ctx.decisions.queue("service-desk", 100)]
    assert "dup" in (await ctx.members.get(holder) or {}).get("open", [])


async def test_a_special_education_routing_is_public_only_as_its_category_route(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    """Security #2: the public `concern.triaged` showed `team_name: Special Education
    Department` and `rule: special-education-students` beside a tracking number."""
    db = isolation.db("triage")
    ctx = context(mongo, db, district, FakeClock(T0))
    await ctx.rules.seed(ctx.config.rules)
    await triage(ctx, details("sped", category="transportation", flags=["special_education"]))
    [full, assigned] = await outbox(mongo, db, "sped")
    assert (full.data["team_id"], full.data["sensitive"]) == ("special-education", True)
    assert assigned.name == "concern.assigned"  # bureau services know who works it
    [public] = await outbox(mongo, db, "sped", public=True)  # no public assignment
    assert public.name == "concern.triaged" and not public.restricted
    assert (public.data["team_id"], public.data["team_name"], public.data["rule"]) == (
        "transportation",
        "Transportation Department",
        "category:transportation",
    )
    assert public.data["priority"] == "normal" and public.data["sensitive"] is False
    assert "special" not in encode(public).decode().lower()


async def test_duplicate_links_stay_off_the_public_copy(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    """Security #2: `possible_duplicate_of` let any subscriber group one parent's concerns."""
    db = isolation.db("triage")
    ctx = context(mongo, db, district, FakeClock(T0))
    await triage(ctx, details("first", contact_key="k1"))
    await triage(ctx, details("second", contact_key="k1"))
    assert (await outbox(mongo, db, "second"))[0].data["possible_duplicate_of"] == ["first"]
    public = await outbox(mongo, db, "second", public=True)
    assert [e.name for e in public] == ["concern.triaged", "concern.assigned"]
    assert public[0].data["possible_duplicate_of"] == []


async def test_retriage_changes_route_reassigns_and_keeps_who_and_why(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    db = isolation.db("triage")
    clock = FakeClock(T0)
    ctx = context(mongo, db, district, clock)
    await triage(ctx, details("c-1"))
    clock.advance(timedelta(minutes=5))

    after = await handlers.retriage(
        ctx,
        "c-1",
        Retriage(reason="it is about the bus", category="transportation", priority=Priority.HIGH),
        actor="sd-lead",
    )
    assert (after["category"], after["team_id"], after["priority"]) == (
        "transportation",
        "transportation",
        "high",
    )
    assert after["assignee_id"] == "tr-1"
    assert [(h["action"], h["by"]) for h in after["history"]] == [
        ("routed", "rules"),
        ("assigned", "rules"),
        ("retriaged", "sd-lead"),
        ("assigned", "sd-lead"),
    ]
    retriaged = after["history"][2]
    assert retriaged["reason"] == "it is about the bus"
    assert retriaged["changes"] == {
        "category": ["other", "transportation"],
        "team_id": ["service-desk", "transportation"],
        "priority": ["low", "high"],
    }
    assert await loads(ctx, ["sd-1", "tr-1"]) == {"sd-1": 0, "tr-1": 1}
    events = (await outbox(mongo, db, "c-1"))[2:]
    assert [(e.name, e.data["decided_by"]) for e in events] == [
        ("concern.triaged", "sd-lead"),
        ("concern.assigned", "sd-lead"),
    ]
    assert events[0].data["rule"] == "manual"

    reassigned = await handlers.retriage(
        ctx, "c-1", Retriage(reason="knows the family", assignee_id="tr-2"), actor="tr-1"
    )
    assert reassigned["assignee_id"] == "tr-2"
    assert reassigned["history"][-1]["how"] == "manual"
    assert await loads(ctx, ["tr-1", "tr-2"]) == {"tr-1": 0, "tr-2": 1}
    assert [e.name for e in (await outbox(mongo, db, "c-1"))[4:]] == ["concern.assigned"]


async def test_retriage_with_unknown_team_names_the_field(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    ctx = context(mongo, isolation.db("triage"), district, FakeClock(T0))
    await triage(ctx, details("c-1"))
    with pytest.raises(Invalid) as refused:
        await handlers.retriage(ctx, "c-1", Retriage(reason="x y z", team_id="parking"), actor="a")
    assert refused.value.field == "team_id"


def without_school_members(tmp_path: Path) -> DistrictConfig:
    """The example district, Lincoln's front office without members."""
    raw = yaml.safe_load(Path(DEFAULT_DISTRICT_CONFIG).read_text())
    for team in raw["teams"]:
        if team["id"] == "school-lincoln-es":
            team.pop("members", None)
    path = tmp_path / "bare.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_district(path)


async def test_team_without_members_leaves_the_concern_unassigned(
    mongo: AsyncMongoClient, isolation: Isolation, tmp_path: Path
) -> None:
    db = isolation.db("triage")
    ctx = context(mongo, db, without_school_members(tmp_path), FakeClock(T0))
    await triage(ctx, details("c-1", category="school-climate", school_id="lincoln-es"))
    decision = await ctx.decisions.get("c-1")
    assert decision is not None and decision["team_id"] == "school-lincoln-es"
    assert decision["assignee_id"] is None
    assert [e.name for e in await outbox(mongo, db, "c-1")] == ["concern.triaged"]


async def test_a_concern_the_school_has_not_seen_is_assigned_to_its_office_on_arrival(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    db = isolation.db("triage")
    ctx = context(mongo, db, district, FakeClock(T0))
    not_seen = details("c-1", category="enrollment", school_id="roosevelt-ms")
    await triage(ctx, not_seen.model_copy(update={"school_contacted": False}))
    decision = await ctx.decisions.get("c-1")
    assert decision is not None and decision["team_id"] == "school-roosevelt-ms"
    assert decision["assignee_id"] in {"office-roosevelt", "p-roosevelt"}
    assert [e.name for e in await outbox(mongo, db, "c-1")] == [
        "concern.triaged",
        "concern.assigned",
    ]


async def test_a_manual_priority_survives_a_later_category_change(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    ctx = context(mongo, isolation.db("triage"), district, FakeClock(T0))
    await triage(ctx, details("c-1", category="other"))
    await handlers.retriage(
        ctx,
        "c-1",
        Retriage(reason="the family is in crisis", priority=Priority.HIGH),
        actor="sd-lead",
    )
    after = await handlers.retriage(
        ctx,
        "c-1",
        Retriage(reason="it is about the bus", category="transportation"),
        actor="sd-lead",
    )
    assert (after["category"], after["team_id"], after["priority"]) == (
        "transportation",
        "transportation",
        "high",
    )


class StoresOnceBothHaveRead(DecisionRepository):
    """The real repository, whose first store waits until the other consumer got there too:
    two concerns triaged at the same moment, each read before the other is stored."""

    def __init__(self, db: Any, both_read: asyncio.Barrier) -> None:
        super().__init__(db)
        self._both_read: asyncio.Barrier | None = both_read

    async def add_first(self, decision: Any, events: Any) -> bool:
        if self._both_read is not None:
            both_read, self._both_read = self._both_read, None
            await both_read.wait()
        return await super().add_first(decision, events)


async def test_two_concerns_of_one_family_triaged_at_once_are_flagged_as_duplicates(
    mongo: AsyncMongoClient,
    second_client: AsyncMongoClient,
    isolation: Isolation,
    district: DistrictConfig,
) -> None:
    db = isolation.db("triage")
    clock = FakeClock(T0)
    both_read = asyncio.Barrier(2)
    consumers = []
    for client in (mongo, second_client):
        decisions = StoresOnceBothHaveRead(client[db], both_read)
        await decisions.ensure_indexes()  # as each replica does at start
        consumers.append(replace(context(client, db, district, clock), decisions=decisions))
    await asyncio.gather(
        triage(consumers[0], details("bus-1", category="transportation", contact_key="k1")),
        triage(
            consumers[1],
            details(
                "bus-2", category="transportation", contact_key="k1", at=T0 + timedelta(minutes=1)
            ),
        ),
    )

    flagged = {
        c: (await outbox(mongo, db, c))[0].data["possible_duplicate_of"] for c in ("bus-1", "bus-2")
    }
    # whichever was stored second names the first (before: neither saw the other)
    assert flagged in ({"bus-1": [], "bus-2": ["bus-1"]}, {"bus-1": ["bus-2"], "bus-2": []})
    # and a concern of another family triaged at the same moment is not held up or flagged
    await triage(consumers[0], details("other", category="transportation", contact_key="k2"))
    assert (await outbox(mongo, db, "other"))[0].data["possible_duplicate_of"] == []
