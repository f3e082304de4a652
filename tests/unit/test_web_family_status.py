"""What a family reads on the family web when things are not the simple case: a district whose
promise is not 72 hours, a concern past its due time or merged into another, a language
switched after an error, a form sent twice with changed answers, too many submissions, a
district that adds a language, a district's own name, logo and contact line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import ValidationError

from frontends.web.main import create_app
from frontends.web.settings import LocalizedText, WebConfig, WebSettings
from services.intake.handlers import PIN_LOCKED
from shared.settings import DEFAULT_DISTRICT_CONFIG
from tests.unit.test_web_pages import ANSWERS, RECEIPT, VIEW, Services, form_fields, new_form

pytestmark = pytest.mark.unit

TRACKING = str(RECEIPT["tracking_number"])
PERSONAL_LINK = f"/status/{TRACKING}?token={RECEIPT['access_token']}"


class Intake(Services):
    """The stand-in services, with the concern the family sees and intake's answer to a
    submission chosen by the test."""

    def __init__(self) -> None:
        super().__init__()
        self.view: dict[str, Any] = dict(VIEW)
        self.submission: httpx.Response | None = None
        self.lookup_refusal: httpx.Response | None = None  # e.g. intake's 429

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v1/concerns" and self.submission is not None:
            self.requests.append(request)
            return self.submission
        if path.startswith("/v1/tracking/") and not self.down:
            self.requests.append(request)
            if self.lookup_refusal is not None:
                return self.lookup_refusal
            token, pin = request.headers.get("X-Access-Token"), request.headers.get("X-Access-Pin")
            if token != RECEIPT["access_token"] and pin != RECEIPT["pin"]:
                return httpx.Response(404, json={"title": "Concern not found", "status": 404})
            return httpx.Response(200, json=self.view)
        return super().__call__(request)


def district_file(tmp_path: Path, **district: Any) -> Path:
    config = yaml.safe_load(DEFAULT_DISTRICT_CONFIG.read_text())
    config["district"].update(district)
    path = tmp_path / "district.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


@pytest.fixture
def intake() -> Intake:
    return Intake()


@pytest.fixture
def browser(intake: Intake) -> Iterator[TestClient]:
    app = create_app(WebSettings(), transport=httpx.MockTransport(intake))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        yield client


def at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(("hours", "days"), [(72, "That is 3 days."), (48, "That is 2 days.")])
def test_the_start_page_promises_the_districts_own_hours_in_days(
    tmp_path: Path, hours: int, days: str
) -> None:
    settings = WebSettings(district_config=district_file(tmp_path, guarantee_hours=hours))
    app = create_app(settings, transport=httpx.MockTransport(Services()))
    with TestClient(app) as client:
        page = client.get("/").text
    assert f"within {hours} hours" in page
    assert days in page
    assert ("3 days" in page) == (hours == 72)


def test_a_concern_past_its_due_time_says_we_are_late_not_a_promise_in_the_past(
    browser: TestClient, intake: Intake
) -> None:
    intake.view["resolution_due_at"] = at(datetime.now(UTC) - timedelta(hours=5))
    page = browser.get(PERSONAL_LINK).text
    assert "we did not resolve your concern by the time we promised" in page
    assert "We promised to resolve it by" in page
    assert "We will resolve it by" not in page
    # waiting for the family's answer, the clock is paused: nobody is late
    intake.view["status"] = "awaiting_requester"
    waiting = browser.get(f"/status/{TRACKING}").text
    assert "by the time we promised" not in waiting
    assert "Please answer below." in waiting
    # on time
    intake.view.update(
        status="acknowledged", resolution_due_at=at(datetime.now(UTC) + timedelta(hours=5))
    )
    on_time = browser.get(f"/status/{TRACKING}").text
    assert "We will resolve it by" in on_time and "by the time we promised" not in on_time


def test_a_merged_concern_says_it_is_handled_with_the_other_one(
    browser: TestClient, intake: Intake
) -> None:
    intake.view.update(status="closed", merged=True)
    page = browser.get(PERSONAL_LINK).text
    assert "same matter as another concern" in page
    assert "This concern is closed." not in page


def test_switching_language_after_an_error_on_the_status_page_stays_on_the_concern(
    browser: TestClient,
) -> None:
    browser.get(PERSONAL_LINK)
    csrf = form_fields(browser.get(f"/status/{TRACKING}").text, f"/status/{TRACKING}/message")
    page = browser.post(f"/status/{TRACKING}/message", data={**csrf, "message": ""})
    assert page.status_code == 400
    assert f'href="/status/{TRACKING}?lang=es"' in page.text
    switched = browser.get(f"/status/{TRACKING}?lang=es")
    assert switched.url.path == f"/status/{TRACKING}"
    assert '<html lang="es"' in switched.text


def test_a_form_sent_again_with_changed_answers_says_so_and_can_be_sent_as_a_new_concern(
    browser: TestClient, intake: Intake
) -> None:
    intake.submission = httpx.Response(
        422,
        json={
            "title": "Idempotency-Key reused",
            "status": 422,
            "errors": [{"field": "header.Idempotency-Key", "message": "already used"}],
        },
    )
    fields = new_form(browser)
    page = browser.post("/concern/send", data={**fields, **ANSWERS})
    assert page.status_code == 400
    assert "You already sent a concern from this form, with other answers." in page.text
    assert 'href="#description"' in page.text
    assert "Check this answer." not in page.text
    again = form_fields(page.text, "/concern/check")
    assert again["idempotency_key"] != fields["idempotency_key"]  # a new send: a new concern
    assert "The bus skipped our stop three times." in page.text  # nothing typed is lost


def test_too_many_submissions_from_one_address_get_a_plain_page_and_reach_no_service(
    intake: Intake,
) -> None:
    app = create_app(WebSettings(submissions_per_hour=2), transport=httpx.MockTransport(intake))
    with TestClient(app) as browser:
        answers = {**new_form(browser), **ANSWERS}
        sent = [
            browser.post("/concern/send", data={**answers, "idempotency_key": key})
            for key in (
                "11111111-1111-1111-1111-111111111111",
                "22222222-2222-2222-2222-222222222222",
                "33333333-3333-3333-3333-333333333333",
            )
        ]
    assert [r.status_code for r in sent] == [200, 200, 429]
    assert "We received many concerns from your connection in the last hour." in sent[2].text
    assert "Traceback" not in sent[2].text
    # the answers stay, ready to send later (a school's shared connection is not a bot)
    assert "The bus skipped our stop three times." in sent[2].text
    assert form_fields(sent[2].text, "/concern/send")["idempotency_key"] == (
        "33333333-3333-3333-3333-333333333333"
    )
    assert len(intake.submissions()) == 2


def test_a_district_that_adds_a_language_gives_its_contact_line_in_it() -> None:
    config = WebConfig.model_validate(
        {
            "contact_line": {
                "en": "Call 555-0100.",
                "es": "Llame al 555-0100.",
                "hmn": "Hu 555-0100.",
            }
        }
    )
    assert config.contact_line.get("hmn") == "Hu 555-0100."
    assert config.contact_line.get("es") == "Llame al 555-0100."
    assert config.contact_line.get("so") == "Call 555-0100."  # not given: English
    with pytest.raises(ValidationError):
        LocalizedText.model_validate({"en": "a", "es": "b", "hmn": 3})
    with pytest.raises(ValidationError):
        LocalizedText.model_validate({"en": "a", "es": "b", "not a language": "c"})


def test_a_form_address_opened_leads_to_its_page_and_a_head_request_is_answered(
    browser: TestClient,
) -> None:
    opened = browser.get(f"/status/{TRACKING}/message", follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == f"/status/{TRACKING}"
    assert browser.get("/status/x/y/z", follow_redirects=False).status_code == 404
    # a monitor's HEAD: the GET's answer without its body (was a redirect to itself, forever)
    head = browser.head("/", follow_redirects=False)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"].startswith("text/html")
    assert browser.head(f"/status/{TRACKING}/message").status_code == 200  # its status page
    put = browser.put("/concern/new", follow_redirects=False)
    assert put.status_code == 405 and "Page not found" in put.text


def test_a_message_written_after_the_browsers_access_ran_out_is_kept_and_sent_with_the_code(
    browser: TestClient, intake: Intake
) -> None:
    lookup = browser.get("/status")  # this browser never opened the concern (or its day ran out)
    csrf = form_fields(lookup.text, "/status")
    text = "The bus came late again.\nTwice this week."
    page = browser.post(f"/status/{TRACKING}/message", data={**csrf, "message": text})
    assert page.status_code == 403
    assert "Enter your access code or PIN again to send your message." in page.text
    assert 'href="#access_token"' in page.text
    assert text in page.text  # shown, and kept in the form
    kept = form_fields(page.text, "/status")
    assert kept["pending_message"] == text
    sent = browser.post(
        "/status",
        data={**kept, "tracking_number": TRACKING, "access_token": str(RECEIPT["access_token"])},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/status/{TRACKING}#messages"
    posted = [r for r in intake.requests if r.url.path.endswith("/messages")]
    assert len(posted) == 1 and b"Twice this week." in posted[0].content
    again = browser.get(f"/status/{TRACKING}").text  # the access kept again
    assert "We are on it." in again and "Your message was sent." in again


def test_what_the_family_just_did_is_said_once_not_on_every_reload(browser: TestClient) -> None:
    browser.get(PERSONAL_LINK)
    csrf = form_fields(browser.get(f"/status/{TRACKING}").text, f"/status/{TRACKING}/message")
    sent = browser.post(f"/status/{TRACKING}/message", data={**csrf, "message": "Hello again."})
    assert sent.url.path == f"/status/{TRACKING}"
    assert "Your message was sent." in sent.text
    reloaded = browser.get(str(sent.url))  # the address the family's browser shows
    assert "Your message was sent." not in reloaded.text


def look_up(browser: TestClient, secret: str, **follow: Any) -> httpx.Response:
    csrf = form_fields(browser.get("/status").text, "/status")
    return browser.post(
        "/status",
        data={**csrf, "tracking_number": TRACKING.lower(), "access_token": secret},
        **follow,
    )


def tracking_requests(intake: Intake) -> list[httpx.Request]:
    return [r for r in intake.requests if r.url.path.startswith("/v1/tracking/")]


@pytest.mark.parametrize("typed", [str(RECEIPT["pin"]), "482 913", "482-913"])
def test_a_family_opens_its_concern_with_the_tracking_number_and_the_6_digit_pin(
    browser: TestClient, intake: Intake, typed: str
) -> None:
    opened = look_up(browser, typed, follow_redirects=False)
    assert opened.status_code == 303, opened.text
    assert opened.headers["location"] == f"/status/{TRACKING}"
    [asked] = tracking_requests(intake)
    assert asked.headers["X-Access-Pin"] == RECEIPT["pin"]
    assert "X-Access-Token" not in asked.headers
    # the PIN is kept for this browser like the access code: the page opens, a message is sent
    page = browser.get(f"/status/{TRACKING}")
    assert "We are on it." in page.text
    csrf = form_fields(page.text, f"/status/{TRACKING}/message")
    browser.post(f"/status/{TRACKING}/message", data={**csrf, "message": "Thank you."})
    [posted] = [r for r in intake.requests if r.url.path.endswith("/messages")]
    assert posted.headers["X-Access-Pin"] == RECEIPT["pin"]


def test_the_long_access_code_still_opens_the_concern_as_the_token(
    browser: TestClient, intake: Intake
) -> None:
    assert look_up(browser, str(RECEIPT["access_token"]), follow_redirects=False).status_code == 303
    [asked] = tracking_requests(intake)
    assert asked.headers["X-Access-Token"] == RECEIPT["access_token"]
    assert "X-Access-Pin" not in asked.headers


def test_a_wrong_pin_is_answered_like_a_wrong_code_and_shown_back(
    browser: TestClient, intake: Intake
) -> None:
    wrong = look_up(browser, "482 914")
    assert wrong.status_code == 400
    assert "No concern matches this tracking number and access code or PIN." in wrong.text
    assert 'value="482 914"' in wrong.text
    assert tracking_requests(intake)[0].headers["X-Access-Pin"] == "482914"


def test_a_locked_pin_says_so_and_how_to_get_in_while_the_address_limit_keeps_its_page(
    browser: TestClient, intake: Intake
) -> None:
    intake.lookup_refusal = httpx.Response(
        429,
        json={"type": PIN_LOCKED, "title": "Too many wrong PINs", "status": 429},
        headers={"Retry-After": "900"},
    )
    locked = look_up(browser, str(RECEIPT["pin"]))
    assert locked.status_code == 429
    assert "This PIN is locked after too many wrong tries." in locked.text
    assert 'href="#access_token"' in locked.text
    assert f'value="{RECEIPT["pin"]}"' in locked.text
    intake.lookup_refusal = httpx.Response(
        429, json={"title": "Too many requests", "status": 429}, headers={"Retry-After": "60"}
    )
    limited = look_up(browser, str(RECEIPT["pin"]))
    assert limited.status_code == 429
    assert "We received many requests from your connection." in limited.text
    assert "This PIN is locked" not in limited.text


def test_the_look_up_form_asks_for_the_access_code_or_the_pin_in_english_and_spanish(
    browser: TestClient,
) -> None:
    english = browser.get("/status").text
    assert "Access code or PIN" in english and "6-digit PIN" in english
    spanish = browser.get("/status?lang=es", follow_redirects=True).text
    assert "Código de acceso o PIN" in spanish and "PIN de 6 cifras" in spanish
    wrong = look_up(browser, "000000")
    assert "código de acceso o PIN. Revise ambos" in wrong.text


def test_a_code_typed_with_an_accent_is_a_wrong_code_not_a_broken_page(
    browser: TestClient, intake: Intake
) -> None:
    wrong = look_up(browser, "código-ñ")
    assert wrong.status_code == 400
    assert "No concern matches this tracking number and access code or PIN." in wrong.text
    assert tracking_requests(intake) == []


def test_a_pin_kept_by_this_browser_and_locked_meanwhile_says_so_and_keeps_the_message(
    browser: TestClient, intake: Intake
) -> None:
    look_up(browser, str(RECEIPT["pin"]))
    csrf = form_fields(browser.get(f"/status/{TRACKING}").text, f"/status/{TRACKING}/message")
    intake.lookup_refusal = httpx.Response(
        429,
        json={"type": PIN_LOCKED, "title": "Too many wrong PINs", "status": 429},
        headers={"Retry-After": "900"},
    )
    page = browser.get(f"/status/{TRACKING}")
    assert page.status_code == 429
    assert "This PIN is locked after too many wrong tries." in page.text
    written = browser.post(f"/status/{TRACKING}/message", data={**csrf, "message": "Still late."})
    assert written.status_code == 429
    assert "This PIN is locked after too many wrong tries." in written.text
    assert form_fields(written.text, "/status")["pending_message"] == "Still late."
    assert not [r for r in intake.requests if r.url.path.endswith("/messages")]


@pytest.mark.parametrize(
    ("lang", "contact"),
    [("en", "Springfield bureau: call 555-0199."), ("es", "Oficina de Springfield: 555-0199.")],
)
def test_the_district_names_itself_with_its_logo_and_contact_line_from_its_file(
    tmp_path: Path, intake: Intake, lang: str, contact: str
) -> None:
    path = district_file(tmp_path, name="Springfield Public Schools")
    config = yaml.safe_load(path.read_text())
    config["web"] = {
        "logo": "favicon.svg",
        "contact_line": {
            "en": "Springfield bureau: call 555-0199.",
            "es": "Oficina de Springfield: 555-0199.",
        },
    }
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    app = create_app(WebSettings(district_config=path), transport=httpx.MockTransport(intake))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        page = client.get("/", headers={"Accept-Language": lang}).text
    assert f'<html lang="{lang}"' in page
    assert '<span class="brand-district">Springfield Public Schools</span>' in page
    assert '<img src="/static/favicon.svg" alt="" class="logo">' in page
    assert contact in page and "Example Unified" not in page
