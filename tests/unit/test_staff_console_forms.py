"""What the staff console makes of its forms, without I/O: a family's contact to search by,
a routing rule edited over the rule as it was, a callback for a colleague with its reminder,
a message template previewed in each language, the safety words; and the keyed lookup of a
requester that intake stores."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from frontends.web.staff import views
from services.escalation.policies import Policy
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
