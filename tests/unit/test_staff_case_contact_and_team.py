"""A working day in the staff console, through the web's routes with the services answered by
a recording stand-in: the family's contact is shown on purpose, with a recorded reason, to call
them back; a promised callback no longer needed is called off; and a refused out-of-office or
hand-over is said on the team page, in words, instead of an error page; staff pages load
nothing from outside under the strict policy, and an action without the page's CSRF token
reaches no service."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from frontends.web.main import create_app
from frontends.web.settings import WebSettings

pytestmark = pytest.mark.unit

INTAKE, TRIAGE, ESCALATION = 8001, 8002, 8003
CASE: dict[str, Any] = {
    "id": "c-1",
    "tracking_number": "CS-2026-000042",
    "version": 3,
    "status": "acknowledged",
    "channel": "web",
    "category": "transportation",
    "school_id": None,
    "description": "The bus left my son behind this morning.",
    "requester_language": "en",
    "anonymous": False,
    "has_student_information": False,
    "submitted_at": "2026-12-01T10:00:00Z",
    "resolution_due_at": "2026-12-04T10:00:00Z",
    "overdue": False,
    "callbacks": [
        {
            "id": "cb-7",
            "due_at": "2026-12-02T15:00:00Z",
            "actor": "sd-1",
            "scheduled_at": "2026-12-01T11:00:00Z",
            "status": "scheduled",
        }
    ],
}
CONTACT = {
    "concern_id": "c-1",
    "disclosure_id": "d-1",
    "name": "Maria Lopez",
    "email": "maria@example.org",
    "phone": "+15551230001",
    "language": "en",
    "preferred_contact": "phone",
}
TEAMS = [{"id": "service-desk", "name": "Service Desk", "lead": "sd-lead", "members": ["sd-1"]}]
MEMBERS = [
    {
        "id": "sd-1",
        "name": "Rosa Jiménez",
        "teams": ["service-desk"],
        "load": 2,
        "open": ["c-1", "c-2"],
        "away": False,
        "backup_id": None,
    }
]


def problem(status: int, title: str, detail: str, **extra: Any) -> httpx.Response:
    body = {"title": title, "status": status, "detail": detail, **extra}
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


@dataclass
class Services:
    """Intake and triage as the console calls them: what they were sent, what they say."""

    sent: list[tuple[str, str, Any]] = field(default_factory=list)
    answers: dict[str, httpx.Response] = field(default_factory=dict)
    lists: dict[tuple[int, str], Any] = field(default_factory=dict)
    files: dict[tuple[int, str], httpx.Response] = field(default_factory=dict)
    headers: list[httpx.Headers] = field(default_factory=list)  # of each change sent

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET":
            if (request.url.port, path) in self.files:
                self.sent.append(("GET", path, request.headers.get("authorization")))
                return self.files[(request.url.port, path)]
            if (request.url.port, path) in self.lists:
                return httpx.Response(200, json=self.lists[(request.url.port, path)])
            if (request.url.port, path) == (INTAKE, "/v1/concerns/c-1"):
                return httpx.Response(200, json=CASE)
            if (request.url.port, path) == (TRIAGE, "/v1/teams"):
                return httpx.Response(200, json=TEAMS)
            if (request.url.port, path) == (TRIAGE, "/v1/members"):
                return httpx.Response(200, json=MEMBERS)
            return problem(404, "Not found", "Nothing here.")
        body = json.loads(request.content) if request.content else None
        self.sent.append((request.method, path, body))
        self.headers.append(request.headers)
        if path in self.answers:
            return self.answers[path]
        if path == "/v1/concerns/c-1/requester/reveal":
            return httpx.Response(200, json=CONTACT)
        if path == "/v1/rules/reorder":
            return httpx.Response(200, json=[])
        if path.startswith("/v1/concerns/c-1/"):
            return httpx.Response(200, json=CASE)
        return problem(404, "Not found", "Nothing here.")


@pytest.fixture
def services() -> Services:
    return Services()


@pytest.fixture
def browser(services: Services) -> Iterator[TestClient]:
    app = create_app(
        WebSettings(environment="development"), transport=httpx.MockTransport(services)
    )
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        yield client


def csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def sign_in(browser: TestClient, role: str, sub: str = "sd-1") -> None:
    page = browser.get("/staff/sign-in")
    answer = browser.post(
        "/staff/sign-in/development",
        data={"csrf_token": csrf(page), "role": role, "sub": sub},
        follow_redirects=False,
    )
    assert answer.status_code == 303


def post(browser: TestClient, page: str, action: str, **fields: str) -> httpx.Response:
    """Post a form of `page` as a person would (its CSRF token with it)."""
    shown = browser.get(page)
    assert shown.status_code == 200, shown.text
    assert f'action="{action}"' in shown.text, f"no form posting to {action} on {page}"
    return browser.post(action, data={"csrf_token": csrf(shown), **fields})


def test_a_specialist_sees_the_familys_phone_to_call_back_and_the_reason_is_sent(
    browser: TestClient, services: Services
) -> None:
    sign_in(browser, "specialist")
    case = browser.get("/staff/concerns/c-1")
    assert "+15551230001" not in case.text and "maria@example.org" not in case.text

    shown = post(
        browser,
        "/staff/concerns/c-1",
        "/staff/concerns/c-1/contact",
        reason="Calling back about the bus stop, as promised.",
    )

    assert shown.status_code == 200
    assert 'href="tel:+15551230001"' in shown.text
    assert "maria@example.org" in shown.text and "Maria Lopez" in shown.text
    assert "+15551230001" not in str(shown.url)
    assert services.sent == [
        (
            "POST",
            "/v1/concerns/c-1/requester/reveal",
            {"reason": "Calling back about the bus stop, as promised."},
        )
    ]
    again = browser.get("/staff/concerns/c-1")  # shown on that answer only
    assert "+15551230001" not in again.text


def test_the_contact_needs_a_reason_and_a_case_without_one_says_so(
    browser: TestClient, services: Services
) -> None:
    sign_in(browser, "specialist")
    short = post(browser, "/staff/concerns/c-1", "/staff/concerns/c-1/contact", reason="call")
    assert short.status_code == 400
    assert "Say why you need it" in short.text and services.sent == []

    services.answers["/v1/concerns/c-1/requester/reveal"] = problem(
        404, "No contact", "The requester of this concern left no contact."
    )
    none = post(
        browser, "/staff/concerns/c-1", "/staff/concerns/c-1/contact", reason="Returning her call."
    )
    assert none.status_code == 404
    assert "The family left no name, phone or email." in none.text
    assert "Case CS-2026-000042" in none.text  # the case, not an error page


def test_those_who_may_not_act_on_cases_have_no_contact_form(browser: TestClient) -> None:
    sign_in(browser, "auditor", sub="aud-1")
    case = browser.get("/staff/concerns/c-1")
    assert case.status_code == 200
    assert "/staff/concerns/c-1/contact" not in case.text


def test_a_callback_no_longer_needed_is_called_off_on_the_version_shown(
    browser: TestClient, services: Services
) -> None:
    sign_in(browser, "specialist")
    page = browser.get("/staff/concerns/c-1")
    assert "Call off this callback" in page.text

    done = post(
        browser,
        "/staff/concerns/c-1",
        "/staff/concerns/c-1/act/cancel-callback",
        version="3",
        callback_id="cb-7",
        reason="The mother wrote back; no call needed.",
    )

    assert done.status_code == 200 and "Callback called off." in done.text
    assert services.sent == [
        (
            "POST",
            "/v1/concerns/c-1/callbacks/cb-7/cancel",
            {"reason": "The mother wrote back; no call needed."},
        )
    ]


def test_a_hand_over_triage_refuses_is_said_on_the_team_page_not_an_error_page(
    browser: TestClient, services: Services
) -> None:
    services.answers["/v1/members/sd-1/handover"] = problem(
        422,
        "Invalid request",
        "sd-1 has no backup; say whom to hand over to",
        errors=[{"field": "to", "message": "sd-1 has no backup; say whom to hand over to"}],
    )
    sign_in(browser, "specialist")

    refused = post(browser, "/staff/team", "/staff/team/sd-1/handover", to="")

    assert refused.status_code == 400
    assert "Nothing was handed over: sd-1 has no backup; say whom to hand over to" in refused.text
    assert 'role="alert"' in refused.text and "Rosa Jiménez" in refused.text  # the team page
    assert services.sent == [("POST", "/v1/members/sd-1/handover", {"to": None, "reason": None})]


def test_marking_someone_else_away_out_of_reach_is_refused_in_words(
    browser: TestClient, services: Services
) -> None:
    services.answers["/v1/members/sd-1/away"] = problem(
        403, "Outside your scope", "You may change only your own settings."
    )
    sign_in(browser, "specialist", sub="sd-2")

    refused = post(browser, "/staff/team", "/staff/team/sd-1/away", away="1", backup_id="")

    assert refused.status_code == 403
    assert "Not marked away: You may change only your own settings." in refused.text


def test_the_administration_page_has_unique_ids_whatever_rules_and_policies_are_named(
    browser: TestClient, services: Services
) -> None:
    """A rule or policy named like a form field (`description`, `calendar`) would give its
    row the field's id: the field's label and the link to its error would lead to the row."""
    ladder = [{"level": 1, "role": "principal", "after_s": 0}]
    services.lists[(ESCALATION, "/v1/policies")] = [
        {"id": name, "rank": rank, "first_response_s": 3600, "resolution_s": 7200}
        | {"ladder": ladder}
        for rank, name in enumerate(("calendar", "first_response_h", "after_h_1", "form-title"))
    ]
    services.lists[(TRIAGE, "/v1/rules")] = [
        {"id": name, "position": i, "conditions": {}, "actions": {"team": "service-desk"}}
        for i, name in enumerate(("description", "keywords", "form-title", "id-hint"))
    ]
    services.lists[(TRIAGE, "/v1/safety-words")] = {"words": ["weapon*"], "origin": "district"}
    sign_in(browser, "admin", sub="admin-1")

    page = browser.get("/staff/admin?policy=calendar&rule=description")

    assert page.status_code == 200, page.text
    assert 'id="policy-calendar"' in page.text and 'id="rule-description"' in page.text
    ids = re.findall(r'\sid="([^"]+)"', page.text)
    assert sorted(i for i in set(ids) if ids.count(i) > 1) == []


def decision(*duplicates: dict[str, Any]) -> dict[str, Any]:
    """Triage's decision on c-1, with these possible duplicates."""
    return {
        "concern_id": "c-1",
        "category": "transportation",
        "school_id": None,
        "team_id": "transportation",
        "priority": "normal",
        "tags": [],
        "rule": "category",
        "decided_by": "triage",
        "decided_at": "2026-12-01T10:00:01Z",
        "assignee_id": "tr-1",
        "status": "routed",
        "possible_duplicates": list(duplicates),
        "submitted_at": "2026-12-01T10:00:00Z",
        "history": [],
    }


def test_the_case_lists_its_possible_duplicates_with_tracking_number_and_why(
    browser: TestClient, services: Services
) -> None:
    services.lists[(TRIAGE, "/v1/concerns/c-1/triage")] = decision(
        {"concern_id": "c-2", "reason": "same_requester", "similarity": 1.0},
        {"concern_id": "c-gone", "reason": "similar_text", "similarity": 0.8},  # not readable
    )
    services.lists[(INTAKE, "/v1/concerns/c-2")] = {
        **CASE,
        "id": "c-2",
        "tracking_number": "CS-2026-000040",
        "status": "received",
    }
    sign_in(browser, "specialist")

    case = browser.get("/staff/concerns/c-1")

    assert case.status_code == 200
    listed = case.text.split('id="duplicates-title"')[1].split("</section>")[0]
    assert '<a href="/staff/concerns/c-2">CS-2026-000040</a>' in listed
    assert "same family, category and school within 14 days" in listed
    assert "c-gone" not in listed
    assert 'href="#h-merge"' in listed  # where to merge it


def test_a_case_without_duplicates_or_triage_has_no_duplicates_section(
    browser: TestClient,
) -> None:
    sign_in(browser, "specialist")
    case = browser.get("/staff/concerns/c-1")  # triage answers 404: not triaged yet
    assert case.status_code == 200 and "Possible duplicates" not in case.text


def test_the_timeline_says_which_message_reached_the_family_and_which_did_not(
    browser: TestClient, services: Services
) -> None:
    timeline = [
        {"kind": "submitted", "at": "2026-12-01T10:00:00Z", "actor": "requester"},
        {"kind": "notification_sent", "at": "2026-12-01T10:00:05Z", "actor": "notify"}
        | {"notification": "acknowledgement", "channel": "email", "delivery_id": "d-1"},
        {"kind": "notification_failed", "at": "2026-12-01T11:00:05Z", "actor": "notify"}
        | {"notification": "reply", "channel": "sms", "delivery_id": "d-2"},
    ]
    services.lists[(INTAKE, "/v1/concerns/c-1")] = {**CASE, "timeline": timeline}
    sign_in(browser, "specialist")

    case = browser.get("/staff/concerns/c-1")

    happened = case.text.split('class="timeline"')[1]
    assert "notification sent: acknowledgement by email" in happened
    assert "<strong>notification failed: reply by sms</strong>" in happened


def textarea(page: str, field_id: str) -> str:
    found = re.search(rf'<textarea id="{field_id}"[^>]*>([^<]*)</textarea>', page)
    assert found is not None, field_id
    return found.group(1)


def test_a_refused_re_triage_keeps_its_choices_and_reason_in_its_own_form_only(
    browser: TestClient, services: Services
) -> None:
    services.answers["/v1/concerns/c-1/triage"] = problem(
        422,
        "Invalid request",
        "no team 'transportation' member 'sd-1'",
        errors=[{"field": "assignee_id", "message": "sd-1 is not a member of that team"}],
    )
    sign_in(browser, "specialist")

    refused = post(
        browser,
        "/staff/concerns/c-1",
        "/staff/concerns/c-1/retriage",
        team_id="transportation",
        assignee_id="sd-1",
        reason="The bus depot handles this, not the desk.",
    )

    assert refused.status_code == 400
    assert "<h2>There is a problem</h2>" in refused.text  # not "This case has changed"
    assert 'value="The bus depot handles this, not the desk." required aria-invalid="true"' in (
        refused.text
    )
    assert '<option value="transportation" selected>Transportation Department</option>' in (
        refused.text
    )
    assert textarea(refused.text, "merge-reason") == ""  # not copied into Merge


def test_a_refused_reply_is_kept_in_the_reply_form_not_in_the_question_form(
    browser: TestClient, services: Services
) -> None:
    services.answers["/v1/concerns/c-1/replies"] = problem(
        422,
        "Invalid request",
        "message too short",
        errors=[{"field": "message", "message": "at least 2 characters"}],
    )
    sign_in(browser, "specialist")

    refused = post(
        browser,
        "/staff/concerns/c-1",
        "/staff/concerns/c-1/act/replies",
        version="3",
        message="k",
    )

    assert refused.status_code == 400
    assert textarea(refused.text, "replies-message") == "k"
    assert textarea(refused.text, "request-information-message") == ""


def admin_lists(services: Services, *rule_ids: str) -> None:
    """What the administration page reads: these rules in this order, one policy, words."""
    ladder = [{"level": 1, "role": "principal", "after_s": 0}]
    services.lists[(ESCALATION, "/v1/policies")] = [
        {"id": "standard", "rank": 10, "first_response_s": 3600, "resolution_s": 7200}
        | {"ladder": ladder}
    ]
    services.lists[(TRIAGE, "/v1/rules")] = [
        {"id": name, "position": i, "conditions": {}, "actions": {"team": "service-desk"}}
        for i, name in enumerate(rule_ids)
    ]
    services.lists[(TRIAGE, "/v1/safety-words")] = {"words": ["weapon*"], "origin": "district"}


def test_an_administrator_tries_a_rule_one_place_earlier(
    browser: TestClient, services: Services
) -> None:
    admin_lists(services, "late-bus", "bullying", "field-trip")
    sign_in(browser, "admin", sub="admin-1")
    page = browser.get("/staff/admin")
    first = page.text.split('id="rule-row-late-bus"')[1].split("</tr>")[0]
    last = page.text.split('id="rule-row-field-trip"')[1].split("</tr>")[0]
    assert 'value="up"' not in first and 'value="down"' in first
    assert 'value="up"' in last and 'value="down"' not in last

    moved = post(browser, "/staff/admin", "/staff/admin/rules/field-trip/move", direction="up")

    assert moved.status_code == 200 and "Order saved" in moved.text
    assert services.sent == [
        ("POST", "/v1/rules/reorder", {"rule_ids": ["late-bus", "field-trip", "bullying"]})
    ]


def test_a_reorder_triage_refuses_is_said_and_the_first_rule_cannot_move_up(
    browser: TestClient, services: Services
) -> None:
    admin_lists(services, "late-bus", "bullying")
    services.answers["/v1/rules/reorder"] = problem(
        422,
        "Invalid order",
        "Name every rule once (missing: ['new-one'], unknown: []).",
        errors=[{"field": "rule_ids", "message": "must name every rule once"}],
    )
    sign_in(browser, "admin", sub="admin-1")

    refused = post(browser, "/staff/admin", "/staff/admin/rules/bullying/move", direction="up")
    assert refused.status_code == 400
    assert "The order was not saved: must name every rule once" in refused.text

    sent = len(services.sent)
    stuck = post(browser, "/staff/admin", "/staff/admin/rules/late-bus/move", direction="up")
    assert stuck.status_code == 400 and "cannot move that way" in stuck.text
    assert len(services.sent) == sent  # nothing sent to triage


def test_an_auditor_reads_on_the_case_who_saw_the_familys_contact_and_why(
    browser: TestClient, services: Services
) -> None:
    services.lists[(INTAKE, "/v1/concerns/c-1/requester/accesses")] = [
        {"id": "a-1", "kind": "contact_revealed", "actor": "sd-1", "roles": ["specialist"]}
        | {"reason": "Calling back about the bus stop.", "at": "2026-12-01T12:00:00Z"},
        {"id": "a-2", "kind": "requester_searched", "actor": "p-lincoln", "roles": ["principal"]}
        | {"reason": "The mother is on the phone.", "at": "2026-12-01T13:00:00Z"},
    ]
    sign_in(browser, "auditor", sub="aud-1")

    case = browser.get("/staff/concerns/c-1")

    accesses = case.text.split('id="accesses"')[1].split("</details>")[0]
    assert "Who saw the family's contact (2)" in accesses
    assert "Rosa Jiménez (specialist) saw the contact: Calling back about the bus stop." in (
        accesses
    )
    assert "found this case by the family&#39;s contact: The mother is on the phone." in accesses


def test_staff_who_work_the_case_do_not_get_the_record_of_accesses(
    browser: TestClient, services: Services
) -> None:
    services.lists[(INTAKE, "/v1/concerns/c-1/requester/accesses")] = []
    sign_in(browser, "specialist")
    case = browser.get("/staff/concerns/c-1")
    assert case.status_code == 200 and 'id="accesses"' not in case.text


def test_an_administrator_deletes_a_rule_after_a_confirmation(
    browser: TestClient, services: Services
) -> None:
    admin_lists(services, "late-bus", "bullying")
    services.answers["/v1/rules/late-bus"] = httpx.Response(204)
    sign_in(browser, "admin", sub="admin-1")
    editing = browser.get("/staff/admin?rule=late-bus")
    assert 'href="/staff/admin/rules/late-bus/delete"' in editing.text
    assert services.sent == []  # asking is not deleting

    deleted = post(
        browser, "/staff/admin/rules/late-bus/delete", "/staff/admin/rules/late-bus/delete"
    )

    assert deleted.status_code == 200 and "Routing rule deleted" in deleted.text
    assert services.sent == [("DELETE", "/v1/rules/late-bus", None)]


def test_only_administrators_may_delete_a_rule(browser: TestClient, services: Services) -> None:
    admin_lists(services, "late-bus")
    sign_in(browser, "specialist")
    assert browser.get("/staff/admin/rules/late-bus/delete").status_code == 403
    page = browser.get("/staff/admin")
    refused = browser.post("/staff/admin/rules/late-bus/delete", data={"csrf_token": csrf(page)})
    assert refused.status_code == 403 and services.sent == []


def test_the_case_says_which_messages_reached_the_family_and_why_one_did_not(
    browser: TestClient, services: Services
) -> None:
    sent = {"recipient": "requester", "language": "en", "attempts": 1, "status": "sent"}
    services.lists[(8004, "/v1/concerns/c-1/deliveries")] = [
        sent
        | {"id": "d-1", "kind": "acknowledgement", "channel": "email"}
        | {"address": "m***@example.org", "created_at": "2026-12-01T10:00:01Z"}
        | {"updated_at": "2026-12-01T10:00:02Z", "sent_at": "2026-12-01T10:00:02Z"},
        sent
        | {"id": "d-2", "kind": "reply", "channel": "sms", "status": "failed"}
        | {"attempts": 3, "address": "+1******0001", "created_at": "2026-12-01T11:00:00Z"}
        | {"updated_at": "2026-12-01T11:20:00Z", "failed_at": "2026-12-01T11:20:00Z"}
        | {"last_error": "provider 30003 unreachable"},
    ]
    sign_in(browser, "specialist")

    case = browser.get("/staff/concerns/c-1")

    listed = case.text.split('id="deliveries"')[1].split("</details>")[0]
    assert "(2, <strong>1 failed</strong>)" in listed
    assert "acknowledgement by email to the family (m***@example.org): sent" in listed
    assert (
        "reply by sms to the family (+1******0001): <strong>failed</strong> after 3 "
        "attempts (provider 30003 unreachable)"
    ) in listed


def test_an_auditor_reads_a_students_record_of_disclosures_by_a_posted_id(
    browser: TestClient, services: Services
) -> None:
    services.lists[(INTAKE, "/v1/students/S-204518/disclosures")] = {
        "entries": [
            {"kind": "collected", "at": "2026-12-01T10:00:00Z", "concern_id": "c-1"}
            | {"tracking_number": "CS-2026-000042", "actor": "web-frontend"},
            {"kind": "shared", "at": "2026-12-01T10:00:01Z", "concern_id": "c-1"}
            | {"tracking_number": "CS-2026-000042", "actor": "intake", "recipient": "triage"}
            | {"reason": "special-education flag, to route the concern"},
            {"kind": "revealed", "at": "2026-12-01T12:00:00Z", "concern_id": "c-1"}
            | {"tracking_number": "CS-2026-000042", "actor": "sd-1"}
            | {"reason": "Calling the family about the bus stop."},
        ]
    }
    sign_in(browser, "auditor", sub="aud-1")
    assert 'href="/staff/students"' in browser.get("/staff/concerns/c-1").text  # navigation

    record = post(browser, "/staff/students", "/staff/students", student_id="S-204518")

    assert record.status_code == 200 and "S-204518" not in str(record.url)
    rows = record.text.split("<tbody>")[1]
    assert rows.count("<tr>") == 3
    assert "shared with triage" in rows and "Rosa Jiménez" in rows
    assert "Calling the family about the bus stop." in rows
    wrong = post(browser, "/staff/students", "/staff/students", student_id="S 2045/18")
    assert wrong.status_code == 400 and "Enter the student&#39;s district id" in wrong.text


def test_staff_who_work_cases_have_no_student_records_page(browser: TestClient) -> None:
    sign_in(browser, "specialist")
    assert 'href="/staff/students"' not in browser.get("/staff/concerns/c-1").text
    assert browser.get("/staff/students").status_code == 403


def test_a_hand_over_says_how_many_concerns_went_to_whom(
    browser: TestClient, services: Services
) -> None:
    services.answers["/v1/members/sd-1/handover"] = httpx.Response(
        200, json={"member_id": "sd-1", "to": "sd-2", "moved": ["c-1", "c-2"]}
    )
    sign_in(browser, "specialist")

    done = post(browser, "/staff/team", "/staff/team/sd-1/handover", to="")

    assert done.status_code == 200
    assert "Handed over 2 open concerns to Kevin Nguyen." in done.text


def hidden(page: httpx.Response, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page.text)
    assert found is not None, name
    return found.group(1)


def test_a_re_triage_from_a_page_older_than_another_re_triage_is_stopped_and_kept(
    browser: TestClient, services: Services
) -> None:
    services.lists[(TRIAGE, "/v1/concerns/c-1/triage")] = {**decision(), "version": 4}
    services.answers["/v1/concerns/c-1/triage"] = problem(  # a colleague re-routed it
        412, "Decision changed meanwhile", "Someone else changed how this concern is routed."
    )
    sign_in(browser, "specialist")
    shown = browser.get("/staff/concerns/c-1")
    choices = {"team_id": "service-desk", "reason": "The desk can answer this one today."}
    services.lists[(TRIAGE, "/v1/concerns/c-1/triage")] = {**decision(), "version": 5}

    stale = browser.post(
        "/staff/concerns/c-1/retriage",
        data={
            "csrf_token": csrf(shown),
            "triage_version": hidden(shown, "triage_version"),
            **choices,
        },
    )

    assert stale.status_code == 409
    assert "<h2>This case has changed</h2>" in stale.text
    assert '<option value="service-desk" selected>Service Desk</option>' in stale.text
    [(method, path, sent)] = services.sent
    assert (method, path, sent) == ("PATCH", "/v1/concerns/c-1/triage", choices)
    assert services.headers[-1]["if-match"] == '"4"'  # the version the page showed
    services.answers["/v1/concerns/c-1/triage"] = httpx.Response(
        200, json={**decision(), "version": 6}
    )
    again = browser.post(
        "/staff/concerns/c-1/retriage",
        data={
            "csrf_token": csrf(stale),
            "triage_version": hidden(stale, "triage_version"),
            **choices,
        },
        follow_redirects=False,
    )
    assert again.status_code == 303
    assert services.headers[-1]["if-match"] == '"5"'


def test_a_reply_kept_aside_shows_its_channel_sender_reason_and_text(
    browser: TestClient, services: Services
) -> None:
    kept = {
        "id": "e-9",
        "kind": "unverified_message",
        "at": "2026-12-01T12:00:00Z",
        "actor": "email-frontend",
        "channel": "email",
        "sender": "grandma@example.net",
        "reason": "not from the requester's address",
        "text": "He was left behind again <b>today</b>.",
    }
    services.lists[(INTAKE, "/v1/concerns/c-1")] = {**CASE, "timeline": [kept]}
    sign_in(browser, "specialist")

    case = browser.get("/staff/concerns/c-1")

    aside = case.text.split('id="kept-aside-title"', 1)[1].split("</section>", 1)[0]
    assert "Kept aside, not added to the conversation (1)" in case.text
    assert "By email from grandma@example.net" in aside
    assert "kept aside: not from the requester&#39;s address" in aside
    assert "He was left behind again &lt;b&gt;today&lt;/b&gt;." in aside  # escaped, as written


def test_the_familys_files_are_listed_and_downloaded_with_the_staff_members_token(
    browser: TestClient, services: Services
) -> None:
    services.lists[(INTAKE, "/v1/concerns/c-1/attachments")] = [
        {
            "id": "a-1",
            "filename": "bus note.pdf",
            "content_type": "application/pdf",
            "size": 2048,
            "sha256": "0" * 64,
            "uploaded_at": "2026-12-01T10:01:00Z",
            "uploaded_by": "requester",
        }
    ]
    services.files[(INTAKE, "/v1/concerns/c-1/attachments/a-1")] = httpx.Response(
        200,
        content=b"%PDF-1.4 note",
        headers={
            "content-type": "application/pdf",
            "content-disposition": 'attachment; filename="bus note.pdf"',
        },
    )
    sign_in(browser, "specialist")

    case = browser.get("/staff/concerns/c-1")
    link = re.search(
        r'<a href="(/staff/concerns/c-1/attachments/a-1)" download>bus note.pdf', case.text
    )
    assert link is not None, case.text
    assert "Files the family sent (1)" in case.text and "2 KB" in case.text
    downloaded = browser.get(link.group(1))
    missing = browser.get("/staff/concerns/c-1/attachments/a-2")

    assert downloaded.status_code == 200
    assert downloaded.content == b"%PDF-1.4 note"
    assert downloaded.headers["content-type"] == "application/pdf"
    assert downloaded.headers["content-disposition"] == 'attachment; filename="bus note.pdf"'
    assert downloaded.headers["cache-control"] == "no-store"
    method, path, authorization = services.sent[-1]
    assert (method, path) == ("GET", "/v1/concerns/c-1/attachments/a-1")
    assert authorization is not None and authorization.startswith("Bearer ")
    assert missing.status_code == 404 and "Case not found" in missing.text


def test_staff_pages_load_nothing_from_outside_under_the_strict_policy(
    browser: TestClient,
) -> None:
    sign_in(browser, "specialist")
    for path in ("/staff/sign-in", "/staff/team", "/staff/concerns/c-1"):
        page = browser.get(path, headers={"Accept-Encoding": "gzip"})
        assert page.status_code == 200, path
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy, path
        assert "unsafe-inline" not in policy and "<script>" not in page.text, path
        sources = re.findall(r'<(?:script|link|img)\b[^>]*\b(?:src|href)="([^"]+)"', page.text)
        assert sources and all(s.startswith("/static/") for s in sources), (path, sources)


def test_a_staff_action_without_the_pages_csrf_token_reaches_no_service(
    browser: TestClient, services: Services
) -> None:
    sign_in(browser, "specialist")
    reason = "Calling the family back about the bus stop."
    refused = browser.post("/staff/concerns/c-1/contact", data={"reason": reason})
    assert refused.status_code == 400
    forged = browser.post(
        "/staff/concerns/c-1/contact", data={"csrf_token": "forged", "reason": reason}
    )
    assert forged.status_code == 400
    assert not [sent for sent in services.sent if sent[0] == "POST"]
    # the same post with the page's token is sent
    post(browser, "/staff/concerns/c-1", "/staff/concerns/c-1/contact", reason=reason)
    assert ("POST", "/v1/concerns/c-1/requester/reveal") in [s[:2] for s in services.sent]


def test_a_students_information_needs_a_reason_and_a_role_that_may_see_it(
    browser: TestClient, services: Services
) -> None:
    services.lists[(INTAKE, "/v1/concerns/c-1")] = {**CASE, "has_student_information": True}
    sign_in(browser, "specialist")
    short = post(browser, "/staff/concerns/c-1", "/staff/concerns/c-1/reveal", reason="see")
    assert short.status_code == 400
    assert "Say why you need it" in short.text and services.sent == []
    services.answers["/v1/concerns/c-1/student/reveal"] = httpx.Response(
        200,
        json={"concern_id": "c-1", "disclosure_id": "d-1"}
        | {"student": {"name": "Lucia Gonzalez", "student_id": "S-204518", "grade": "4"}},
    )
    why = "Calling the family about the bus stop for this student."
    shown = post(browser, "/staff/concerns/c-1", "/staff/concerns/c-1/reveal", reason=why)
    assert shown.status_code == 200 and "Lucia Gonzalez" in shown.text
    assert services.sent == [("POST", "/v1/concerns/c-1/student/reveal", {"reason": why})]
    services.sent.clear()
    sign_in(browser, "auditor", sub="aud-1")
    case = browser.get("/staff/concerns/c-1")
    assert "/staff/concerns/c-1/reveal" not in case.text
    refused = browser.post(
        "/staff/concerns/c-1/reveal",
        data={"csrf_token": csrf(case), "reason": "Reading the record for the audit."},
    )
    assert refused.status_code == 403
    assert "You may not see this student&#39;s information." in refused.text
    assert services.sent == []
