"""Intake's side of the family web's files, in-process on the real store: the limits it
publishes for a frontend to state and check, and a requester's file taken with their own
secret through a frontend (a wrong secret is the same 404 as an unknown number)."""

# ruff: noqa: F811  (pytest fixtures imported from test_intake_api are parameters here)

from __future__ import annotations

import httpx
import pytest

from tests.conftest import bearer
from tests.integration.test_intake_api import (  # noqa: F401
    clock,
    intake,
    submit,
)

pytestmark = pytest.mark.integration

FRONTEND = bearer("frontend", sub="web-frontend")
STAFF = bearer("specialist", sub="tr-lead")
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


async def test_intake_publishes_the_limits_a_frontend_states(intake: httpx.AsyncClient) -> None:
    answer = await intake.get("/v1/attachments/limits", headers=FRONTEND)
    assert answer.status_code == 200, answer.text
    limits = answer.json()
    assert limits["max_bytes"] == 10 * 1024 * 1024 and limits["per_concern"] == 20
    png = next(t for t in limits["types"] if t["content_type"] == "image/png")
    assert png == {"content_type": "image/png", "name": "PNG", "extensions": [".png"]}


async def test_a_requesters_file_is_taken_with_their_secret_and_staff_see_it(
    intake: httpx.AsyncClient,
) -> None:
    created = await submit(intake)
    url = f"/v1/tracking/{created['tracking_number']}/attachments"
    wrong = await intake.post(
        url,
        params={"filename": "carta.pdf"},
        content=PDF,
        headers={**FRONTEND, "X-Access-Token": "not-the-token", "Content-Type": "application/pdf"},
    )
    assert wrong.status_code == 404
    refused = await intake.post(
        url,
        params={"filename": "carta.pdf"},
        content=b"MZ\x90\x00",
        headers={
            **FRONTEND,
            "X-Access-Token": created["access_token"],
            "Content-Type": "application/pdf",
        },
    )
    assert refused.status_code == 415
    taken = await intake.post(
        url,
        params={"filename": "carta.pdf"},
        content=PDF,
        headers={
            **FRONTEND,
            "X-Access-Token": created["access_token"],
            "Content-Type": "application/pdf",
        },
    )
    assert taken.status_code == 201, taken.text
    listed = await intake.get(f"/v1/concerns/{created['id']}/attachments", headers=STAFF)
    assert [(f["filename"], f["size"]) for f in listed.json()] == [("carta.pdf", len(PDF))]
