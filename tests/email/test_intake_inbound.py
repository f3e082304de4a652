"""Intake's inbound messages (mail and SMS to a concern) and attachments, in-process on the
real store and broker."""

# ruff: noqa: F811  (pytest fixtures imported from test_intake_api are parameters here)

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import aio_pika
import httpx
import pytest

from shared.clock import FakeClock
from tests.conftest import Isolation, bearer
from tests.integration.test_intake_api import (  # noqa: F401
    body,
    clock,
    drain,
    intake,
    submit,
    tap,
)

pytestmark = pytest.mark.integration

FRONTEND = bearer("frontend", sub="email-frontend")
STAFF = bearer("specialist", sub="tr-lead")
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


async def attach(
    intake: httpx.AsyncClient, concern_id: str, filename: str, content: bytes, content_type: str
) -> httpx.Response:
    """A front door posting one file to a concern, as the email door does."""
    return await intake.post(
        f"/v1/concerns/{concern_id}/attachments",
        params={"filename": filename},
        content=content,
        headers=FRONTEND | {"content-type": content_type},
    )


async def inbound(intake: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    message = {
        "channel": "email",
        "from_address": "jo.park@example.org",
        "body": "The bus came today but it was late again.",
    } | fields
    return await intake.post("/v1/inbound/messages", json=message, headers=FRONTEND)


async def test_concern_without_category_is_accepted_as_uncategorized(
    intake: httpx.AsyncClient,
) -> None:
    submitted = body(channel="email")
    del submitted["category"]
    answer = await intake.post("/v1/concerns", json=submitted, headers=FRONTEND)
    assert answer.status_code == 201, answer.text
    case = await intake.get(f"/v1/concerns/{answer.json()['id']}", headers=STAFF)
    assert case.json()["category"] == "uncategorized"


async def test_the_mails_message_id_goes_to_notify_privately_never_in_public_or_views(
    intake: httpx.AsyncClient, amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation
) -> None:
    public = await tap(amqp, isolation.events_exchange)
    private = await tap(amqp, isolation.private_exchange)
    parent = "<CAF7k2x9Q.1@mail.example.org>"
    created = await submit(intake, channel="email", reply_to_message_id=parent)
    [contact] = [
        e
        for e in await drain(private, until="concern.contact_shared")
        if e["type"].endswith("concern.contact_shared.v1")
    ]
    assert contact["data"]["reply_to_message_id"] == parent
    published = await drain(public, until="concern.submitted")
    case = await intake.get(f"/v1/concerns/{created['id']}", headers=STAFF)
    listed = await intake.get("/v1/concerns", headers=STAFF)
    assert "CAF7k2x9Q" not in json.dumps(published) + case.text + listed.text


@pytest.mark.parametrize(
    "message_id",
    ["CAF7k2x9Q@mail.example.org", "<a b@example.org>", "<x@example.org>\r\nBcc: a@b.c", "<@x>"],
)
async def test_a_malformed_message_id_is_a_422_naming_the_field(
    intake: httpx.AsyncClient, message_id: str
) -> None:
    answer = await intake.post(
        "/v1/concerns", json=body(channel="email", reply_to_message_id=message_id), headers=FRONTEND
    )
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["reply_to_message_id"]


async def test_reply_from_the_requester_by_tracking_number_in_any_case_ends_the_wait(
    intake: httpx.AsyncClient,
) -> None:
    created = await submit(intake)
    await intake.post(
        f"/v1/concerns/{created['id']}/request-information",
        json={"message": "Which stop?"},
        headers=STAFF,
    )
    answer = await inbound(
        intake,
        tracking_number=created["tracking_number"].lower(),
        from_address="Jo.Park@Example.org",
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "requester_message"
    case = (await intake.get(f"/v1/concerns/{created['id']}", headers=STAFF)).json()
    assert case["status"] == "acknowledged"
    assert case["messages"][-1]["author"] == "requester"
    assert case["messages"][-1]["text"] == "The bus came today but it was late again."


async def test_reply_threads_by_the_bureaus_message_id(intake: httpx.AsyncClient) -> None:
    created = await submit(intake)
    answer = await inbound(
        intake,
        references=["<unrelated@mail.example.org>", f"<{created['id']}.0a1b2c@district.example>"],
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["concern_id"] == created["id"]


async def test_message_from_another_address_is_kept_for_staff_not_as_the_requesters(
    intake: httpx.AsyncClient,
) -> None:
    created = await submit(intake)
    answer = await inbound(
        intake, tracking_number=created["tracking_number"], from_address="someone.else@example.com"
    )
    assert answer.json()["outcome"] == "unverified"
    case = (await intake.get(f"/v1/concerns/{created['id']}", headers=STAFF)).json()
    assert case["messages"] == []
    timeline = (await intake.get(f"/v1/concerns/{created['id']}/timeline", headers=STAFF)).json()
    kept = [e for e in timeline if e["kind"] == "unverified_message"]
    assert kept[0]["sender"] == "someone.else@example.com"
    assert kept[0]["text"] == "The bus came today but it was late again."


async def test_forged_sender_is_never_the_requester(intake: httpx.AsyncClient) -> None:
    created = await submit(intake)
    answer = await inbound(
        intake, tracking_number=created["tracking_number"], sender_verified=False
    )
    assert answer.json()["outcome"] == "unverified"


async def test_same_message_twice_is_taken_once(intake: httpx.AsyncClient) -> None:
    created = await submit(intake)
    first = await inbound(
        intake, tracking_number=created["tracking_number"], external_id="<m-1@example.org>"
    )
    again = await inbound(
        intake, tracking_number=created["tracking_number"], external_id="<m-1@example.org>"
    )
    assert again.json()["replayed"] is True
    assert again.json()["message_id"] == first.json()["message_id"]
    case = (await intake.get(f"/v1/concerns/{created['id']}", headers=STAFF)).json()
    assert len(case["messages"]) == 1


async def test_sms_reply_goes_to_the_numbers_most_recent_open_concern(
    intake: httpx.AsyncClient, clock: FakeClock
) -> None:
    await submit(intake)
    clock.advance(timedelta(minutes=5))
    latest = await submit(intake)
    answer = await inbound(intake, channel="sms", from_address="+15555550142")
    assert answer.json()["concern_id"] == latest["id"]
    assert answer.json()["outcome"] == "requester_message"


async def test_unknown_tracking_number_is_a_404(intake: httpx.AsyncClient) -> None:
    answer = await inbound(intake, tracking_number="CS-1999-000001")
    assert answer.status_code == 404


async def test_staff_list_and_download_an_attachment(intake: httpx.AsyncClient) -> None:
    created = await submit(intake)
    stored = await attach(
        intake, created["id"], "../letter from school.pdf", PDF, "application/pdf"
    )
    assert stored.status_code == 201, stored.text
    assert stored.json()["filename"] == "letter from school.pdf"
    again = await attach(intake, created["id"], "../letter from school.pdf", PDF, "application/pdf")
    assert again.json()["id"] == stored.json()["id"]  # a retry keeps the file once
    url = f"/v1/concerns/{created['id']}/attachments"
    listed = (await intake.get(url, headers=STAFF)).json()
    assert [a["filename"] for a in listed] == ["letter from school.pdf"]
    download = await intake.get(f"{url}/{listed[0]['id']}", headers=STAFF)
    assert download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert "attachment" in download.headers["content-disposition"]


async def test_a_photo_larger_than_a_json_body_may_be_is_stored(
    intake: httpx.AsyncClient,
) -> None:
    """A phone photo is megabytes: the 64 KiB limit of API bodies does not apply to files."""
    created = await submit(intake)
    photo = b"\xff\xd8\xff\xe0" + b"\x00" * (3 * 1024 * 1024)
    stored = await attach(intake, created["id"], "bus-stop.jpg", photo, "image/jpeg")
    assert stored.status_code == 201, stored.text
    assert stored.json()["size"] == len(photo)


@pytest.mark.parametrize(
    ("content_type", "content", "status"),
    [
        ("application/x-msdownload", b"MZ\x90\x00", 415),
        ("application/pdf", b"MZ pretending to be a pdf", 415),
        ("application/pdf", b"%PDF-" + b"0" * (11 * 1024 * 1024), 413),
    ],
)
async def test_refused_attachment_gets_a_clear_answer(
    intake: httpx.AsyncClient, content_type: str, content: bytes, status: int
) -> None:
    created = await submit(intake)
    answer = await attach(intake, created["id"], "file", content, content_type)
    assert answer.status_code == status
    assert answer.json()["detail"]


async def test_bounce_of_the_bureaus_mail_shows_on_the_case_once_and_tells_notify(
    intake: httpx.AsyncClient, amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation
) -> None:
    created = await submit(intake)
    private = await tap(amqp, isolation.private_exchange)
    bounced_mail = f"<{created['id']}.0a1b2c@district.example>"
    report = {"references": [bounced_mail, "<other@example.org>"], "status": "5.1.1"}
    for _ in range(2):
        answer = await intake.post("/v1/inbound/bounces", json=report, headers=FRONTEND)
        assert answer.status_code == 200, answer.text
    timeline = (await intake.get(f"/v1/concerns/{created['id']}/timeline", headers=STAFF)).json()
    assert [e["status"] for e in timeline if e["kind"] == "delivery_bounced"] == ["5.1.1"]
    told = (await drain(private, until="concern.delivery_bounced"))[-1]["data"]
    assert (told["concern_id"], told["message_ids"], told["status"]) == (
        created["id"],
        [bounced_mail],
        "5.1.1",
    )
    unknown = await intake.post(
        "/v1/inbound/bounces", json={"references": ["<x@y>"]}, headers=FRONTEND
    )
    assert unknown.status_code == 404


async def test_a_file_travels_in_no_event_and_no_log_line(
    intake: httpx.AsyncClient,
    amqp: aio_pika.abc.AbstractRobustConnection,
    isolation: Isolation,
    caplog: pytest.LogCaptureFixture,
) -> None:
    created = await submit(intake, requester={"email": "jo.park@example.org"})
    public = await tap(amqp, isolation.events_exchange)
    private = await tap(amqp, isolation.private_exchange)
    secret = b"%PDF-1.4\n(Report card of Ana Lopez, grade 4)\n%%EOF\n"
    with caplog.at_level("INFO"):
        stored = await attach(
            intake, created["id"], "ana-lopez-report-card.pdf", secret, "application/pdf"
        )
        assert stored.status_code == 201, stored.text
        # then something that is published, to know the broker has had its chance
        answer = await inbound(intake, tracking_number=created["tracking_number"])
        assert answer.status_code == 200, answer.text
        seen = await drain(public, until="concern.message_added")
    while (message := await private.get(fail=False, no_ack=True)) is not None:
        seen.append(json.loads(message.body))
    published = json.dumps(seen)
    assert "ana-lopez" not in published and "Ana Lopez" not in published
    assert "Report card" not in published and "JVBERi" not in published  # nor as base64
    # what intake logs (httpx's own request lines are the test client's: shared/logs.py
    # quiets httpx in every process of the bureau)
    logged = " ".join(r.getMessage() + str(r.__dict__) for r in caplog.records if r.name != "httpx")
    assert "ana-lopez" not in logged and "Ana Lopez" not in logged
    assert any(r.name.startswith("services.intake") for r in caplog.records)  # it was heard
