"""Intake's HTTP API in-process, on the real store and broker: answers and errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import httpx
import pytest
from pymongo import AsyncMongoClient

from services.intake.main import create_app
from services.intake.repository import ConcernRepository
from services.intake.settings import IntakeSettings
from shared.clock import FakeClock, SystemClock
from shared.outbox import FIELD as OUTBOX_FIELD
from tests.conftest import STAFF_ROLES, Isolation, bearer, eventually, next_message

pytestmark = pytest.mark.integration


def body(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "channel": "web",
        "category": "enrollment",
        "school_id": "roosevelt-ms",
        "description": "We moved and need to transfer schools mid-year.",
        "requester": {
            "name": "Jo Park",
            "email": "jo.park@example.org",
            "phone": "+15555550142",
            "language": "en",
        },
    }
    base.update(overrides)
    return base


def intake_settings(
    mongo_url: str, amqp_url: str, isolation: Isolation, **more: Any
) -> IntakeSettings:
    """Intake's settings on the test's own database, queues and exchanges."""
    return IntakeSettings(
        mongo_url=mongo_url,
        mongo_db=isolation.db("intake"),
        amqp_url=amqp_url,
        queue_prefix=isolation.queue_prefix,
        events_exchange=isolation.events_exchange,
        private_exchange=isolation.private_exchange,
        **more,
    )


@pytest.fixture
def clock() -> FakeClock:
    """Today, to the millisecond, moved only by the test."""
    return FakeClock(SystemClock().now())


@pytest.fixture
async def intake(
    mongo_url: str,
    amqp_url: str,
    isolation: Isolation,
    clock: FakeClock,
    mongo: AsyncMongoClient,
    amqp: aio_pika.abc.AbstractRobustConnection,
) -> AsyncIterator[httpx.AsyncClient]:
    """Intake in-process on the real store and broker; calls carry a token of `agent-7`, a
    phone agent who is also a specialist (submits and works every concern)."""
    settings = intake_settings(
        mongo_url, amqp_url, isolation, outbox_poll_s=0.1, retry_delays_ms=[200]
    )
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://intake",
            headers=bearer(*STAFF_ROLES, sub="agent-7"),
        ) as client:
            yield client


async def submit(intake: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    """Submit a concern; answers the receipt."""
    answer = await intake.post("/v1/concerns", json=body(**overrides))
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def tap(
    amqp: aio_pika.abc.AbstractRobustConnection, exchange: str
) -> aio_pika.abc.AbstractQueue:
    """A queue that receives every event on `exchange` from now on."""
    channel = await amqp.channel()
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, routing_key="#")
    return queue


async def drain(
    queue: aio_pika.abc.AbstractQueue, *, until: str, timeout_s: float = 10.0
) -> list[dict[str, Any]]:
    """Every event received until one of type `until` (the CloudEvents type suffix)."""
    seen: list[dict[str, Any]] = []

    async def arrived() -> bool:
        while (message := await queue.get(fail=False, no_ack=True)) is not None:
            seen.append(dict(json.loads(message.body)))
            if seen[-1]["type"] == f"org.bureau.{until}.v1":
                return True
        return False

    await eventually(arrived, timeout_s=timeout_s, what=f"a {until} event")
    return seen


async def test_submitted_concern_answers_tracking_number_and_due_time(
    intake: httpx.AsyncClient,
) -> None:
    answer = await intake.post("/v1/concerns", json=body())
    assert answer.status_code == 201
    created = answer.json()
    assert created["tracking_number"].startswith("CS-")
    assert created["status"] == "received"
    fetched = await intake.get(f"/v1/concerns/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["tracking_number"] == created["tracking_number"]


async def test_tracking_numbers_stay_unique_under_concurrent_submissions(
    intake: httpx.AsyncClient,
) -> None:
    answers = await asyncio.gather(*(intake.post("/v1/concerns", json=body()) for _ in range(20)))
    numbers = [a.json()["tracking_number"] for a in answers]
    assert len(set(numbers)) == 20


async def test_replicas_reserving_tracking_numbers_in_blocks_never_hand_out_one_twice(
    mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    db = mongo[isolation.db("intake")]
    vault = IntakeSettings().student_vault()
    replicas = [ConcernRepository(db, vault, tracking_block=5) for _ in range(3)]
    await db["counters"].insert_one({"_id": "tracking-2026", "seq": 100})  # the year is on

    numbers = await asyncio.gather(
        *(replica.next_tracking_sequence(2026) for replica in replicas for _ in range(12))
    )

    assert len(set(numbers)) == 36 and min(numbers) == 101
    # each replica counts up inside its own blocks; the year's counter moved once a block
    counter = await db["counters"].find_one({"_id": "tracking-2026"})
    assert counter is not None and counter["seq"] == 100 + 3 * 15
    assert await replicas[0].next_tracking_sequence(2027) == 1  # a new year starts again


async def test_one_replica_hands_out_every_number_of_its_blocks_without_a_gap(
    mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    repo = ConcernRepository(
        mongo[isolation.db("intake")], IntakeSettings().student_vault(), tracking_block=5
    )

    numbers = [await repo.next_tracking_sequence(2026) for _ in range(15)]

    assert numbers == list(range(1, 16))  # the last number of each block is issued too


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"channel": "fax"}, "channel"),
        ({"description": "short"}, "description"),
        ({"requester": {"email": "not-an-email"}}, "requester.email"),
        ({"requester": {"phone": "555-0100"}}, "requester.phone"),
        ({"student": {"grade": "13"}}, "student.grade"),
        ({"unexpected": True}, "unexpected"),
        ({"category": "parking"}, "category"),
        ({"school_id": "hogwarts"}, "school_id"),
    ],
)
async def test_bad_input_is_a_422_problem_naming_the_field(
    intake: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    answer = await intake.post("/v1/concerns", json=body(**change))
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["status"] == 422
    assert field in {e["field"] for e in problem["errors"]}


async def test_malformed_json_is_a_400_problem(intake: httpx.AsyncClient) -> None:
    answer = await intake.post(
        "/v1/concerns", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["title"] == "Malformed JSON body"


async def test_oversized_body_is_refused_with_413(intake: httpx.AsyncClient) -> None:
    answer = await intake.post("/v1/concerns", json=body(description="x" * 100_000))
    assert answer.status_code == 413


async def test_unknown_concern_is_a_404_problem(intake: httpx.AsyncClient) -> None:
    answer = await intake.get("/v1/concerns/does-not-exist")
    assert answer.status_code == 404
    assert answer.json()["title"] == "Concern not found"


async def test_transition_the_lifecycle_forbids_is_a_409(intake: httpx.AsyncClient) -> None:
    concern_id = (await intake.post("/v1/concerns", json=body())).json()["id"]
    answer = await intake.post(f"/v1/concerns/{concern_id}/status", json={"status": "closed"})
    assert answer.status_code == 409
    assert "cannot become closed" in answer.json()["detail"]


async def test_submission_reaches_public_and_private_exchanges_without_contact_data(
    intake: httpx.AsyncClient, amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation
) -> None:
    channel = await amqp.channel()
    public = await channel.declare_queue(exclusive=True)
    private = await channel.declare_queue(exclusive=True)
    await public.bind(isolation.events_exchange, routing_key="#")
    await private.bind(isolation.private_exchange, routing_key="#")
    concern_id = (await intake.post("/v1/concerns", json=body())).json()["id"]

    async def first(queue: aio_pika.abc.AbstractQueue) -> dict[str, Any]:
        return dict(json.loads((await next_message(queue)).body))

    submitted = await first(public)
    assert submitted["type"] == "org.bureau.concern.submitted.v1"
    assert submitted["subject"] == concern_id
    assert "jo.park@example.org" not in json.dumps(submitted)
    contact = await first(private)
    assert contact["type"] == "org.bureau.concern.contact_shared.v1"
    assert contact["data"]["requester"]["email"] == "jo.park@example.org"


async def concerns_in_store(mongo: AsyncMongoClient, isolation: Isolation) -> list[dict[str, Any]]:
    return list(await mongo[isolation.db("intake")]["concerns"].find({}).to_list())


async def test_phone_submission_records_agent_relationship_and_contact_preferences(
    intake: httpx.AsyncClient,
) -> None:
    created = await submit(
        intake,
        channel="phone",
        school_contacted=True,
        requester={
            "name": "Jo Park",
            "phone": "+15555550142",
            "relationship": "parent_guardian",
            "preferred_contact": "sms",
            "language": "es",
        },
    )
    # only a phone, and this bureau sends no SMS (SMS_UPDATES unset): no written updates
    assert created["updates_promised"] is False
    case = (await intake.get(f"/v1/concerns/{created['id']}")).json()
    assert case["taken_by"] == "agent-7"
    assert case["channel"] == "phone"
    assert case["requester_relationship"] == "parent_guardian"
    assert case["preferred_contact"] == "sms"
    assert case["school_contacted"] is True
    assert case["timeline"][0]["kind"] == "submitted"
    assert case["timeline"][0]["actor"] == "agent-7"


async def test_anonymous_requester_is_told_that_no_updates_are_promised(
    intake: httpx.AsyncClient,
) -> None:
    created = await submit(intake, requester={})
    assert created["updates_promised"] is False
    assert "cannot send you updates" in created["notice"]
    assert created["access_token"]
    case = (await intake.get(f"/v1/concerns/{created['id']}")).json()
    assert case["anonymous"] is True


async def test_access_token_is_answered_once_and_only_its_hash_is_stored(
    intake: httpx.AsyncClient, mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    created = await submit(intake)
    token = created["access_token"]
    assert len(token) >= 40
    case = await intake.get(f"/v1/concerns/{created['id']}")
    assert token not in case.text

    # The token rides the private `concern.contact_shared` to notify (the acknowledgement's
    # status link), so it sits in the concern's outbox until the relay has published it;
    # once handed over, the store keeps only its hash.
    async def handed_over() -> dict[str, Any] | None:
        [stored] = await concerns_in_store(mongo, isolation)
        return None if stored.get(OUTBOX_FIELD) else stored

    stored = await eventually(handed_over, what="the outbox relayed the concern's events")
    assert token not in json.dumps(stored, default=str)
    assert stored["access_token_hash"]


async def test_preferred_contact_without_its_address_is_a_422_naming_the_field(
    intake: httpx.AsyncClient, mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    answer = await intake.post(
        "/v1/concerns",
        json=body(requester={"name": "Jo", "phone": "+15555550142", "preferred_contact": "email"}),
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "requester.email"
    assert await concerns_in_store(mongo, isolation) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"school_contacted": "maybe"}, "school_contacted"),
        ({"requester": {"relationship": "uncle"}}, "requester.relationship"),
        ({"requester": {"preferred_contact": "pigeon"}}, "requester.preferred_contact"),
        ({"requester": {"name": "x" * 201}}, "requester.name"),
        ({"description": "x" * 5001}, "description"),
        ({"category": ""}, "category"),
    ],
)
async def test_more_bad_input_is_a_422_naming_the_field(
    intake: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    answer = await intake.post("/v1/concerns", json=body(**change))
    assert answer.status_code == 422
    assert field in {e["field"] for e in answer.json()["errors"]}


async def test_submission_needs_a_token_of_a_frontend_or_agent(intake: httpx.AsyncClient) -> None:
    anonymous = await intake.post("/v1/concerns", json=body(), headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    auditor = await intake.post("/v1/concerns", json=body(), headers=bearer("auditor"))
    assert auditor.status_code == 403
    portal = await intake.post(
        "/v1/concerns", json=body(), headers=bearer("frontend", sub="web-portal")
    )
    assert portal.status_code == 201
    case = (await intake.get(f"/v1/concerns/{portal.json()['id']}")).json()
    assert case["taken_by"] == "web-portal"


async def test_retry_with_the_same_idempotency_key_answers_the_first_concern(
    intake: httpx.AsyncClient, mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    headers = {"Idempotency-Key": "form-42-attempt"}
    first = await intake.post("/v1/concerns", json=body(), headers=headers)
    again = await intake.post("/v1/concerns", json=body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(await concerns_in_store(mongo, isolation)) == 1


async def test_an_idempotency_key_is_the_callers_own(
    intake: httpx.AsyncClient, mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    """Security (low): a second frontend reusing a key and body got the first requester's
    access token."""
    web = {"Idempotency-Key": "form-1", **bearer("frontend", sub="web-portal")}
    phone = {"Idempotency-Key": "form-1", **bearer("frontend", sub="phone-frontend")}
    first = await intake.post("/v1/concerns", json=body(), headers=web)
    other = await intake.post("/v1/concerns", json=body(), headers=phone)
    assert first.status_code == other.status_code == 201
    assert other.json()["access_token"] != first.json()["access_token"]
    assert "Idempotent-Replayed" not in other.headers
    assert len(await concerns_in_store(mongo, isolation)) == 2


async def test_concurrent_retries_with_one_key_create_one_concern(
    intake: httpx.AsyncClient, mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    headers = {"Idempotency-Key": "double-click"}
    answers = await asyncio.gather(
        *(intake.post("/v1/concerns", json=body(), headers=headers) for _ in range(8))
    )
    assert {a.status_code for a in answers} == {201}
    assert len({(a.json()["id"], a.json()["access_token"]) for a in answers}) == 1
    assert len(await concerns_in_store(mongo, isolation)) == 1


async def test_same_idempotency_key_with_another_body_is_refused_and_creates_nothing(
    intake: httpx.AsyncClient, mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    headers = {"Idempotency-Key": "k-1"}
    await intake.post("/v1/concerns", json=body(), headers=headers)
    other = await intake.post("/v1/concerns", json=body(category="transportation"), headers=headers)
    assert other.status_code == 422
    assert other.json()["title"] == "Idempotency-Key reused"
    assert "different body" in other.json()["detail"]
    assert len(await concerns_in_store(mongo, isolation)) == 1


async def test_refused_submission_with_a_key_leaves_the_key_free(
    intake: httpx.AsyncClient, mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    headers = {"Idempotency-Key": "k-2"}
    refused = await intake.post("/v1/concerns", json=body(category="parking"), headers=headers)
    assert refused.status_code == 422
    assert await mongo[isolation.db("intake")]["idempotency_keys"].count_documents({}) == 0
    assert (await intake.post("/v1/concerns", json=body(), headers=headers)).status_code == 201


async def test_idempotency_keys_expire_through_a_ttl_index(
    intake: httpx.AsyncClient, mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    indexes = await mongo[isolation.db("intake")]["idempotency_keys"].index_information()
    ttl = [i for i in indexes.values() if "expireAfterSeconds" in i]
    assert ttl and ttl[0]["key"] == [("created_at", 1)]
    assert ttl[0]["expireAfterSeconds"] == 24 * 3600


@pytest.mark.parametrize("key", ["", "x" * 256, "two words"])
async def test_a_malformed_idempotency_key_is_a_422(intake: httpx.AsyncClient, key: str) -> None:
    answer = await intake.post("/v1/concerns", json=body(), headers={"Idempotency-Key": key})
    assert answer.status_code == 422


async def test_categories_and_schools_are_named_in_english_and_spanish(
    intake: httpx.AsyncClient,
) -> None:
    categories = (await intake.get("/v1/categories")).json()
    transport = next(c for c in categories if c["id"] == "transportation")
    assert transport["name"] == {"en": "Transportation", "es": "Transporte"}
    schools = (await intake.get("/v1/schools")).json()
    assert {
        "id": "lincoln-es",
        "name": {"en": "Lincoln Elementary", "es": "Primaria Lincoln"},
    } in schools


async def test_openapi_document_describes_every_endpoint_a_frontend_needs(
    intake: httpx.AsyncClient,
) -> None:
    answer = await intake.get("/openapi.json")
    assert answer.status_code == 200
    document = answer.json()
    paths = set(document["paths"])
    assert {
        "/v1/concerns",
        "/v1/concerns/{concern_id}",
        "/v1/concerns/counts",
        "/v1/concerns/{concern_id}/timeline",
        "/v1/categories",
        "/v1/schools",
        "/v1/tracking/{tracking_number}",
        "/v1/tracking/{tracking_number}/messages",
        "/v1/tracking/{tracking_number}/reopen",
        "/open311/v2/requests.{fmt}",
    } <= paths
    for action in (
        "acknowledge",
        "request-information",
        "resume",
        "replies",
        "notes",
        "callbacks",
        "resolve",
        "reopen",
        "close",
        "merge",
        "status",
    ):
        assert f"/v1/concerns/{{concern_id}}/{action}" in paths, action
    schemas = document["components"]["schemas"]
    assert {
        "ConcernCreate",
        "ConcernReceipt",
        "ConcernRead",
        "ConcernPage",
        "RequesterView",
        "ConcernCounts",
    } <= set(schemas)
    create = document["paths"]["/v1/concerns"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in create["parameters"]}
    form = document["paths"]["/open311/v2/requests.{fmt}"]["post"]["requestBody"]
    assert "application/x-www-form-urlencoded" in form["content"]


@pytest.mark.parametrize(("language", "status"), [("hmn", 201), ("so", 201), ("english", 422)])
async def test_a_reply_language_is_a_code_of_two_or_three_letters(
    intake: httpx.AsyncClient, language: str, status: int
) -> None:
    # Hmong (`hmn`) has no two-letter code: a district that serves Hmong families adds it
    requester = {"name": "Pa Vang", "email": "pa.vang@example.org", "language": language}
    answer = await intake.post("/v1/concerns", json=body(requester=requester))

    assert answer.status_code == status, answer.text
    if status == 201:
        case = (await intake.get(f"/v1/concerns/{answer.json()['id']}")).json()
        assert case["requester_language"] == language
