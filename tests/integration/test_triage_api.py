"""Triage in-process on the real store and broker: rules admin, dry run, events in and out,
two triage processes on one queue, re-triage, merges, queues, away and hand-over."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from pymongo import AsyncMongoClient

from services.triage.main import create_app
from services.triage.repository import DECISIONS
from services.triage.settings import TriageSettings
from shared.events import Channel, ConcernDetailsShared, EventData, encode, envelopes
from shared.messaging.publisher import event_message
from tests.conftest import Isolation, bearer, eventually
from tests.integration.test_triage_handlers import DESK, district_with_members

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
Running = Callable[[], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def settings(mongo_url: str, amqp_url: str, isolation: Isolation, tmp_path: Path) -> TriageSettings:
    district_with_members(tmp_path)
    return TriageSettings(
        mongo_url=mongo_url,
        mongo_db=isolation.db("triage"),
        amqp_url=amqp_url,
        queue_prefix=isolation.queue_prefix,
        events_exchange=isolation.events_exchange,
        private_exchange=isolation.private_exchange,
        outbox_poll_s=0.1,
        district_config=tmp_path / "district.yaml",
    )


@pytest.fixture
def running(settings: TriageSettings, amqp: aio_pika.abc.AbstractRobustConnection) -> Running:
    """Start a triage process (its lifespan) and talk to it over HTTP in-process."""

    @asynccontextmanager
    async def start() -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            # a specialist who also administers the rules
            async with httpx.AsyncClient(
                transport=transport, base_url="http://triage", headers=bearer("specialist", "admin")
            ) as c:
                yield c

    return start


@pytest.fixture
async def triage(running: Running) -> AsyncIterator[httpx.AsyncClient]:
    async with running() as client:
        yield client


async def publish(
    amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation, data: EventData
) -> None:
    channel = await amqp.channel()
    exchange_name = (
        isolation.private_exchange
        if isinstance(data, ConcernDetailsShared)
        else isolation.events_exchange
    )
    exchange = await channel.declare_exchange(
        exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
    )
    [event] = envelopes([data], source="/bureau/intake", time=T0)
    await exchange.publish(
        event_message(encode(event), event_id=event.id, event_type=event.type),
        routing_key=event.name,
    )
    await channel.close()


def details(concern_id: str | None = None, **overrides: Any) -> ConcernDetailsShared:
    base: dict[str, Any] = {
        "concern_id": concern_id or str(uuid.uuid4()),
        "category": "other",
        "school_id": "lincoln-es",
        "channel": Channel.WEB,
        "description": f"A question about forms, reference {uuid.uuid4().hex}",
        "submitted_at": T0,
    }
    base.update(overrides)
    return ConcernDetailsShared(**base)


async def decided(client: httpx.AsyncClient, concern_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        answer = await client.get(f"/v1/concerns/{concern_id}/triage")
        return answer.json() if answer.status_code == 200 else None

    return await eventually(probe, what=f"triage of {concern_id}")


def handled(client: httpx.AsyncClient) -> int:
    """How many events the triage process behind this client handled."""
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    return int(transport.app.state.runtime.consumer.handled)  # type: ignore[attr-defined]


# --- rules admin ---------------------------------------------------------------------------


async def test_rules_are_seeded_from_the_district_at_first_start_only(running: Running) -> None:
    async with running() as triage:
        rules = (await triage.get("/v1/rules")).json()
        assert [r["id"] for r in rules] == [
            "special-education-students",
            "bullying-to-school",
            "student-left-behind",
        ]
        assert [r["position"] for r in rules] == [0, 1, 2]
        for rule in rules:
            assert (await triage.delete(f"/v1/rules/{rule['id']}")).status_code == 204
    async with running() as triage:  # a restart: the administrator's choice stands
        assert (await triage.get("/v1/rules")).json() == []


@pytest.mark.parametrize(
    ("rule", "field", "words"),
    [
        ({"id": "r", "actions": {"team": "parking"}}, "actions.team", "unknown team"),
        (
            {"id": "r", "conditions": {"pattern": "([a-z"}, "actions": {"priority": "high"}},
            "conditions.pattern",
            "regular expression",
        ),
        (
            {"id": "r", "conditions": {"schools": ["hogwarts"]}, "actions": {"priority": "high"}},
            "conditions.schools.0",
            "unknown school",
        ),
        ({"id": "r", "actions": {"priority": "urgent"}}, "actions.priority", ""),
        ({"id": "Not A Slug", "actions": {"priority": "high"}}, "id", ""),
        (
            {"id": "r", "conditions": {"colour": ["red"]}, "actions": {"priority": "high"}},
            "conditions.colour",
            "",
        ),
        ({"id": "r", "conditions": {"categories": ["safety"]}}, "actions", "must set"),
    ],
)
async def test_admin_api_refuses_invalid_rules_naming_the_field(
    triage: httpx.AsyncClient, rule: dict[str, Any], field: str, words: str
) -> None:
    answer = await triage.post("/v1/rules", json=rule)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    errors = answer.json()["errors"]
    assert [e["field"] for e in errors] == [field]
    assert words in errors[0]["message"]
    assert len((await triage.get("/v1/rules")).json()) == 3  # nothing stored


async def test_rules_can_be_added_first_changed_reordered_and_removed(
    triage: httpx.AsyncClient,
) -> None:
    new = {
        "id": "phone-to-desk",
        "position": 0,
        "conditions": {"channels": ["phone"]},
        "actions": {"team": "service-desk", "tags": ["phone"]},
    }
    created = await triage.post("/v1/rules", json=new)
    assert created.status_code == 201, created.text
    assert created.json()["position"] == 0
    assert (await triage.post("/v1/rules", json=new)).status_code == 409

    probe = {
        "category": "transportation",
        "school_id": "lincoln-es",
        "channel": "phone",
        "description": "Bus was late.",
    }
    assert (await triage.post("/v1/rules/dry-run", json=probe)).json()["rule"] == (
        "rule:phone-to-desk"
    )

    changed = await triage.put(
        "/v1/rules/phone-to-desk",
        json={"conditions": {"channels": ["phone"]}, "actions": {"team": "parking"}},
    )
    assert changed.status_code == 422
    changed = await triage.put(
        "/v1/rules/phone-to-desk",
        json={"conditions": {"channels": ["sms"]}, "actions": {"team": "service-desk"}},
    )
    assert changed.status_code == 200
    assert (await triage.post("/v1/rules/dry-run", json=probe)).json()["rule"] == (
        "category:transportation"
    )

    ids = [r["id"] for r in (await triage.get("/v1/rules")).json()]
    reordered = await triage.post("/v1/rules/reorder", json={"rule_ids": ids[::-1]})
    assert [r["id"] for r in reordered.json()] == ids[::-1]
    assert (await triage.post("/v1/rules/reorder", json={"rule_ids": ids[:2]})).status_code == 422
    assert (await triage.delete("/v1/rules/phone-to-desk")).status_code == 204
    assert (await triage.get("/v1/rules/phone-to-desk")).status_code == 404
    assert (
        await triage.put("/v1/rules/nope", json={"actions": {"priority": "low"}})
    ).status_code == 404


async def test_dry_run_says_which_rule_routes_and_why_and_changes_nothing(
    triage: httpx.AsyncClient, mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    before = (await triage.get("/v1/rules")).json()
    answer = await triage.post(
        "/v1/rules/dry-run",
        json={
            "category": "school-climate",
            "school_id": "roosevelt-ms",
            "description": "My son is bullied on the playground every day.",
        },
    )
    assert answer.status_code == 200, answer.text
    run = answer.json()
    assert run["team_id"] == "school-roosevelt-ms"
    assert run["priority"] == "critical"
    assert run["rule"] == "rule:bullying-to-school+safety-words"
    assert run["tags"] == ["bullying", "safety"]
    assert any("bully" in r for r in run["reasons"])
    assert [(c["rule_id"], c["matched"]) for c in run["considered"]] == [
        ("special-education-students", False),
        ("bullying-to-school", True),
    ]
    assert run["considered"][0]["why"]
    assert (await triage.get("/v1/rules")).json() == before
    assert await mongo[isolation.db("triage")][DECISIONS].count_documents({}) == 0


async def test_dry_run_without_a_matching_rule_shows_the_fallback(
    triage: httpx.AsyncClient,
) -> None:
    run = (
        await triage.post(
            "/v1/rules/dry-run",
            json={"category": "school-climate", "description": "A general question."},
        )
    ).json()
    assert (run["team_id"], run["rule"]) == ("service-desk", "category:school-climate:no-school")
    assert "no rule matched" in run["reasons"]


# --- events in and out, two processes -------------------------------------------------------


async def test_concern_from_the_private_exchange_is_triaged_and_announced(
    triage: httpx.AsyncClient, amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation
) -> None:
    channel = await amqp.channel()
    events = await channel.declare_exchange(
        isolation.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    tap = await channel.declare_queue(f"{isolation.queue_prefix}tap", exclusive=True)
    await tap.bind(events, routing_key="concern.*")
    data = details(
        category="transportation",
        student_flags=["special_education"],
        description="The bus left my son behind at school; nobody called.",
    )
    await publish(amqp, isolation, data)

    decision = await decided(triage, data.concern_id)
    assert (decision["team_id"], decision["priority"]) == ("special-education", "high")
    assert decision["rule"] == "rule:special-education-students"
    seen: dict[str, dict[str, Any]] = {}
    async with tap.iterator(timeout=10) as messages:
        async for message in messages:
            await message.ack()
            assert "left my son" not in message.body.decode()  # the text stays private
            seen[message.routing_key or ""] = json.loads(message.body)["data"]
            if "concern.triaged" in seen:
                break
    # Security #2: the public copy shows the category's route, never special education
    assert (seen["concern.triaged"]["team_id"], seen["concern.triaged"]["rule"]) == (
        "transportation",
        "category:transportation",
    )
    assert seen["concern.triaged"]["priority"] == "normal"
    assert "special" not in json.dumps(seen).lower()
    await channel.close()


async def test_two_triage_processes_on_one_queue_keep_members_balanced(
    running: Running, amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation
) -> None:
    async with running() as first, running() as second:
        concerns = [details() for _ in range(12)]
        await asyncio.gather(*(publish(amqp, isolation, c) for c in concerns))
        for c in concerns:
            await decided(first, c.concern_id)
        assert handled(first) > 0 and handled(second) > 0  # both processes assigned
        members = {m["id"]: m for m in (await second.get("/v1/members")).json()}
        assert [members[m]["load"] for m in DESK] == [4, 4, 4]
        assert sorted(c for m in DESK for c in members[m]["open"]) == sorted(
            c.concern_id for c in concerns
        )


# --- staff actions -------------------------------------------------------------------------


async def test_retriage_over_http_records_the_actor_and_refuses_bad_input(
    triage: httpx.AsyncClient, amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation
) -> None:
    data = details()
    await publish(amqp, isolation, data)
    await decided(triage, data.concern_id)
    url = f"/v1/concerns/{data.concern_id}/triage"

    answer = await triage.patch(
        url,
        json={"priority": "high", "reason": "family waiting"},
        headers=bearer("specialist", sub="sd-lead"),
    )
    assert answer.status_code == 200, answer.text
    after = answer.json()
    assert (after["priority"], after["decided_by"], after["rule"]) == ("high", "sd-lead", "manual")
    assert after["history"][-1]["by"] == "sd-lead"
    assert after["history"][-1]["reason"] == "family waiting"

    for body, headers, field in [
        ({"team_id": "parking", "reason": "wrong"}, {}, "team_id"),
        ({"assignee_id": "nobody", "reason": "wrong"}, {}, "assignee_id"),
        ({"reason": "nothing to do"}, {}, "body"),
        ({"priority": "urgent", "reason": "x y z"}, {}, "priority"),
        ({"priority": "low"}, {}, "reason"),
    ]:
        refused = await triage.patch(url, json=body, headers=headers)
        assert refused.status_code == 422, (body, refused.text)
        assert field in [e["field"] for e in refused.json()["errors"]], refused.text
    assert (
        await triage.patch("/v1/concerns/nope/triage", json={"priority": "low", "reason": "x y z"})
    ).status_code == 404


async def test_a_retriage_on_a_stale_etag_is_refused_and_the_colleagues_routing_kept(
    triage: httpx.AsyncClient, amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation
) -> None:
    data = details()
    await publish(amqp, isolation, data)
    await decided(triage, data.concern_id)
    url = f"/v1/concerns/{data.concern_id}/triage"
    read = await triage.get(url)
    etag = read.headers["etag"]
    assert etag == f'"{read.json()["version"]}"'

    first = await triage.patch(
        url,
        json={"priority": "high", "reason": "family waiting"},
        headers={**bearer("specialist", sub="sd-1"), "If-Match": etag},
    )
    second = await triage.patch(  # a colleague, on the page read before the first change
        url,
        json={"priority": "low", "reason": "can wait a day"},
        headers={**bearer("specialist", sub="sd-2"), "If-Match": etag},
    )
    malformed = await triage.patch(
        url,
        json={"priority": "low", "reason": "can wait a day"},
        headers={"If-Match": "version one"},
    )
    fresh = await triage.patch(
        url,
        json={"priority": "critical", "reason": "safety after all"},
        headers={"If-Match": first.headers["etag"]},
    )

    assert first.status_code == 200, first.text
    assert first.headers["etag"] != etag
    assert (second.status_code, malformed.status_code) == (412, 412)
    assert second.json()["title"] == "Decision changed meanwhile"
    assert fresh.status_code == 200, fresh.text
    assert [h.get("reason") for h in fresh.json()["history"] if h["action"] == "retriaged"] == [
        "family waiting",
        "safety after all",
    ]


async def test_merge_over_http(
    triage: httpx.AsyncClient, amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation
) -> None:
    first, dup = details(contact_key="k1"), details(contact_key="k1")
    await publish(amqp, isolation, first)
    await decided(triage, first.concern_id)
    await publish(amqp, isolation, dup)
    flagged = await decided(triage, dup.concern_id)
    assert [d["concern_id"] for d in flagged["possible_duplicates"]] == [first.concern_id]

    answer = await triage.post(
        f"/v1/concerns/{dup.concern_id}/merge",
        json={"into_concern_id": first.concern_id, "reason": "same request"},
        headers=bearer("specialist", sub="sd-1"),
    )
    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["merged_into"]) == ("merged", first.concern_id)
    refused = await triage.post(
        f"/v1/concerns/{first.concern_id}/merge",
        json={"into_concern_id": "unknown", "reason": "x y z"},
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "into_concern_id"


async def test_a_team_member_cannot_merge_into_a_concern_out_of_reach(
    triage: httpx.AsyncClient, amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation
) -> None:
    """Security #1: triage's merge took any target, and its 409 told an out-of-reach
    concern's state."""
    own = details(category="school-climate", school_id="lincoln-es")
    other = details(category="school-climate", school_id="jefferson-hs")
    for data in (own, other):
        await publish(amqp, isolation, data)
        await decided(triage, data.concern_id)
    member = bearer("team_member", sub="p-lincoln", teams=["school-lincoln-es"])
    for target in (other.concern_id, "unknown"):
        answer = await triage.post(
            f"/v1/concerns/{own.concern_id}/merge",
            headers=member,
            json={"into_concern_id": target, "reason": "duplicate"},
        )
        assert answer.status_code == 422, answer.text
        assert "you may act on" in answer.json()["detail"]
    assert (await decided(triage, own.concern_id))["status"] == "open"


async def test_queues_members_and_decisions_show_only_the_callers_concerns(
    triage: httpx.AsyncClient, amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation
) -> None:
    """Security #8: any staff role saw other schools' concerns (and their tags) in team
    queues, member lists and duplicate links."""
    lincoln = details(school_id="lincoln-es", contact_key="same-parent")
    jefferson = details(school_id="jefferson-hs", contact_key="same-parent")
    for data in (lincoln, jefferson):
        await publish(amqp, isolation, data)
        await decided(triage, data.concern_id)
    principal = bearer("principal", sub="p-lincoln", schools=["lincoln-es"])

    queue = (await triage.get("/v1/teams/service-desk/queue", headers=principal)).json()
    members = (await triage.get("/v1/members", headers=principal)).json()
    decision = (
        await triage.get(f"/v1/concerns/{lincoln.concern_id}/triage", headers=principal)
    ).json()
    admin = (await triage.get("/v1/teams/service-desk/queue", headers=bearer("admin"))).json()
    everything = (await triage.get("/v1/teams/service-desk/queue")).json()

    assert [i["concern_id"] for i in queue] == [lincoln.concern_id]
    assert jefferson.concern_id not in str(members) and lincoln.concern_id in str(members)
    assert decision["possible_duplicates"] == []
    assert admin == []  # configures the bureau, reads no case
    assert {i["concern_id"] for i in everything} >= {lincoln.concern_id, jefferson.concern_id}


async def test_team_queue_lists_open_concerns_by_priority_then_age(
    triage: httpx.AsyncClient, amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation
) -> None:
    old_low = details(submitted_at=T0)
    new_low = details(submitted_at=T0 + timedelta(hours=1))
    critical = details(
        submitted_at=T0 + timedelta(hours=2),
        description="Someone made a threat against the front office.",
    )
    for c in (new_low, critical, old_low):
        await publish(amqp, isolation, c)
        await decided(triage, c.concern_id)
    queue = (await triage.get("/v1/teams/service-desk/queue")).json()
    assert [q["concern_id"] for q in queue] == [
        critical.concern_id,
        old_low.concern_id,
        new_low.concern_id,
    ]
    assert queue[0]["priority"] == "critical"
    assert (await triage.get("/v1/teams/nope/queue")).status_code == 404


async def test_away_with_backup_and_hand_over_over_http(
    triage: httpx.AsyncClient, amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation
) -> None:
    first = details()
    await publish(amqp, isolation, first)
    assert (await decided(triage, first.concern_id))["assignee_id"] == "sd-1"

    away = await triage.put(
        "/v1/members/sd-1/away",
        json={"away": True, "backup_id": "cover"},
        headers=bearer("specialist", sub="sd-lead"),
    )
    assert away.status_code == 200, away.text
    assert (away.json()["away"], away.json()["backup_id"]) == (True, "cover")
    assert (
        await triage.put("/v1/members/sd-1/away", json={"away": True, "backup_id": "nobody"})
    ).json()["errors"][0]["field"] == "backup_id"

    handed = await triage.post("/v1/members/sd-1/handover", json={"reason": "sick"})
    assert handed.status_code == 200, handed.text
    assert handed.json() == {"member_id": "sd-1", "to": "cover", "moved": [first.concern_id]}
    moved = (await triage.get(f"/v1/concerns/{first.concern_id}/triage")).json()
    assert (moved["assignee_id"], moved["covering_for"]) == ("cover", "sd-1")
    member = (await triage.get("/v1/members/sd-1")).json()
    assert (member["load"], member["open"]) == (0, [])
    assert (await triage.post("/v1/members/ghost/handover", json={})).status_code == 404
