"""Screenshots of the staff console for the README: `python -m devtools.staff_screenshots`.

Starts a throwaway bureau with its web frontend (as `devtools.screenshots` does), submits a few
concerns, signs in with the development sign-in as a specialist (queue, a family's concerns,
case, a canned reply, team, administration), an administrator (a rule being edited, a
template previewed in each language), a
call-center agent, a principal and the Ombudsperson (a Pre-K concern escalated to them within
seconds by the oversight drill policy), and writes `docs/screenshots/staff-<page>.png`. Needs
RabbitMQ (`AMQP_URL`, default the local one) and /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import yaml

from devtools.screenshots import CHROMIUM, CHROMIUM_ARGS, OUT, bureau_with_web, dev_headers
from shared.settings import DEFAULT_DISTRICT_CONFIG

# Concerns of this category run out of time in seconds and climb the ladder to the
# Ombudsperson at once (a district file for tests and pictures only).
OVERSIGHT_CATEGORY = "pre-k"


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


def drill_district(folder: Path) -> str:
    """The example district with the oversight drill, written in `folder`; its path."""
    path = folder / "district.yaml"
    district = with_oversight_drill(yaml.safe_load(DEFAULT_DISTRICT_CONFIG.read_text()))
    path.write_text(yaml.safe_dump(district, allow_unicode=True))
    return str(path)


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


def main() -> int:  # pragma: no cover - a developer tool, run by hand
    from playwright.sync_api import Page, sync_playwright

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="staff-shots-") as tmp,
        bureau_with_web(
            "bureau-staff-shots-",
            {"DISTRICT_CONFIG": drill_district(Path(tmp)), "SCHEDULER_TICK_S": "0.2"},
            queues="staff",
        ) as (bureau, base),
        sync_playwright() as driver,
    ):
        ids = submit(bureau.url("intake"))
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
            page.screenshot(path=str(args.out / f"staff-{name}.png"), full_page=True)

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
        page.screenshot(path=str(args.out / "staff-admin-template.png"))  # the form, previews
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
        for _ in range(60):  # the drill's Pre-K concern reaches level 3 within seconds
            page.goto(f"{base}/staff/ombudsperson")
            if page.locator(f"a[href='/staff/concerns/{ids[4]}']").count():
                break
            page.wait_for_timeout(500)
        page.click(".ombuds-case details summary")
        shot(page, "ombudsperson")
        page.close()
        browser.close()
    print(f"staff screenshots in {args.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
