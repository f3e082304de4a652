"""What triage keeps in memory and what it reads per concern, and why that changes no
decision: duplicates found by their keys, rules and away state cached for a few seconds,
redeliveries and concurrent deliveries counted once. Real store (SecantusDB over TCP)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from services.triage import duplicates, handlers
from services.triage.config import load_config
from services.triage.context import TriageContext
from services.triage.repository import (
    DECISIONS,
    DecisionRepository,
    MemberRepository,
    RuleRepository,
)
from services.triage.rules import Actions, Conditions, Rule
from shared.clock import FakeClock
from shared.district import DistrictConfig
from tests.conftest import Isolation
from tests.integration.test_triage_handlers import (
    DESK,
    T0,
    details,
    district_with_members,
    outbox,
    triage,
)

pytestmark = pytest.mark.integration

GUARD = "The crossing guard at Elm and Fifth has been missing every afternoon."
TO_TRANSPORTATION = Rule(
    id="other-to-transportation",
    conditions=Conditions(categories=["other"]),
    actions=Actions(team="transportation"),
)


class Monotonic:
    """A monotonic clock the test moves by hand (what the caches measure their TTL with)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def district(tmp_path: Path) -> DistrictConfig:
    return district_with_members(tmp_path)


def replica(
    client: AsyncMongoClient,
    db_name: str,
    district: DistrictConfig,
    monotonic: Monotonic | None = None,
) -> TriageContext:
    """A triage process's context; `monotonic` drives its caches."""
    db = client[db_name]
    ticks = monotonic or Monotonic()
    return TriageContext(
        decisions=DecisionRepository(db),
        rules=RuleRepository(db, monotonic=ticks),
        members=MemberRepository(db, monotonic=ticks),
        clock=FakeClock(T0),
        district=district,
        config=load_config(district),
        source="/bureau/triage",
        published=lambda: None,
    )


async def flagged(client: AsyncMongoClient, db_name: str, concern_id: str) -> list[str]:
    return (await outbox(client, db_name, concern_id))[0].data["possible_duplicate_of"]


async def test_similar_concern_is_found_among_many_unrelated_ones_reading_only_its_kin(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    db = isolation.db("triage")
    ctx = replica(mongo, db, district)
    await ctx.decisions.ensure_indexes()
    for i in range(60):
        await triage(ctx, details(f"other-{i}", contact_key=f"k{i}", at=T0 - timedelta(hours=i)))
    await triage(
        ctx, details("first", description=GUARD, contact_key="k-first", at=T0 - timedelta(days=2))
    )
    similar = "Crossing guard at Elm and Fifth missing every afternoon!"
    await triage(ctx, details("similar", description=similar, contact_key="k-similar"))

    assert await flagged(mongo, db, "similar") == ["first"]
    text = duplicates.fingerprint(similar)
    probe = duplicates.probe_keys(
        contact_key="k-similar",
        category="other",
        school_id="lincoln-es",
        text_fingerprint=text,
        threshold=0.6,
    )
    read = await ctx.decisions.earlier(probe, T0 - timedelta(days=14), T0, 200)
    assert {d["_id"] for d in read} == {"first", "similar"}  # not the 60 unrelated ones
    assert set(read[0]) == {
        "_id",
        "category",
        "school_id",
        "contact_key",
        "fingerprint",
        "submitted_at",
    }  # only what is compared


async def test_at_most_the_most_recent_concerns_are_compared(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    ctx = replica(mongo, isolation.db("triage"), district)
    for i in range(5):
        await triage(
            ctx,
            details(
                f"c-{i}", category="transportation", contact_key="k1", at=T0 + timedelta(hours=i)
            ),
        )
    key = duplicates.requester_key("k1", "transportation", "lincoln-es")
    assert key is not None
    read = await ctx.decisions.earlier([key], T0, T0 + timedelta(days=1), 3)
    assert [d["_id"] for d in read] == ["c-4", "c-3", "c-2"]


async def test_concerns_stored_before_match_keys_are_compared_once_triage_has_started(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    db = isolation.db("triage")
    ctx = replica(mongo, db, district)
    await triage(ctx, details("old", description=GUARD, contact_key="k1"))
    await triage(ctx, details("old-same-requester", category="transportation", contact_key="k2"))
    await triage(
        ctx, details("too-old", description=GUARD, contact_key="k3", at=T0 - timedelta(days=30))
    )
    await mongo[db][DECISIONS].update_many({}, {"$unset": {"match_keys": ""}})

    assert await ctx.decisions.add_match_keys(T0 - timedelta(days=14)) == 2
    assert await ctx.decisions.add_match_keys(T0 - timedelta(days=14)) == 0
    await triage(
        ctx,
        details("new", description=GUARD + " Again.", contact_key="k9", at=T0 + timedelta(days=1)),
    )
    await triage(
        ctx,
        details(
            "new-same-requester",
            category="transportation",
            contact_key="k2",
            at=T0 + timedelta(days=1),
        ),
    )
    assert await flagged(mongo, db, "new") == ["old"]
    assert await flagged(mongo, db, "new-same-requester") == ["old-same-requester"]


async def test_a_rule_changed_through_this_process_routes_its_next_concern(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    ctx = replica(mongo, isolation.db("triage"), district)
    await triage(ctx, details("before"))
    assert await ctx.rules.create(TO_TRANSPORTATION, 0)
    await triage(ctx, details("after"))
    assert await ctx.rules.delete(TO_TRANSPORTATION.id)
    await triage(ctx, details("removed"))
    teams = [(await ctx.decisions.get(c) or {})["team_id"] for c in ("before", "after", "removed")]
    assert teams == ["service-desk", "transportation", "service-desk"]


async def test_another_replica_follows_rule_and_away_changes_within_the_cache_ttl(
    mongo: AsyncMongoClient,
    second_client: AsyncMongoClient,
    isolation: Isolation,
    district: DistrictConfig,
) -> None:
    db = isolation.db("triage")
    ticks = Monotonic()
    admin, other = replica(mongo, db, district), replica(second_client, db, district, ticks)
    await triage(other, details("c-1"))  # sd-1; rules and away state now in memory
    assert await admin.rules.create(TO_TRANSPORTATION, 0)
    await handlers.set_away(admin, "sd-2", away=True, backup_id=None, until=None, actor="lead")
    await triage(other, details("c-2"))
    ticks.now += 5.0
    await triage(other, details("c-5"))

    c2, c5 = await other.decisions.get("c-2"), await other.decisions.get("c-5")
    assert c2 is not None and c5 is not None
    assert (c2["team_id"], c2["assignee_id"]) == ("service-desk", "sd-2")  # as cached
    assert c5["team_id"] == "transportation"  # after the TTL: the new rule
    await admin.rules.delete(TO_TRANSPORTATION.id)
    ticks.now += 5.0
    await triage(other, details("c-6"))
    await triage(other, details("c-7"))
    for c in ("c-6", "c-7"):  # sd-2 is away: the other two share the desk's concerns
        decision = await other.decisions.get(c)
        assert decision is not None and decision["assignee_id"] in {"sd-1", "sd-3"}


async def test_redelivery_after_a_crash_between_claim_and_decision_keeps_the_first_member(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    db = isolation.db("triage")
    ctx = replica(mongo, db, district)
    await ctx.members.add("sd-2", "c-1")  # the first attempt counted it, then died
    await triage(ctx, details("c-1"))
    decision = await ctx.decisions.get("c-1")
    assert decision is not None and decision["assignee_id"] == "sd-2"
    loads = await ctx.members.loads(DESK)
    assert {m: loads.get(m, 0) for m in DESK} == {"sd-1": 0, "sd-2": 1, "sd-3": 0}
    assert [e.name for e in await outbox(mongo, db, "c-1")] == [
        "concern.triaged",
        "concern.assigned",
    ]


async def test_a_crash_between_noting_a_member_and_counting_the_concern_lets_redelivery_choose(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    db = isolation.db("triage")
    ctx = replica(mongo, db, district)
    await ctx.members.ensure(DESK)
    # the first attempt noted sd-2 and died before counting: sd-2 does not hold it
    await mongo[db]["holders"].insert_one({"_id": "c-1", "member_id": "sd-2"})
    assert await ctx.members.holder("c-1") is None
    await triage(ctx, details("c-1"))
    decision = await ctx.decisions.get("c-1")
    assert decision is not None
    assert await ctx.members.holder("c-1") == decision["assignee_id"]
    assert sum((await ctx.members.loads(DESK)).values()) == 1


async def test_the_index_over_open_lists_an_earlier_version_made_is_dropped_at_startup(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    db = isolation.db("triage")
    await mongo[db]["members"].create_index("open")
    await replica(mongo, db, district).members.ensure_indexes()
    assert "open_1" not in await mongo[db]["members"].index_information()


async def test_one_concern_delivered_to_two_replicas_at_once_is_counted_once(
    mongo: AsyncMongoClient,
    second_client: AsyncMongoClient,
    isolation: Isolation,
    district: DistrictConfig,
) -> None:
    db = isolation.db("triage")
    a, b = replica(mongo, db, district), replica(second_client, db, district)
    for i in range(5):
        data = details(f"c-{i}")
        await asyncio.gather(triage(a, data), triage(b, data))
        decision = await a.decisions.get(f"c-{i}")
        assert decision is not None
        assert (await a.members.holder(f"c-{i}")) == decision["assignee_id"]
        assert len(await outbox(mongo, db, f"c-{i}")) == 2
    assert sum((await a.members.loads(DESK)).values()) == 5
