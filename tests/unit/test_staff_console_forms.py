"""What the staff console makes of its forms, without I/O: a family's contact to search by,
a routing rule edited over the rule as it was, a callback for a colleague with its reminder,
a message template previewed in each language, the safety words, an SLA policy changed or
added (and escalation's refusals in plain words); and the keyed lookup of a requester that
intake stores."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from frontends.common.intake import FieldError, IntakeConflict, IntakeInvalid
from frontends.web.staff import views
from services.escalation.policies import LadderStep, Policy, PolicySettings
from services.intake.domain import Requester, lookup_term, requester_key, requester_keys
from services.notify.api import TemplateRead
from services.triage.rules_api import RuleRead

pytestmark = pytest.mark.unit

SECRET = b"test-contact-secret"


def test_a_family_is_searched_by_lowercased_email_or_a_us_number_in_e164() -> None:
    reason = "The mother is on the phone."
    by_phone, no_errors = views.family_search({"requester": "(555) 123-0077", "reason": reason})
    by_email, _ = views.family_search({"requester": " Ana@Example.ORG ", "reason": reason})
    _, errors = views.family_search({"requester": "ana", "reason": "short"})

    assert by_phone == {"requester": "+15551230077", "reason": reason} and no_errors == {}
    assert by_email["requester"] == "ana@example.org"
    assert set(errors) == {"requester", "reason"}
    of_case, none = views.family_search({"concern_id": "c-1", "tracking": "CS-1", "reason": reason})
    assert of_case == {"concern_id": "c-1", "tracking": "CS-1", "reason": reason} and none == {}


def test_requester_lookup_keys_match_whatever_case_or_separators_staff_type() -> None:
    keys = requester_keys(Requester(email="Jo.Park@Example.org", phone="+15555550142"), SECRET)

    typed = ("jo.park@example.org", "+1 555 555-0142", "+1 (555) 555.0142")
    for value in typed:
        term = lookup_term(value)
        assert term is not None and requester_key(term, SECRET) in keys
    assert lookup_term("jo park") is None and lookup_term("5555550142") is None
    assert requester_keys(Requester(), SECRET) == ()
    assert all("jo.park" not in k and "0142" not in k for k in keys)


def test_an_edited_rule_keeps_what_the_form_does_not_show() -> None:
    existing = RuleRead.model_validate(
        {
            "id": "late-bus",
            "position": 2,
            "sensitive": True,
            "conditions": {"categories": ["transportation"], "schools": ["lincoln-es"]},
            "actions": {"team": "transportation", "priority": "high", "tags": ["bus"]},
        }
    )
    form = {"description": "Late buses", "keywords": "late, delay*", "priority": "critical"}

    body, shown = views.rule_body(form, ["transportation", "safety"], existing)

    assert body["enabled"] is False  # the box was not ticked
    assert body["sensitive"] is True
    assert body["conditions"]["schools"] == ["lincoln-es"]
    assert body["conditions"]["keywords"] == ["late", "delay*"]
    assert body["conditions"]["categories"] == ["transportation", "safety"]
    assert body["actions"] == {"team": None, "priority": "critical", "tags": []}
    assert "id" not in body and "position" not in body
    assert shown["keywords"] == "late, delay*"
    assert views.rule_form(existing)["priority"] == "high"


def test_a_callback_for_a_colleague_carries_its_assignee_and_reminder() -> None:
    due = datetime(2026, 12, 30, 16, 30, tzinfo=UTC)
    body = views.action_body(
        "callbacks",
        {"note": "", "assignee_id": "sd-2", "remind_before_minutes": "60"},
        callback_at=due,
    )
    mine = views.action_body("callbacks", {"remind_before_minutes": "7"}, callback_at=due)

    assert body == {
        "due_at": due.isoformat(),
        "note": None,
        "assignee_id": "sd-2",
        "remind_before_minutes": 60,
    }
    assert "assignee_id" not in mine and "remind_before_minutes" not in mine


def test_a_template_is_previewed_in_each_language_with_the_edited_text_in_its_own() -> None:
    stored = [
        TemplateRead.model_validate(
            {
                "kind": "reopening",
                "channel": "sms",
                "language": language,
                "subject": None,
                "body": body,
                "updated_at": datetime(2026, 12, 1, tzinfo=UTC),
                "origin": "seed",
            }
        )
        for language, body in (("es", "Reabierta: $tracking"), ("en", "Reopened: $tracking"))
    ]
    key = views.template_key("reopening.sms.es")
    assert key is not None and views.template_key("reopening.sms") is None
    assert views.template_key("../x.sms.es") is None

    texts = views.template_texts(stored, key, {"body": "Nueva: $tracking"})
    untouched = views.template_texts(stored, key, None)

    assert [(t.language, t.body) for t in texts] == [
        ("en", "Reopened: $tracking"),
        ("es", "Nueva: $tracking"),
    ]
    assert [t.body for t in untouched] == ["Reopened: $tracking", "Reabierta: $tracking"]
    assert views.template_texts(stored, ("reopening", "email", "es"), None) == []


def test_safety_words_are_read_one_per_line_or_separated_by_commas() -> None:
    text = "weapon*\n\n  kill myself \r\namenaz*, acoso,\n,"

    assert views.safety_words(text) == ["weapon*", "kill myself", "amenaz*", "acoso"]
    assert views.safety_words(" \n ") == []


def test_a_policy_takes_the_forms_hours_and_keeps_the_rest() -> None:
    policy = Policy.model_validate(
        {
            "id": "critical",
            "priority": "critical",
            "first_response_s": 3600,
            "resolution_s": 86400,
            "reminder_interval_s": 7200,
            "ladder": [
                {"level": 1, "role": "principal", "after_s": 0},
                {"level": 2, "role": "assistant_superintendent", "after_s": 86400},
            ],
        }
    )
    form = views.policy_form(policy)
    assert (form["first_response_h"], form["resolution_h"], form["after_h_2"]) == ("1", "24", "24")

    changed, errors = views.policy_body(
        {**form, "first_response_h": "0,5", "after_h_2": "6"}, policy
    )
    too_late, order = views.policy_body({**form, "first_response_h": "30"}, policy)
    _, words = views.policy_body({**form, "resolution_h": "soon"}, policy)

    assert errors == {} and changed is not None
    assert (changed.first_response_s, changed.resolution_s) == (1800, 86400)
    assert [s.after_s for s in changed.ladder] == [0, 21600]
    assert changed.reminder_interval_s == 7200 and changed.priority == policy.priority
    assert too_late is None
    assert order["policy"].startswith("The first response target must not exceed")
    assert set(words) == {"resolution_h"}


def _policies() -> list[Policy]:
    ladder = [{"level": 1, "role": "principal", "after_s": 0}]
    return [
        Policy.model_validate(
            {"id": "critical", "rank": 20, "priority": "critical", "first_response_s": 3600}
            | {"resolution_s": 86400, "ladder": ladder}
        ),
        Policy.model_validate(
            {"id": "standard", "rank": 30, "first_response_s": 86400, "resolution_s": 259200}
            | {"ladder": ladder}
        ),
    ]


DEFAULTS = PolicySettings(
    calendar="around-the-clock",
    reminder_interval_s=28800,
    ladder=(
        LadderStep(level=1, role="principal", after_s=0),
        LadderStep(level=2, role="assistant_superintendent", after_s=86400),
    ),
)


def new_policy(**fields: str) -> tuple[Policy | None, dict[str, str]]:
    form = {**views.new_policy_form(DEFAULTS, _policies()), **fields}
    return views.new_policy_body(
        form, defaults=DEFAULTS, policies=_policies(), categories={"enrollment", "safety"}
    )


def test_a_new_policy_takes_the_forms_match_order_and_hours_and_the_districts_defaults() -> None:
    form = views.new_policy_form(DEFAULTS, _policies())
    assert (form["rank"], form["calendar"], form["after_h_2"]) == ("25", "around-the-clock", "24")
    assert views.suggested_rank(_policies()[1:]) == 20  # room before a lone catch-all

    policy, errors = new_policy(
        id="enrollment-slow", category="enrollment", first_response_h="48", resolution_h="120"
    )

    assert errors == {} and policy is not None
    assert (policy.id, policy.rank, policy.category, policy.priority) == (
        "enrollment-slow",
        25,
        "enrollment",
        None,
    )
    assert (policy.first_response_s, policy.resolution_s) == (48 * 3600, 120 * 3600)
    assert [(s.role, s.after_s) for s in policy.ladder] == [
        ("principal", 0),
        ("assistant_superintendent", 86400),
    ]
    assert policy.reminder_interval_s == 28800 and policy.pause_statuses == ("awaiting_requester",)


def test_a_new_policy_is_refused_field_by_field_before_escalation_is_asked() -> None:
    _, names = new_policy(id="Enrollment Slow", category="lunch", priority="soon", rank="x")
    _, taken = new_policy(id="standard", first_response_h="1", resolution_h="2")
    _, order = new_policy(id="e", category="enrollment", first_response_h="9", resolution_h="3")
    _, ladder = new_policy(id="e", first_response_h="1", resolution_h="2", after_h_1="30")
    _, never = new_policy(
        id="tie", category="safety", rank="30", first_response_h="1", resolution_h="2"
    )

    assert list(names) == ["id", "category", "priority", "rank", "first_response_h", "resolution_h"]
    assert taken == {
        "id": "A policy named standard exists already: choose another name, "
        "or change that one from the list."
    }
    assert order == {"policy": "The first response target must not exceed the resolution target."}
    assert set(ladder) == {"ladder"} and "must not decrease" in ladder["ladder"]
    # tried after the catch-all policy (same order, its name sorts first), it never applies
    assert set(never) == {"rank"} and "Policy standard (order 30)" in never["rank"]
    assert new_policy(
        id="tie", category="safety", rank="29", first_response_h="1", resolution_h="2"
    )[0]


def test_escalations_refusals_of_a_policy_are_said_in_plain_words() -> None:
    last = IntakeConflict(409, "Catch-all policy required", "This is the last policy ...")
    unknown = IntakeInvalid(
        422,
        "Invalid request",
        "Check these fields: category, calendar.",
        errors=[
            FieldError("category", "unknown category 'pre-k'"),
            FieldError("calendar", "unknown calendar 'summer'; known: ['around-the-clock']"),
        ],
    )

    deleting = views.policy_refusal(last, deleting=True)
    assert set(deleting) == {"policy"} and "only catch-all policy" in deleting["policy"]
    assert views.policy_refusal(unknown) == {
        "category": "The district has no such category any more; choose one from the list.",
        "calendar": "The district has no such calendar any more; choose one from the list.",
    }
    exists = views.policy_refusal(IntakeConflict(409, "Policy exists", "... PUT replaces it."))
    assert exists == {"id": "A policy with this name exists already: choose another name."}
