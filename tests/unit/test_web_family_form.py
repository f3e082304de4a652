"""The concern form's language switch: a family who switches language while filling in the
form, or on the check-your-answers page, keeps what it typed (a link would have lost it)."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from frontends.web.main import create_app
from frontends.web.security import LANGUAGE_COOKIE
from frontends.web.settings import WebSettings
from tests.unit.test_web_family_status import Intake
from tests.unit.test_web_pages import (
    ANSWERS,
    RECEIPT,
    Services,
    browser,
    form_fields,
    new_form,
    services,
)

pytestmark = pytest.mark.unit
__all__ = ["browser", "services"]  # the family pages' fixtures, shared


def test_switching_language_on_the_form_keeps_what_was_typed_and_the_choice(
    browser: TestClient, services: Services
) -> None:
    form = browser.get("/concern/new").text
    assert (
        'form="concern-form" formaction="/concern/new" formnovalidate name="lang" value="es"'
        in (form)
    )
    fields = new_form(browser)
    half_done = {
        **fields,
        "category": "transportation",
        "description": "El autobús no pasó por la parada.",
        "lang": "es",
    }
    page = browser.post("/concern/new", data=half_done)
    assert page.status_code == 200
    assert '<html lang="es"' in page.text
    assert "El autobús no pasó por la parada." in page.text
    assert 'value="transportation" checked' in page.text
    assert "Hay un problema" not in page.text  # not checked yet: the family is still typing
    assert form_fields(page.text, "/concern/check")["idempotency_key"] == fields["idempotency_key"]
    assert page.cookies.get(LANGUAGE_COOKIE) == "es"
    assert '<html lang="es"' in browser.get("/").text  # chosen once, kept
    assert services.submissions() == []


def test_switching_language_on_check_your_answers_shows_them_again_in_that_language(
    browser: TestClient, services: Services
) -> None:
    check = browser.post("/concern/check", data={**new_form(browser), **ANSWERS})
    assert "Check your answers" in check.text
    assert 'form="send-form" formaction="/concern/check"' in check.text
    answers = form_fields(check.text, "/concern/send")
    again = browser.post("/concern/check", data={**answers, "website": "", "lang": "es"})
    assert again.status_code == 200
    assert "Revise sus respuestas" in again.text
    assert (
        "Primaria Lincoln" in again.text and "The bus skipped our stop three times." in again.text
    )
    assert form_fields(again.text, "/concern/send") == answers
    assert services.submissions() == []


def test_a_language_the_site_does_not_offer_changes_nothing(browser: TestClient) -> None:
    page = browser.post("/concern/new", data={**new_form(browser), "lang": "xx"})
    assert page.status_code == 200 and page.url.path == "/concern/new"
    assert "How should we contact you?" in page.text
    assert '<html lang="en"' in page.text
    assert LANGUAGE_COOKIE not in page.cookies


def test_when_intake_does_not_answer_the_send_the_answers_stay_ready_to_send_again(
    browser: TestClient, services: Services
) -> None:
    check = browser.post("/concern/check", data={**new_form(browser), **ANSWERS})
    answers = form_fields(check.text, "/concern/send")
    services.down = True
    page = browser.post("/concern/send", data=answers)
    assert page.status_code == 503
    assert "We could not send your concern just now." in page.text
    assert "<title>Error:" in page.text and "Traceback" not in page.text
    assert form_fields(page.text, "/concern/send") == answers  # the same key: a retry is safe
    services.down = False
    sent = browser.post("/concern/send", data=answers)
    assert sent.status_code == 200 and "CS-2026-000007" in sent.text
    assert {r.headers["Idempotency-Key"] for r in services.submissions()} == {
        answers["idempotency_key"]
    }


def test_check_your_answers_names_the_grade_as_the_form_did(browser: TestClient) -> None:
    check = browser.post(
        "/concern/check",
        data={**new_form(browser), **ANSWERS, "student_name": "Lucia", "grade": "K"},
    )
    assert "Lucia" in check.text and "grade Kindergarten" in check.text


def test_a_mistyped_access_code_is_shown_back_in_clear_to_be_corrected(
    browser: TestClient,
) -> None:
    page = browser.get("/status")
    assert 'type="password"' not in page.text  # a 43-character code typed blind
    assert 'autocapitalize="none"' in page.text  # a phone keyboard would capitalize it
    csrf = form_fields(page.text, "/status")
    wrong = browser.post(
        "/status",
        data={
            **csrf,
            "tracking_number": "cs-2026-000007",
            "access_token": "secret-token-123456789O",
        },
    )
    assert wrong.status_code == 400
    assert "No concern matches this tracking number and access code or PIN." in wrong.text
    assert 'value="secret-token-123456789O"' in wrong.text
    assert 'value="CS-2026-000007"' in wrong.text


@pytest.mark.parametrize("promised", [False, True])
def test_an_anonymous_family_is_told_to_keep_its_codes_now_and_what_the_pin_is_for(
    promised: bool,
) -> None:
    intake = Intake()
    intake.submission = httpx.Response(201, json={**RECEIPT, "updates_promised": promised})
    app = create_app(WebSettings(), transport=httpx.MockTransport(intake))
    with TestClient(app) as browser:
        answers = {**ANSWERS, "contact": "none", "email": ""} if not promised else ANSWERS
        check = browser.post("/concern/check", data={**new_form(browser), **answers})
        browser.post("/concern/send", data=form_fields(check.text, "/concern/send"))
        page = browser.get("/concern/sent").text
    # the PIN opens the concern by phone and on this website
    assert "it opens your concern when you call us or here on this website" in page
    assert ("Write these down or save this page now." in page) is not promised
