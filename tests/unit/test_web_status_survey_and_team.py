"""The status page of a resolved concern offers its one-question survey to every family who
can open it (filed by phone, no email, no SMS: the personal link or the tracking number with
the code or PIN is enough), takes one answer per concern whichever door it came through, and
names the owning team in the family's language."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from frontends.web.main import create_app
from frontends.web.security import LANGUAGE_COOKIE
from frontends.web.settings import WebSettings
from tests.unit.test_web_family_status import PERSONAL_LINK, TRACKING, Intake
from tests.unit.test_web_pages import RECEIPT, form_fields

pytestmark = pytest.mark.unit

SURVEY = f"/v1/concerns/by-tracking/{TRACKING}/survey"
RESOLVED = {
    "status": "resolved",
    "resolution": {"summary": "The bus stops at Oak Street again.", "at": "2026-12-02T10:00:00Z"},
    "can_reopen_until": "2099-12-16T10:00:00Z",
}


class Services(Intake):
    """Intake as in the other status tests, and notify's survey of the concern: one answer,
    whichever door (`link_answered` stands for an answer given through the mailed link)."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[dict[str, Any]] = []
        self.notify_down = False
        self.survey_known = True

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != SURVEY:
            return super().__call__(request)
        self.requests.append(request)
        if self.notify_down:
            raise httpx.ConnectError("refused", request=request)
        if not self.survey_known:
            return httpx.Response(404, json={"title": "Survey not found", "status": 404})
        if request.method == "POST":
            if self.answers:
                return httpx.Response(409, json={"title": "Already answered", "status": 409})
            self.answers.append(json.loads(request.content))
            return httpx.Response(201, json={"status": "answered", "answered_at": "2026-12-02"})
        return httpx.Response(
            200,
            json={
                "question": "How satisfied…",
                "scale": {},
                "language": "es",
                "status": "answered" if self.answers else "open",
                "expires_at": "2027-01-01T10:00:00Z",
            },
        )


@pytest.fixture
def services() -> Services:
    resolved = Services()
    resolved.view.update(RESOLVED)
    return resolved


@pytest.fixture
def browser(services: Services) -> Iterator[TestClient]:
    app = create_app(WebSettings(), transport=httpx.MockTransport(services))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        yield client


def answer(browser: TestClient, page: str, **fields: str) -> httpx.Response:
    hidden = form_fields(page, f"/status/{TRACKING}/survey")
    return browser.post(
        f"/status/{TRACKING}/survey", data={**hidden, **fields}, follow_redirects=False
    )


def test_a_family_who_filed_by_phone_answers_the_survey_on_its_status_page_once(
    browser: TestClient, services: Services
) -> None:
    page = browser.get(PERSONAL_LINK).text  # the link read out by phone, or the confirmation's
    assert "How did we do?" in page
    assert f'action="/status/{TRACKING}/survey"' in page
    assert "/survey/" not in page.replace(f"/status/{TRACKING}/survey", "")  # no token shown
    assert 'name="score"' in page and 'id="comment"' in page

    sent = answer(browser, page, score="5", comment="Very kind, thank you.")
    assert sent.status_code == 303 and sent.headers["location"] == f"/status/{TRACKING}"
    assert services.answers == [{"score": 5, "comment": "Very kind, thank you."}]
    thanked = browser.get(f"/status/{TRACKING}").text
    assert "Thank you for your answer." in thanked
    assert "You answered our survey about this concern." in thanked
    assert f'action="/status/{TRACKING}/survey"' not in thanked  # once: no second form

    # a second post (another tab) does not make a second answer
    again = answer(browser, page, score="1")
    assert again.status_code == 303 and len(services.answers) == 1


def test_a_family_who_opened_the_concern_with_its_pin_is_offered_the_survey_in_spanish(
    browser: TestClient,
) -> None:
    hidden = form_fields(browser.get("/status").text, "/status")
    browser.post(
        "/status",
        data={**hidden, "tracking_number": TRACKING, "access_token": str(RECEIPT["pin"])},
    )
    browser.cookies.set(LANGUAGE_COOKIE, "es")
    page = browser.get(f"/status/{TRACKING}").text
    assert "¿Cómo lo hicimos?" in page
    assert "Puede responder una vez: aquí, o con el enlace de nuestro mensaje" in page
    assert "Muy satisfecho" in page


def test_a_survey_answered_with_the_mailed_link_is_not_offered_again(
    browser: TestClient, services: Services
) -> None:
    services.answers.append({"score": 3})  # by the link in the resolution mail
    page = browser.get(PERSONAL_LINK).text
    assert "You answered our survey about this concern." in page
    assert 'name="score"' not in page


def test_an_answer_without_a_score_comes_back_with_the_comment_kept(
    browser: TestClient, services: Services
) -> None:
    page = browser.get(PERSONAL_LINK).text
    refused = answer(browser, page, comment="Quick answer.")
    assert refused.status_code == 400
    assert "Choose how satisfied you are." in refused.text
    assert 'href="#score"' in refused.text and "Quick answer." in refused.text
    assert services.answers == []


def test_the_concern_shows_without_a_survey_when_notify_does_not_answer_or_has_none(
    browser: TestClient, services: Services
) -> None:
    services.notify_down = True
    page = browser.get(PERSONAL_LINK)
    assert page.status_code == 200
    assert "The bus stops at Oak Street again." in page.text and 'name="score"' not in page.text
    services.notify_down, services.survey_known = False, False
    assert 'name="score"' not in browser.get(f"/status/{TRACKING}").text
    # a concern being worked on asks notify nothing
    services.view.update(status="acknowledged", resolution=None)
    services.requests.clear()
    browser.get(f"/status/{TRACKING}")
    assert not [r for r in services.requests if r.url.path == SURVEY]


def test_the_status_page_names_the_team_in_the_familys_language(
    browser: TestClient, services: Services
) -> None:
    english = browser.get(PERSONAL_LINK).text
    assert "Transportation Department" in english
    browser.cookies.set(LANGUAGE_COOKIE, "es")
    spanish = browser.get(f"/status/{TRACKING}").text
    assert "Departamento de Transporte" in spanish and "Transportation Department" not in spanish
    # a name the district file does not know is shown as intake gives it
    services.view["team_name"] = "Facilities"
    assert "Facilities" in browser.get(f"/status/{TRACKING}").text
