"""Screenshots of the staff console for the README: `python -m devtools.staff_screenshots`.

Starts a throwaway bureau with its web frontend (as `devtools.screenshots` does), submits a few
concerns, signs in with the development sign-in as a specialist (queue, a family's concerns,
case, the family's contact shown to call back, a canned reply, team, administration), an
administrator (a rule being edited, a template previewed in each language, a new SLA policy
and its error summary, the confirmation before deleting one), a
call-center agent, a principal, the Ombudsperson and a Board member (the dashboard and the
monthly packet; the training records as an administrator), and writes
`docs/screenshots/staff-<page>.png`. Needs RabbitMQ (`AMQP_URL`, default the local one) and
/usr/bin/chromium.

The Ombudsperson's concern has to be days old, and no service has a setting for another time. So,
once escalation has started (and triage re-triaged) the Pre-K concern's clock, the tool
replays that clock as if it had been submitted `BACKDATED` ago: escalation's own domain
functions (`start`, `retriage`, then `advance` at each step's due time, as the scheduler would
have) on the district's policies, stored with escalation's `ClockRepository.save` (the
versioned write) in escalation's database of the throwaway store. The steps' events are not
published (no mail about the past is sent); only that clock is backdated: intake still says
the concern was submitted a moment ago.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from devtools.screenshots import CHROMIUM, CHROMIUM_ARGS, OUT, bureau_with_web, dev_headers
from services.escalation import domain
from services.escalation.config import EscalationConfig
from services.escalation.domain import Rules
from services.escalation.policies import calendars_of
from services.escalation.repository import ClockRepository, PolicyRepository
from services.escalation.settings import EscalationSettings
from shared.clock import SystemClock
from shared.district import load_district
from shared.store import connect_store, database

if TYPE_CHECKING:
    from playwright.sync_api import Page, Playwright

# Concerns of this category run out of time in seconds and climb the ladder to the
# Ombudsperson at once (with `with_oversight_drill`: a district file for tests only).
OVERSIGHT_CATEGORY = "pre-k"
# How long ago the Ombudsperson's concern was submitted, as its clock tells it: on the
# example district's standard policy (resolution in 3 days, level 3 two days later) it has
# reached the Ombudsperson and is about 3 days overdue.
BACKDATED = timedelta(days=6, hours=4)
# How long after submission triage decided, in that replay.
TRIAGED_AFTER = timedelta(minutes=2)


def with_oversight_drill(district: dict[str, Any]) -> dict[str, Any]:
    """The district with a first SLA policy for `OVERSIGHT_CATEGORY`: due in 2 seconds,
    escalated to the principal at once, the assistant superintendent a second later and the
    Ombudsperson a second after that."""
    district["sla"]["policies"].insert(
        0,
        {
            "id": "oversight-drill",
            "category": OVERSIGHT_CATEGORY,
            "first_response_s": 1,
            "resolution_s": 2,
        },
    )
    ladder = [
        {"level": 1, "role": "principal", "after_s": 0},
        {"level": 2, "role": "assistant_superintendent", "after_s": 1},
        {"level": 3, "role": "ombudsperson", "after_s": 2},
    ]
    district["escalation"].setdefault("policies", {})["oversight-drill"] = {"ladder": ladder}
    return district


CONCERNS = (
    ("transportation", None, "The bus to Lincoln Elementary left my son behind this morning."),
    ("school-climate", "lincoln-es", "The playground gate at Lincoln is broken and swings open."),
    ("safety", "jefferson-hs", "A student was threatened after school near the parking lot."),
    ("enrollment", None, "We moved last month and cannot enroll our daughter online."),
    (OVERSIGHT_CATEGORY, "lincoln-es", "Nobody has answered about our Pre-K place for weeks."),
)


def submit(intake_url: str) -> list[str]:
    """A few family concerns (as the family web sends them); their ids."""
    ids = []
    with httpx.Client(
        base_url=intake_url, headers=dev_headers("web-frontend", "frontend"), timeout=10
    ) as http:
        for category, school, text in CONCERNS:
            body = {
                "channel": "web",
                "category": category,
                "description": text,
                "requester": {"email": "family@example.org", "language": "en"},
            }
            if school:
                body["school_id"] = school
            response = http.post("/v1/concerns", json=body)
            response.raise_for_status()
            ids.append(response.json()["id"])
    return ids


async def backdate(settings: EscalationSettings, concern_id: str, ago: timedelta) -> None:
    """Store the concern's clock as escalation would have kept it had the concern been
    submitted `ago`: started then, re-triaged as it was, each step fired at its due time."""
    district = load_district(settings.district_config)
    config = district.section("escalation", EscalationConfig)
    client = connect_store(settings)
    try:
        db = database(client, settings)
        repo = ClockRepository(db)
        rules = Rules(
            policies=await PolicyRepository(db).all(),
            calendars=calendars_of(district, config),
            district=district,
            supervisors=config.department_supervisors,
        )
        for _ in range(100):  # started, and re-triaged, within seconds
            stored = await repo.get(concern_id)
            if stored is not None and stored.clock.team_id is not None:
                break
            await asyncio.sleep(0.2)
        else:
            raise RuntimeError(f"escalation did not start and re-triage the clock of {concern_id}")
        live = stored.clock
        now = SystemClock().now()
        submitted = now - ago
        category = district.category(live.category)
        clock = domain.start(  # as escalation's `on_submitted` starts it
            concern_id,
            category=live.category,
            school_id=live.school_id,
            priority=category.priority if category is not None else None,
            channel=live.channel,
            started_at=submitted,
            rules=rules,
        )
        if live.priority is not None and live.team_id is not None:
            clock, _ = domain.retriage(
                clock,
                category=live.category,
                priority=live.priority,
                team_id=live.team_id,
                school_id=live.school_id,
                at=submitted + TRIAGED_AFTER,
                rules=rules,
            )
        while clock.next_due_at is not None and clock.next_due_at <= now:
            clock, _ = domain.advance(clock, now=clock.next_due_at, rules=rules)
        if not await repo.save(stored, clock):
            raise RuntimeError(f"the clock of {concern_id} changed meanwhile; run again")
    finally:
        await client.close()


def main() -> int:  # pragma: no cover - a developer tool, run by hand
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with bureau_with_web("bureau-staff-shots-", queues="staff") as (bureau, base):
        ids = submit(bureau.url("intake"))
        escalation = EscalationSettings(
            mongo_url=bureau.env["MONGO_URL"], district_config=Path(bureau.env["DISTRICT_CONFIG"])
        )
        asyncio.run(backdate(escalation, ids[4], BACKDATED))  # before Playwright's own loop
        with sync_playwright() as driver:
            take_all(driver, base, ids, args.out, intake_url=bureau.url("intake"))
    print(f"staff screenshots in {args.out}")
    return 0


def resolve_for_the_board(intake_url: str, concern_ids: list[str]) -> None:
    """A specialist acknowledges, answers and resolves concerns: the Board then has figures."""
    with httpx.Client(base_url=intake_url, headers=dev_headers(), timeout=10) as http:
        for concern_id in concern_ids:
            for action, body in (
                ("acknowledge", {}),
                ("replies", {"message": "We have fixed it; thank you for telling us."}),
                ("resolve", {"summary": "Fixed the same day."}),
            ):
                http.post(f"/v1/concerns/{concern_id}/{action}", json=body).raise_for_status()


def take_all(  # pragma: no cover - run by `main`
    driver: Playwright, base: str, ids: list[str], out: Path, *, intake_url: str
) -> None:
    """Every page's screenshot, in `out`: `ids` are the concerns `submit` answered."""
    browser = driver.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
    )

    def signed_in(sub: str, role: str, school: str = "") -> Page:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{base}/staff/sign-in")
        page.fill("#dev-sub", sub)
        page.select_option("#dev-role", role)
        if school:
            page.select_option("#dev-school", school)
        page.click("form[action='/staff/sign-in/development'] button")
        return page

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=str(out / f"staff-{name}.png"), full_page=True)

    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{base}/staff/sign-in")
    shot(page, "sign-in")
    page.close()

    page = signed_in("sd-1", "specialist")
    page.wait_for_selector("table.queue")
    shot(page, "queue")
    page.click(".family-search summary")
    page.fill("#family-requester", "family@example.org")
    page.fill("#family-reason", "The family is on the phone about their concerns.")
    page.click("form[action='/staff/queue/family'] button")
    page.wait_for_selector("#family-title")
    shot(page, "queue-family")
    page.goto(f"{base}/staff/concerns/{ids[0]}")
    page.fill("#replies-message", "We are calling the bus company now.")
    page.click("form[action$='/act/replies'] button:has-text('Send reply')")
    page.wait_for_selector(".notice")
    shot(page, "case")
    page.fill("#contact-reason", "Calling the family back about the bus stop.")
    page.click("form[action$='/contact'] button")
    page.wait_for_selector("#contact")
    page.locator("#contact").scroll_into_view_if_needed()
    page.screenshot(path=str(out / "staff-case-contact.png"))  # the contact, on purpose
    page.goto(f"{base}/staff/concerns/{ids[3]}")
    page.select_option("#replies-canned", "looking-into-it")
    page.select_option("#callbacks-assignee", "sd-2")
    page.select_option("#callbacks-remind", "60")
    shot(page, "case-canned")
    page.goto(f"{base}/staff/team")
    shot(page, "team")
    page.goto(f"{base}/staff/admin")
    page.select_option("#dr-category", "safety")
    page.fill("#dr-description", "A student brought a weapon to school.")
    page.click("form[action='/staff/admin/dry-run'] button")
    page.wait_for_selector(".notice")
    shot(page, "admin")
    page.close()

    page = signed_in("admin-1", "admin")
    page.goto(f"{base}/staff/admin?rule=student-left-behind#rule-form-title")
    shot(page, "admin-edit")
    page.goto(f"{base}/staff/admin?template=acknowledgement.sms.es#template-form-title")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.locator("#template-form-title").scroll_into_view_if_needed()
    page.screenshot(path=str(out / "staff-admin-template.png"))  # the form, previews
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{base}/staff/admin/policies/new")
    page.fill("#policy-id", "enrollment-slow")
    page.select_option("#policy-category", "enrollment")
    page.fill("#policy-first_response_h", "48")
    page.fill("#policy-resolution_h", "240")
    page.select_option("#policy-calendar", "business-hours")
    page.evaluate("document.activeElement.blur()")  # no focus ring on the last field typed
    shot(page, "policy-new")
    page.fill("#policy-id", "Enrollment slow")
    page.fill("#policy-first_response_h", "two days")
    page.fill("#policy-resolution_h", "")
    page.click("form[action='/staff/admin/policies'] button[type=submit]")
    page.wait_for_selector(".error-summary")
    shot(page, "policy-new-errors")
    page.goto(f"{base}/staff/admin/policies/critical/delete")  # what deleting one means
    shot(page, "policy-delete")
    page.close()

    page = signed_in("cc-1", "intake_agent")
    page.goto(f"{base}/staff/call")
    page.fill("#description", "Caller says the bus skipped Elm Road twice this week.")
    page.select_option("#category", "transportation")
    page.fill("#phone", "+15551230001")
    shot(page, "call")
    page.click("form[action='/staff/call'] button[type=submit]")
    page.wait_for_selector("#tracking")
    shot(page, "call-done")
    page.close()

    page = signed_in("p-lincoln", "principal", "lincoln-es")
    shot(page, "queue-principal")
    page.close()

    page = signed_in("ombuds", "ombudsperson")
    page.goto(f"{base}/staff/ombudsperson")  # the backdated Pre-K concern, at level 3
    page.wait_for_selector(f"a[href='/staff/concerns/{ids[4]}']")
    page.click(".ombuds-case details summary")
    shot(page, "ombudsperson")
    page.close()

    resolve_for_the_board(intake_url, ids[1:3])  # after the queue's pictures
    # The dashboard as an administrator reads it (exact figures: a few concerns here); a Board
    # member reads the same page with counts under 5 suppressed, as in the packet.
    page = signed_in("admin-1", "admin")
    for _ in range(40):  # escalation counts each resolution as its event arrives
        page.goto(f"{base}/staff/board")
        if page.locator("text=Not measured yet").count() < 7:
            break
        page.wait_for_timeout(500)
    shot(page, "board")
    page.goto(f"{base}/staff/board/training")
    shot(page, "board-training")
    page.close()

    page = signed_in("board-1", "board")  # figures only: never a case, a name or a student
    page.goto(f"{base}/staff/board/packet")
    shot(page, "board-packet")
    page.close()
    browser.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
