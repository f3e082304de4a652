"""Two replicas of the family web behind a load balancer without sticky sessions, sharing
nothing but intake (and the district's FORM_SECRET): a family chooses files on one, removes
one and checks its answers on the other, sends on the first, and the concern gets its files."""

# ruff: noqa: F811  (pytest fixtures imported from test_intake_api are parameters here)

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import aio_pika
import httpx
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from frontends.web.main import create_app as web_app
from frontends.web.settings import WebSettings
from services.intake.main import create_app as intake_app
from shared.clock import FakeClock
from tests.conftest import Isolation, bearer
from tests.integration.test_intake_api import clock, intake_settings  # noqa: F401
from tests.unit.test_web_pages import ANSWERS, form_fields

pytestmark = pytest.mark.integration

STAFF = bearer("specialist", sub="tr-lead")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2048
PDF = b"%PDF-1.7\n" + b"x" * 100


class Balancer(httpx.AsyncBaseTransport):
    """The district's load balancer: each request goes to the replica `to` names."""

    def __init__(self, replicas: list[FastAPI]) -> None:
        self.replicas = [httpx.ASGITransport(app=app) for app in replicas]
        self.to = 0
        self.served: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.served.append(self.to)
        return await self.replicas[self.to].handle_async_request(request)


@pytest.fixture
async def intake(
    mongo_url: str,
    amqp_url: str,
    isolation: Isolation,
    clock: FakeClock,
    mongo: AsyncMongoClient,
    amqp: aio_pika.abc.AbstractRobustConnection,
) -> AsyncIterator[FastAPI]:
    settings = intake_settings(mongo_url, amqp_url, isolation)
    app = intake_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def family(intake: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, Balancer]]:
    """A family's browser, reaching two web replicas (two app objects, each its own clients
    and state) through the balancer."""
    async with AsyncExitStack() as stack:
        replicas = []
        for _ in range(2):
            app = web_app(
                WebSettings(form_secret="the-district-form-secret"),
                transport=httpx.ASGITransport(app=intake),
            )
            await stack.enter_async_context(app.router.lifespan_context(app))
            replicas.append(app)
        balancer = Balancer(replicas)
        browser = await stack.enter_async_context(
            httpx.AsyncClient(transport=balancer, base_url="http://127.0.0.1:8000")
        )
        yield browser, balancer


async def test_a_form_chosen_on_one_replica_is_checked_on_another_and_sent_on_the_first(
    family: tuple[httpx.AsyncClient, Balancer], intake: FastAPI
) -> None:
    browser, balancer = family
    balancer.to = 0
    form = form_fields((await browser.get("/concern/new")).text, "/concern/check")
    chosen = await browser.post(
        "/concern/check",
        data={**form, **ANSWERS},
        files=[
            ("files", ("bus-stop.png", PNG, "image/png")),
            ("files", ("letter.pdf", PDF, "application/pdf")),
        ],
    )
    assert chosen.status_code == 200, chosen.text
    assert "bus-stop.png (2 KB)" in chosen.text and "letter.pdf (1 KB)" in chosen.text

    balancer.to = 1  # the other replica has never seen this family
    removed = re.search(
        r'name="remove_file" value="([^"]+)">[^<]*<span class="visually-hidden"> letter.pdf',
        chosen.text,
    )
    assert removed, chosen.text
    check = await browser.post(
        "/concern/check",
        data={**form_fields(chosen.text, "/concern/send"), "remove_file": removed.group(1)},
    )
    assert check.status_code == 200, check.text
    assert "bus-stop.png (2 KB)" in check.text and "letter.pdf" not in check.text

    balancer.to = 0
    sent = await browser.post("/concern/send", data=form_fields(check.text, "/concern/send"))
    balancer.to = 1
    confirmation = await browser.get(sent.headers["location"]) if sent.is_redirect else sent
    assert confirmation.status_code == 200, confirmation.text
    tracking = re.search(r"CS-\d{4}-\d{6}", confirmation.text)
    assert tracking and "bus-stop.png" in confirmation.text
    assert "not added" not in confirmation.text and "no agregado" not in confirmation.text
    assert set(balancer.served) == {0, 1}

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=intake), base_url="http://intake", headers=STAFF
    ) as staff:
        found = (await staff.get("/v1/concerns", params={"q": tracking.group(0)})).json()
        [concern_id] = [c["id"] for c in found["items"]]
        files = (await staff.get(f"/v1/concerns/{concern_id}/attachments")).json()
        assert [(f["filename"], f["size"]) for f in files] == [("bus-stop.png", len(PNG))]
