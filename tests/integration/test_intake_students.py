"""Student information in intake: sealed at rest, masked for staff, revealed with a reason to
those with an interest in the concern, every reveal recorded and exportable per student."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aio_pika
import httpx
import pytest
from pymongo import AsyncMongoClient

from services.intake.main import create_app
from shared.events import ConcernTriaged, Priority, encode, new_event
from shared.messaging.publisher import event_message
from tests.conftest import Isolation, bearer, eventually
from tests.integration.test_intake_api import intake_settings

pytestmark = pytest.mark.integration

NAME, STUDENT_ID = "Lucia Gonzalez", "S-778812"
SPECIALIST = bearer("specialist", sub="sd-4")
Running = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def running(
    mongo_url: str,
    amqp_url: str,
    isolation: Isolation,
    mongo: AsyncMongoClient,
    amqp: aio_pika.abc.AbstractRobustConnection,
) -> Running:
    """Start intake (again) with some settings; the store persists between starts."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = intake_settings(mongo_url, amqp_url, isolation, **overrides)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://intake"
            ) as client:
                yield client

    return start


async def submit(client: httpx.AsyncClient, school: str = "lincoln-es") -> str:
    answer = await client.post(
        "/v1/concerns",
        headers=bearer("frontend", sub="web-portal"),
        json={
            "channel": "web",
            "category": "special-education",
            "school_id": school,
            "description": "The IEP meeting was cancelled twice.",
            "student": {
                "name": NAME,
                "student_id": STUDENT_ID,
                "grade": "4",
                "special_education": True,
            },
        },
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def stored(mongo: AsyncMongoClient, isolation: Isolation, concern_id: str) -> Any:
    return await mongo[isolation.db("intake")]["concerns"].find_one({"_id": concern_id})


async def test_student_is_sealed_at_rest_and_masked_for_staff(
    running: Running, mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    async with running() as intake:
        concern_id = await submit(intake)
        case = (await intake.get(f"/v1/concerns/{concern_id}", headers=SPECIALIST)).json()
    doc = await stored(mongo, isolation, concern_id)
    assert NAME not in str(doc) and STUDENT_ID not in str(doc) and "Lucia" not in str(doc)
    assert doc["student"]["kid"] == "dev"
    assert case["has_student_information"] is True
    assert case["student"] == {
        "name": "L***a G***z",
        "student_id": "S-****12",
        "grade": "4",
        "special_education": True,
    }


async def test_reveal_needs_a_reason_and_an_interest_and_is_recorded(running: Running) -> None:
    async with running() as intake:
        concern_id = await submit(intake)
        url = f"/v1/concerns/{concern_id}/student/reveal"
        reason = {"reason": "Calling the family about the IEP meeting"}
        no_reason = await intake.post(url, json={}, headers=SPECIALIST)
        auditor = await intake.post(url, json=reason, headers=bearer("auditor"))
        other_school = await intake.post(
            url,
            json=reason,
            headers=bearer("principal", sub="pr-roosevelt", schools=["roosevelt-ms"]),
        )
        principal = await intake.post(
            url, json=reason, headers=bearer("principal", sub="pr-lincoln", schools=["lincoln-es"])
        )
        specialist = await intake.post(url, json=reason, headers=SPECIALIST)
        record = await intake.get(
            f"/v1/students/{STUDENT_ID.lower()}/disclosures", headers=bearer("ombudsperson")
        )
        specialist_export = await intake.get(
            f"/v1/students/{STUDENT_ID}/disclosures", headers=SPECIALIST
        )

    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    assert (auditor.status_code, other_school.status_code) == (403, 403)
    assert principal.status_code == specialist.status_code == 200
    assert specialist.json()["student"] == {
        "name": NAME,
        "student_id": STUDENT_ID,
        "grade": "4",
        "special_education": True,
    }
    assert specialist.headers["cache-control"] == "no-store"
    entries = record.json()["entries"]
    assert [(e["kind"], e["actor"]) for e in entries] == [
        ("collected", "web-portal"),
        ("shared", "intake"),
        ("revealed", "pr-lincoln"),
        ("revealed", "sd-4"),
    ]
    assert entries[-1]["reason"] == reason["reason"]
    assert entries[-1]["concern_id"] == concern_id
    assert entries[-1]["id"] == specialist.json()["disclosure_id"]
    assert specialist_export.status_code == 403


async def test_the_record_lists_where_a_special_education_routing_went(
    running: Running, amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation
) -> None:
    """Security #2: the disclosure record lists every place the fact went."""
    async with running() as intake:
        concern_id = await submit(intake)
        routing = new_event(
            ConcernTriaged(
                concern_id=concern_id,
                category="special-education",
                school_id="lincoln-es",
                team_id="special-education",
                team_name="Special Education Department",
                priority=Priority.HIGH,
                rule="rule:special-education-students",
                triaged_at=datetime.now(UTC),
                sensitive=True,
            ),
            source="/bureau/triage",
            subject=concern_id,
        )
        channel = await amqp.channel()
        private = await channel.get_exchange(isolation.private_exchange)
        await private.publish(
            event_message(encode(routing), event_id=routing.id, event_type=routing.type),
            routing_key=routing.name,
        )

        async def routed() -> bool:
            case = (await intake.get(f"/v1/concerns/{concern_id}", headers=SPECIALIST)).json()
            return case["team"] is not None

        await eventually(routed, what="the routing recorded on the case")
        record = await intake.get(
            f"/v1/students/{STUDENT_ID}/disclosures", headers=bearer("ombudsperson")
        )
    shared = [e for e in record.json()["entries"] if e["kind"] == "shared"]
    assert [e["recipient"] for e in shared] == ["triage", "team Special Education Department"]
    assert "private exchange" in shared[1]["reason"]


async def test_no_student_and_unknown_student_answer_plainly(running: Running) -> None:
    async with running() as intake:
        plain = await intake.post(
            "/v1/concerns",
            headers=bearer("frontend"),
            json={
                "channel": "web",
                "category": "transportation",
                "school_id": "lincoln-es",
                "description": "The bus skipped our stop three mornings this week.",
            },
        )
        revealed = await intake.post(
            f"/v1/concerns/{plain.json()['id']}/student/reveal",
            json={"reason": "checking the record"},
            headers=SPECIALIST,
        )
        nobody = await intake.get("/v1/students/S-000001/disclosures", headers=bearer("auditor"))
    assert revealed.status_code == 404
    assert (nobody.status_code, nobody.json()) == (200, {"entries": []})


async def test_plaintext_students_from_before_are_sealed_at_startup(
    running: Running, mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    async with running() as intake:
        concern_id = await submit(intake)
    concerns = mongo[isolation.db("intake")]["concerns"]
    await concerns.update_one(
        {"_id": concern_id},
        {
            "$set": {
                "student": {
                    "name": NAME,
                    "student_id": STUDENT_ID,
                    "grade": "4",
                    "special_education": True,
                }
            },
            "$unset": {"student_key": ""},
        },
    )
    async with running() as intake:
        revealed = await intake.post(
            f"/v1/concerns/{concern_id}/student/reveal",
            json={"reason": "after the upgrade"},
            headers=SPECIALIST,
        )
        record = await intake.get(
            f"/v1/students/{STUDENT_ID}/disclosures", headers=bearer("auditor")
        )
    doc = await stored(mongo, isolation, concern_id)
    assert NAME not in str(doc) and doc["student"]["kid"] == "dev"
    assert revealed.json()["student"]["name"] == NAME
    assert record.json()["entries"][0]["kind"] == "collected"


async def test_a_new_key_reseals_everything_and_old_ciphertexts_stay_readable(
    running: Running, mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    k1, k2 = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    async with running(student_data_keys=f'{{"k1": "{k1}"}}', student_data_key_id="k1") as i:
        concern_id = await submit(i)
    assert (await stored(mongo, isolation, concern_id))["student"]["kid"] == "k1"
    async with running(
        student_data_keys=f'{{"k1": "{k1}", "k2": "{k2}"}}', student_data_key_id="k2"
    ) as intake:
        revealed = await intake.post(
            f"/v1/concerns/{concern_id}/student/reveal",
            json={"reason": "after rotation"},
            headers=SPECIALIST,
        )
    assert (await stored(mongo, isolation, concern_id))["student"]["kid"] == "k2"
    assert revealed.json()["student"]["student_id"] == STUDENT_ID
    async with running(
        student_data_keys=f'{{"k2": "{k2}"}}', student_data_key_id="k2"
    ) as intake:  # k1 retired
        again = await intake.post(
            f"/v1/concerns/{concern_id}/student/reveal",
            json={"reason": "k1 is gone"},
            headers=SPECIALIST,
        )
    assert again.json()["student"]["name"] == NAME
