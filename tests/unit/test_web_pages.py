"""The family web's routes against a stand-in for intake and notify: what a family's browser
sends, what reaches the services, and what comes back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from frontends.common.intake import FORWARDED_FOR_HEADER
from frontends.web.forms import concern_body, normalize_phone, read_form
from frontends.web.main import create_app
from frontends.web.settings import WebSettings

pytestmark = pytest.mark.unit

CATEGORIES = [{"id": "transportation", "name": {"en": "Transportation", "es": "Transporte"}}]
SCHOOLS = [{"id": "lincoln-es", "name": {"en": "Lincoln Elementary", "es": "Primaria Lincoln"}}]
RECEIPT = {
    "id": "c1",
    "tracking_number": "CS-2026-000007",
    "status": "received",
    "submitted_at": "2026-12-01T10:00:00Z",
    "resolution_due_at": "2026-12-04T10:00:00Z",
    "access_token": "secret-token-1234567890",
    "status_url": "/v1/tracking/CS-2026-000007",
    "updates_promised": True,
    "notice": "Keep it.",
    "pin": "482913",
}
VIEW = {
    "tracking_number": "CS-2026-000007",
    "status": "acknowledged",
    "category": "transportation",
    "category_name": "Transportation",
    "team_name": "Transportation Department",
    "submitted_at": "2026-12-01T10:00:00Z",
    "resolution_due_at": "2026-12-04T10:00:00Z",
    "messages": [{"author": "staff", "text": "We are on it.", "at": "2026-12-01T11:00:00Z"}],
}
ANSWERS = {
    "category": "transportation",
    "school_id": "lincoln-es",
    "contact": "email",
    "description": "The bus skipped our stop three times.",
    "name": "Maria",
    "email": "maria@example.org",
    "language": "es",
}


class Services:
    """Intake and notify as the web sees them; records every request."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.down = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        path = request.url.path
        if path == "/v1/categories":
            return httpx.Response(200, json=CATEGORIES)
        if path == "/v1/schools":
            return httpx.Response(200, json=SCHOOLS)
        if path == "/v1/concerns":
            return httpx.Response(201, json=RECEIPT)
        if path.startswith("/v1/tracking/"):
            if request.headers.get("X-Access-Token") != RECEIPT["access_token"]:
                return httpx.Response(404, json={"title": "Concern not found", "status": 404})
            return httpx.Response(200, json=VIEW)
        if path.startswith("/v1/surveys/"):
            return httpx.Response(
                200, json={"language": "es", "status": "open", "expires_at": "2026-12-31T10:00:00Z"}
            )
        return httpx.Response(404, json={"title": "Not found", "status": 404})

    def submissions(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == "/v1/concerns"]


@pytest.fixture
def services() -> Services:
    return Services()


@pytest.fixture
def browser(services: Services) -> Iterator[TestClient]:
    app = create_app(WebSettings(), transport=httpx.MockTransport(services))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        yield client


def form_fields(html: str, action: str) -> dict[str, str]:
    """The hidden fields of the form posting to `action`."""
    form = html[html.index(f'action="{action}"') :]
    form = form[: form.index("</form>")]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


def new_form(browser: TestClient) -> dict[str, str]:
    return form_fields(browser.get("/concern/new").text, "/concern/check")


def test_check_your_answers_then_send_submits_once_per_form_even_when_sent_twice(
    browser: TestClient, services: Services
) -> None:
    check = browser.post("/concern/check", data={**new_form(browser), **ANSWERS})
    assert check.status_code == 200
    assert "Lincoln Elementary" in check.text
    hidden = form_fields(check.text, "/concern/send")
    first = browser.post("/concern/send", data=hidden, follow_redirects=False)
    again = browser.post("/concern/send", data=hidden, follow_redirects=False)  # double click
    assert first.status_code == again.status_code == 303
    keys = {r.headers["Idempotency-Key"] for r in services.submissions()}
    assert len(services.submissions()) == 2 and len(keys) == 1
    sent = services.submissions()[0]
    assert sent.headers[FORWARDED_FOR_HEADER] == "testclient"
    assert b'"preferred_contact":"email"' in sent.content
    confirmation = browser.get("/concern/sent")
    assert "CS-2026-000007" in confirmation.text
    assert "482913" in confirmation.text  # the PIN (phone and website), when intake gives one
    assert "/status/CS-2026-000007?token=secret-token-1234567890" in confirmation.text


def test_a_post_without_the_csrf_token_or_with_the_honeypot_filled_reaches_no_service(
    browser: TestClient, services: Services
) -> None:
    fields = new_form(browser)
    forged = browser.post("/concern/send", data={**ANSWERS, "idempotency_key": "x"})
    assert forged.status_code == 400
    assert "This form has expired" in forged.text
    bot = browser.post("/concern/send", data={**fields, **ANSWERS, "website": "http://spam"})
    assert bot.status_code == 400
    assert services.submissions() == []


def test_invalid_answers_show_an_error_summary_linking_to_each_field(browser: TestClient) -> None:
    page = browser.post("/concern/check", data={**new_form(browser), "contact": "sms"})
    assert page.status_code == 400
    assert page.text.count('href="#') >= 3
    for field in ("category", "description", "phone"):
        assert f'href="#{field}"' in page.text
    assert "<title>Error:" in page.text


def test_the_personal_link_opens_the_status_and_keeps_the_token_out_of_the_address(
    browser: TestClient,
) -> None:
    opened = browser.get(
        "/status/CS-2026-000007?token=secret-token-1234567890", follow_redirects=False
    )
    assert opened.status_code == 303
    assert opened.headers["location"] == "/status/CS-2026-000007"
    page = browser.get("/status/CS-2026-000007")
    assert "We are on it." in page.text
    assert "Transportation Department" in page.text
    wrong = browser.get("/status/CS-2026-000008?token=guess", follow_redirects=False)
    assert wrong.status_code == 404


def test_language_switch_is_kept_and_the_page_shown_without_the_parameter(
    browser: TestClient,
) -> None:
    switched = browser.get("/concern/new?lang=es", follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/concern/new"
    page = browser.get("/concern/new")
    assert '<html lang="es"' in page.text
    assert "Transporte" in page.text


def test_pages_are_small_compressed_and_under_a_strict_policy(browser: TestClient) -> None:
    for path in ("/", "/concern/new", "/status"):
        page = browser.get(path, headers={"Accept-Encoding": "gzip"})
        assert page.headers["content-encoding"] == "gzip"
        assert int(page.headers["content-length"]) < 60_000
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "default-src 'none'" in policy
        assert "unsafe-inline" not in policy
        assert "<script>" not in page.text and " style=" not in page.text


def test_when_intake_is_down_the_family_sees_a_plain_page(
    browser: TestClient, services: Services
) -> None:
    services.down = True
    page = browser.get("/concern/new")
    assert page.status_code == 503
    assert "Sorry, there is a problem with the service" in page.text
    assert "Traceback" not in page.text
    assert browser.get("/readyz").status_code == 503


def test_anonymous_family_sends_no_contact_and_student_details_only_when_given() -> None:
    answers: dict[str, Any] = {**ANSWERS, "contact": "none", "phone": "", "student_name": ""}
    form = read_form(
        answers, categories={"transportation"}, schools={"lincoln-es"}, languages=("en", "es")
    )
    assert form.errors == {}
    body = concern_body(form)
    assert body["requester"] == {"language": "es"}
    assert "student" not in body
    with_student = read_form(
        {**ANSWERS, "student_name": "Lucia", "grade": "4"},
        categories={"transportation"},
        schools={"lincoln-es"},
        languages=("en", "es"),
    )
    assert concern_body(with_student)["student"] == {
        "name": "Lucia",
        "grade": "4",
        "special_education": False,
    }


def test_us_phone_numbers_as_families_type_them_become_e164() -> None:
    assert normalize_phone("(555) 123-4567") == "+15551234567"
    assert normalize_phone("+52 55 1234 5678") == "+525512345678"
    assert normalize_phone("12") is None


def test_the_survey_opens_in_the_language_of_its_mail_unless_the_family_chose_one(
    browser: TestClient,
) -> None:
    link = "/survey/" + "t" * 43
    assert '<html lang="es"' in browser.get(link).text
    browser.get("/?lang=en")
    assert '<html lang="en"' in browser.get(link).text
