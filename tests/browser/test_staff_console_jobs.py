"""The API's staff jobs the console gained for issue 18's "every job from a browser", in a real
Chromium signed in with a real OpenID Connect provider (the staff console module's fixtures):
the whole work queue (every page of it, with the view's counts, by channel, order and days
sent), a team lead's view of one member's concerns, a case's routing and clock history, the
case actions the first module does not walk through (acknowledge, ask the family, resume,
call off a callback, merge, reopen, close) and a hand-over, routing rules on every condition,
an SLA policy's match, order, warnings, reminders and pause, and the way to the training
records and the Board; an agent works the queue with the keyboard alone and its shortcuts
(which can be turned off), the queue refreshing itself, the pages reflowing at 320 px.
axe-core finds no WCAG 2.1 AA violation on these pages."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, expect

from tests.browser.test_family_flow import tab_to
from tests.browser.test_staff_console import (
    Console,
    check,
    console,
    context,
    sign_in,
    submit,
)
from tests.conftest import bearer, eventually

pytestmark = pytest.mark.browser
__all__ = ["console", "context"]  # the staff console module's fixtures, used here

SPECIALIST = bearer("specialist", sub="sd-1")


async def assign_to_kevin(console: Console, concern: dict[str, Any], reason: str) -> None:
    """Once triage has routed the concern, a specialist's re-triage assigns it to Kevin."""
    async with httpx.AsyncClient(base_url=console.bureau.url("triage")) as http:

        async def routed() -> bool:
            found = await http.get(f"/v1/concerns/{concern['id']}/triage", headers=SPECIALIST)
            return found.status_code == 200

        await eventually(routed, timeout_s=20, interval_s=0.2, what="triage routed it")
        moved = await http.patch(
            f"/v1/concerns/{concern['id']}/triage",
            json={"assignee_id": "sd-2", "reason": reason},
            headers=SPECIALIST,
        )
        moved.raise_for_status()


async def test_a_specialist_pages_through_a_long_queue_with_its_counts_by_channel_order_and_date(
    console: Console, context: BrowserContext
) -> None:
    receipts = [
        submit(
            console,
            category="enrollment",
            description=f"Question number {n} about enrolling my daughter in kindergarten.",
        )
        for n in range(51)
    ]
    by_phone = submit(
        console,
        category="enrollment",
        channel="phone",
        description="Called about the enrollment papers for my son in second grade.",
    )
    page = await context.new_page()
    await sign_in(page, console, "sd-1", start="/staff/queue?view=all&category=enrollment")
    await expect(page.get_by_label("Category")).to_have_value("enrollment")  # kept on sign-in
    status = page.locator("#queue .caption")
    await expect(status).to_contain_text("This queue holds 52 open concerns")
    rows = page.locator("table.queue tbody tr")
    await expect(rows).to_have_count(50)
    await check(page, console, "queue-first-page")

    await page.get_by_role("link", name="Next 50 cases").click()
    await expect(rows).to_have_count(2)
    await expect(status).to_contain_text("after the first page")
    await check(page, console, "queue-next-page")
    await page.get_by_role("link", name="Back to the first page").click()
    await expect(rows).to_have_count(50)
    await page.goto(f"{console.web}/staff/queue?view=all&category=enrollment&cursor=not-ours")
    await expect(rows).to_have_count(50)  # a page address intake does not take: the first page
    await expect(status).not_to_contain_text("after the first page")

    await page.get_by_label("Came by").select_option("phone")
    await page.get_by_role("button", name="Filter").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first.locator("th a")).to_have_text(by_phone["tracking_number"])
    await expect(page.get_by_role("link", name=re.compile("^Next"))).to_have_count(0)

    await page.get_by_label("Came by").select_option("")
    await page.get_by_label("Order").select_option("-submitted")
    await page.get_by_role("button", name="Filter").click()
    await expect(rows.first.locator("th a")).to_have_text(by_phone["tracking_number"])
    await expect(rows.nth(1).locator("th a")).to_have_text(receipts[-1]["tracking_number"])
    await page.get_by_label("Order").select_option("submitted")
    await page.get_by_role("button", name="Filter").click()
    await expect(rows.first.locator("th a")).to_have_text(receipts[0]["tracking_number"])

    await page.get_by_label("Sent from").fill("2099-01-01")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_text("No cases match.")).to_be_visible()
    await expect(status).to_contain_text("This queue holds 0 open concerns")
    await expect(page.get_by_label("Sent from")).to_have_value("2099-01-01")
    await check(page, console, "queue-sent-from")


async def test_a_team_lead_opens_one_members_concerns_from_the_team_page(
    console: Console, context: BrowserContext
) -> None:
    mine = submit(console, category="other", description="Where do I send a compliment?")
    await assign_to_kevin(console, mine, "Kevin knows this family.")
    page = await context.new_page()
    await sign_in(page, console, "sd-1", start="/staff/team")
    await expect(page.get_by_role("heading", name="Service Desk")).to_be_visible()
    link = page.get_by_role("link", name=re.compile("open concerns? of Kevin Nguyen$"))
    await expect(link).to_be_visible()
    await check(page, console, "team-loads")
    await link.click()
    await expect(page.get_by_role("heading", name="Work queue", exact=True)).to_be_visible()
    await expect(page.get_by_label("Assigned to")).to_have_value("sd-2")
    theirs = page.get_by_role("link", name=mine["tracking_number"])

    async def listed() -> bool:  # intake hears of the assignment from triage's event
        await page.reload()
        return await theirs.count() == 1

    await eventually(listed, timeout_s=20, interval_s=0.5, what="the concern under Kevin")
    assignees = page.locator("table.queue tbody tr td:last-child")
    for text in await assignees.all_inner_texts():
        assert text == "Kevin Nguyen"


async def test_a_specialist_reads_how_a_case_was_routed_and_its_clock_after_a_retriage(
    console: Console, context: BrowserContext
) -> None:
    receipt = submit(console, description="The bus driver was rude to my son at the stop.")
    page = await context.new_page()
    await sign_in(page, console, "sd-1", start=f"/staff/concerns/{receipt['id']}")
    routing = page.get_by_text(re.compile(r"^How it was routed \("))

    async def routed_and_clocked() -> bool:
        await page.reload()
        return await routing.count() == 1 and await page.locator("#clock-history").count() == 1

    await eventually(
        routed_and_clocked, timeout_s=20, interval_s=0.5, what="the decision and the clock"
    )
    await page.get_by_label("Priority", exact=True).select_option("high")
    await page.get_by_label("Reason", exact=True).fill("The family says it happens every day.")
    await page.get_by_role("button", name="Re-triage").click()
    await expect(page.get_by_role("status")).to_have_text("Re-triaged.")
    await routing.click()
    history = page.locator("#routing")
    await expect(history).to_contain_text("routed to Transportation Department, priority normal")
    await expect(history).to_contain_text(
        "re-triaged by Rosa Jiménez (priority normal → high): The family says it happens every day."
    )
    await page.get_by_text(re.compile(r"^The clock's history \(")).click()
    await expect(page.locator("#clock-history")).to_contain_text("clock started")
    await expect(page.locator(".case-side")).to_contain_text("counts around the clock")
    await check(page, console, "case-routing-history")

    await page.get_by_role("link", name="Training records").click()
    await expect(page.get_by_role("heading", name="Training and pledge records")).to_be_visible()
    await page.goto(f"{console.web}/staff/queue")
    await expect(page.get_by_role("link", name="Board", exact=True)).to_be_visible()


async def test_an_agent_has_no_team_training_or_board_links_they_could_not_use(
    console: Console, context: BrowserContext
) -> None:
    page = await context.new_page()
    await sign_in(page, console, "cc-1", start="/staff/queue")
    await expect(page.get_by_role("heading", name="Work queue", exact=True)).to_be_visible()
    for name in ("Team", "Training records", "Board", "Administration"):
        await expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
    await expect(page.get_by_label("Assigned to")).to_be_visible()


async def test_an_administrator_routes_one_schools_phone_concerns_by_a_rule_and_widens_it(
    console: Console, context: BrowserContext
) -> None:
    page = await context.new_page()
    await sign_in(page, console, "admin-1", start="/staff/admin")
    form = page.get_by_role("form", name="Add a rule")
    await form.get_by_label("Rule name").fill("jefferson-calls")
    await form.get_by_label("Jefferson High School").check()
    await form.get_by_label("Phone", exact=True).check()
    await form.get_by_label("Parent or guardian").check()
    await form.get_by_label("Then send it to").select_option(label="Enrollment Center")
    await form.get_by_label("With priority").select_option("high")
    await form.get_by_label("And the description matches this pattern").fill("(transcript")
    await form.get_by_role("button", name="Save the rule").click()
    await expect(page.get_by_role("alert")).to_contain_text("The rule was not saved")
    await expect(form.get_by_label("Jefferson High School")).to_be_checked()  # kept to correct
    await expect(form.get_by_label("Phone", exact=True)).to_be_checked()
    await form.get_by_label("And the description matches this pattern").fill("")
    await form.get_by_label("Parent or guardian").uncheck()
    await form.get_by_role("button", name="Save the rule").click()
    await expect(page.get_by_role("status")).to_contain_text("Routing rule saved")
    row = page.locator("#rule-row-jefferson-calls")
    await expect(row).to_contain_text("school jefferson-hs")
    await expect(row).to_contain_text("channel phone")

    trial = page.get_by_role("form", name="Try the routing")

    async def dry_run(channel: str) -> None:
        await trial.get_by_label("Category").select_option("other")
        await trial.get_by_label("School").select_option("jefferson-hs")
        await trial.get_by_label("Channel").select_option(channel)
        await trial.get_by_label("Description").fill("I need a copy of my transcript.")
        await trial.get_by_role("button", name="Try it").click()

    await dry_run("phone")
    await expect(page.get_by_role("status")).to_contain_text("rule jefferson-calls matched")
    await expect(page.get_by_role("status")).to_contain_text("Routed to Enrollment Center")
    await dry_run("web")
    await expect(page.get_by_role("status")).not_to_contain_text("jefferson-calls matched")

    await page.get_by_role("link", name="Edit rule jefferson-calls").click()
    edit = page.get_by_role("form", name=re.compile("Change rule"))
    await expect(edit.get_by_label("Jefferson High School")).to_be_checked()
    await expect(edit.get_by_label("Phone", exact=True)).to_be_checked()
    await check(page, console, "admin-rule-conditions")
    await edit.get_by_label("Phone", exact=True).uncheck()
    await edit.get_by_role("button", name="Save the rule").click()
    await expect(page.get_by_role("status")).to_contain_text("Routing rule saved")
    await expect(row).not_to_contain_text("channel phone")
    await dry_run("web")
    await expect(page.get_by_role("status")).to_contain_text("rule jefferson-calls matched")


async def test_an_administrator_changes_a_policys_match_order_warnings_reminders_and_pause(
    console: Console, context: BrowserContext
) -> None:
    page = await context.new_page()
    await sign_in(page, console, "admin-1", start="/staff/admin")
    await page.get_by_role("link", name="Edit policy standard").click()
    policy = page.get_by_role("form", name=re.compile("Change policy"))
    warnings = policy.get_by_label(re.compile("^Warn the assignee"))
    await expect(warnings).to_have_value("50, 75")
    await warnings.fill("90, 60")
    await policy.get_by_role("button", name="Save the policy").click()
    await expect(page.get_by_role("alert")).to_contain_text("smallest first")
    await expect(warnings).to_have_value("90, 60")  # kept to correct
    await check(page, console, "admin-policy-options-errors")
    await warnings.fill("60, 90")
    await policy.get_by_label(re.compile("^Remind the current level")).fill("")
    await policy.get_by_label(re.compile("^Pause the clock")).uncheck()
    await policy.get_by_role("button", name="Save the policy").click()
    await expect(page.get_by_role("status")).to_contain_text("Policy saved")
    row = page.locator("#policy-row-standard")
    for shown in ("warns at 60%, 90%", "no reminders", "never paused"):
        await expect(row).to_contain_text(shown)
    async with httpx.AsyncClient(base_url=console.bureau.url("escalation")) as http:
        saved = (await http.get("/v1/policies/standard", headers=bearer("admin"))).json()
    assert saved["warnings"] == [60, 90]
    assert saved["reminder_interval_s"] is None
    assert "awaiting_requester" not in saved["pause_statuses"]
    assert saved["resolution_s"] == 72 * 3600  # the rest as it was

    await page.get_by_role("link", name="Edit policy standard").click()
    await policy.get_by_label("Category").select_option("enrollment")
    await policy.get_by_role("button", name="Save the policy").click()
    await expect(page.get_by_role("alert")).to_contain_text(
        "At least one catch-all policy (any category, any priority) must remain."
    )
    await page.get_by_role("link", name="Edit policy critical").click()
    order = policy.get_by_label("Order")
    await order.fill("999")
    await policy.get_by_role("button", name="Save the policy").click()
    await expect(page.get_by_role("alert")).to_contain_text("Policy standard (order")
    await expect(policy.locator("#policy-rank-error")).to_contain_text("is tried first")
    await expect(order).to_have_attribute("aria-invalid", "true")
    await check(page, console, "admin-policy-order-errors")
    await order.fill("5")
    await policy.get_by_role("button", name="Save the policy").click()
    await expect(page.get_by_role("status")).to_contain_text("Policy saved")
    await expect(page.locator("#policy-row-critical")).to_contain_text("critical (order 5)")

    await page.get_by_role("link", name="Add a policy").click()
    await expect(page.get_by_label(re.compile("^Pause the clock"))).to_be_checked()
    await check(page, console, "policy-new-options")


async def test_a_specialist_works_a_case_through_every_other_action_and_hands_over(
    console: Console, context: BrowserContext
) -> None:
    kept = submit(console, category="other", description="The school website has no bus map.")

    async def kept_triaged() -> bool:  # before the second: triage compares it with those stored
        async with httpx.AsyncClient(base_url=console.bureau.url("triage")) as http:
            answer = await http.get(f"/v1/concerns/{kept['id']}/triage", headers=SPECIALIST)
        return answer.status_code == 200

    await eventually(kept_triaged, timeout_s=20, interval_s=0.2, what="the first triaged")
    duplicate = submit(
        console, category="other", description="There is no bus map on the school website."
    )
    page = await context.new_page()
    await sign_in(page, console, "sd-1", start=f"/staff/concerns/{kept['id']}")
    notice, tag = page.get_by_role("status"), page.locator("h1 .tag")

    async def act(form_name: str, button: str, done: str, text: str | None = None) -> None:
        form = page.get_by_role("form", name=form_name, exact=True)
        if text is not None:
            await form.get_by_role("textbox").first.fill(text)
        await form.get_by_role("button", name=button).click()
        await expect(notice).to_have_text(done)

    await act("Acknowledge", "Acknowledge", "Acknowledged.")
    await expect(tag).to_have_text("Acknowledged")
    await act(
        "Request information",
        "Ask the family",
        "Question sent; the clock is paused until the family answers.",
        "Which school's website did you look at?",
    )
    await expect(tag).to_have_text("Awaiting requester")
    await act("Resume work", "Resume", "Work resumed.", "The office told us which school.")
    await expect(tag).to_have_text("Acknowledged")

    await page.get_by_label(re.compile("^Call back by")).fill("2026-12-30T09:00")
    await page.get_by_role("button", name="Schedule callback").click()
    await expect(notice).to_have_text("Callback scheduled.")
    await page.get_by_label("Why it is no longer needed (optional)").fill("They wrote back.")
    await page.get_by_role("button", name="Call off this callback").click()
    await expect(notice).to_have_text("Callback called off.")
    await expect(page.locator(".callbacks")).to_contain_text("Cancelled")

    other = await context.new_page()
    flagged = other.locator(".duplicates").get_by_role("link", name=kept["tracking_number"])

    async def flagged_as_duplicate() -> bool:  # triage flags it (same family, similar words)
        await other.goto(f"{console.web}/staff/concerns/{duplicate['id']}")
        return await flagged.count() == 1

    await eventually(flagged_as_duplicate, timeout_s=20, interval_s=0.5, what="the duplicate")
    merge = other.get_by_role("form", name="Merge into another concern")
    await merge.get_by_label("Tracking number of the concern to keep").fill(kept["tracking_number"])
    await merge.get_by_label(re.compile("^Why it is a duplicate")).fill("Same bus map, twice.")
    await merge.get_by_role("button", name="Merge").click()
    await expect(other.get_by_role("status")).to_have_text("Merged into the other concern.")
    await expect(other.get_by_role("link", name="the other concern")).to_be_visible()
    await check(other, console, "case-merged")

    await act("Resolve", "Resolve", "Resolved; the family sees the summary.", "Map added.")
    await act("Reopen", "Reopen", "Reopened.", "The map link is broken.")
    await expect(tag).to_have_text("Reopened")
    await act("Resolve", "Resolve", "Resolved; the family sees the summary.", "Link fixed.")
    await act("Close for good", "Close", "Closed.", "Nothing more to do.")
    await expect(tag).to_have_text("Closed")
    await expect(page.get_by_role("form", name="Reopen")).to_have_count(0)
    await check(page, console, "case-closed")

    theirs = submit(console, category="other", description="Who prints the school calendar?")
    await assign_to_kevin(console, theirs, "Kevin prints the calendars.")
    await page.get_by_role("link", name="Team", exact=True).click()
    handover = page.get_by_role("form", name="Hand over the concerns of Kevin Nguyen")
    await handover.get_by_label("To").select_option("sd-1")
    await handover.get_by_role("button", name="Hand over").click()
    await expect(notice).to_have_text(
        re.compile(r"^Handed over \d+ open concerns? to Rosa Jiménez\.$")
    )
    async with httpx.AsyncClient(base_url=console.bureau.url("triage")) as http:
        decision = await http.get(f"/v1/concerns/{theirs['id']}/triage", headers=SPECIALIST)
    assert decision.json()["assignee_id"] == "sd-1"


async def no_sideways_scroll(page: Page, what: str) -> None:
    """Reflow (WCAG 1.4.10): at 320 CSS px (1280 px at 400 %) the page does not scroll
    sideways (a wide table scrolls in its own box)."""
    size = page.viewport_size
    await page.set_viewport_size({"width": 320, "height": 640})
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, f"{what} is {width} px wide at a 320 px viewport"
    if size:
        await page.set_viewport_size(size)


async def test_an_agent_works_the_queue_with_the_keyboard_and_its_shortcuts_and_it_refreshes(
    console: Console, context: BrowserContext
) -> None:
    word = "zebracrossing"
    first = submit(console, category="safety", description=f"The {word} by the gym has no guard.")
    page = await context.new_page()
    await page.clock.install()  # the queue's minute passes when the test says so
    await sign_in(page, console, "sd-1", start=f"/staff/queue?view=all&q={word}")
    cases = page.locator("#queue tbody th a")
    await expect(cases).to_have_text([first["tracking_number"]])
    await no_sideways_scroll(page, "the work queue")

    # "/" goes to the search; out of it (Shift+Tab: a queue's link), j goes to the first case,
    # Enter opens it: no mouse.
    await page.keyboard.press("/")
    await expect(page.get_by_label(re.compile("^Search"))).to_be_focused()
    await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("j")
    await expect(cases.first).to_be_focused()
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    case_title = re.compile(f"Case {first['tracking_number']}")
    await expect(page.get_by_role("heading", name=case_title)).to_be_visible()
    await no_sideways_scroll(page, "the case page")
    reply = page.get_by_role("textbox", name=re.compile("^Reply"))
    await tab_to(page, f"#{await reply.get_attribute('id')}", presses=200)
    await page.keyboard.type("A guard stands at the crossing from tomorrow.")
    await tab_to(page, 'role=button[name="Send reply"]')
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_have_text("Reply sent to the family.")

    # A concern sent meanwhile appears once the queue's minute has passed, without a reload.
    await page.goto(f"{console.web}/staff/queue?view=all&q={word}")
    second = submit(console, category="safety", description=f"A second {word} is unsafe too.")
    async with httpx.AsyncClient(base_url=console.intake) as http:

        async def listed() -> bool:
            found = await http.get("/v1/concerns", params={"q": word}, headers=SPECIALIST)
            return len(found.json()["items"]) == 2

        await eventually(listed, timeout_s=20, interval_s=0.2, what="intake lists both")
    await expect(cases).to_have_count(1)
    await page.clock.run_for(61_000)
    await expect(cases).to_have_text([first["tracking_number"], second["tracking_number"]])

    # The single-key shortcuts can be turned off (WCAG 2.1.4), and on again.
    await page.get_by_text("Keyboard shortcuts", exact=True).click()
    toggle = page.get_by_role("button", name="Turn off single-key shortcuts")
    await check(page, console, "queue-shortcuts")
    await toggle.click()
    await expect(page.get_by_role("button", name="Turn on single-key shortcuts")).to_be_visible()
    await page.reload()
    await page.locator("h1").click()
    await page.keyboard.press("/")
    await page.keyboard.press("j")
    await expect(page.get_by_label(re.compile("^Search"))).not_to_be_focused()
    await expect(cases.first).not_to_be_focused()
    await page.get_by_text("Keyboard shortcuts", exact=True).click()
    await page.get_by_role("button", name="Turn on single-key shortcuts").click()
    await page.locator("h1").click()
    await page.keyboard.press("/")
    await expect(page.get_by_label(re.compile("^Search"))).to_be_focused()
