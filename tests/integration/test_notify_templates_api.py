"""The templates admin API: stored templates, edits that take effect, and refusals that name
what fails to render."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from services.notify import handlers
from services.notify.channels import RecordingChannel
from services.notify.context import NotifyContext
from services.notify.dispatcher import dispatch_due
from services.notify.domain import ChannelName, Kind
from services.notify.main import build_context
from services.notify.settings import NotifySettings
from services.notify.templates import load_seed
from shared.clock import FakeClock
from shared.district import load_district
from shared.events import (
    ConcernContactShared,
    ConcernReplyShared,
    EventData,
    RequesterContact,
    envelopes,
)
from shared.settings import DEFAULT_DISTRICT_CONFIG
from tests.integration.notify_api import api_client

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)


@pytest.fixture
def outbox() -> RecordingChannel:
    return RecordingChannel()


@pytest.fixture
async def ctx(
    mongo: AsyncMongoClient[Any], isolation: Any, outbox: RecordingChannel
) -> NotifyContext:
    return await build_context(
        mongo[isolation.db("notify")],
        settings=NotifySettings(),
        clock=FakeClock(NOW),
        district=load_district(DEFAULT_DISTRICT_CONFIG),
        channels={ChannelName.EMAIL: outbox},
    )


@pytest.fixture
async def client(ctx: NotifyContext) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(ctx, "admin") as http:
        yield http


async def publish(ctx: NotifyContext, data: EventData) -> None:
    [event] = envelopes([data], source="/bureau/test", time=NOW)
    await handlers.on_event(event, event.parsed(), ctx=ctx)
    await ctx.dispatch.settle()
    await dispatch_due(ctx=ctx)


async def requester_replied_to(ctx: NotifyContext, language: str) -> str:
    concern = str(uuid.uuid4())
    await publish(
        ctx,
        ConcernContactShared(
            concern_id=concern,
            tracking_number="CS-2026-000042",
            category="transportation",
            submitted_at=NOW,
            resolution_due_at=NOW + timedelta(hours=72),
            requester=RequesterContact(name="Lan", email="lan@example.org", language=language),
        ),
    )
    await publish(
        ctx, ConcernReplyShared(concern_id=concern, message_id="m-1", text="Fixed.", added_at=NOW)
    )
    return concern


async def test_seeded_templates_are_stored_and_listed(client: httpx.AsyncClient) -> None:
    one = await client.get("/v1/templates/acknowledgement/email/es")
    every = await client.get("/v1/templates")

    assert one.status_code == 200
    assert one.json()["origin"] == "seed"
    assert "$tracking" in one.json()["subject"]
    assert len(every.json()) == 44  # 11 kinds x 2 channels x 2 languages


async def test_edited_template_is_used_for_the_next_message(
    ctx: NotifyContext, client: httpx.AsyncClient, outbox: RecordingChannel
) -> None:
    answer = await client.put(
        "/v1/templates/reply/email/es",
        json={
            "subject": "Novedades de su caso $tracking",
            "body": "Hola[[, $name]]:\n\n$reply_text\n\n$district\n",
        },
    )

    await requester_replied_to(ctx, "es")

    assert answer.status_code == 200 and answer.json()["origin"] == "admin"
    reply = outbox.sent[-1]
    assert reply.subject == "Novedades de su caso CS-2026-000042"
    assert reply.text == "Hola, Lan:\n\nFixed.\n\nExample Unified School District\n"


async def test_template_with_an_unknown_placeholder_is_refused_and_not_stored(
    client: httpx.AsyncClient,
) -> None:
    before = (await client.get("/v1/templates/reply/email/en")).json()

    answer = await client.put(
        "/v1/templates/reply/email/en",
        json={"subject": "Reply about $trackng", "body": "$reply_text"},
    )

    assert answer.status_code == 422
    body = answer.json()
    assert body["title"] == "Template does not render"
    assert body["errors"] == [{"field": "subject", "message": body["errors"][0]["message"]}]
    assert "$trackng" in body["errors"][0]["message"]
    assert (await client.get("/v1/templates/reply/email/en")).json() == before


@pytest.mark.parametrize(
    ("path", "payload", "field", "words"),
    [
        ("reply/email/en", {"subject": "Hi", "body": "Costs $ 5"}, "body", "line 1"),
        ("reply/email/en", {"subject": "Hi", "body": "Hello[[ $name"}, "body", "[["),
        ("reply/email/en", {"body": "$reply_text"}, "subject", "needs a subject"),
        ("reply/sms/en", {"subject": "Hi", "body": "$reply_text"}, "subject", "no subject"),
        ("reopening/sms/en", {"body": "$district " + "reopened again " * 40}, "body", "segments"),
        ("webhook/email/en", {"subject": "x", "body": "y"}, "kind", "no templates"),
    ],
)
async def test_template_that_fails_to_render_is_refused_naming_the_problem(
    client: httpx.AsyncClient, path: str, payload: dict[str, str], field: str, words: str
) -> None:
    answer = await client.put(f"/v1/templates/{path}", json=payload)

    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert error["field"] == field and words in error["message"]


@pytest.mark.parametrize("path", ["reply/email/EN", "reply/fax/en", "answer/email/en"])
async def test_unknown_kind_channel_or_language_is_a_4xx(
    client: httpx.AsyncClient, path: str
) -> None:
    answer = await client.put(f"/v1/templates/{path}", json={"subject": "x", "body": "y"})

    assert answer.status_code == 422


async def test_a_new_language_is_used_where_it_has_templates_and_english_elsewhere(
    ctx: NotifyContext, client: httpx.AsyncClient, outbox: RecordingChannel
) -> None:
    missing = await client.get("/v1/templates/reply/email/vi")
    added = await client.put(
        "/v1/templates/reply/email/vi",
        json={"subject": "Trả lời về $tracking", "body": "$reply_text"},
    )

    await requester_replied_to(ctx, "vi")

    assert missing.status_code == 404 and added.status_code == 200
    acknowledgement, reply = outbox.sent[-2:]
    assert acknowledgement.language == "en"
    assert (reply.language, reply.subject) == ("vi", "Trả lời về CS-2026-000042")


async def test_a_preview_renders_in_its_language_with_sample_values_and_stores_nothing(
    client: httpx.AsyncClient,
) -> None:
    before = (await client.get("/v1/templates/acknowledgement/email/es")).json()
    wording = {
        "subject": "Recibimos $tracking",
        "body": "Hola[[ $name]]: respuesta antes del $due.",
    }

    spanish = await client.post(
        "/v1/templates/preview",
        json={"kind": "acknowledgement", "channel": "email", "language": "es", **wording},
    )
    english = await client.post(
        "/v1/templates/preview",
        json={"kind": "acknowledgement", "channel": "sms", "language": "en", "body": "By $due"},
    )

    assert spanish.status_code == 200 and english.status_code == 200
    assert spanish.json() == {
        "language": "es",
        "subject": "Recibimos CS-2026-000123",
        # an acknowledgement without $pin gets the PIN line of its language at the end
        "text": "Hola Ana Pérez: respuesta antes del jueves 5 de marzo de 2026 a las 09:30 (CST)."
        "\n\nSu PIN es 123456. Con su número de seguimiento, le permite consultar su inquietud "
        "por teléfono o en nuestro sitio web. No lo comparta.\n",
    }
    assert english.json() == {
        "language": "en",
        "subject": None,
        "text": "By Thursday, March 5, 2026 at 9:30 AM CST PIN 123456: with the tracking number, "
        "check your concern by phone or on our website.",
    }
    assert (await client.get("/v1/templates/acknowledgement/email/es")).json() == before


async def test_a_preview_that_does_not_render_names_the_problem(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.post(
        "/v1/templates/preview",
        json={"kind": "reopening", "channel": "sms", "language": "es", "body": "Hola $nombre"},
    )

    assert answer.status_code == 422
    assert answer.json()["title"] == "Template does not render"
    [error] = answer.json()["errors"]
    assert error["field"] == "body" and "$nombre" in error["message"]


async def test_only_those_who_edit_templates_may_preview_them(ctx: NotifyContext) -> None:
    async with api_client(ctx, "specialist") as http:
        answer = await http.post(
            "/v1/templates/preview",
            json={"kind": "reopening", "channel": "sms", "language": "en", "body": "$tracking"},
        )

    assert answer.status_code == 403


async def test_a_release_that_rewords_a_template_reaches_districts_that_kept_the_shipped_text(
    ctx: NotifyContext, client: httpx.AsyncClient
) -> None:
    edited = {"subject": "Novedades de $tracking", "body": "Hola:\n\n$reply_text\n\n$district\n"}
    assert (await client.put("/v1/templates/reply/email/es", json=edited)).status_code == 200
    shipped = load_seed()
    reworded = [
        replace(t, body=t.body + "\nReworded in the next release.\n")
        if t.kind in (Kind.REPLY, Kind.ACKNOWLEDGEMENT)
        else t
        for t in shipped
    ]

    changed = await ctx.templates.seed(reworded, NOW + timedelta(days=30))
    again = await ctx.templates.seed(reworded, NOW + timedelta(days=31))

    # the acknowledgement and the reply in both channels and languages, less the edited one
    assert (changed, again) == (7, 0)
    acknowledgement = (await client.get("/v1/templates/acknowledgement/email/es")).json()
    assert acknowledgement["body"].endswith("Reworded in the next release.\n")
    assert acknowledgement["origin"] == "seed"
    kept = (await client.get("/v1/templates/reply/email/es")).json()
    assert (kept["subject"], kept["body"], kept["origin"]) == (
        edited["subject"],
        edited["body"],
        "admin",
    )
