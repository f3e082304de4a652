"""Staff work concerns in the console, in a real Chromium, signed in with a real OpenID Connect
provider (oidc-provider-mock): a specialist finds a new concern at the top of the queue, replies,
schedules and completes a callback and resolves it (the family's status page shows the
summary); two staff on one case get the stale-page message; a principal sees only their
school; a call-center agent takes a phone concern and reads back the number and PIN; the
Ombudsperson has their view; an administrator adds and deletes an SLA policy, and is told
what is refused. axe-core finds no WCAG 2.1 AA violation on any staff page."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from oidc_provider_mock import run_server_in_thread
from playwright.async_api import Browser, BrowserContext, Page, expect

from devtools.broker import delete_prefixed_topology
from devtools.bureau import LocalBureau
from devtools.launcher import SERVICES, free_port
from devtools.screenshots import web_district
from devtools.staff_screenshots import OVERSIGHT_CATEGORY, with_oversight_drill
from tests.browser.conftest import ARTIFACTS, bureau_env
from tests.browser.test_family_flow import AXE, WCAG_AA
from tests.conftest import Isolation, bearer, eventually

pytestmark = pytest.mark.browser

FAMILY = bearer("frontend", sub="web-frontend")
SIGN_IN = {
    "idle_timeout_minutes": 30,
    "oidc": {
        "claims": {"groups": "groups", "schools": "schools", "teams": "teams", "name": "name"},
        "groups": {
            "bureau-specialists": ["specialist"],
            "bureau-principals": ["principal"],
            "bureau-call-center": ["intake_agent"],
            "bureau-ombudsperson": ["ombudsperson"],
            "bureau-admins": ["admin"],
        },
    },
}
PEOPLE: dict[str, dict[str, Any]] = {
    "sd-1": {"name": "Rosa Jiménez", "groups": ["bureau-specialists"]},
    "sd-2": {"name": "Kevin Nguyen", "groups": ["bureau-specialists"]},
    "p-lincoln": {
        "name": "Dana Whitfield",
        "groups": ["bureau-principals"],
        "schools": ["lincoln-es"],
    },
    "cc-1": {"name": "Ines Call", "groups": ["bureau-call-center"]},
    "ombuds": {"name": "Grace Liu", "groups": ["bureau-ombudsperson"]},
    "admin-1": {"name": "Pat Admin", "groups": ["bureau-admins"]},
}


@dataclass
class Console:
    bureau: LocalBureau
    web: str
    intake: str
    artifacts: Path


@pytest.fixture(scope="module")
def console(
    tmp_path_factory: pytest.TempPathFactory, mongo_url: str, amqp_url: str
) -> Iterator[Console]:
    """The bureau, its web frontend and an OpenID Connect provider knowing five staff, once
    for the module (each test makes its own concerns)."""
    tmp = tmp_path_factory.mktemp("staff")
    isolation = Isolation(uuid.uuid4().hex[:10])
    with run_server_in_thread(port=0) as provider:
        issuer = f"http://localhost:{provider.server_port}"
        for sub, claims in PEOPLE.items():
            httpx.put(f"{issuer}/users/{sub}", json=claims).raise_for_status()
        web_port = free_port()
        base_url = f"http://127.0.0.1:{web_port}"
        district_file = web_district(tmp / "district.yaml", base_url)
        district = yaml.safe_load(district_file.read_text())
        district["staff_sign_in"] = SIGN_IN
        with_oversight_drill(district)  # Pre-K concerns reach the Ombudsperson in seconds
        district_file.write_text(yaml.safe_dump(district, allow_unicode=True))
        env = bureau_env(isolation, mongo_url, amqp_url, district_file, base_url)
        local = LocalBureau(workdir=tmp, env=env)
        local.ports["web"] = web_port
        local.start_smtp()
        try:
            local.start_services(
                per_service_env={name: {"MONGO_DB": isolation.db(name)} for name in SERVICES}
            )
            local.start_frontends(
                ("web",),
                env={
                    "OIDC_ISSUER": issuer,
                    "OIDC_CLIENT_ID": "bureau-staff-console",
                    "OIDC_CLIENT_SECRET": "test-client-secret",
                },
            )
            artifacts = ARTIFACTS / "staff"
            artifacts.mkdir(parents=True, exist_ok=True)
            yield Console(local, base_url, local.url("intake"), artifacts)
        finally:
            local.stop()
            asyncio.run(
                delete_prefixed_topology(
                    amqp_url,
                    isolation.queue_prefix,
                    (isolation.events_exchange, isolation.private_exchange),
                )
            )


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    yield ctx
    await ctx.close()


async def check(page: Page, console: Console, name: str) -> None:
    """axe on the page (no WCAG 2.1 AA violation), and a screenshot kept as an artifact."""
    await page.screenshot(path=str(console.artifacts / f"{name}.png"), full_page=True)
    results = await AXE.run(page, options=WCAG_AA)
    assert results.violations_count == 0, f"{name}:\n{results.generate_report()}"


async def sign_in(page: Page, console: Console, sub: str, start: str = "/staff/queue") -> None:
    """Through the provider's own authorization page, as the person `sub`."""
    await page.goto(console.web + start)
    await expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    await page.get_by_role("link", name="Sign in with your district account").click()
    await page.locator("input[name=sub]").fill(sub)
    await page.get_by_role("button", name="Authorize").click()
    await expect(page.get_by_text(f"Signed in as {PEOPLE[sub]['name']}")).to_be_visible()


def submit(console: Console, **fields: Any) -> dict[str, Any]:
    """A family's concern, as the family web submits it; its receipt."""
    body = {
        "channel": "web",
        "category": "transportation",
        "description": "The bus to Lincoln Elementary did not come this morning.",
        "requester": {"email": "maria@example.org", "language": "en"},
        **fields,
    }
    response = httpx.post(f"{console.intake}/v1/concerns", json=body, headers=FAMILY)
    response.raise_for_status()
    receipt: dict[str, Any] = response.json()
    return receipt


async def test_specialist_finds_new_concern_first_replies_schedules_callback_and_resolves(
    console: Console, context: BrowserContext
) -> None:
    receipt = submit(
        console,
        description="The bus to Lincoln Elementary left my son behind.",
        student={"name": "Lucia Gonzalez", "grade": "4"},
    )
    tracking = receipt["tracking_number"]
    page = await context.new_page()
    await page.goto(console.web + "/staff/queue")
    await check(page, console, "sign-in")
    await sign_in(page, console, "sd-1")
    await expect(page.get_by_role("heading", name="Work queue", exact=True)).to_be_visible()
    first = page.locator("table.queue tbody tr").first.locator("th a")
    await expect(first).to_have_text(tracking)
    await check(page, console, "queue")

    await first.click()
    await expect(page.get_by_role("heading", name=re.compile(f"Case {tracking}"))).to_be_visible()
    await expect(page.get_by_text("left my son behind")).to_be_visible()
    await check(page, console, "case")
    await expect(page.get_by_text("Lucia Gonzalez")).to_have_count(0)
    await page.get_by_label(re.compile("^Why you need to see it")).fill(
        "Calling the family about the bus stop for this student."
    )
    await page.get_by_role("button", name="Reveal").click()
    await expect(page.get_by_text("Lucia Gonzalez")).to_be_visible()

    reply = page.get_by_role("textbox", name=re.compile("^Reply"))
    await reply.fill("We are calling the bus company now.")
    await page.get_by_role("button", name="Send reply").click()
    await expect(page.get_by_role("status")).to_have_text("Reply sent to the family.")
    await page.get_by_label(re.compile("^Call back by")).fill("2026-12-30T10:30")
    await page.get_by_role("button", name="Schedule callback").click()
    await expect(page.get_by_role("status")).to_have_text("Callback scheduled.")
    await check(page, console, "case-callback")  # the callback to make, with its form
    await expect(page.get_by_text("maria@example.org")).to_have_count(0)
    await page.get_by_label("Why you need it", exact=True).fill("Calling back about the bus.")
    await page.get_by_role("button", name="Show the contact").click()
    await expect(page.get_by_role("link", name="maria@example.org")).to_be_visible()
    await check(page, console, "case-contact")
    await page.get_by_label("Left a voicemail").check()
    await page.get_by_role("button", name="Complete callback").click()
    await expect(page.get_by_role("status")).to_have_text("Callback recorded.")
    await expect(page.locator(".callbacks")).to_contain_text("Done: voicemail")
    summary = "The driver missed the stop; the route now stops at Oak Street at 7:40."
    await page.get_by_role("textbox", name=re.compile("^Summary")).fill(summary)
    await page.get_by_role("button", name="Resolve").click()
    await expect(page.get_by_role("status")).to_have_text("Resolved; the family sees the summary.")
    await expect(page.locator("h1 .tag")).to_have_text("Resolved")
    await check(page, console, "case-resolved")
    sent = page.get_by_text(re.compile("^Messages sent about this case"))

    async def deliveries_listed() -> bool | None:
        await page.reload()
        return await sent.count() == 1 or None

    await eventually(deliveries_listed, timeout_s=20, interval_s=0.5, what="deliveries listed")
    await sent.click()
    await expect(page.locator("#deliveries")).to_contain_text(
        "acknowledgement by email to the family (m"
    )
    await check(page, console, "case-deliveries")

    await page.get_by_role("link", name="Administration").click()
    await expect(page.get_by_role("heading", name="Routing rules")).to_be_visible()
    await check(page, console, "admin")
    await page.get_by_label("Category").select_option("safety")
    await page.get_by_label("Description").fill("A student brought a weapon to school.")
    await page.get_by_role("button", name="Try it").click()
    await expect(page.get_by_role("status")).to_contain_text("priority critical")
    await expect(page.get_by_role("heading", name="Add a rule")).to_have_count(0)
    await expect(page.get_by_role("link", name=re.compile("^Edit rule"))).to_have_count(0)
    await check(page, console, "admin-dry-run")

    async with httpx.AsyncClient(base_url=console.intake) as http:
        accesses = await http.get(
            f"/v1/concerns/{receipt['id']}/requester/accesses", headers=bearer("auditor")
        )
    assert [(a["kind"], a["actor"], a["reason"]) for a in accesses.json()] == [
        ("contact_revealed", "sd-1", "Calling back about the bus.")
    ]

    family = await context.new_page()
    await family.goto(f"{console.web}/status/{tracking}?token={receipt['access_token']}")
    await expect(family.get_by_text(summary)).to_be_visible()
    await expect(family.get_by_text("We are calling the bus company now.")).to_be_visible()


async def test_second_person_on_the_same_case_is_told_it_changed_and_keeps_their_text(
    console: Console, browser: Browser
) -> None:
    receipt = submit(console, description="Nobody answers at the transportation office.")
    contexts = [await browser.new_context() for _ in range(2)]
    try:
        first, second = [await c.new_page() for c in contexts]
        await sign_in(first, console, "sd-1")
        await sign_in(second, console, "sd-2")
        case_url = f"{console.web}/staff/concerns/{receipt['id']}"
        await first.goto(case_url)
        await second.goto(case_url)

        await first.get_by_label(re.compile(r"^Note \(staff")).fill("Called the depot, no answer.")
        await first.get_by_role("button", name="Add note").click()
        await expect(first.get_by_role("status")).to_have_text("Internal note added.")

        reply = "We have asked the transportation office to call you today."
        await second.get_by_role("textbox", name=re.compile("^Reply")).fill(reply)
        await second.get_by_role("button", name="Send reply").click()
        await expect(second.get_by_role("alert")).to_contain_text("Someone else changed this case")
        await expect(second.get_by_text("Called the depot, no answer.")).to_be_visible()
        await expect(second.get_by_role("textbox", name=re.compile("^Reply"))).to_have_value(reply)
        await check(second, console, "case-stale")
        await second.get_by_role("button", name="Send reply").click()
        await expect(second.get_by_role("status")).to_have_text("Reply sent to the family.")

        await second.get_by_role("link", name="Team").click()
        await expect(second.get_by_role("heading", name="Service Desk")).to_be_visible()
        await check(second, console, "team")
        away = second.get_by_role("form", name="Out of office for Kevin Nguyen")
        await away.get_by_label("Backup").select_option("sd-1")
        await away.get_by_role("button", name="Mark away").click()
        await expect(second.get_by_role("status")).to_have_text(
            "Marked away; new concerns go to the backup."
        )
        await expect(second.get_by_text("backup Rosa Jiménez")).to_be_visible()
    finally:
        for c in contexts:
            await c.close()


async def test_principal_sees_only_their_school_and_cannot_retriage(
    console: Console, context: BrowserContext
) -> None:
    own = submit(
        console,
        category="school-climate",
        school_id="lincoln-es",
        description="The playground at Lincoln has a broken gate.",
    )
    other = submit(
        console,
        category="school-climate",
        school_id="jefferson-hs",
        description="The Jefferson cafeteria line is far too long.",
    )
    page = await context.new_page()
    await sign_in(page, console, "p-lincoln")
    await expect(page.get_by_role("link", name="Lincoln Elementary", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    await expect(page.get_by_role("link", name=own["tracking_number"])).to_be_visible()
    await page.goto(console.web + "/staff/queue?view=all&status=any")
    await expect(page.get_by_role("link", name=own["tracking_number"])).to_be_visible()
    await expect(page.get_by_role("link", name=other["tracking_number"])).to_have_count(0)
    await expect(page.get_by_role("link", name="Take a concern")).to_have_count(0)

    await page.goto(f"{console.web}/staff/concerns/{other['id']}")
    await expect(page.get_by_role("heading", name="Case not found")).to_be_visible()
    await check(page, console, "case-not-found")
    await page.goto(console.web + "/staff/call")  # not a principal's page: refused in words
    await expect(page.get_by_role("heading", name="Nothing here for your role")).to_be_visible()
    await check(page, console, "nothing-for-role")
    await page.goto(f"{console.web}/staff/concerns/{own['id']}")
    await expect(page.get_by_role("button", name="Send reply")).to_be_visible()
    await expect(page.get_by_role("heading", name="Re-triage")).to_have_count(0)


async def test_call_center_agent_takes_a_phone_concern_and_reads_back_number_and_pin(
    console: Console, context: BrowserContext
) -> None:
    page = await context.new_page()
    await sign_in(page, console, "cc-1", start="/staff/call")
    await expect(page.get_by_role("heading", name="Take a concern")).to_be_visible()
    await check(page, console, "call")
    await page.get_by_role("button", name="Save the concern").click()
    await expect(page.get_by_role("alert")).to_contain_text("Write down the concern")
    await check(page, console, "call-errors")

    await page.get_by_label("The concern, in the caller's words").fill(
        "Caller says the school bus skipped Elm Road twice this week."
    )
    await page.get_by_label("Category").select_option("transportation")
    await page.get_by_label(re.compile(r"^Phone \(optional")).fill("+15551230001")
    await page.get_by_label("Language for replies").select_option("es")
    await page.get_by_role("button", name="Save the concern").click()
    tracking = (await page.locator("#tracking").inner_text()).strip()
    pin = (await page.locator("#pin").inner_text()).strip()
    assert re.fullmatch(r"CS-\d{4}-\d{6}", tracking)
    assert re.fullmatch(r"\d{6}", pin)
    await expect(page.get_by_text("Read this back to the caller")).to_be_visible()
    await check(page, console, "call-done")

    async with httpx.AsyncClient(base_url=console.intake) as http:
        status = await http.get(f"/v1/tracking/{tracking}", headers={"X-Access-Pin": pin})
    assert status.status_code == 200, status.text
    assert status.json()["tracking_number"] == tracking
    await expect(page.get_by_role("link", name="Ombudsperson")).to_have_count(0)


async def test_call_center_agent_finds_the_callers_concerns_by_phone(
    console: Console, context: BrowserContext
) -> None:
    caller = {"phone": "+15551230091", "language": "en"}
    earlier = submit(console, school_id="lincoln-es", requester=caller)
    stranger = submit(console, requester={"phone": "+15551230092", "language": "en"})
    page = await context.new_page()
    await sign_in(page, console, "cc-1", start="/staff/call")
    lookup = page.get_by_role("search", name="Find the caller's concerns")
    await lookup.get_by_label("Caller's phone or email").fill("(555) 12")
    await lookup.get_by_role("button", name="Find their concerns").click()
    await expect(page.get_by_role("alert")).to_contain_text("Enter the family's email address")
    await check(page, console, "call-lookup-errors")

    await lookup.get_by_label("Caller's phone or email").fill("(555) 123-0091")
    await lookup.get_by_role("button", name="Find their concerns").click()
    row = page.get_by_role("row", name=re.compile(earlier["tracking_number"]))
    await expect(row).to_contain_text("Transportation")
    await expect(page.get_by_text(stranger["tracking_number"])).to_have_count(0)
    assert "555" not in page.url and "0091" not in page.url
    await expect(page.get_by_label(re.compile(r"^Phone \(optional"))).to_have_value("+15551230091")
    await check(page, console, "call-lookup")

    async with httpx.AsyncClient(base_url=console.intake) as http:
        accesses = await http.get(
            f"/v1/concerns/{earlier['id']}/requester/accesses", headers=bearer("auditor")
        )
    assert [(a["kind"], a["actor"]) for a in accesses.json()] == [("requester_searched", "cc-1")]


async def test_ombudsperson_sees_a_concern_escalated_to_them_with_its_history_and_signs_out(
    console: Console, context: BrowserContext
) -> None:
    receipt = submit(
        console,
        category=OVERSIGHT_CATEGORY,
        school_id="lincoln-es",
        description="Nobody has answered about my daughter's Pre-K place for weeks.",
    )
    page = await context.new_page()
    await sign_in(page, console, "ombuds", start="/staff/ombudsperson")
    await expect(
        page.get_by_role("heading", name="Escalated and long-overdue concerns")
    ).to_be_visible()
    case = page.locator(f"li.ombuds-case:has(a[href='/staff/concerns/{receipt['id']}'])")

    async def escalated_to_the_ombudsperson() -> bool | None:
        await page.reload()
        return await case.count() == 1 or None

    await eventually(
        escalated_to_the_ombudsperson, timeout_s=30, interval_s=0.5, what="level 3 in the view"
    )
    await expect(case).to_contain_text("Escalated to the Ombudsperson")
    await expect(case).to_contain_text("level 3")
    await case.get_by_text(re.compile(r"^History")).click()
    history = case.locator("details ol")
    for step in (
        "resolution target missed",
        "escalated to the principal (level 1)",
        "escalated to the Ombudsperson (level 3)",
    ):
        await expect(history).to_contain_text(step)
    await check(page, console, "ombudsperson")

    await case.get_by_role("link").click()
    await expect(page.get_by_text("Nobody has answered about my daughter")).to_be_visible()
    await expect(page.locator(".case-side")).to_contain_text(re.compile(r"Escalation level\s*3"))
    await page.get_by_text("Who saw the family's contact (0)").click()  # the audit of it
    await expect(page.get_by_text("Nobody has looked at it or searched by it.")).to_be_visible()
    await check(page, console, "case-ombudsperson")
    await page.get_by_role("link", name="Student records").click()
    await page.get_by_label("Student's district id").fill("S-000000")
    await page.get_by_role("button", name="Show the record").click()
    await expect(
        page.get_by_text("No concern has collected this student's information.")
    ).to_be_visible()
    await check(page, console, "student-record")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("status")).to_have_text("You have signed out.")
    await page.goto(console.web + "/staff/ombudsperson")
    await expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()


async def test_staff_find_a_familys_earlier_concerns_by_phone_within_their_reach(
    console: Console, context: BrowserContext, browser: Browser
) -> None:
    family = {"phone": "+15551230077", "email": "ana.family@example.org", "language": "en"}
    lincoln = submit(
        console,
        school_id="lincoln-es",
        category="school-climate",
        description="The Lincoln crossing guard was missing again today.",
        requester=family,
    )
    jefferson = submit(
        console,
        school_id="jefferson-hs",
        category="school-climate",
        description="My son's Jefferson locker was broken into.",
        requester={**family, "phone": None, "email": "Ana.Family@example.org"},
    )
    stranger = submit(console, requester={"phone": "+15551230078", "language": "en"})
    page = await context.new_page()
    await sign_in(page, console, "sd-1")
    await page.get_by_text("Find a family's earlier concerns by phone or email").click()
    await page.get_by_label("Family's phone or email").fill("(555) 123-0077")
    await page.get_by_role("button", name="Find").click()
    await expect(page.get_by_role("alert")).to_contain_text("Say why you look")
    await check(page, console, "queue-family-errors")
    await page.get_by_label(re.compile("^Why you look")).fill("The mother is on the phone.")
    await page.get_by_role("button", name="Find").click()
    found = page.get_by_role("heading", name=re.compile("This family's concerns"))
    await expect(found).to_be_visible()
    await expect(page.get_by_role("link", name=lincoln["tracking_number"])).to_be_visible()
    await expect(page.get_by_role("link", name=jefferson["tracking_number"])).to_have_count(0)
    await expect(page.get_by_role("link", name=stranger["tracking_number"])).to_have_count(0)
    assert "555" not in page.url and "0077" not in page.url
    await check(page, console, "queue-family")
    await page.get_by_label("Family's phone or email").fill("ana.family@EXAMPLE.org")
    await page.get_by_role("button", name="Find").click()
    for receipt in (jefferson, lincoln):  # newest first
        await expect(page.get_by_role("link", name=receipt["tracking_number"])).to_be_visible()

    await page.get_by_role("link", name=lincoln["tracking_number"]).click()
    others = page.get_by_role("form", name="This family's other concerns")
    await others.get_by_label(re.compile("^Why you look")).fill("Checking what else she raised.")
    await others.get_by_role("button", name="Find their other concerns").click()
    await expect(
        page.get_by_role("heading", name=re.compile("Other concerns of the family"))
    ).to_be_visible()
    await expect(page.get_by_role("link", name=jefferson["tracking_number"])).to_be_visible()
    own = page.get_by_role("link", name=lincoln["tracking_number"], exact=True)
    await expect(own).to_have_count(0)
    await expect(
        page.get_by_role("link", name=f"Back to {lincoln['tracking_number']}")
    ).to_be_visible()
    await check(page, console, "queue-family-of-case")

    principal = await browser.new_context()
    try:
        other = await principal.new_page()
        await sign_in(other, console, "p-lincoln")
        await other.get_by_text("Find a family's earlier concerns by phone or email").click()
        await other.get_by_label("Family's phone or email").fill("ana.family@example.org")
        await other.get_by_label(re.compile("^Why you look")).fill("Following up the crossing.")
        await other.get_by_role("button", name="Find").click()
        await expect(other.get_by_role("link", name=lincoln["tracking_number"])).to_be_visible()
        await expect(other.get_by_role("link", name=jefferson["tracking_number"])).to_have_count(0)
    finally:
        await principal.close()
    async with httpx.AsyncClient(base_url=console.intake) as http:
        accesses = await http.get(
            f"/v1/concerns/{lincoln['id']}/requester/accesses", headers=bearer("auditor")
        )
    assert [(a["kind"], a["actor"]) for a in accesses.json()] == [
        ("requester_searched", "sd-1"),
        ("requester_searched", "sd-1"),
        ("requester_searched", "p-lincoln"),
    ]  # not found by its own case's search


async def test_reply_from_a_canned_reply_in_the_familys_language_and_callback_for_a_colleague(
    console: Console, context: BrowserContext, browser: Browser
) -> None:
    receipt = submit(
        console,
        description="El autobús no pasó por nuestra parada esta mañana.",
        requester={"email": "familia@example.org", "language": "es"},
    )
    page = await context.new_page()
    await sign_in(page, console, "sd-1", start=f"/staff/concerns/{receipt['id']}")
    reply = page.get_by_role("textbox", name=re.compile("^Reply"))
    await reply.fill("Hola.")
    await page.get_by_label("Canned reply (in Spanish)").select_option(label="Bus route checked")
    await expect(reply).to_have_value(re.compile(r"^Hola\.\n\nRevisamos la ruta del autobús"))
    await check(page, console, "case-canned")
    await page.get_by_role("button", name="Send reply").click()
    await expect(page.get_by_role("status")).to_have_text("Reply sent to the family.")
    await expect(page.locator(".messages")).to_contain_text("Revisamos la ruta del autobús")

    await page.get_by_label(re.compile("^Call back by")).fill("2026-12-30T10:30")
    await page.get_by_label("Who calls").select_option(label="Kevin Nguyen")
    await page.get_by_label("Remind them before").select_option(label="1 hour")
    await page.get_by_role("button", name="Schedule callback").click()
    await expect(page.get_by_role("status")).to_have_text("Callback scheduled.")
    await expect(page.locator(".callbacks")).to_contain_text("Kevin Nguyen calls")
    await expect(page.locator(".callbacks")).to_contain_text("reminder")
    async with httpx.AsyncClient(base_url=console.intake) as http:
        case = (
            await http.get(f"/v1/concerns/{receipt['id']}", headers=bearer("specialist"))
        ).json()
    callback = case["callbacks"][0]
    assert callback["assignee_id"] == "sd-2"
    assert callback["due_at"][:16] != callback["remind_at"][:16]
    due, remind = (datetime.fromisoformat(callback[k]) for k in ("due_at", "remind_at"))
    assert due - remind == timedelta(hours=1)

    # without JavaScript, the Insert button asks the server to add the canned reply
    plain = await browser.new_context(java_script_enabled=False)
    try:
        other = await plain.new_page()
        await sign_in(other, console, "sd-2", start=f"/staff/concerns/{receipt['id']}")
        await other.get_by_label("Canned reply (in Spanish)").select_option(
            label="We contacted the school"
        )
        await other.get_by_role("button", name="Insert").click()
        await expect(other.get_by_role("textbox", name=re.compile("^Reply"))).to_have_value(
            re.compile("^Nos comunicamos con la oficina de la escuela")
        )
    finally:
        await plain.close()


async def test_administrator_adds_then_disables_a_routing_rule_and_the_dry_run_follows(
    console: Console, context: BrowserContext
) -> None:
    page = await context.new_page()
    await sign_in(page, console, "admin-1", start="/staff/admin")
    await expect(page.get_by_role("heading", name="Add a rule")).to_be_visible()
    form = page.get_by_role("form", name="Add a rule")
    await form.get_by_label("Rule name").fill("Field Trip")  # not a valid name
    await form.get_by_label("Transportation").check()
    await form.get_by_label(re.compile("^And the description has")).fill("field trip*")
    await form.get_by_label("Then send it to").select_option(label="Service Desk")
    await form.get_by_label("With priority").select_option("high")
    await form.get_by_role("button", name="Save the rule").click()
    await expect(page.get_by_role("alert")).to_contain_text("The rule was not saved")
    await expect(form.get_by_label("Transportation")).to_be_checked()
    await check(page, console, "admin-rule-errors")
    await form.get_by_label("Rule name").fill("field-trip-bus")
    await form.get_by_role("button", name="Save the rule").click()
    await expect(page.get_by_role("status")).to_contain_text("Routing rule saved")
    await expect(page.locator("#rule-row-field-trip-bus")).to_contain_text("field trip*")
    place = page.locator("#rule-row-field-trip-bus td").first
    last = int(await place.inner_text())  # a new rule is tried last
    await page.get_by_role("button", name="Earlier in the order: rule field-trip-bus").click()
    await expect(page.get_by_role("status")).to_contain_text("Order saved")
    await expect(place).to_have_text(str(last - 1))

    async def dry_run() -> None:
        trial = page.get_by_role("form", name="Try the routing")
        await trial.get_by_label("Category").select_option("transportation")
        await trial.get_by_label("Description").fill("The field trip bus never came for us.")
        await trial.get_by_role("button", name="Try it").click()

    await dry_run()
    await expect(page.get_by_role("status")).to_contain_text("rule field-trip-bus matched")
    await expect(page.get_by_role("status")).to_contain_text("priority high")
    await check(page, console, "admin-rule")

    await page.get_by_role("link", name="Edit rule field-trip-bus").click()
    edit = page.get_by_role("form", name=re.compile("Change rule"))
    await expect(edit.get_by_label("With priority")).to_have_value("high")
    await edit.get_by_label("Enabled").uncheck()
    await edit.get_by_role("button", name="Save the rule").click()
    await expect(page.get_by_role("status")).to_contain_text("Routing rule saved")
    await expect(page.locator("#rule-row-field-trip-bus")).to_contain_text("No")
    await dry_run()
    await expect(page.get_by_role("status")).to_contain_text("Routed to Transportation")
    await expect(page.get_by_role("status")).not_to_contain_text("rule:field-trip-bus")
    await expect(page.get_by_role("link", name="Work queue")).to_have_count(0)

    words = page.get_by_role("textbox", name="Safety words, one per line")
    shipped = await words.input_value()
    assert "weapon*" in shipped.splitlines()
    await words.fill(shipped + "\nva*ping")
    await page.get_by_role("button", name="Save the safety words").click()
    await expect(page.get_by_role("alert")).to_contain_text("'va*ping'")
    await expect(words).to_have_value(shipped + "\nva*ping")  # the text is kept to correct
    await words.fill(shipped + "\nvap*")
    await page.get_by_role("button", name="Save the safety words").click()
    await expect(page.get_by_role("status")).to_contain_text("Safety words saved")
    await expect(page.get_by_text(re.compile("Last changed .* by admin-1"))).to_be_visible()
    await check(page, console, "admin-safety-words")
    trial = page.get_by_role("form", name="Try the routing")
    await trial.get_by_label("Category").select_option("transportation")
    await trial.get_by_label("Description").fill("Older kids keep vaping at the back of the bus.")
    await trial.get_by_role("button", name="Try it").click()
    await expect(page.get_by_role("status")).to_contain_text("priority critical")
    await expect(page.get_by_role("status")).to_contain_text("Safety words: vap*")

    await page.get_by_role("link", name="Edit policy critical").click()
    policy = page.get_by_role("form", name=re.compile("Change policy"))
    await policy.get_by_label("First response within (hours)").fill("30")
    await policy.get_by_label("Resolved within (hours)").fill("12")
    await policy.get_by_role("button", name="Save the policy").click()
    await expect(page.get_by_role("alert")).to_contain_text(
        "The first response target must not exceed the resolution target"
    )
    await check(page, console, "admin-policy-errors")
    await policy.get_by_label("First response within (hours)").fill("0.5")
    await policy.get_by_label(re.compile("^Level 2")).fill("6")
    await policy.get_by_role("button", name="Save the policy").click()
    await expect(page.get_by_role("status")).to_contain_text("Policy saved")
    row = page.locator("#policy-row-critical")
    for shown in ("30 minutes", "12 hours", "assistant superintendent (+6 hours)"):
        await expect(row).to_contain_text(shown)
    async with httpx.AsyncClient(base_url=console.bureau.url("escalation")) as http:
        saved = (await http.get("/v1/policies/critical", headers=bearer("admin"))).json()
    assert (saved["first_response_s"], saved["resolution_s"]) == (1800, 43200)
    assert saved["priority"] == "critical" and saved["reminder_interval_s"] == 7200  # kept

    await page.get_by_text(re.compile(r"^All templates")).click()
    await page.get_by_role("link", name="Edit reopening sms Spanish").click()
    text = page.get_by_role("textbox", name="Text of the message")
    await text.fill("$district: reabrimos su inquietud $tracking. Saludos a $nombre.")
    await page.get_by_role("button", name="Preview").click()
    previews = page.get_by_role("region", name=re.compile("Spanish"))
    await expect(previews).to_contain_text("Does not render")
    await text.fill("$district: reabrimos su inquietud $tracking; le escribiremos pronto.")
    await page.get_by_role("button", name="Preview").click()
    await expect(previews).to_contain_text(
        "Example Unified School District: reabrimos su inquietud CS-2026-000123;"
    )
    await expect(page.get_by_role("region", name="English")).to_contain_text("CS-2026-000123")
    await check(page, console, "admin-template")
    await page.get_by_role("button", name="Save the template").click()
    await expect(page.get_by_role("status")).to_have_text(
        "Template saved; new messages use it now."
    )
    async with httpx.AsyncClient(base_url=console.bureau.url("notify")) as http:
        stored = await http.get("/v1/templates/reopening/sms/es", headers=bearer("admin"))
    assert stored.json()["body"].endswith("le escribiremos pronto.")
    assert stored.json()["origin"] == "admin"

    # an acknowledgement without $pin: the editor says, and the preview shows, the PIN line
    # (the list stays open on the template just saved)
    await page.get_by_role("link", name="Edit acknowledgement sms English").click()
    text = page.get_by_role("textbox", name="Text of the message")
    await expect(text).to_have_accessible_description(re.compile("gets the PIN line"))
    await text.fill("$district: we have your concern $tracking.")
    await page.get_by_role("button", name="Preview").click()
    await expect(page.get_by_role("region", name="English")).to_contain_text("CS-2026-000123. PIN")

    hooks = page.get_by_role("form", name="Add a subscription")
    await hooks.get_by_label(re.compile("^Address")).fill("https://hooks.district.example/bureau")
    await hooks.get_by_label(re.compile("^Signing secret")).fill("a-long-enough-shared-secret")
    await hooks.get_by_role("button", name="Add the subscription").click()  # no event chosen
    await expect(page.get_by_role("alert")).to_contain_text("The subscription was not added")
    await expect(hooks.get_by_label(re.compile("^Address"))).to_have_value(
        "https://hooks.district.example/bureau"
    )
    await expect(hooks.get_by_label(re.compile("^Signing secret"))).to_have_value("")
    await hooks.get_by_label("concern.resolved").check()
    await hooks.get_by_label("sla.breached").check()
    await hooks.get_by_label(re.compile("^Signing secret")).fill("a-long-enough-shared-secret")
    await hooks.get_by_role("button", name="Add the subscription").click()
    await expect(page.get_by_role("status")).to_contain_text("Webhook subscription added")
    listed = page.get_by_role("row", name=re.compile("hooks.district.example"))
    await expect(listed).to_contain_text("concern.resolved, sla.breached")
    await check(page, console, "admin-webhooks")
    await listed.get_by_role("button", name=re.compile("^Delete")).click()
    await expect(page.get_by_role("status")).to_have_text("Webhook subscription deleted.")
    await expect(page.get_by_role("row", name=re.compile("hooks.district.example"))).to_have_count(
        0
    )

    await page.get_by_role("link", name="Edit rule field-trip-bus").click()
    await page.get_by_role("link", name="Delete rule field-trip-bus").click()
    await expect(page.get_by_role("heading", name="Delete rule field-trip-bus?")).to_be_visible()
    await check(page, console, "admin-rule-delete")
    await page.get_by_role("button", name="Yes, delete the rule").click()
    await expect(page.get_by_role("status")).to_contain_text("Routing rule deleted")
    await expect(page.locator("#rule-row-field-trip-bus")).to_have_count(0)

    # a specialist reads the rules but has no form; triage refuses them anyway
    async with httpx.AsyncClient(base_url=console.bureau.url("triage")) as http:
        refused = await http.put(
            "/v1/rules/field-trip-bus",
            json={"enabled": True},
            headers=bearer("specialist", sub="sd-1"),
        )
    assert refused.status_code == 403


async def test_administrator_adds_an_sla_policy_sees_it_in_the_list_and_deletes_it(
    console: Console, context: BrowserContext
) -> None:
    page = await context.new_page()
    await sign_in(page, console, "admin-1", start="/staff/admin")
    await page.get_by_role("link", name="Add a policy").click()
    form = page.get_by_role("form", name="Add a service level policy")
    await expect(form.get_by_label("Order")).to_have_value("25")  # before `standard` (30)
    await expect(form.get_by_label("Time counts")).to_have_value("around-the-clock")
    await expect(form.get_by_label(re.compile("^Level 2"))).to_have_value("24")
    await check(page, console, "admin-policy-new")
    await form.get_by_label("Policy name").fill("enrollment-slow")
    await form.get_by_label("Category").select_option(label="Enrollment")
    await form.get_by_label("First response within (hours)").fill("48")
    await form.get_by_label("Resolved within (hours)").fill("120")
    await form.get_by_role("button", name="Add the policy").click()

    await expect(page.get_by_role("status")).to_contain_text("Policy added")
    row = page.locator("#policy-row-enrollment-slow")
    for shown in ("Enrollment, any priority", "2 days", "5 days", "principal (at the breach)"):
        await expect(row).to_contain_text(shown)
    async with httpx.AsyncClient(base_url=console.bureau.url("escalation")) as http:
        added = (await http.get("/v1/policies/enrollment-slow", headers=bearer("admin"))).json()
        assert (added["rank"], added["category"], added["priority"]) == (25, "enrollment", None)
        assert added["reminder_interval_s"] == 28800  # the district's defaults

        await row.get_by_role("link", name="Delete policy enrollment-slow").click()
        await expect(
            page.get_by_role("heading", name="Delete policy enrollment-slow?")
        ).to_be_visible()
        await check(page, console, "admin-policy-delete")
        await page.get_by_role("button", name="Yes, delete the policy").click()
        await expect(page.get_by_role("status")).to_contain_text("Policy deleted")
        await expect(page.locator("#policy-row-enrollment-slow")).to_have_count(0)
        gone = await http.get("/v1/policies/enrollment-slow", headers=bearer("admin"))
        assert gone.status_code == 404


async def test_refused_policy_changes_show_the_error_summary_in_plain_words(
    console: Console, context: BrowserContext
) -> None:
    page = await context.new_page()
    await sign_in(page, console, "admin-1", start="/staff/admin/policies/new")
    form = page.get_by_role("form", name="Add a service level policy")
    await form.get_by_label("Policy name").fill("Late Buses")
    await form.get_by_label("Category").select_option(label="Transportation")
    await form.get_by_label("First response within (hours)").fill("4")
    await form.get_by_label("Resolved within (hours)").fill("soon")
    await form.get_by_role("button", name="Add the policy").click()

    summary = page.get_by_role("alert")
    await expect(summary).to_contain_text("The policy was not added")
    await expect(summary.get_by_role("link")).to_have_count(2)
    await expect(form.get_by_label("Policy name")).to_have_value("Late Buses")  # kept
    await expect(form.get_by_label("Category")).to_have_value("transportation")
    await check(page, console, "admin-policy-new-errors")
    await summary.get_by_role("link", name=re.compile("^Enter the resolution target")).click()
    await expect(form.get_by_label("Resolved within (hours)")).to_be_focused()
    await form.get_by_label("Policy name").fill("late-buses")
    await form.get_by_label("Resolved within (hours)").fill("48")
    await form.get_by_label("Order").fill("31")  # after the catch-all `standard`
    await form.get_by_role("button", name="Add the policy").click()
    await expect(page.get_by_role("alert")).to_contain_text(
        "Policy standard (order 30) is tried first"
    )

    await page.goto(console.web + "/staff/admin")
    await page.get_by_role("link", name="Delete policy standard").click()
    await page.get_by_role("button", name="Yes, delete the policy").click()
    await expect(page.get_by_role("alert")).to_contain_text(
        "The policy was not deleted. It is the only catch-all policy"
    )
    await expect(page.get_by_role("button", name="Yes, delete the policy")).to_have_count(0)
    await check(page, console, "admin-policy-delete-refused")
    async with httpx.AsyncClient(base_url=console.bureau.url("escalation")) as http:
        kept = await http.get("/v1/policies", headers=bearer("admin"))
    assert {"standard"} <= {p["id"] for p in kept.json()}
    assert "late-buses" not in {p["id"] for p in kept.json()}


async def test_a_specialist_reads_a_reply_kept_aside_and_downloads_the_familys_file(
    console: Console, context: BrowserContext
) -> None:
    receipt = submit(console)
    async with httpx.AsyncClient(base_url=console.intake, headers=FAMILY) as http:
        uploaded = await http.post(
            f"/v1/concerns/{receipt['id']}/attachments",
            params={"filename": "bus-stop.txt"},
            content=b"Stop 14, Elm Road, 7:40 am",
            headers={"Content-Type": "text/plain"},
        )
        kept = await http.post(
            "/v1/inbound/messages",
            json={
                "channel": "email",
                "from_address": "neighbour@example.net",
                "tracking_number": receipt["tracking_number"],
                "body": "I saw the bus drive past the stop without stopping.",
            },
        )
    assert uploaded.status_code == 201, uploaded.text
    assert kept.json()["outcome"] == "unverified", kept.text
    page = await context.new_page()
    await sign_in(page, console, "sd-1", start=f"/staff/concerns/{receipt['id']}")

    aside = page.locator("section.kept-aside")
    await expect(aside).to_contain_text("By email from neighbour@example.net")
    await expect(aside).to_contain_text("not from the requester's address")
    await expect(aside).to_contain_text("I saw the bus drive past the stop without stopping.")
    await check(page, console, "case-kept-aside-and-files")
    async with page.expect_download() as download:
        await page.get_by_role("link", name="bus-stop.txt").click()
    saved = await (await download.value).path()
    assert await asyncio.to_thread(Path(saved).read_bytes) == b"Stop 14, Elm Road, 7:40 am"
