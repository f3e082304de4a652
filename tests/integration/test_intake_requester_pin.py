"""The requester's secrets in-process: a 6-digit PIN beside the access token (stored only as
keyed hashes, locked after repeated wrong tries), the token reaching notify on the private
exchange only, and no promise of updates to a requester the bureau cannot write to."""

# ruff: noqa: F811  (pytest fixtures imported from test_intake_api are parameters here)

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta
from typing import Any

import aio_pika
import httpx
import pytest
from pymongo import AsyncMongoClient

from frontends.common.intake import PIN_LOCKED_TYPE
from services.intake import access
from services.intake.api import receipt
from shared.clock import FakeClock
from tests.conftest import Isolation, eventually
from tests.integration.test_intake_api import body, clock, drain, intake, submit, tap  # noqa: F401

pytestmark = pytest.mark.integration


async def status_with_pin(intake: httpx.AsyncClient, tracking: str, pin: str) -> httpx.Response:
    return await intake.get(f"/v1/tracking/{tracking}", headers={"X-Access-Pin": pin})


def wrong(pin: str) -> str:
    return f"{(int(pin) + 1) % 1_000_000:06d}"


async def test_every_concern_gets_a_six_digit_pin_that_opens_status_messages_and_reopen(
    intake: httpx.AsyncClient,
) -> None:
    created = await submit(intake)
    assert created["pin"].isdigit() and len(created["pin"]) == 6
    pin = {"X-Access-Pin": created["pin"]}
    tracking = created["tracking_number"]

    status = await intake.get(f"/v1/tracking/{tracking}", headers=pin)
    message = await intake.post(
        f"/v1/tracking/{tracking}/messages",
        headers=pin,
        json={"message": "The bus came late again today."},
    )
    await intake.post(f"/v1/concerns/{created['id']}/resolve", json={"summary": "Route fixed."})
    reopened = await intake.post(f"/v1/tracking/{tracking}/reopen", headers=pin)

    assert status.status_code == 200 and status.json()["tracking_number"] == tracking
    assert message.status_code == 200, message.text
    assert reopened.status_code == 200 and reopened.json()["status"] == "reopened"


async def test_a_retried_submission_answers_the_same_pin(intake: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": "retry-pin-1"}
    first = await intake.post("/v1/concerns", json=body(), headers=key)
    again = await intake.post("/v1/concerns", json=body(), headers=key)

    assert first.json()["pin"] == again.json()["pin"]
    assert first.json()["access_token"] == again.json()["access_token"]


def values(document: object) -> list[str]:
    """Every scalar stored in a document, as text."""
    if isinstance(document, dict):
        return [v for item in document.values() for v in values(item)]
    if isinstance(document, list):
        return [v for item in document for v in values(item)]
    return [str(document)]


async def test_pin_and_token_are_stored_only_as_hashes_a_store_reader_cannot_reverse(
    intake: httpx.AsyncClient, mongo: AsyncMongoClient, isolation: Isolation
) -> None:
    created = await submit(intake)
    concerns = mongo[isolation.db("intake")]["concerns"]

    async def published() -> dict[str, Any] | None:
        stored = await concerns.find_one({"_id": created["id"]})
        return stored if stored is not None and not stored.get("outbox") else None

    # the token leaves with the private event: wait for the relay
    stored = await eventually(published, what="the relay to publish the private event")
    kept = values(stored)

    assert created["pin"] not in kept
    assert not any(created["access_token"] in v for v in kept)
    # a plain hash of six digits would be found by trying all million: the PIN's is keyed
    candidates = {
        hashlib.sha256(v.encode()).hexdigest()
        for v in (created["pin"], f"{created['id']}:{created['pin']}")
    }
    assert stored["pin_hash"] and stored["pin_hash"] not in candidates


async def test_a_wrong_pin_answers_exactly_like_an_unknown_tracking_number(
    intake: httpx.AsyncClient,
) -> None:
    created = await submit(intake)
    bad = await status_with_pin(intake, created["tracking_number"], wrong(created["pin"]))
    unknown = await status_with_pin(intake, "CS-1999-000001", created["pin"])
    garbage = await status_with_pin(intake, created["tracking_number"], "12ab")

    assert bad.status_code == unknown.status_code == garbage.status_code == 404
    assert bad.json() | {"instance": None} == unknown.json() | {"instance": None}


async def test_pin_locks_after_five_wrong_tries_even_for_the_right_one_until_the_lockout_ends(
    intake: httpx.AsyncClient, clock: FakeClock
) -> None:
    created = await submit(intake)
    tracking, pin = created["tracking_number"], created["pin"]
    for _ in range(access.PIN_ATTEMPTS):
        assert (await status_with_pin(intake, tracking, wrong(pin))).status_code == 404

    locked = await status_with_pin(intake, tracking, pin)
    token_still_works = await intake.get(
        f"/v1/tracking/{tracking}", headers={"X-Access-Token": created["access_token"]}
    )
    clock.advance(timedelta(seconds=access.PIN_LOCKOUT_S + 1))
    after_lockout = await status_with_pin(intake, tracking, pin)

    assert locked.status_code == 429
    # its own problem type: the family web says "PIN locked", not "too many requests"
    assert locked.json()["type"] == PIN_LOCKED_TYPE
    assert 0 < int(locked.headers["Retry-After"]) <= access.PIN_LOCKOUT_S
    assert token_still_works.status_code == 200
    assert after_lockout.status_code == 200


async def test_right_pin_resets_the_count_of_wrong_ones(intake: httpx.AsyncClient) -> None:
    created = await submit(intake)
    tracking, pin = created["tracking_number"], created["pin"]
    for _ in range(2):
        for _ in range(access.PIN_ATTEMPTS - 1):
            assert (await status_with_pin(intake, tracking, wrong(pin))).status_code == 404
        assert (await status_with_pin(intake, tracking, pin)).status_code == 200


async def test_missing_token_and_pin_is_a_422_naming_the_header(intake: httpx.AsyncClient) -> None:
    created = await submit(intake)
    answer = await intake.get(f"/v1/tracking/{created['tracking_number']}")
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "header.X-Access-Token"


async def test_the_token_and_the_pin_travel_to_notify_on_the_private_exchange_only(
    intake: httpx.AsyncClient, amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation
) -> None:
    private = await tap(amqp, isolation.private_exchange)
    public = await tap(amqp, isolation.events_exchange)
    created = await submit(intake)

    shared = [
        e
        for e in await drain(private, until="concern.contact_shared")
        if e["type"] == "org.bureau.concern.contact_shared.v1"
    ]
    published = await drain(public, until="concern.submitted")

    assert shared[-1]["data"]["access_token"] == created["access_token"]
    # the acknowledgement tells a family who wrote by email or text the PIN it was given
    assert shared[-1]["data"]["pin"] == created["pin"]
    assert created["access_token"] not in json.dumps(published)
    assert created["pin"] not in json.dumps([e["data"] for e in published])


def stored(requester: dict[str, object]) -> dict[str, object]:
    return {
        "_id": "c-1",
        "tracking_number": "CS-2026-000001",
        "submitted_at": "2026-03-02",
        "resolution_due_at": "2026-03-05",
        "history": [{"to": "received"}],
        "requester": {
            "name": None,
            "email": None,
            "phone": None,
            "language": "en",
            "relationship": None,
            **requester,
        },
    }


def test_a_requester_with_only_a_phone_is_promised_no_written_updates_without_sms() -> None:
    phone_only = stored({"phone": "+15555550142"})
    token = base64.urlsafe_b64encode(bytes(32)).rstrip(b"=").decode()

    without_sms = receipt(phone_only, token, "123456", sms=False)
    with_sms = receipt(phone_only, token, "123456", sms=True)
    with_email = receipt(stored({"email": "jo@example.org"}), token, "123456", sms=False)

    assert not without_sms.updates_promised and "PIN" in without_sms.notice
    assert with_sms.updates_promised and with_email.updates_promised
