"""The survey on the status page is answered only by a browser that opened the concern with its
tracking number and its code or PIN (checked by intake), from the page's own form: another
family's tracking number, a wrong PIN, an altered access cookie or a post from another site
never reaches notify (which answers any tracking number a front door asks for)."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from frontends.web.security import ACCESS_COOKIE
from tests.unit.test_web_family_status import PERSONAL_LINK, TRACKING
from tests.unit.test_web_pages import RECEIPT, form_fields
from tests.unit.test_web_status_survey_and_team import Services, browser, services

pytestmark = pytest.mark.unit
__all__ = ["browser", "services"]  # a resolved concern's fixtures, shared

OTHER = "CS-2026-000008"  # another family's concern, its number seen on a letter or a screen


def survey_posts(services: Services) -> list[httpx.Request]:
    return [r for r in services.requests if r.url.path.endswith("/survey") and r.method == "POST"]


def test_another_familys_survey_is_not_answered_without_its_code_or_pin(
    browser: TestClient, services: Services
) -> None:
    page = browser.get(PERSONAL_LINK).text  # this browser opened its own concern
    hidden = form_fields(page, f"/status/{TRACKING}/survey")
    other = browser.post(
        f"/status/{OTHER}/survey", data={**hidden, "score": "1"}, follow_redirects=False
    )
    assert other.status_code == 403
    assert "enter your access code or PIN again" in other.text
    # a wrong PIN for the other concern opens nothing, and still answers nothing
    guessed = browser.post(
        "/status", data={**hidden, "tracking_number": OTHER, "access_token": "000000"}
    )
    assert guessed.status_code == 400
    again = browser.post(
        f"/status/{OTHER}/survey", data={**hidden, "score": "1"}, follow_redirects=False
    )
    assert again.status_code == 403
    assert survey_posts(services) == []
    assert services.answers == []


def test_an_altered_access_cookie_answers_nothing(browser: TestClient, services: Services) -> None:
    page = browser.get(PERSONAL_LINK).text
    hidden = form_fields(page, f"/status/{TRACKING}/survey")
    browser.cookies.set(ACCESS_COOKIE, f'{{"{TRACKING}": "{RECEIPT["pin"]}"}}')
    answer = browser.post(
        f"/status/{TRACKING}/survey", data={**hidden, "score": "1"}, follow_redirects=False
    )
    assert answer.status_code == 403
    assert survey_posts(services) == [] and services.answers == []


def test_a_survey_post_without_the_pages_token_answers_nothing(
    browser: TestClient, services: Services
) -> None:
    browser.get(PERSONAL_LINK)  # the family's browser holds its access
    # another site makes the family's browser post the form
    forged = browser.post(f"/status/{TRACKING}/survey", data={"score": "1"}, follow_redirects=False)
    assert forged.status_code == 400
    assert survey_posts(services) == [] and services.answers == []


def test_the_answer_goes_to_the_concern_intake_opened_not_to_the_address_posted(
    browser: TestClient, services: Services
) -> None:
    """Notify records the survey of the concern intake let the browser open, named by the
    tracking number intake gives back, never by the page's address (this stand-in intake
    opens the family's concern under any number; the real one answers 404)."""
    page = browser.get(PERSONAL_LINK).text
    hidden = form_fields(page, f"/status/{TRACKING}/survey")
    opened = browser.post(
        "/status",
        data={**hidden, "tracking_number": OTHER, "access_token": str(RECEIPT["access_token"])},
        follow_redirects=False,
    )
    assert opened.status_code == 303
    sent = browser.post(
        f"/status/{OTHER}/survey", data={**hidden, "score": "4"}, follow_redirects=False
    )
    assert sent.status_code == 303
    assert [r.url.path for r in survey_posts(services)] == [
        f"/v1/concerns/by-tracking/{TRACKING}/survey"
    ]
