"""`/docs` in a real Chromium that may reach nothing but the service: Swagger UI loads, a
developer pastes a token in Authorize and tries a staff route from the page."""

# ruff: noqa: F811  (the served-intake fixture is imported as a parameter)

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Route

from tests.conftest import STAFF_ROLES, bearer
from tests.integration.test_intake_open311_conformance import endpoint  # noqa: F401

pytestmark = pytest.mark.browser


async def test_docs_work_offline_and_a_pasted_token_opens_staff_routes(
    endpoint: str, browser: Browser
) -> None:
    base = endpoint.removesuffix("/open311/v2")
    token = bearer(*STAFF_ROLES, sub="developer")["Authorization"].removeprefix("Bearer ")
    context = await browser.new_context()
    elsewhere: list[str] = []

    async def only_the_service(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_the_service)
    page = await context.new_page()
    try:
        await page.goto(f"{base}/docs")
        await page.locator(".swagger-ui .btn.authorize").click()
        await page.locator(".modal-ux input").first.fill(token)
        await page.locator(".modal-ux .auth-btn-wrapper .btn.authorize").click()
        await page.locator(".modal-ux .btn-done").click()

        operation = page.locator(".opblock-get").filter(
            has=page.locator('.opblock-summary-path[data-path="/v1/concerns"]')
        )
        await operation.locator(".opblock-summary").click()
        await operation.locator(".try-out__btn").click()
        async with page.expect_response(lambda r: urlsplit(r.url).path == "/v1/concerns") as answer:
            await operation.locator(".execute").click()
        response = await answer.value
        assert response.request.headers["authorization"] == f"Bearer {token}"
        assert response.status == 200
        assert elsewhere == [], "the page asked for something outside the service"
    finally:
        await context.close()
