"""Adding and deleting SLA policies in the staff console, through the web's routes with
escalation answered by a recording stand-in: what the form refuses never reaches escalation,
what escalation refuses is said in plain words on the form, the last catch-all policy's
refusal is shown on the confirmation page, and only administrators have these pages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from frontends.web.main import create_app
from frontends.web.settings import WebSettings
from tests.unit.test_staff_case_contact_and_team import csrf, problem, sign_in

pytestmark = pytest.mark.unit

LADDER = [{"level": 1, "role": "principal", "after_s": 0}]
POLICIES = [
    {"id": "critical", "rank": 10, "priority": "critical", "first_response_s": 3600}
    | {"resolution_s": 86400, "ladder": LADDER},
    {"id": "standard", "rank": 20, "first_response_s": 86400, "resolution_s": 259200}
    | {"ladder": LADDER},
]


@dataclass
class Escalation:
    """Escalation's policies admin as the console calls it: what it was sent, what it says."""

    sent: list[tuple[str, str, Any]] = field(default_factory=list)
    answer: httpx.Response | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.port != 8003 or not request.url.path.startswith("/v1/policies"):
            return httpx.Response(503)
        if request.method == "GET":
            return httpx.Response(200, json=POLICIES)
        body = json.loads(request.content) if request.content else None
        self.sent.append((request.method, request.url.path, body))
        if self.answer is not None:
            return self.answer
        return httpx.Response(201, json=body) if body else httpx.Response(204)


@pytest.fixture
def escalation() -> Escalation:
    return Escalation()


@pytest.fixture
def browser(escalation: Escalation) -> Iterator[TestClient]:
    app = create_app(
        WebSettings(environment="development"), transport=httpx.MockTransport(escalation)
    )
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        yield client


def add(browser: TestClient, **fields: str) -> httpx.Response:
    form = browser.get("/staff/admin/policies/new")
    assert form.status_code == 200
    values = {
        "id": "enrollment-slow",
        "category": "enrollment",
        "rank": "15",
        "first_response_h": "48",
        "resolution_h": "120",
        "calendar": "around-the-clock",
        "after_h_1": "0",
        "after_h_2": "24",
        "after_h_3": "48",
        **fields,
    }
    return browser.post(
        "/staff/admin/policies", data={"csrf_token": csrf(form), **values}, follow_redirects=False
    )


def test_an_administrator_adds_a_policy_with_the_districts_defaults(
    browser: TestClient, escalation: Escalation
) -> None:
    sign_in(browser, "admin", sub="admin-1")
    form = browser.get("/staff/admin/policies/new")
    assert 'name="rank" value="15"' in form.text  # between critical (10) and standard (20)

    added = add(browser)

    assert added.status_code == 303
    assert added.headers["location"] == "/staff/admin?done=policy-added#policy-row-enrollment-slow"
    [(method, path, body)] = escalation.sent
    assert (method, path) == ("POST", "/v1/policies")
    assert (body["id"], body["category"], body["priority"], body["rank"]) == (
        "enrollment-slow",
        "enrollment",
        None,
        15,
    )
    assert (body["first_response_s"], body["resolution_s"]) == (48 * 3600, 120 * 3600)
    assert [s["role"] for s in body["ladder"]] == [
        "principal",
        "assistant_superintendent",
        "ombudsperson",
    ]
    assert body["reminder_interval_s"] == 28800  # escalation.defaults of the district file


def test_what_the_form_refuses_is_summarised_with_links_and_never_sent(
    browser: TestClient, escalation: Escalation
) -> None:
    sign_in(browser, "admin", sub="admin-1")

    refused = add(browser, id="Enrollment Slow", resolution_h="soon", rank="25")

    assert refused.status_code == 400
    assert escalation.sent == []
    assert "<title>Error: Add a policy" in refused.text
    summary = refused.text.split('class="error-summary"')[1].split("</div>")[0]
    assert '<a href="#policy-id">Enter a name of lower-case letters' in summary
    assert '<a href="#policy-resolution_h">Enter the resolution target in hours' in summary
    assert 'aria-describedby="policy-id-hint policy-id-error"' in refused.text
    assert 'value="Enrollment Slow"' in refused.text  # kept to correct
    behind = add(browser, rank="25")  # after the catch-all policy: it would never apply
    assert behind.status_code == 400 and escalation.sent == []
    assert "Policy standard (order 20) is tried first" in behind.text


def test_escalations_refusal_of_a_new_policy_is_shown_on_its_field(
    browser: TestClient, escalation: Escalation
) -> None:
    sign_in(browser, "admin", sub="admin-1")
    escalation.answer = problem(
        422,
        "Invalid request",
        "Check these fields: category.",
        errors=[{"field": "category", "message": "unknown category 'enrollment'"}],
    )

    refused = add(browser)

    assert refused.status_code == 400 and len(escalation.sent) == 1
    assert '<a href="#policy-category">The district has no such category any more' in refused.text
    assert 'id="policy-category-error"' in refused.text


def test_the_last_catch_all_policy_is_not_deleted_and_the_page_says_why(
    browser: TestClient, escalation: Escalation
) -> None:
    sign_in(browser, "admin", sub="admin-1")
    confirm = browser.get("/staff/admin/policies/standard/delete")
    assert confirm.status_code == 200
    assert "Yes, delete the policy" in confirm.text and escalation.sent == []
    escalation.answer = problem(
        409, "Catch-all policy required", "This is the last policy without category ..."
    )

    refused = browser.post(
        "/staff/admin/policies/standard/delete",
        data={"csrf_token": csrf(confirm)},
        follow_redirects=False,
    )

    assert escalation.sent == [("DELETE", "/v1/policies/standard", None)]
    assert refused.status_code == 409
    assert "The policy was not deleted. It is the only catch-all policy" in refused.text
    assert "Yes, delete the policy" not in refused.text
    escalation.answer = None
    deleted = browser.post(
        "/staff/admin/policies/critical/delete",
        data={"csrf_token": csrf(confirm)},
        follow_redirects=False,
    )
    assert deleted.headers["location"] == "/staff/admin?done=policy-deleted#policies-title"


@pytest.mark.parametrize("role", ["specialist", "auditor"])
def test_only_administrators_may_add_or_delete_policies(
    browser: TestClient, escalation: Escalation, role: str
) -> None:
    sign_in(browser, role, sub=f"{role}-1")
    token = csrf(browser.get("/staff/sign-in"))

    assert browser.get("/staff/admin/policies/new").status_code == 403
    assert browser.get("/staff/admin/policies/standard/delete").status_code == 403
    posted = browser.post("/staff/admin/policies", data={"csrf_token": token, "id": "x"})
    deleted = browser.post("/staff/admin/policies/standard/delete", data={"csrf_token": token})
    assert (posted.status_code, deleted.status_code) == (403, 403)
    assert escalation.sent == []
