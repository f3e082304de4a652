"""Concerns stored before intake kept the keyed hashes of a requester's contact: intake
computes them once when it starts, so that staff find a family's older concerns by phone or
email too."""

# ruff: noqa: F811  (the pytest fixture imported from test_intake_students is a parameter here)

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from services.intake import backfills
from shared.migrations import MIGRATIONS
from tests.conftest import STAFF_ROLES, Isolation, bearer
from tests.integration.test_intake_api import body
from tests.integration.test_intake_students import Running, running  # noqa: F401

pytestmark = pytest.mark.integration

STAFF = bearer(*STAFF_ROLES, sub="agent-7")
WHY = "The family is on the phone about earlier concerns"


async def submit(intake: httpx.AsyncClient, **overrides: Any) -> str:
    answer = await intake.post("/v1/concerns", json=body(**overrides), headers=STAFF)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def found(intake: httpx.AsyncClient, requester: str) -> set[str]:
    answer = await intake.post(
        "/v1/concerns/requester-search",
        json={"requester": requester, "reason": WHY},
        headers=STAFF,
    )
    assert answer.status_code == 200, answer.text
    return {c["id"] for c in answer.json()["items"]}


async def test_concerns_stored_without_requester_keys_are_found_after_intake_starts(
    running: Running,
    mongo: AsyncMongoClient[Any],
    isolation: Isolation,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with running() as intake:
        both = await submit(intake)  # jo.park@example.org, +15555550142
        phone_only = await submit(intake, requester={"phone": "+15555550142", "language": "en"})
        anonymous = await submit(intake, requester={})
    db = mongo[isolation.db("intake")]
    # the store as an intake from before the lookup left it: no keys, no mark of the backfill
    await db["concerns"].update_many({}, {"$unset": {"requester_keys": ""}})
    await db[MIGRATIONS].delete_many({})
    monkeypatch.setattr(backfills, "BATCH", 2)  # three concerns: two batches

    async with running() as intake:
        by_email = await found(intake, "JO.PARK@example.org")
        by_phone = await found(intake, "+1 555 555 0142")

    assert by_email == {both}
    assert by_phone == {both, phone_only}
    stored = await db["concerns"].find_one({"_id": anonymous})
    assert stored is not None and stored["requester_keys"] == []
    assert await db[MIGRATIONS].find_one({"_id": "requester_keys"}) is not None
