"""The staff console's pure helpers for the whole work queue (every page of it, by channel,
assignee and order, with the view's counts) and for a case's *How it was routed*."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from frontends.web.staff import views
from services.escalation.policies import LadderStep, Policy, PolicySettings
from services.intake.domain import Status as ConcernStatus
from services.intake.schemas import ConcernCounts
from services.triage.schemas import HistoryRead, RuleRead

pytestmark = pytest.mark.unit

AT = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
NAMES = {
    "staff": {"sd-1": "Rosa Jiménez", "sd-2": "Kevin Nguyen"},
    "teams": {"service-desk": "Service Desk", "transportation": "Transportation Department"},
    "categories": {"transportation": "Transportation", "safety": "Safety"},
}


def test_the_queue_asks_intake_for_the_chosen_channel_assignee_order_and_page() -> None:
    filters, shown = views.queue_filters(
        {"channel": "phone", "assignee": "sd-2", "sort": "-submitted", "cursor": "abc123"}
    )
    assert filters["channel"] == "phone"
    assert filters["assignee_id"] == "sd-2"
    assert filters["sort"] == "-submitted"
    assert filters["cursor"] == "abc123"
    assert filters["limit"] == views.QUEUE_PAGE
    assert "cursor" not in shown  # the form and the first page never carry it


def test_the_queue_ignores_an_unknown_channel_order_or_an_overlong_cursor() -> None:
    filters, shown = views.queue_filters({"channel": "fax", "sort": "$where", "cursor": "x" * 600})
    assert "channel" not in filters and shown["channel"] == ""
    assert filters["sort"] == "due" and shown["sort"] == "due"
    assert "cursor" not in filters


def test_the_next_page_keeps_every_filter_and_the_first_page_drops_the_cursor() -> None:
    _, shown = views.queue_filters({"view": "team:service-desk", "priority": "high", "q": "bus"})
    later = views.queue_link(shown, cursor="c2")
    query = parse_qs(urlsplit(later).query)
    assert query["view"] == ["team:service-desk"]
    assert query["priority"] == ["high"] and query["q"] == ["bus"]
    assert query["cursor"] == ["c2"] and query["status"] == ["open"]
    assert "cursor" not in parse_qs(urlsplit(views.queue_link(shown)).query)
    assert "channel" not in query  # an empty field is left out


def test_the_views_counts_take_only_what_intakes_counts_filter_by() -> None:
    filters, _ = views.queue_filters(
        {"status": "acknowledged", "q": "bus", "category": "transportation", "cursor": "c"}
    )
    asked = {**filters, "team_id": "service-desk"}
    assert views.count_filters(asked) == {
        "category": "transportation",
        "team_id": "service-desk",
    }


def test_the_views_open_concerns_add_every_open_status() -> None:
    counts = ConcernCounts(
        by_status={
            ConcernStatus.RECEIVED: 3,
            ConcernStatus.ACKNOWLEDGED: 40,
            ConcernStatus.AWAITING_REQUESTER: 5,
            ConcernStatus.REOPENED: 2,
            ConcernStatus.RESOLVED: 100,
            ConcernStatus.CLOSED: 7,
        },
        total=157,
        overdue=4,
    )
    assert views.queue_counts(counts) == {"open": 50, "overdue": 4, "total": 157}


def _entry(by: str, action: str, **extra: object) -> HistoryRead:
    return HistoryRead.model_validate({"at": AT, "by": by, "action": action, **extra})


def test_routing_by_the_rules_says_where_and_why() -> None:
    entry = _entry(
        "rules",
        "routed",
        rule="rule:late-bus",
        reasons=["rule late-bus matched: category is transportation", "no school given"],
        team_id="transportation",
        priority="high",
    )
    assert views.routing_line(entry, **NAMES) == (
        "routed to Transportation Department, priority high (rule late-bus matched: "
        "category is transportation; no school given)"
    )


def test_a_retriage_names_who_what_changed_and_why() -> None:
    entry = _entry(
        "sd-1",
        "retriaged",
        rule="manual",
        reason="It is about the bus stop, not safety.",
        changes={"category": ["safety", "transportation"], "priority": ["critical", "normal"]},
    )
    assert views.routing_line(entry, **NAMES) == (
        "re-triaged by Rosa Jiménez (category Safety → Transportation, priority critical → "
        "normal): It is about the bus stop, not safety."
    )


def test_an_assignment_says_to_whom_how_and_whom_they_cover_for() -> None:
    automatic = _entry(
        "rules", "assigned", assignee_id="sd-2", how="least_loaded", covering_for="sd-1"
    )
    assert views.routing_line(automatic, **NAMES) == (
        "assigned to Kevin Nguyen, covering for Rosa Jiménez (the least-loaded member)"
    )
    handed = _entry(
        "sd-1", "assigned", assignee_id="sd-2", how="handover", reason="Rosa is on leave."
    )
    assert views.routing_line(handed, **NAMES) == (
        "assigned to Kevin Nguyen (handed over) by Rosa Jiménez: Rosa is on leave."
    )


def test_unassigned_merged_and_unknown_steps_still_read_as_words() -> None:
    assert (
        views.routing_line(_entry("sd-1", "merged", into="c-9"), **NAMES)
        == "merged into another concern by Rosa Jiménez"
    )
    assert views.routing_line(_entry("x-9", "something_new"), **NAMES) == "something new by x-9"


def _rule(**conditions: object) -> RuleRead:
    return RuleRead.model_validate(
        {
            "id": "late-bus",
            "position": 0,
            "sensitive": False,
            "conditions": {"categories": ["transportation"], **conditions},
            "actions": {"team": "transportation"},
        }
    )


def test_a_rule_takes_every_condition_the_form_shows() -> None:
    existing = _rule(student_flags=["english_learner"], pattern="old")
    form = {
        "description": "Late buses at Lincoln, by phone",
        "school_contacted": "no",
        "special_education": "1",
        "pattern": r"\blate\b",
        "sensitive": "1",
        "enabled": "1",
    }
    lists = {
        "schools": ["lincoln-es", "lincoln-es"],
        "channels": ["phone", "walk_in"],
        "relationships": ["parent_guardian"],
    }

    body, shown = views.rule_body(form, ["transportation"], existing, lists)

    conditions = body["conditions"]
    assert conditions["schools"] == ["lincoln-es"]
    assert conditions["channels"] == ["phone", "walk_in"]
    assert conditions["relationships"] == ["parent_guardian"]
    assert conditions["school_contacted"] is False
    assert conditions["student_flags"] == ["english_learner", "special_education"]
    assert conditions["pattern"] == r"\blate\b"
    assert body["sensitive"] is True
    assert shown["school_contacted"] == "no" and shown["special_education"] is True
    assert shown["schools"] == ["lincoln-es"]


def test_unticking_a_rules_conditions_clears_them_and_keeps_flags_the_form_does_not_offer() -> None:
    existing = _rule(
        schools=["lincoln-es"],
        channels=["phone"],
        school_contacted=True,
        student_flags=["special_education", "english_learner"],
        pattern="bus",
    )
    empty = {"schools": [], "channels": [], "relationships": []}

    body, shown = views.rule_body({"school_contacted": ""}, [], existing, empty)

    conditions = body["conditions"]
    assert conditions["schools"] == [] and conditions["channels"] == []
    assert conditions["school_contacted"] is None
    assert conditions["student_flags"] == ["english_learner"]
    assert conditions["pattern"] is None
    assert body["sensitive"] is False
    assert shown["pattern"] == ""


def test_the_rule_form_shows_a_rules_conditions_as_its_fields() -> None:
    existing = _rule(
        schools=["lincoln-es"],
        channels=["sms"],
        relationships=["student"],
        school_contacted=False,
        student_flags=["special_education"],
        pattern="late",
    )
    form = views.rule_form(existing)
    assert form["schools"] == ["lincoln-es"] and form["channels"] == ["sms"]
    assert form["relationships"] == ["student"]
    assert form["school_contacted"] == "no" and form["special_education"] is True
    assert form["pattern"] == "late" and form["sensitive"] is False
    fresh = views.rule_form(None)
    assert fresh["school_contacted"] == "" and fresh["schools"] == []


POLICY = Policy.model_validate(
    {
        "id": "standard",
        "first_response_s": 86400,
        "resolution_s": 259200,
        "reminder_interval_s": 28800,
        "pause_statuses": ["acknowledged", "awaiting_requester"],
        "ladder": [{"level": 1, "role": "principal", "after_s": 0}],
    }
)


def test_a_policys_warnings_reminders_and_pause_are_changed_from_its_form() -> None:
    form = views.policy_form(POLICY)
    assert (form["warnings"], form["reminder_h"], form["pause_awaiting"]) == ("50, 75", "8", "1")

    changed, errors = views.policy_body(
        {**form, "warnings": "25 50 90", "reminder_h": "", "pause_awaiting": ""}, POLICY
    )

    assert errors == {} and changed is not None
    assert changed.warnings == (25, 50, 90)
    assert changed.reminder_interval_s is None
    assert changed.pause_statuses == ("acknowledged",)  # the one the form does not offer stays
    none, _ = views.policy_body({**form, "warnings": ""}, POLICY)
    assert none is not None and none.warnings == ()


def test_a_policys_warnings_and_reminders_are_refused_by_field_in_words() -> None:
    form = views.policy_form(POLICY)
    _, errors = views.policy_body({**form, "warnings": "75, 50", "reminder_h": "-1"}, POLICY)
    assert set(errors) == {"warnings", "reminder_h"}
    assert errors["warnings"].startswith("Enter each percentage once, smallest first")
    _, errors = views.policy_body({**form, "warnings": "50, 120"}, POLICY)
    assert errors["warnings"].startswith("Enter percentages from 1 to 99")


def test_a_new_policy_starts_from_the_districts_warnings_reminders_and_pause() -> None:
    defaults = PolicySettings(
        reminder_interval_s=7200,
        warnings=(60,),
        ladder=(LadderStep(level=1, role="principal", after_s=0),),
    )
    form = views.new_policy_form(defaults, [POLICY])
    assert (form["warnings"], form["reminder_h"], form["pause_awaiting"]) == ("60", "2", "1")
    policy, errors = views.new_policy_body(
        {
            **form,
            "id": "slow",
            "category": "enrollment",
            "rank": "5",
            "first_response_h": "24",
            "resolution_h": "120",
            "pause_awaiting": "",
        },
        defaults=defaults,
        policies=[POLICY],
        categories={"enrollment"},
    )
    assert errors == {} and policy is not None
    assert policy.warnings == (60,) and policy.reminder_interval_s == 7200
    assert policy.pause_statuses == ()


def test_the_queue_asks_for_whole_days_sent_in_the_districts_time_zone() -> None:
    filters, shown = views.queue_filters(
        {"submitted_from": "2026-11-30", "submitted_to": "2026-12-01"},
        timezone="America/Chicago",
    )
    assert filters["submitted_from"] == "2026-11-30T00:00:00-06:00"
    assert filters["submitted_to"] == "2026-12-02T00:00:00-06:00"  # the last day included
    assert (shown["submitted_from"], shown["submitted_to"]) == ("2026-11-30", "2026-12-01")
    assert views.count_filters(filters)["submitted_to"] == filters["submitted_to"]
    odd, shown = views.queue_filters({"submitted_from": "yesterday"})
    assert "submitted_from" not in odd and shown["submitted_from"] == ""


def _ladder() -> list[dict[str, object]]:
    return [{"level": 1, "role": "principal", "after_s": 0}]


CRITICAL = Policy.model_validate(
    {"id": "critical", "rank": 10, "priority": "critical", "first_response_s": 3600}
    | {"resolution_s": 86400, "ladder": _ladder()}
)
ENROLLMENT = Policy.model_validate(
    {"id": "enrollment-slow", "rank": 15, "category": "enrollment", "first_response_s": 86400}
    | {"resolution_s": 432000, "ladder": _ladder()}
)
STANDARD = Policy.model_validate(
    {"id": "standard", "rank": 20, "first_response_s": 86400, "resolution_s": 259200}
    | {"ladder": _ladder()}
)


def test_a_policy_is_moved_to_another_match_and_place_from_its_form() -> None:
    policies = [CRITICAL, ENROLLMENT, STANDARD]
    form = views.policy_form(ENROLLMENT)
    assert (form["category"], form["priority"], form["rank"]) == ("enrollment", "", "15")

    changed, errors = views.policy_body(
        {**form, "category": "transportation", "priority": "high", "rank": "5"},
        ENROLLMENT,
        policies=policies,
        categories={"enrollment", "transportation"},
    )

    assert errors == {} and changed is not None
    assert (changed.category, changed.priority, changed.rank) == ("transportation", "high", 5)
    assert changed.resolution_s == ENROLLMENT.resolution_s  # the rest as it was


def test_a_policy_moved_behind_one_that_covers_it_or_to_an_unknown_category_is_refused() -> None:
    policies = [CRITICAL, ENROLLMENT, STANDARD]
    form = views.policy_form(ENROLLMENT)
    shadowed, errors = views.policy_body(
        {**form, "rank": "30"}, ENROLLMENT, policies=policies, categories={"enrollment"}
    )
    assert shadowed is None
    assert errors["rank"].startswith("Policy standard (order 20) is tried first")
    _, errors = views.policy_body(
        {**form, "category": "lunch", "rank": "x"},
        ENROLLMENT,
        policies=policies,
        categories={"enrollment"},
    )
    assert set(errors) == {"category", "rank"}
    itself, errors = views.policy_body(
        views.policy_form(STANDARD), STANDARD, policies=policies, categories={"enrollment"}
    )
    assert errors == {} and itself is not None  # not shadowed by itself


def test_sign_in_returns_to_a_console_page_with_its_filters_and_nowhere_else() -> None:
    from frontends.web.staff.routes import _safe_next

    assert _safe_next("/staff/queue?view=all&category=enrollment") == (
        "/staff/queue?view=all&category=enrollment"
    )
    assert _safe_next("//evil.example/staff") == ""
    assert _safe_next("/staff/queue?next=//evil.example") == ""
    assert _safe_next("https://evil.example/staff") == ""
