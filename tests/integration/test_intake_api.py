"""Intake's HTTP API in-process, on the real store and broker: answers and errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import httpx
import pytest

from services.intake.main import create_app
from services.intake.settings import IntakeSettings
from tests.conftest import Isolation

pytestmark = pytest.mark.integration


def body(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "channel": "web", "category": "enrollment", "school_id": "roosevelt-ms",
        "description": "We moved and need to transfer schools mid-year.",
        "requester": {"name": "Jo Park", "email": "jo.park@example.org",
                      "phone": "+15555550142", "language": "en"},
    }
    base.update(overrides)
    return base


@pytest.fixture
async def intake(mongo_url: str, amqp_url: str, isolation: Isolation,
                 amqp: aio_pika.abc.AbstractRobustConnection) -> AsyncIterator[httpx.AsyncClient]:
    settings = IntakeSettings(mongo_url=mongo_url, mongo_db=isolation.db("intake"),
                              amqp_url=amqp_url, queue_prefix=isolation.queue_prefix,
                              events_exchange=isolation.events_exchange,
                              private_exchange=isolation.private_exchange, outbox_poll_s=0.1)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            yield client


async def test_submitted_concern_answers_tracking_number_and_due_time(
        intake: httpx.AsyncClient) -> None:
    answer = await intake.post("/v1/concerns", json=body())
    assert answer.status_code == 201
    created = answer.json()
    assert created["tracking_number"].startswith("CS-")
    assert created["status"] == "received"
    fetched = await intake.get(f"/v1/concerns/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["tracking_number"] == created["tracking_number"]


async def test_tracking_numbers_stay_unique_under_concurrent_submissions(
        intake: httpx.AsyncClient) -> None:
    answers = await asyncio.gather(*(intake.post("/v1/concerns", json=body())
                                     for _ in range(20)))
    numbers = [a.json()["tracking_number"] for a in answers]
    assert len(set(numbers)) == 20


@pytest.mark.parametrize(("change", "field"), [
    ({"channel": "fax"}, "channel"),
    ({"description": "short"}, "description"),
    ({"requester": {"email": "not-an-email"}}, "requester.email"),
    ({"requester": {"phone": "555-0100"}}, "requester.phone"),
    ({"student": {"grade": "13"}}, "student.grade"),
    ({"unexpected": True}, "unexpected"),
    ({"category": "parking"}, "category"),
    ({"school_id": "hogwarts"}, "school_id"),
])
async def test_bad_input_is_a_422_problem_naming_the_field(
        intake: httpx.AsyncClient, change: dict[str, Any], field: str) -> None:
    answer = await intake.post("/v1/concerns", json=body(**change))
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["status"] == 422
    assert field in {e["field"] for e in problem["errors"]}


async def test_malformed_json_is_a_400_problem(intake: httpx.AsyncClient) -> None:
    answer = await intake.post("/v1/concerns", content=b"{not json",
                               headers={"content-type": "application/json"})
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
        intake: httpx.AsyncClient, amqp: aio_pika.abc.AbstractRobustConnection,
        isolation: Isolation) -> None:
    channel = await amqp.channel()
    public = await channel.declare_queue(exclusive=True)
    private = await channel.declare_queue(exclusive=True)
    await public.bind(isolation.events_exchange, routing_key="#")
    await private.bind(isolation.private_exchange, routing_key="#")
    concern_id = (await intake.post("/v1/concerns", json=body())).json()["id"]

    async def first(queue: aio_pika.abc.AbstractQueue) -> dict[str, Any]:
        for _ in range(100):
            message = await queue.get(fail=False, no_ack=True)
            if message is not None:
                return dict(json.loads(message.body))
            await asyncio.sleep(0.1)
        raise TimeoutError("no event published")

    submitted = await first(public)
    assert submitted["type"] == "org.bureau.concern.submitted.v1"
    assert submitted["subject"] == concern_id
    assert "jo.park@example.org" not in json.dumps(submitted)
    contact = await first(private)
    assert contact["type"] == "org.bureau.concern.contact_shared.v1"
    assert contact["data"]["requester"]["email"] == "jo.park@example.org"
