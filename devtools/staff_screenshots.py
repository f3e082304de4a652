"""Screenshots of the staff console for the README: `python -m devtools.staff_screenshots`.

Starts a throwaway bureau with its web frontend (as `devtools.screenshots` does), submits a few
concerns, signs in with the development sign-in as a specialist (queue, case, team,
administration), a call-center agent, a principal and the Ombudsperson, and writes
`docs/screenshots/staff-<page>.png`. Needs RabbitMQ (`AMQP_URL`, default the local one) and
/usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import httpx

from devtools.screenshots import CHROMIUM, CHROMIUM_ARGS, OUT, bureau_with_web, dev_headers

CONCERNS = (
    ("transportation", None, "The bus to Lincoln Elementary left my son behind this morning."),
    ("school-climate", "lincoln-es", "The playground gate at Lincoln is broken and swings open."),
    ("safety", "jefferson-hs", "A student was threatened after school near the parking lot."),
    ("enrollment", None, "We moved last month and cannot enroll our daughter online."),
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


def main() -> int:  # pragma: no cover - a developer tool, run by hand
    from playwright.sync_api import Page, sync_playwright

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with (
        bureau_with_web("bureau-staff-shots-", queues="staff") as (bureau, base),
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
        page.goto(f"{base}/staff/concerns/{ids[0]}")
        page.fill("#replies-message", "We are calling the bus company now.")
        page.click("form[action$='/act/replies'] button")
        page.wait_for_selector(".notice")
        shot(page, "case")
        page.goto(f"{base}/staff/team")
        shot(page, "team")
        page.goto(f"{base}/staff/admin")
        page.select_option("#dr-category", "safety")
        page.fill("#dr-description", "A student brought a weapon to school.")
        page.click("form[action='/staff/admin/dry-run'] button")
        page.wait_for_selector(".notice")
        shot(page, "admin")
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
        page.goto(f"{base}/staff/ombudsperson")
        shot(page, "ombudsperson")
        page.close()
        browser.close()
    print(f"staff screenshots in {args.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
