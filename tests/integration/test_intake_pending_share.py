"""One family address cannot fill the room every family's pending files share: each new form
(a new browser cookie) had its own allowance, so one address holding many forms took all of
`PENDING_FILES_MAX_BYTES` for an hour and every other family was told to add its files later.
An address holds at most `PENDING_FILES_CLIENT_MAX_BYTES` across its forms."""

# ruff: noqa: F811  (pytest fixtures imported from the pending files tests are parameters here)

from __future__ import annotations

import hashlib

import httpx
import pytest
from fastapi import FastAPI

from services.intake.pending import PendingSettings
from shared.ratelimit import FORWARDED_FOR_HEADER
from tests.integration.test_intake_api import clock  # noqa: F401
from tests.integration.test_intake_pending_files import PDF, app, intake, put  # noqa: F401

pytestmark = pytest.mark.integration


def form(n: int) -> str:
    return hashlib.sha256(f"form {n}".encode()).hexdigest()[:40]


async def test_one_address_cannot_take_the_room_all_families_share(
    app: FastAPI, intake: httpx.AsyncClient
) -> None:
    app.state.pending_settings = PendingSettings(
        pending_files_form_max_bytes=2500,
        pending_files_max_bytes=4000,
        pending_files_client_max_bytes=2000,
    )
    big = PDF + b"x" * 900  # under a form's and an address's allowance alone
    intake.headers[FORWARDED_FOR_HEADER] = "203.0.113.9"
    taken = [
        (await put(intake, f"{n}.pdf", big, "application/pdf", form=form(n))).status_code
        for n in range(4)
    ]
    assert taken[:2] == [201, 201] and set(taken[2:]) == {429}
    refused = await put(intake, "more.pdf", big, "application/pdf", form=form(9))
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    # another family still keeps its photo
    intake.headers[FORWARDED_FOR_HEADER] = "198.51.100.4"
    other = await put(intake, "bus.pdf", big, "application/pdf", form=form(20))
    assert other.status_code == 201, other.text
