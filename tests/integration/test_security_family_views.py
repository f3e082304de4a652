"""What a family (or whoever holds its tracking number and code) reads of a concern, and what
staff download of the files it sent: a sensitive routing is never named to the family, and a
file's name cannot make a staff computer open it as something other than its checked type
(review of the survey, files and team-name changes of 2 December)."""

# ruff: noqa: F811  (pytest fixtures imported from test_intake_api are parameters here)

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared.clock import FakeClock
from shared.events import ConcernTriaged, Priority
from tests.conftest import bearer
from tests.integration.test_intake_api import clock, intake, submit  # noqa: F401
from tests.integration.test_intake_events import Publish, case_when, publish  # noqa: F401

pytestmark = pytest.mark.integration


async def family_view_once_routed(
    intake: httpx.AsyncClient,
    publish: Publish,
    clock: FakeClock,
    team_id: str,
    team_name: str,
    *,
    sensitive: bool = False,
) -> tuple[dict[str, Any], httpx.Response]:
    """A transportation concern routed to a team (by the special-education rule when
    `sensitive`), and what its family's tracking lookup answers then."""
    created = await submit(intake, category="transportation", school_id="lincoln-es")
    await publish(
        ConcernTriaged(
            concern_id=created["id"],
            category="transportation",
            school_id="lincoln-es",
            team_id=team_id,
            team_name=team_name,
            priority=Priority.HIGH if sensitive else Priority.NORMAL,
            rule="special-education-students" if sensitive else "category",
            triaged_at=clock.now(),
            sensitive=sensitive,
        )
    )
    await case_when(intake, created["id"], lambda c: c["team"] is not None)
    family = {"X-Access-Token": created["access_token"]}
    view = await intake.get(f"/v1/tracking/{created['tracking_number']}", headers=family)
    return created, view


async def test_the_familys_status_never_names_a_sensitive_team(
    intake: httpx.AsyncClient, publish: Publish, clock: FakeClock
) -> None:
    """A transportation concern about a special-education student is routed to the Special
    Education Department: the family's status (web page, phone, SMS all read this view) named
    that team, though the requester may be a neighbour or a bus driver and notify's mail
    never names it."""
    created, view = await family_view_once_routed(
        intake, publish, clock, "special-education", "Special Education Department", sensitive=True
    )
    assert view.status_code == 200, view.text
    assert view.json()["team_name"] == "Example Unified School District"  # as Open311 says
    assert "Special Education" not in view.text and "special-education" not in view.text
    # staff still see who owns it
    staff = bearer("specialist", sub="sped-1", teams=["special-education"])
    case = await intake.get(f"/v1/concerns/{created['id']}", headers=staff)
    assert case.json()["team"]["name"] == "Special Education Department"


async def test_a_routed_concern_still_names_its_team_to_the_family(
    intake: httpx.AsyncClient, publish: Publish, clock: FakeClock
) -> None:
    _, view = await family_view_once_routed(
        intake, publish, clock, "transportation", "Transportation Department"
    )
    assert view.json()["team_name"] == "Transportation Department"


FRONTEND = bearer("frontend", sub="web-frontend")
STAFF = bearer("specialist", sub="tr-lead")


async def test_a_file_keeps_the_ending_of_its_checked_type_when_staff_download_it(
    intake: httpx.AsyncClient,
) -> None:
    """Plain text and HEIC have no signature to check: a family's `letter.html` (a page with a
    script) sent as text, or `form.exe` (a program) sent as a HEIC photo, was taken and
    downloaded by staff under that name, so their computer opened it as a page or ran it."""
    created = await submit(intake)
    url = f"/v1/tracking/{created['tracking_number']}/attachments"
    family = {**FRONTEND, "X-Access-Token": created["access_token"]}
    sent = {
        "letter.html": ("text/plain", b"<html><script>alert(document.domain)</script></html>"),
        "form.exe": ("image/heic", b"MZ\x90\x00\x03\x00\x00\x00"),
        "Carta de la escuela.TXT": ("text/plain", b"Hola"),
    }
    for name, (kind, data) in sent.items():
        answer = await intake.post(
            url, params={"filename": name}, content=data, headers={**family, "Content-Type": kind}
        )
        assert answer.status_code == 201, answer.text
    listed = await intake.get(f"/v1/concerns/{created['id']}/attachments", headers=STAFF)
    names = {f["filename"]: f for f in listed.json()}
    assert sorted(names) == ["Carta de la escuela.TXT", "form.exe.heic", "letter.html.txt"]
    for name, kind in (("letter.html.txt", "text/plain"), ("form.exe.heic", "image/heic")):
        file = names[name]
        got = await intake.get(
            f"/v1/concerns/{created['id']}/attachments/{file['id']}", headers=STAFF
        )
        assert got.status_code == 200
        assert got.headers["content-type"].startswith(kind)
        assert got.headers["content-disposition"].startswith(f'attachment; filename="{name}"')
        assert got.headers["x-content-type-options"] == "nosniff"
