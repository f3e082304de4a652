"""The Board's pages through the web's routes, the services answered by a stand-in: HR's CSV
imported from the staff console (`/staff/board/training`): what reaches triage, and what the
administrator is told (lines imported, lines refused and why, or why triage refused the
file); and figures the services refuse, the same answer on every Board page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from frontends.web.main import create_app
from frontends.web.settings import WebSettings
from frontends.web.staff.config import StaffSignInConfig
from shared.district import load_district

pytestmark = pytest.mark.unit

HR_EXPORT = (
    "staff_id,course,completed_on,pledge_version,pledge_signed_on\r\n"
    "sd-1,cs-101,2026-09-10,2026-1,2026-09-10\r\n"
    "nobody,cs-101,2026-09-10,,\r\n"
)


class Triage:
    """Triage's training routes, answering as `answer` says; records what it was sent."""

    def __init__(self) -> None:
        self.imports: list[httpx.Request] = []
        self.answer = httpx.Response(
            200,
            json={"imported": 1, "refused": [{"line": 3, "message": "unknown staff member"}]},
        )

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/training/needed":
            return httpx.Response(200, json=[])
        if request.url.path == "/v1/training/import":
            self.imports.append(request)
            return self.answer
        return httpx.Response(503)


@pytest.fixture
def triage() -> Triage:
    return Triage()


@pytest.fixture
def admin(triage: Triage) -> Iterator[TestClient]:
    """The web, an administrator signed in through the development sign-in."""
    app = create_app(WebSettings(environment="development"), transport=httpx.MockTransport(triage))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        page = client.get("/staff/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        signed = client.post(
            "/staff/sign-in/development",
            data={"csrf_token": token.group(1), "role": "admin", "sub": "admin-1"},
            follow_redirects=False,
        )
        assert signed.status_code == 303
        yield client


def upload(admin: TestClient, content: bytes) -> httpx.Response:
    page = admin.get("/staff/board/training")
    assert page.status_code == 200, page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None and "Import from HR" in page.text
    return admin.post(
        "/staff/board/training/import",
        data={"csrf_token": token.group(1)},
        files={"file": ("hr.csv", content, "text/csv")},
    )


def text_of(page: httpx.Response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))


def test_an_hr_export_reaches_triage_and_each_refused_line_is_named(
    admin: TestClient, triage: Triage
) -> None:
    page = upload(admin, HR_EXPORT.encode())
    assert page.status_code == 200, page.text
    [sent] = triage.imports
    assert sent.content == HR_EXPORT.encode()
    assert sent.headers["content-type"] == "text/csv"
    assert sent.headers["authorization"].startswith("Bearer ")
    shown: Any = text_of(page)
    assert "Lines imported 1." in shown
    assert "Line 3: unknown staff member" in shown


def test_a_file_triage_refuses_is_answered_with_triages_reason_not_a_date_hint(
    admin: TestClient, triage: Triage
) -> None:
    """A spreadsheet saved as UTF-16 (or one too large) was answered "That could not be
    recorded: check the date (YYYY-MM-DD)", the hint of the one-by-one form."""
    triage.answer = httpx.Response(
        422,
        json={"title": "Invalid request", "status": 422, "detail": "The CSV must be UTF-8 text."},
        headers={"content-type": "application/problem+json"},
    )
    page = upload(admin, HR_EXPORT.encode("utf-16"))
    shown = text_of(page)
    assert "The CSV must be UTF-8 text." in shown
    assert "check the date" not in shown


@pytest.mark.parametrize("path", ["/staff/board", "/staff/board/packet", "/staff/board/packet.csv"])
def test_figures_the_services_refuse_are_nothing_for_the_role_on_every_board_page(
    path: str,
) -> None:
    """The packet's CSV answered a refused report as "Sorry, there is a problem" (503)
    where the dashboard and the printable packet say there is nothing for the role."""

    def refusing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            403,
            json={"title": "Forbidden", "status": 403, "detail": "missing reports:read"},
            headers={"content-type": "application/problem+json"},
        )

    app = create_app(
        WebSettings(environment="development"), transport=httpx.MockTransport(refusing)
    )
    with TestClient(app, base_url="http://127.0.0.1:8000") as board:
        page = board.get("/staff/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        board.post(
            "/staff/sign-in/development",
            data={"csrf_token": token.group(1), "role": "board", "sub": "board-chair"},
            follow_redirects=False,
        )
        answer = board.get(path)
    assert answer.status_code == 403
    assert "Nothing here for your role" in answer.text


def test_the_example_district_maps_a_provider_group_to_the_board_role() -> None:
    """A Board member signs in with the district's provider like staff: without a group
    that gives the `board` role, the example district let no Board member in but by the
    development sign-in."""
    district = load_district(Path(__file__).parents[2] / "deploy" / "district.yaml")
    sign_in = district.section("staff_sign_in", StaffSignInConfig)
    assert sign_in.roles_for(["bureau-board"]) == ["board"]
