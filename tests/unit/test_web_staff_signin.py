"""The staff sign-in, through the web's routes (no service reached): the provider's sign-in
is the authorization code flow with PKCE; the session cookie is kept to /staff, HttpOnly, and
Secure behind https; it ends after the district's idle timeout or with Sign out; the local
sign-in exists in development only; the page a person asked for is kept through the sign-in,
and a Board member's home is the Board's dashboard."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from frontends.web.main import create_app
from frontends.web.settings import WebSettings
from frontends.web.staff import signin

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


def test_a_session_left_idle_past_the_districts_timeout_asks_to_sign_in_again(
    browser: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    signed_in = sign_in(browser, browser.get("/staff/sign-in"), "specialist")
    assert signed_in.status_code == 303
    started = time.time()
    # used within the timeout (30 minutes by default), the session slides on
    monkeypatch.setattr(signin.time, "time", lambda: started + 29 * 60)
    assert browser.get("/staff", follow_redirects=False).headers["location"] == "/staff/queue"
    monkeypatch.setattr(signin.time, "time", lambda: started + 58 * 60)
    assert browser.get("/staff", follow_redirects=False).headers["location"] == "/staff/queue"
    # then left 31 minutes: the next page is the sign-in, and the session is gone
    monkeypatch.setattr(signin.time, "time", lambda: started + 89 * 60)
    idle = browser.get("/staff", follow_redirects=False)
    assert idle.status_code == 303 and idle.headers["location"].startswith("/staff/sign-in?")
    monkeypatch.setattr(signin.time, "time", lambda: started + 90 * 60)
    assert (
        browser.get("/staff", follow_redirects=False)
        .headers["location"]
        .startswith("/staff/sign-in?")
    )


def test_signing_out_ends_the_session_and_its_cookie_is_kept_to_the_console(
    browser: TestClient,
) -> None:
    signed_in = sign_in(browser, browser.get("/staff/sign-in"), "specialist")
    cookie = signed_in.headers["set-cookie"].lower()
    assert cookie.startswith(f"{signin.SESSION_COOKIE}=")
    assert "path=/staff" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert browser.get("/staff", follow_redirects=False).headers["location"] == "/staff/queue"
    form = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/staff/sign-in").text)
    assert form is not None
    out = browser.post(
        "/staff/sign-out", data={"csrf_token": form.group(1)}, follow_redirects=False
    )
    assert out.headers["location"] == "/staff/sign-in?problem=signed-out"
    assert (
        browser.get("/staff", follow_redirects=False)
        .headers["location"]
        .startswith("/staff/sign-in?")
    )


def test_the_session_cookie_is_secure_behind_https() -> None:
    services = httpx.MockTransport(lambda request: httpx.Response(503))
    settings = WebSettings(environment="development", public_base_url="https://bureau.example.org")
    with TestClient(
        create_app(settings, transport=services), base_url="https://bureau.example.org"
    ) as https:
        signed_in = sign_in(https, https.get("/staff/sign-in"), "specialist")
        assert "; secure" in signed_in.headers["set-cookie"].lower()


def test_the_providers_sign_in_is_the_code_flow_with_a_pkce_challenge(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OIDC_ISSUER", "https://idp.example.org")
    monkeypatch.setenv("OIDC_CLIENT_ID", "bureau-staff-console")
    services = httpx.MockTransport(lambda request: httpx.Response(503))
    app = create_app(WebSettings(environment="development"), transport=services)
    # the provider's discovery document, as Authlib would read it
    app.state.staff_signin.oauth.district.server_metadata.update(
        {
            "issuer": "https://idp.example.org",
            "authorization_endpoint": "https://idp.example.org/authorize",
            "token_endpoint": "https://idp.example.org/token",
            "jwks_uri": "https://idp.example.org/jwks",
            "_loaded_at": time.time(),
        }
    )
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        assert "Sign in with your district account" in client.get("/staff/sign-in").text
        to_provider = client.get("/staff/sign-in/provider", follow_redirects=False)
    assert to_provider.status_code == 302
    where = httpx.URL(to_provider.headers["location"])
    asked = dict(where.params)
    assert str(where.copy_with(query=None)) == "https://idp.example.org/authorize"
    assert asked["response_type"] == "code" and asked["client_id"] == "bureau-staff-console"
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) >= 43
    assert asked["state"] and "openid" in asked["scope"].split()
    assert asked["redirect_uri"] == "http://127.0.0.1:8000/staff/sign-in/callback"


def test_the_local_sign_in_is_refused_outside_development() -> None:
    settings = WebSettings(
        environment="production",
        form_secret=SecretStr("a-real-secret-of-the-district-0123456789"),
        bureau_client_token=SecretStr("token-from-the-provider"),
    )
    services = httpx.MockTransport(lambda request: httpx.Response(503))
    with TestClient(create_app(settings, transport=services)) as client:
        page = client.get("/staff/sign-in")
        assert "Development sign-in" not in page.text
        answer = client.post(
            "/staff/sign-in/development", data={"role": "admin", "sub": "intruder"}
        )
        assert answer.status_code == 403
        assert client.get("/staff/queue", follow_redirects=False).status_code == 303
