"""A family who left no email and no number for texts (as a family calling the bureau may)
answers the satisfaction survey on its concern's status page, opened with the tracking number
and the PIN, in Spanish, without the site's script; the page names the team in Spanish, takes
one answer, and the Board's satisfaction figure counts it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from devtools.bureau import LocalBureau
from tests.browser.test_family_flow import (
    Pages,
    send_anonymously,
    staff_resolves,
    without_site_script,
)
from tests.conftest import bearer

pytestmark = pytest.mark.browser

# a staff reader of reports: exact counts (a Board member reads counts under 5 suppressed)
BOARD = bearer("auditor", sub="auditor-1")


def satisfaction_answers(escalation: str) -> int:
    """Survey answers the Board report counts for the days around today."""
    today = datetime.now(UTC).date()
    with httpx.Client(base_url=escalation, headers=BOARD, timeout=10) as http:
        report = http.get(
            "/v1/reports/board",
            params={
                "from": str(today - timedelta(days=1)),
                "to": str(today + timedelta(days=2)),
            },
        )
        report.raise_for_status()
        return int(report.json()["total"]["satisfaction_responses"])


async def test_a_family_without_email_or_sms_answers_the_survey_on_its_status_page(
    bureau: LocalBureau, browser: Browser, artifacts: Path
) -> None:
    web = bureau.url("web")
    context = await without_site_script(browser)
    page = await context.new_page()
    page.set_default_timeout(10_000)
    pages = Pages(page, artifacts)
    description = "Nadie contesta el teléfono de la oficina."
    tracking, pin = await send_anonymously(page, f"{web}/concern/new?lang=es", description)
    await context.close()

    await asyncio.to_thread(staff_resolves, bureau.url("intake"), tracking)

    # another day, another device: the tracking number and the PIN the family wrote down
    context = await without_site_script(browser)
    page = await context.new_page()
    page.set_default_timeout(10_000)
    pages = Pages(page, artifacts)
    await page.goto(f"{web}/status?lang=es")
    await page.fill("#tracking_number", tracking)
    await page.fill("#access_token", pin)
    await page.click("form button[type=submit]")
    await expect(page).to_have_url(f"{web}/status/{tracking}")
    await expect(page.locator(".summary-list")).to_contain_text("Mesa de Servicio")
    await expect(page.locator(".resolution")).to_contain_text("La hoja de ruta")
    survey = page.locator(f"form[action='/status/{tracking}/survey']")
    for _ in range(50):  # notify opens the survey as it hears of the resolution
        if await survey.count():
            break
        await asyncio.sleep(0.2)
        await page.reload()
    await expect(page.locator("#survey-title")).to_have_text("¿Cómo lo hicimos?")
    await pages.check("status-survey")

    await survey.locator("button").click()  # no score chosen
    await expect(page.locator(".error-summary")).to_contain_text("Elija qué tan satisfecho")
    await pages.check("status-survey-errors")
    await page.check("#score-4")
    await page.fill("#comment", "Nos llamaron al día siguiente.")
    await page.locator(f"form[action='/status/{tracking}/survey'] button").click()
    await expect(page.locator(".notice")).to_contain_text("Gracias por su respuesta.")
    await expect(page.locator("main")).to_contain_text("Usted ya respondió nuestra encuesta")
    await expect(page.locator(f"form[action='/status/{tracking}/survey']")).to_have_count(0)
    await pages.check("status-surveyed")
    await context.close()

    # the Board's satisfaction figure counts the answer (escalation hears survey.answered)
    escalation = bureau.url("escalation")
    for _ in range(100):
        if await asyncio.to_thread(satisfaction_answers, escalation) == 1:
            break
        await asyncio.sleep(0.2)
    assert await asyncio.to_thread(satisfaction_answers, escalation) == 1
