"""What families hear from notify whatever their channel and whatever an administrator wrote:
the resolved concern's survey reachable by a family front door (one answer per concern,
whichever door), the PIN in an acknowledgement whose edited text left it out, and the owning
team named in the family's language (never a sensitive team)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from services.notify import api, surveys, surveys_api
from services.notify.audience import sample_values
from services.notify.domain import ChannelName, Kind
from services.notify.templates import MessageTemplate, load_seed, render, validate
from shared.events import (
    ConcernContactShared,
    ConcernResolutionShared,
    ConcernTriaged,
    Priority,
    RequesterContact,
)
from shared.http import install_problem_handlers
from shared.settings import ServiceSettings
from tests.conftest import bearer
from tests.unit.test_notify_handlers import CONTACT, DISTRICT, T0, Notify, event

pytestmark = pytest.mark.unit

TRACKING = "CS-2026-000321"
# a family who filed by phone and gave no email and no number for texts
BY_PHONE = ConcernContactShared(
    concern_id="c-phone",
    tracking_number=TRACKING,
    category="transportation",
    submitted_at=T0,
    resolution_due_at=T0 + timedelta(days=3),
    requester=RequesterContact(name="Rosa", language="es"),
    pin="271828",
)
RESOLVED = ConcernResolutionShared(
    concern_id="c-phone", summary="The bus stops at Oak Street again.", resolved_at=T0
)


@asynccontextmanager
async def notify_api(notify: Notify, *roles: str) -> AsyncIterator[httpx.AsyncClient]:
    """Notify's routers over the fakes' context, called with a token of `roles`."""
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(api.router)
    app.include_router(surveys_api.router)
    app.state.ctx = notify.ctx
    app.state.verifier = ServiceSettings().token_verifier()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://notify", headers=bearer(*roles)
    ) as http:
        yield http


async def test_a_family_without_email_or_sms_answers_its_survey_by_the_front_door_once() -> None:
    notify = Notify()
    await notify.on(event(BY_PHONE))
    survey_path = f"/v1/concerns/by-tracking/{TRACKING}/survey"
    async with notify_api(notify, "frontend") as web:
        assert (await web.get(survey_path)).status_code == 404  # not resolved yet
        await notify.on(event(RESOLVED))
        assert notify.email.sent == []  # nobody to write to: the status page is the door

        shown = await web.get(survey_path)
        assert shown.status_code == 200
        assert shown.json()["status"] == "open" and shown.json()["language"] == "es"
        assert "token" not in shown.text and "survey/" not in shown.text  # the link stays inside
        answered = await web.post(survey_path, json={"score": 5, "comment": "Muy amables."})
        assert answered.status_code == 201
        again = await web.post(survey_path, json={"score": 1})
        assert again.status_code == 409
        assert (await web.get(survey_path)).json()["status"] == "answered"

        # the link a message would have carried is the same survey: answered already
        token = surveys.token_for(notify.ctx.survey_key, "c-phone")
        by_link = await web.post(f"/v1/surveys/{token}", json={"score": 2})
        assert by_link.status_code == 409

    # one survey.answered, as the Board counts satisfaction (escalation hears it)
    answers = [e for e in notify.surveys.outbox if e.type == "org.bureau.survey.answered.v1"]
    assert len(answers) == 1
    assert answers[0].data["concern_id"] == "c-phone" and answers[0].data["score"] == 5


async def test_a_survey_answered_by_the_mailed_link_is_not_answered_again_by_the_web() -> None:
    notify = Notify()
    await notify.on(event(CONTACT))
    await notify.on(event(RESOLVED.model_copy(update={"concern_id": "c-1"})))
    [mail] = [m for m in notify.email.sent if "/survey/" in m.text]
    token = mail.text.split("/survey/")[1].split()[0]
    path = f"/v1/concerns/by-tracking/{CONTACT.tracking_number}/survey"
    async with notify_api(notify, "frontend") as web:
        assert (await web.post(f"/v1/surveys/{token}", json={"score": 4})).status_code == 201
        assert (await web.get(path)).json()["status"] == "answered"
        assert (await web.post(path, json={"score": 1})).status_code == 409


async def test_only_a_family_front_door_reaches_a_survey_by_tracking_number() -> None:
    notify = Notify()
    await notify.on(event(BY_PHONE))
    await notify.on(event(RESOLVED))
    path = f"/v1/concerns/by-tracking/{TRACKING}/survey"
    for role in ("intake_agent", "specialist", "admin", "board"):
        async with notify_api(notify, role) as staff:
            assert (await staff.get(path)).status_code == 403
            assert (await staff.post(path, json={"score": 5})).status_code == 403
    async with notify_api(notify, "frontend") as web:
        assert (await web.get("/v1/concerns/by-tracking/CS-2026-999999/survey")).status_code == 404
    assert notify.surveys.outbox == []


# --- the PIN in an administrator's acknowledgement -----------------------------------------

WITHOUT_PIN = {
    ChannelName.EMAIL: MessageTemplate(
        kind=Kind.ACKNOWLEDGEMENT,
        channel=ChannelName.EMAIL,
        language="es",
        subject="Recibimos su inquietud $tracking",
        body="Hola[[ $name]]:\n\nRecibimos su inquietud $tracking.\n\nOficina de Atención\n",
    ),
    ChannelName.SMS: MessageTemplate(
        kind=Kind.ACKNOWLEDGEMENT,
        channel=ChannelName.SMS,
        language="es",
        subject=None,
        body="$district: recibimos su inquietud $tracking.",
    ),
}


async def test_an_edited_acknowledgement_without_the_pin_still_tells_the_family_its_pin() -> None:
    notify = Notify()
    await notify.templates.seed(load_seed(), T0)
    await notify.templates.put(WITHOUT_PIN[ChannelName.EMAIL], T0)  # an administrator's words
    await notify.on(event(CONTACT.model_copy(update={"pin": "314159"})))
    [mail] = notify.email.sent
    assert mail.text.startswith("Hola Maria Lopez:\n\nRecibimos su inquietud CSB-2026-000001.")
    assert mail.text.rstrip().endswith(
        "Su PIN es 314159. Con su número de seguimiento, le permite consultar su inquietud por "
        "teléfono o en nuestro sitio web. No lo comparta."
    )
    assert mail.text.count("314159") == 1


def test_the_pin_line_is_added_once_by_email_and_sms_and_shown_in_the_preview() -> None:
    values = sample_values("es", DISTRICT)
    sms = render(WITHOUT_PIN[ChannelName.SMS], values).text
    assert sms.endswith(
        "PIN 123456: con el seguimiento, consulte su inquietud por telefono o en nuestro sitio web."
    )
    # a text that says the PIN itself gets no second line; nor does a concern without a PIN
    with_pin = MessageTemplate(
        kind=Kind.ACKNOWLEDGEMENT,
        channel=ChannelName.SMS,
        language="es",
        subject=None,
        body="Seguimiento $tracking, PIN $pin.",
    )
    assert render(with_pin, values).text == "Seguimiento CS-2026-000123, PIN 123456."
    assert "PIN" not in render(WITHOUT_PIN[ChannelName.SMS], {**values, "pin": ""}).text
    # a language without its own PIN line gets the English one; other kinds get none
    vietnamese = MessageTemplate(
        kind=Kind.ACKNOWLEDGEMENT, channel=ChannelName.EMAIL, language="vi", subject="S", body="X"
    )
    assert "Your PIN is 123456." in render(vietnamese, values).text
    reopening = MessageTemplate(
        kind=Kind.REOPENING, channel=ChannelName.SMS, language="es", subject=None, body="X"
    )
    assert render(reopening, values).text == "X"
    # an SMS that the added line would make too long is refused when saved, not cut at sending
    long_sms = MessageTemplate(
        kind=Kind.ACKNOWLEDGEMENT,
        channel=ChannelName.SMS,
        language="es",
        subject=None,
        body="$district: " + "recibimos su inquietud. " * 11,
    )
    assert any("segments" in str(p) for p in validate(long_sms, sms_max_segments=2))


async def test_the_template_preview_shows_the_pin_line_an_edited_acknowledgement_gets() -> None:
    notify = Notify()
    body = WITHOUT_PIN[ChannelName.EMAIL]
    async with notify_api(notify, "admin") as admin:
        preview = await admin.post(
            "/v1/templates/preview",
            json={
                "kind": "acknowledgement",
                "channel": "email",
                "language": "es",
                "subject": body.subject,
                "body": body.body,
            },
        )
    assert preview.status_code == 200
    assert preview.json()["text"].rstrip().endswith("No lo comparta.")
    assert "Su PIN es 123456." in preview.json()["text"]


# --- the owning team in the family's language -----------------------------------------------


def triaged(team_id: str, team_name: str) -> ConcernTriaged:
    return ConcernTriaged(
        concern_id="c-1",
        category="transportation",
        team_id=team_id,
        team_name=team_name,
        priority=Priority.NORMAL,
        rule="category",
        triaged_at=T0 + timedelta(minutes=1),
    )


async def test_the_resolution_names_the_team_in_the_familys_language() -> None:
    notify = Notify()
    await notify.on(event(CONTACT))  # Maria writes in Spanish
    await notify.on(event(triaged("transportation", "Transportation Department")))
    await notify.on(event(RESOLVED.model_copy(update={"concern_id": "c-1"})))
    resolution = notify.email.sent[-1].text
    assert "Atendida por: Departamento de Transporte" in resolution
    assert "Transportation Department" not in resolution


async def test_a_sensitive_team_is_never_named_to_the_family() -> None:
    notify = Notify()
    await notify.on(event(CONTACT))
    await notify.on(event(triaged("special-education", "Special Education Department")))
    await notify.on(event(RESOLVED.model_copy(update={"concern_id": "c-1"})))
    resolution = notify.email.sent[-1].text
    assert "Educación Especial" not in resolution and "Special Education" not in resolution
    assert "Atendida por" not in resolution


def test_a_template_preview_names_the_sample_team_in_the_templates_language() -> None:
    assert sample_values("es", DISTRICT)["team"] == "Departamento de Transporte"
    assert sample_values("en", DISTRICT)["team"] == "Transportation Department"
    assert sample_values("vi", DISTRICT)["team"] == "Transportation Department"  # English then


def test_a_template_preview_names_the_sample_category_as_a_real_message_does() -> None:
    assert sample_values("es", DISTRICT)["category"] == "Transporte"
    assert sample_values("en", DISTRICT)["category"] == "Transportation"
