"""A parent goes from the start page to a resolved, surveyed concern in a real Chromium, with
the keyboard only, in Spanish; axe-core finds no WCAG 2.1 AA violation on any page, in either
language, with and without errors shown; each page reflows at 320 px and at 200 % zoom."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, BrowserContext, Page, expect

from devtools.bureau import LocalBureau
from devtools.launcher import free_port
from devtools.screenshots import SURVEY_LINK
from frontends.web.main import create_app
from frontends.web.security import ACCESS_COOKIE, LANGUAGE_COOKIE
from frontends.web.settings import WebSettings
from tests.conftest import bearer
from tests.unit.test_web_family_status import PERSONAL_LINK, VIEW, Intake

pytestmark = pytest.mark.browser

AXE = Axe()
WCAG_AA = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"],
    },
    "resultTypes": ["violations"],
}
STAFF = bearer("specialist", sub="sd-lead")
EMAIL = "maria.gonzalez@example.org"


class Pages:
    """Checks every page a test visits: axe, and a screenshot kept as a test artifact."""

    def __init__(self, page: Page, artifacts: Path) -> None:
        self.page = page
        self.artifacts = artifacts
        self.checked: list[str] = []

    async def check(self, name: str) -> None:
        lang = await self.page.locator("html").get_attribute("lang")
        await self.page.screenshot(path=str(self.artifacts / f"{name}-{lang}.png"), full_page=True)
        results = await AXE.run(self.page, options=WCAG_AA)
        assert results.violations_count == 0, f"{name} ({lang}):\n{results.generate_report()}"
        # Reflow (WCAG 1.4.10): at 320 CSS px (1280 px at 400 %) and at 640 CSS px (1280 px
        # at 200 % zoom) nothing scrolls sideways.
        size = self.page.viewport_size
        for viewport in (320, 640):
            await self.page.set_viewport_size({"width": viewport, "height": 640})
            width = await self.page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport, f"{name} ({lang}) is {width} px wide at {viewport} px"
        if size:
            await self.page.set_viewport_size(size)
        self.checked.append(f"{name}-{lang}")


async def tab_to(page: Page, selector: str, presses: int = 80) -> None:
    """Press Tab until the element is focused: proves it is reachable by keyboard."""
    target = page.locator(selector)
    for _ in range(presses):
        await page.keyboard.press("Tab")
        if await target.evaluate("e => e === document.activeElement"):
            return
    raise AssertionError(f"{selector} is not reachable with the Tab key")


async def choose_radio(page: Page, name: str, value: str) -> None:
    """Tab into a radio group, then arrow keys until `value` is chosen."""
    group = f"input[type=radio][name={name}]"
    for _ in range(80):
        await page.keyboard.press("Tab")
        if await page.evaluate(f"document.activeElement.matches({group!r})"):
            break
    else:
        raise AssertionError(f"radio group {name} is not reachable with the Tab key")
    await page.keyboard.press("Space")
    for _ in range(12):
        if await page.locator(f"{group}[value={value!r}]").is_checked():
            return
        await page.keyboard.press("ArrowDown")
    raise AssertionError(f"could not choose {value} in {name} with the arrow keys")


async def choose_option(page: Page, selector: str, value: str) -> None:
    await tab_to(page, selector)
    select = page.locator(selector)
    for _ in range(20):
        if await select.input_value() == value:
            return
        await page.keyboard.press("ArrowDown")
    raise AssertionError(f"could not choose {value} in {selector} with the arrow keys")


async def type_into(page: Page, selector: str, text: str) -> None:
    await tab_to(page, selector)
    await page.keyboard.type(text)


async def press_on(page: Page, selector: str) -> None:
    await tab_to(page, selector)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")


async def send_anonymously(page: Page, form: str, description: str) -> tuple[str, str]:
    """An anonymous concern ("other") sent from the form at `form`, clicked through without
    the keyboard test's care; its tracking number and PIN from the confirmation shown."""
    await page.goto(form)
    await page.check("#category-other")
    await page.fill("#description", description)
    await page.check("#contact-none")
    await page.click("form button[type=submit]")
    await page.click("form[action='/concern/send'] button")
    tracking = (await page.locator(".reference").inner_text()).strip()
    pin = (await page.locator(".row", has_text="PIN").locator("code").inner_text()).strip()
    return tracking, pin


def staff_resolves(intake: str, tracking: str) -> None:
    with httpx.Client(base_url=intake, headers=STAFF, timeout=10) as http:
        items = http.get("/v1/concerns", params={"q": tracking}).json()["items"]
        concern_id = next(c["id"] for c in items if c["tracking_number"] == tracking)
        http.post(
            f"/v1/concerns/{concern_id}/replies",
            json={"message": "Hablamos con el conductor; la parada vuelve a la ruta."},
        ).raise_for_status()
        http.post(
            f"/v1/concerns/{concern_id}/resolve",
            json={
                "summary": "La hoja de ruta había omitido su parada. Se restableció desde el lunes."
            },
        ).raise_for_status()


async def test_parent_in_spanish_goes_from_start_page_to_survey_with_keyboard_only(
    bureau: LocalBureau, browser: Browser, artifacts: Path
) -> None:
    web = bureau.url("web")
    smtp = bureau.smtp
    assert smtp is not None
    context = await browser.new_context(locale="en-US", viewport={"width": 1024, "height": 800})
    page = await context.new_page()
    page.set_default_timeout(10_000)
    pages = Pages(page, artifacts)

    # Start page in English (the browser's language), then switch to Spanish by keyboard.
    await page.goto(web)
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await pages.check("start")
    await press_on(page, "a[hreflang=es]")
    await expect(page.locator("html")).to_have_attribute("lang", "es")
    await expect(page.locator("h1")).to_contain_text("Cuéntenos")
    await pages.check("start")

    # The form, first sent empty: the error summary links to each field.
    await press_on(page, "main a[href='/concern/new']")
    await pages.check("form")
    await press_on(page, "form button[type=submit]")
    await expect(page.locator(".error-summary")).to_contain_text("Elija el tema de su inquietud")
    await expect(page).to_have_title(re.compile("^Error:"))
    await pages.check("form-errors")
    await tab_to(page, ".error-summary a[href='#description']")

    # Filled in with the keyboard only.
    await choose_radio(page, "category", "transportation")
    await choose_option(page, "#school_id", "lincoln-es")
    await type_into(
        page,
        "#description",
        "El autobús escolar no pasó por nuestra parada tres mañanas esta semana.",
    )
    await choose_radio(page, "contact", "email")
    await type_into(page, "#name", "María González")
    await type_into(page, "#email", EMAIL)
    await type_into(page, "#student_name", "Lucía González")
    await press_on(page, "form button[type=submit]")
    await expect(page.locator("h1")).to_contain_text("Revise sus respuestas")
    await expect(page.locator(".summary-list")).to_contain_text("Primaria Lincoln")
    await pages.check("check")

    await press_on(page, "form[action='/concern/send'] button")
    tracking = (await page.locator(".reference").inner_text()).strip()
    assert re.fullmatch(r"CS-\d{4}-\d{6}", tracking)
    await expect(page.locator("main")).to_contain_text("La resolveremos a más tardar el")
    await pages.check("confirmation")

    # The acknowledgement arrives in Spanish with the status link to this site.
    ack = (
        await asyncio.to_thread(
            smtp.wait_for, lambda m: EMAIL in m.recipients and tracking in m.text
        )
    )[0]
    assert f"{web}/status/{tracking}" in ack.text

    # The personal status link, then a message.
    await press_on(page, "a.status-link")
    await expect(page).to_have_url(f"{web}/status/{tracking}")
    await expect(page.locator("h1")).to_have_text("Su inquietud")
    await pages.check("status")
    await press_on(page, "form[action$='/message'] button")
    await expect(page.locator(".error-summary")).to_contain_text("Escriba su mensaje")
    await pages.check("status-errors")
    await type_into(page, "#message", "Volvió a pasar esta mañana.")
    await press_on(page, "form[action$='/message'] button")
    await expect(page.locator(".notice")).to_contain_text("Su mensaje fue enviado")
    await expect(page.locator(".messages")).to_contain_text("Volvió a pasar esta mañana.")

    # A specialist answers and resolves; the parent reads the summary.
    await asyncio.to_thread(staff_resolves, bureau.url("intake"), tracking)
    await page.reload()
    await expect(page.locator(".resolution")).to_contain_text("La hoja de ruta había omitido")
    await expect(page.locator(".messages")).to_contain_text("Hablamos con el conductor")
    await pages.check("status-resolved")

    # The survey from the resolution mail: sent empty first, then answered once.
    resolution = (
        await asyncio.to_thread(
            smtp.wait_for,
            lambda m: EMAIL in m.recipients and SURVEY_LINK.search(m.text) is not None,
        )
    )[0]
    survey_url = SURVEY_LINK.search(resolution.text).group(0)  # type: ignore[union-attr]
    assert survey_url.startswith(f"{web}/survey/")
    await page.goto(f"{survey_url}?lang=en")
    await pages.check("survey")
    await page.click("form button[type=submit]")
    await pages.check("survey-errors")
    await page.goto(f"{survey_url}?lang=es")
    await pages.check("survey")
    await press_on(page, "form button[type=submit]")
    await expect(page.locator(".error-summary")).to_contain_text("Elija qué tan satisfecho")
    await pages.check("survey-errors")
    await choose_radio(page, "score", "4")
    await type_into(page, "#comment", "Rápido y claro.")
    await press_on(page, "form button[type=submit]")
    await expect(page.locator("h1")).to_have_text("Gracias por su respuesta")
    await pages.check("survey-thanks")
    await page.goto(survey_url)
    await expect(page.locator("h1")).to_have_text("Esta encuesta ya fue respondida")

    # The look-up page, with its errors, and a page that does not exist.
    await page.goto(f"{web}/status")
    await pages.check("lookup")
    await press_on(page, "form button[type=submit]")
    await expect(page.locator(".error-summary")).to_contain_text("Escriba su número de seguimiento")
    await pages.check("lookup-errors")
    await page.goto(f"{web}/no-such-page")
    await pages.check("not-found")

    # Every page again in English.
    await page.goto(f"{web}/?lang=en")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    for path, name in (
        (f"/status/{tracking}", "status-resolved"),
        ("/concern/sent", "confirmation"),
        ("/status", "lookup"),
        (survey_url, "survey-answered"),
        ("/no-such-page", "not-found"),
    ):
        await page.goto(path if path.startswith("http") else f"{web}{path}")
        await pages.check(name)
    await page.goto(f"{web}/concern/new")
    await pages.check("form")
    await page.click("form button[type=submit]")
    await pages.check("form-errors")
    await page.check("#category-other")
    await page.fill("#description", "A question about the school calendar.")
    await page.check("#contact-none")
    await page.click("form button[type=submit]")
    await pages.check("check")
    await page.goto(f"{web}/status")
    await page.click("form button[type=submit]")
    await pages.check("lookup-errors")
    await page.goto(f"{web}/status/{tracking}")
    await page.click("form[action$='/message'] button")
    await pages.check("status-errors")

    # The language switch of the form and of the check page keeps what was typed.
    await page.goto(f"{web}/concern/new")
    await page.check("#category-other")
    await page.fill("#description", "Una pregunta sobre el calendario escolar.")
    await press_on(page, "button[name=lang][value=es]")
    await expect(page.locator("h1")).to_have_text("Enviar una inquietud")
    await expect(page.locator("#description")).to_have_value(
        "Una pregunta sobre el calendario escolar."
    )
    await expect(page.locator("#category-other")).to_be_checked()
    await page.check("#contact-none")
    await page.click("form button[type=submit]")
    await press_on(page, "button[name=lang][value=en]")
    await expect(page.locator("h1")).to_contain_text("Check your answers")
    await expect(page.locator(".summary-list")).to_contain_text("el calendario escolar")
    await pages.check("check-switched")
    await context.close()


async def without_site_script(browser: Browser) -> BrowserContext:
    """A browser that refuses the site's script (site.js; CSP forbids any other)."""
    context = await browser.new_context(locale="en-US")
    await context.route("**/*.js", lambda route: route.abort())
    return context


async def test_anonymous_family_without_javascript_checks_by_number_and_code_and_reopens(
    bureau: LocalBureau, browser: Browser, artifacts: Path
) -> None:
    """Without the site's JavaScript (its one script refused: axe still runs in the page);
    another device opens the concern with the tracking number and access code typed in (a third
    with the PIN); after
    the resolution the family reopens it; a stale form and a wrong survey link are plain
    pages."""
    web = bureau.url("web")
    sender = await without_site_script(browser)
    page = await sender.new_page()
    page.set_default_timeout(10_000)
    pages = Pages(page, artifacts)
    description = "Nobody answers the phone at the front office."
    tracking, pin = await send_anonymously(page, f"{web}/concern/new", description)
    code = (await page.locator("code.token").inner_text()).strip()
    await expect(page.locator("main")).to_contain_text("You chose not to be contacted")
    await pages.check("confirmation-anonymous")
    await sender.close()

    other = await without_site_script(browser)
    page = await other.new_page()
    page.set_default_timeout(10_000)
    pages = Pages(page, artifacts)
    await page.goto(f"{web}/status")
    await page.fill("#tracking_number", tracking.lower())
    await page.fill("#access_token", code[:-1])
    await page.click("form button[type=submit]")
    await expect(page.locator(".error-summary")).to_contain_text("No concern matches")
    await page.fill("#access_token", code)
    await page.click("form button[type=submit]")
    await expect(page).to_have_url(f"{web}/status/{tracking}")
    await expect(page.locator("h1")).to_have_text("Your concern")

    # a third device, with the 6-digit PIN keyed in two groups instead of the long code
    by_pin = await without_site_script(browser)
    pin_page = await by_pin.new_page()
    pin_page.set_default_timeout(10_000)
    await pin_page.goto(f"{web}/status")
    await expect(pin_page.locator("label[for=access_token]")).to_have_text("Access code or PIN")
    await pin_page.fill("#tracking_number", tracking)
    await pin_page.fill("#access_token", f"{pin[:3]} {pin[3:]}")
    await pin_page.click("form button[type=submit]")
    await expect(pin_page).to_have_url(f"{web}/status/{tracking}")
    await expect(pin_page.locator("h1")).to_have_text("Your concern")
    await by_pin.close()

    await asyncio.to_thread(staff_resolves, bureau.url("intake"), tracking)
    await page.reload()
    await expect(page.locator(".resolution")).to_contain_text("La hoja de ruta")
    await page.fill("#reason", "The office still does not answer.")
    await page.click("form[action$='/reopen'] button")
    await expect(page.locator(".notice")).to_contain_text("Your concern is reopened")
    await expect(page.locator(".tag")).to_have_text("Reopened")
    await pages.check("status-reopened")

    # a form kept open past its cookie, and a survey link cut short
    await other.clear_cookies()
    await page.fill("#message", "Still nothing.")
    await page.click("form[action$='/message'] button")
    await expect(page.locator("h1")).to_have_text("This form has expired")
    await pages.check("form-expired")
    await page.goto(f"{web}/survey/{'x' * 43}")
    await expect(page.locator("h1")).to_have_text("This survey link does not work")
    await pages.check("survey-unknown")
    await other.close()


class RefusingIntake(Intake):
    """The stand-in intake, which can also refuse a family's look-up as too many (429)."""

    def __init__(self) -> None:
        super().__init__()
        self.too_many = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.too_many and request.url.path.startswith("/v1/tracking/"):
            return httpx.Response(429, json={"title": "Too many requests", "status": 429})
        return super().__call__(request)


@pytest.fixture
def web_on_stand_in() -> Iterator[tuple[str, RefusingIntake]]:
    """The family web served on a port, its services a stand-in the test sets: the states the
    real bureau reaches only in days (late) or by failing (a send intake did not answer)."""
    intake = RefusingIntake()
    app = create_app(WebSettings(), transport=httpx.MockTransport(intake))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the web did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", intake
    server.should_exit = True
    thread.join(10)


@pytest.mark.parametrize("lang", ["en", "es"])
async def test_the_rarer_pages_have_no_violation_either(
    web_on_stand_in: tuple[str, RefusingIntake], browser: Browser, artifacts: Path, lang: str
) -> None:
    """A late concern, a merged one, a send intake did not answer, too many look-ups, a
    service down and a form expired: axe in both languages."""
    web, intake = web_on_stand_in
    context = await browser.new_context()
    page = await context.new_page()
    page.set_default_timeout(10_000)
    pages = Pages(page, artifacts)
    await page.goto(f"{web}/?lang={lang}")

    intake.view = {
        **VIEW,
        "resolution_due_at": f"{datetime.now(UTC) - timedelta(hours=3):%Y-%m-%dT%H:%M:%SZ}",
    }
    await page.goto(f"{web}{PERSONAL_LINK}")
    await expect(page.locator(".notice-warning")).to_be_visible()
    await pages.check("status-late")
    intake.view = {
        **VIEW,
        "status": "closed",
        "merged": True,
        "can_reopen_until": f"{datetime.now(UTC) + timedelta(days=14):%Y-%m-%dT%H:%M:%SZ}",
    }
    await page.reload()
    await expect(page.locator("#reopen-title")).to_be_visible()
    await pages.check("status-merged")

    await page.goto(f"{web}/concern/new")
    await page.check("#category-transportation")
    await page.fill("#description", "The bus skipped our stop three times.")
    await page.check("#contact-none")
    await page.click("form button[type=submit]")
    intake.submission = httpx.Response(503, json={"title": "Unavailable", "status": 503})
    await page.click("form[action='/concern/send'] button")
    await expect(page.locator(".error-summary")).to_be_visible()
    await expect(page).to_have_title(re.compile("^Error:"))
    await pages.check("check-unsent")

    intake.too_many = True
    limited = await page.goto(f"{web}/status/{VIEW['tracking_number']}")
    assert limited is not None and limited.status == 429
    await pages.check("too-many")
    intake.too_many = False
    intake.down = True
    down = await page.goto(f"{web}/status/{VIEW['tracking_number']}")
    assert down is not None and down.status == 503
    await pages.check("unavailable")
    intake.down = False
    # the browser's access to the concern runs out while the family writes
    intake.view = dict(VIEW)
    await page.goto(f"{web}/status/{VIEW['tracking_number']}")
    await context.clear_cookies(name=ACCESS_COOKIE)
    await page.fill("#message", "The bus came late again.")
    await page.click("form[action$='/message'] button")
    await expect(page.locator(".inset")).to_contain_text("The bus came late again.")
    await pages.check("lookup-message-kept")

    await page.goto(f"{web}/status")
    await context.clear_cookies()
    await context.add_cookies([{"name": LANGUAGE_COOKIE, "value": lang, "url": web}])
    await page.fill("#tracking_number", str(VIEW["tracking_number"]))
    async with page.expect_response(f"{web}/status") as posted:
        await page.click("form button[type=submit]")
    assert (await posted.value).status == 400
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    await pages.check("form-expired")
    await context.close()
