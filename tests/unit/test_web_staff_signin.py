"""The staff sign-in's landing page, through the web's routes (no service reached): the page
a person asked for is kept through the development sign-in, and a Board member's home is
the Board's dashboard."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from frontends.web.main import create_app
from frontends.web.settings import WebSettings

pytestmark = pytest.mark.unit


@pytest.fixture
def browser() -> Iterator[TestClient]:
    services = httpx.MockTransport(lambda request: httpx.Response(503))
    app = create_app(WebSettings(environment="development"), transport=services)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        yield client


def sign_in(browser: TestClient, sign_in_page: httpx.Response, role: str) -> httpx.Response:
    """Fill the development sign-in of the page shown, as a person would."""
    assert sign_in_page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', sign_in_page.text)
    assert token is not None
    return browser.post(
        "/staff/sign-in/development",
        data={"csrf_token": token.group(1), "role": role, "sub": "someone-1"},
        follow_redirects=False,
    )


def test_the_development_sign_in_lands_on_the_page_asked_for(browser: TestClient) -> None:
    asked = browser.get("/staff/board/training", follow_redirects=False)
    assert asked.status_code == 303
    signed_in = sign_in(browser, browser.get(asked.headers["location"]), "specialist")
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/staff/board/training"


@pytest.mark.parametrize("asked", ["/staff/sign-in", "/staff", "/board"])
def test_a_board_member_lands_on_the_board_dashboard(browser: TestClient, asked: str) -> None:
    page = browser.get(asked)  # the sign-in page (nothing, home or the Board asked for)
    landed = sign_in(browser, page, "board").headers["location"]
    if landed == "/staff":  # the console's home, asked for
        landed = browser.get("/staff", follow_redirects=False).headers["location"]
    assert landed == "/staff/board"
