"""The SLA clock with a fake time: policy choice, targets, pauses, the ladder and reminders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.escalation import domain
from services.escalation.calendar import BusinessHours, parse_hours
from services.escalation.config import EscalationConfig
from services.escalation.domain import ClockStatus, Rules, SlaClock
from services.escalation.policies import (
    NoPolicyApplies,
    Policy,
    PolicySettings,
    calendars_of,
    choose_policy,
    seed_policies,
)
from shared.district import DistrictConfig, load_district
from shared.events import (
    ConcernEscalated,
    EventData,
    Priority,
    SlaBreached,
    SlaMet,
    SlaTarget,
    SlaWarning,
)
from shared.settings import DEFAULT_DISTRICT_CONFIG

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

RAW: dict[str, Any] = {
    "district": {"name": "Test District", "timezone": "America/Chicago"},
    "staff": [
        {"id": "p-lincoln", "name": "Dana Whitfield", "role": "principal"},
        {"id": "as-north", "name": "Helen Okafor", "role": "assistant_superintendent"},
        {"id": "ombuds", "name": "Grace Liu", "role": "ombudsperson"},
        {"id": "tr-lead", "name": "Ana Kowalski", "role": "specialist"},
        {"id": "sd-lead", "name": "Sam Porter", "role": "specialist"},
    ],
    "schools": [
        {
            "id": "lincoln-es",
            "name": {"en": "Lincoln", "es": "Lincoln"},
            "principal": "p-lincoln",
            "assistant_superintendent": "as-north",
            "team": "school-lincoln-es",
        },
    ],
    "teams": [
        {"id": "service-desk", "name": "Service Desk", "lead": "sd-lead"},
        {"id": "transportation", "name": "Transportation", "lead": "tr-lead"},
        {"id": "school-lincoln-es", "name": "Lincoln Front Office", "lead": "p-lincoln"},
    ],
    "categories": [
        {
            "id": "transportation",
            "name": {"en": "Transport", "es": "Transporte"},
            "team": "transportation",
        },
        {
            "id": "safety",
            "name": {"en": "Safety", "es": "Seguridad"},
            "team": "school",
            "priority": "critical",
        },
        {
            "id": "other",
            "name": {"en": "Other", "es": "Otro"},
            "team": "service-desk",
            "priority": "low",
        },
    ],
    "fallback_team": "service-desk",
    "sla": {
        "policies": [
            {
                "id": "critical",
                "priority": "critical",
                "first_response_s": 3600,
                "resolution_s": 86400,
            },
            {
                "id": "transport-high",
                "category": "transportation",
                "priority": "high",
                "first_response_s": 3600,
                "resolution_s": 7200,
            },
            {
                "id": "transport",
                "category": "transportation",
                "first_response_s": 3600,
                "resolution_s": 172800,
            },
            {"id": "standard", "first_response_s": 86400, "resolution_s": 259200},
        ],
        "ladder": [
            {"level": 1, "role": "principal", "after_s": 0},
            {"level": 2, "role": "assistant_superintendent", "after_s": 86400},
            {"level": 3, "role": "ombudsperson", "after_s": 172800},
        ],
    },
}
DISTRICT = DistrictConfig.model_validate(RAW)
# Without warnings or reminders, so that a test of the resolution target sees only its steps.
PLAIN = EscalationConfig(defaults=PolicySettings(warnings=(), reminder_interval_s=None))
POLICIES = seed_policies(DISTRICT, PLAIN)
RULES = Rules(policies=POLICIES, calendars=calendars_of(DISTRICT, PLAIN), district=DISTRICT)


def rules_with(**settings: Any) -> Rules:
    """Rules whose every policy has these settings (warnings, reminders, calendar...)."""
    config = EscalationConfig.model_validate(
        {
            "calendars": [
                {
                    "id": "business-hours",
                    "hours": dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), "08:00-17:00"),
                    "holidays": ["2026-03-06"],
                }
            ],
            "defaults": {"warnings": (), "reminder_interval_s": None, **settings},
        }
    )
    return Rules(
        policies=seed_policies(DISTRICT, config),
        calendars=calendars_of(DISTRICT, config),
        district=DISTRICT,
    )


def started(
    *,
    category: str = "other",
    school_id: str | None = "lincoln-es",
    priority: Priority | None = None,
    at: datetime = T0,
    rules: Rules = RULES,
) -> SlaClock:
    return domain.start(
        "c-1",
        category=category,
        school_id=school_id,
        priority=priority,
        channel="web",
        started_at=at,
        rules=rules,
    )


def escalations(events: list[EventData]) -> list[tuple[int, str, str]]:
    return [
        (e.level, e.role, e.escalated_to)
        for e in events
        if isinstance(e, ConcernEscalated) and e.reminder == 0
    ]


def reminders(events: list[EventData]) -> list[tuple[int, int, str]]:
    return [
        (e.level, e.reminder, e.escalated_to)
        for e in events
        if isinstance(e, ConcernEscalated) and e.reminder > 0
    ]


def kinds(events: list[EventData]) -> list[str]:
    """Events in short: `breached:resolution`, `escalated:1`, `warning:resolution:50`."""
    out = []
    for e in events:
        if isinstance(e, SlaBreached):
            out.append(f"breached:{e.target}")
        elif isinstance(e, SlaMet):
            out.append(f"met:{e.target}")
        elif isinstance(e, SlaWarning):
            out.append(f"warning:{e.target}:{e.percent}")
        elif isinstance(e, ConcernEscalated):
            out.append(f"reminded:{e.level}:{e.reminder}" if e.reminder else f"escalated:{e.level}")
    return out


def answered(clock: SlaClock, at: datetime, rules: Rules = RULES) -> SlaClock:
    """A first response (acknowledgement) so that only the resolution target remains."""
    after, _ = domain.status_changed(clock, to_status="acknowledged", at=at, rules=rules)
    return after


# --- policy choice and due times ---------------------------------------------------------


def test_critical_priority_selects_critical_policy_whatever_the_category() -> None:
    policy = choose_policy(POLICIES, category="transportation", priority=Priority.CRITICAL)
    assert policy.id == "critical"


def test_category_and_priority_policy_applies_when_both_match() -> None:
    assert (
        choose_policy(POLICIES, category="transportation", priority=Priority.HIGH).id
        == "transport-high"
    )


def test_category_policy_applies_to_any_priority_of_its_category() -> None:
    assert (
        choose_policy(POLICIES, category="transportation", priority=Priority.LOW).id == "transport"
    )
    assert choose_policy(POLICIES, category="transportation", priority=None).id == "transport"


def test_policy_without_category_or_priority_is_the_default() -> None:
    assert choose_policy(POLICIES, category="other", priority=Priority.HIGH).id == "standard"
    assert choose_policy(POLICIES, category="other", priority=None).id == "standard"


def test_rank_not_list_order_decides_which_matching_policy_applies() -> None:
    reordered = [replace_rank(p, 1) if p.id == "transport" else p for p in POLICIES]
    assert (
        choose_policy(reordered, category="transportation", priority=Priority.CRITICAL).id
        == "transport"
    )


def replace_rank(policy: Policy, rank: int) -> Policy:
    return policy.model_copy(update={"rank": rank})


def test_no_matching_policy_is_an_error_not_a_guess() -> None:
    only_critical = [p for p in POLICIES if p.id == "critical"]
    with pytest.raises(NoPolicyApplies):
        choose_policy(only_critical, category="other", priority=Priority.NORMAL)


def test_resolution_is_due_the_policy_target_after_start_around_the_clock() -> None:
    friday_evening = datetime(2026, 3, 6, 17, 30, tzinfo=UTC)
    clock = answered(started(at=friday_evening), friday_evening)
    assert clock.policy.id == "standard"
    assert clock.resolution_due_at == datetime(2026, 3, 9, 17, 30, tzinfo=UTC)
    assert clock.next_due_at == clock.resolution_due_at
    assert clock.status is ClockStatus.RUNNING and clock.level == 0


def test_new_clock_is_first_due_for_its_first_response() -> None:
    clock = started()
    assert clock.first_response_due_at == clock.next_due_at == T0 + DAY
    assert clock.resolution_due_at == T0 + 3 * DAY


def test_critical_clock_is_due_in_24_hours() -> None:
    clock = started(category="safety", priority=Priority.CRITICAL)
    assert (clock.policy.id, clock.resolution_due_at) == ("critical", T0 + DAY)


def test_business_hours_policy_is_due_after_opening_hours_not_wall_hours() -> None:
    rules = rules_with(calendar="business-hours")
    friday_4pm_chicago = datetime(2026, 3, 13, 21, 0, tzinfo=UTC)  # 16:00 CDT
    clock = started(at=friday_4pm_chicago, rules=rules)
    # 24 opening hours: 1 on Friday, 9 on Monday, Tuesday; 5 on Wednesday -> 13:00 CDT.
    assert clock.first_response_due_at == datetime(2026, 3, 18, 18, 0, tzinfo=UTC)


# --- first response ----------------------------------------------------------------------


def test_acknowledgement_before_the_target_meets_the_first_response() -> None:
    clock, events = domain.status_changed(
        started(), to_status="acknowledged", at=T0 + HOUR, rules=RULES
    )
    assert events == [
        SlaMet(
            concern_id="c-1",
            target=SlaTarget.FIRST_RESPONSE,
            due_at=T0 + DAY,
            met_at=T0 + HOUR,
            policy="standard",
        )
    ]
    assert clock.first_response_at == T0 + HOUR
    assert clock.next_due_at == T0 + 3 * DAY  # only the resolution target is left


def test_public_staff_reply_meets_the_first_response() -> None:
    clock, events = domain.message_added(
        started(), by_staff=True, public=True, at=T0 + HOUR, rules=RULES
    )
    assert kinds(events) == ["met:first_response"]
    assert clock.first_response_at == T0 + HOUR


@pytest.mark.parametrize(("by_staff", "public"), [(True, False), (False, True)])
def test_internal_note_or_requester_message_is_not_a_first_response(
    by_staff: bool, public: bool
) -> None:
    clock, events = domain.message_added(
        started(), by_staff=by_staff, public=public, at=T0 + HOUR, rules=RULES
    )
    assert events == [] and clock.first_response_at is None


def test_missed_first_response_is_breached_once_without_escalating() -> None:
    clock, events = domain.advance(started(), now=T0 + DAY, rules=RULES)
    assert kinds(events) == ["breached:first_response"]
    assert clock.level == 0 and clock.next_due_at == T0 + 3 * DAY
    late, more = domain.status_changed(
        clock, to_status="acknowledged", at=T0 + 2 * DAY, rules=RULES
    )
    assert more == [] and late.first_response_at == T0 + 2 * DAY


def test_second_acknowledgement_changes_nothing() -> None:
    once = answered(started(), T0 + HOUR)
    again, events = domain.message_added(
        once, by_staff=True, public=True, at=T0 + 2 * HOUR, rules=RULES
    )
    assert events == [] and again.first_response_at == T0 + HOUR


# --- warnings ------------------------------------------------------------------------------


def test_warnings_fire_at_their_share_of_each_target_then_the_breach() -> None:
    rules = rules_with(warnings=(50, 75))
    clock = started(rules=rules)
    fired: list[EventData] = []
    now = T0
    while now < T0 + 3 * DAY:
        now += HOUR
        clock, events = domain.advance(clock, now=now, rules=rules)
        fired += events
    assert kinds(fired) == [
        "warning:first_response:50",
        "warning:first_response:75",
        "breached:first_response",
        "warning:resolution:50",
        "warning:resolution:75",
        "breached:resolution",
        "escalated:1",
    ]
    warnings = [e for e in fired if isinstance(e, SlaWarning)]
    assert [w.warned_at for w in warnings] == [
        T0 + 12 * HOUR,
        T0 + 18 * HOUR,
        T0 + 36 * HOUR,
        T0 + 54 * HOUR,
    ]
    assert {w.due_at for w in warnings[2:]} == {T0 + 3 * DAY}


def test_answered_concern_gets_no_more_first_response_warnings() -> None:
    rules = rules_with(warnings=(50,))
    clock = answered(started(rules=rules), T0 + HOUR, rules)
    _, events = domain.advance(clock, now=T0 + 2 * DAY, rules=rules)
    assert kinds(events) == ["warning:resolution:50"]


# --- pauses --------------------------------------------------------------------------------


def test_waiting_on_the_requester_pauses_and_their_answer_resumes() -> None:
    clock = answered(started(), T0 + HOUR)
    clock, _ = domain.status_changed(
        clock, to_status="awaiting_requester", at=T0 + DAY, rules=RULES
    )
    assert clock.status is ClockStatus.PAUSED
    # nothing to fire while paused; people are still told the due time as of the pause
    assert (clock.next_due_at, clock.resolution_due_at) == (None, T0 + 3 * DAY)
    nothing, events = domain.advance(clock, now=T0 + 10 * DAY, rules=RULES)
    assert events == [] and nothing == clock

    clock, _ = domain.message_added(
        clock, by_staff=False, public=True, at=T0 + 11 * DAY, rules=RULES
    )
    assert clock.status is ClockStatus.RUNNING
    # One day counted before the pause; two days are left from the answer.
    assert clock.resolution_due_at == clock.next_due_at == T0 + 13 * DAY
    _, events = domain.advance(clock, now=T0 + 13 * DAY - SECOND, rules=RULES)
    assert events == []
    _, events = domain.advance(clock, now=T0 + 13 * DAY, rules=RULES)
    assert kinds(events) == ["breached:resolution", "escalated:1"]


def test_leaving_the_pause_status_resumes_the_clock() -> None:
    clock = answered(started(), T0 + HOUR)
    clock, _ = domain.status_changed(
        clock, to_status="awaiting_requester", at=T0 + DAY, rules=RULES
    )
    clock, _ = domain.status_changed(clock, to_status="acknowledged", at=T0 + 2 * DAY, rules=RULES)
    assert clock.status is ClockStatus.RUNNING
    assert clock.resolution_due_at == T0 + 4 * DAY
    assert [e.kind for e in clock.history][-2:] == ["paused", "resumed"]


def test_pause_counts_only_while_running_across_several_pauses() -> None:
    clock = answered(started(), T0)
    for pause_at, resume_at in ((T0 + DAY, T0 + 2 * DAY), (T0 + 3 * DAY, T0 + 5 * DAY)):
        clock, _ = domain.status_changed(
            clock, to_status="awaiting_requester", at=pause_at, rules=RULES
        )
        clock, _ = domain.status_changed(clock, to_status="acknowledged", at=resume_at, rules=RULES)
    # Counted: day 0-1, 2-3, then from day 5 the third day.
    assert clock.resolution_due_at == T0 + 6 * DAY


def test_policy_without_pause_statuses_keeps_counting_while_awaiting() -> None:
    rules = rules_with(pause_statuses=())
    clock = answered(started(rules=rules), T0, rules)
    clock, _ = domain.status_changed(
        clock, to_status="awaiting_requester", at=T0 + DAY, rules=rules
    )
    assert clock.status is ClockStatus.RUNNING
    assert clock.resolution_due_at == T0 + 3 * DAY


def test_step_due_before_a_late_pause_event_still_fires() -> None:
    clock = answered(started(), T0)
    # The scheduler had not run yet when the concern was set to wait, past its target.
    clock, events = domain.status_changed(
        clock, to_status="awaiting_requester", at=T0 + 3 * DAY + HOUR, rules=RULES
    )
    assert kinds(events) == ["breached:resolution", "escalated:1"]
    assert clock.status is ClockStatus.PAUSED


# --- the ladder --------------------------------------------------------------------------


LADDER = POLICIES[0].ladder


def test_school_concern_ladder_is_principal_then_assistant_superintendent_then_ombuds() -> None:
    rungs = domain.ladder(DISTRICT, LADDER, school_id="lincoln-es", team_id="school-lincoln-es")
    assert [(r.level, r.role, r.staff_id, r.name, r.after) for r in rungs] == [
        (1, "principal", "p-lincoln", "Dana Whitfield", timedelta(0)),
        (2, "assistant_superintendent", "as-north", "Helen Okafor", DAY),
        (3, "ombudsperson", "ombuds", "Grace Liu", 2 * DAY),
    ]


def test_ladder_without_school_or_named_supervisor_skips_assistant_superintendent() -> None:
    rungs = domain.ladder(DISTRICT, LADDER, school_id=None, team_id="transportation")
    assert [(r.level, r.role, r.staff_id) for r in rungs] == [
        (1, "team_lead", "tr-lead"),
        (3, "ombudsperson", "ombuds"),
    ]


def test_ladder_without_school_goes_to_the_department_assistant_superintendent() -> None:
    named = {"transportation": "as-north"}
    rungs = domain.ladder(
        DISTRICT, LADDER, school_id=None, team_id="transportation", supervisors=named
    )
    anyone = domain.ladder(
        DISTRICT, LADDER, school_id=None, team_id="service-desk", supervisors={"*": "as-north"}
    )
    assert [(r.level, r.role, r.staff_id) for r in rungs] == [
        (1, "team_lead", "tr-lead"),
        (2, "assistant_superintendent", "as-north"),
        (3, "ombudsperson", "ombuds"),
    ]
    assert [r.level for r in anyone] == [1, 2, 3]


def test_a_breached_district_wide_concern_escalates_to_level_2_on_time() -> None:
    rules = Rules(
        policies=RULES.policies,
        calendars=RULES.calendars,
        district=DISTRICT,
        supervisors={"*": "as-north"},
    )
    clock = answered(started(school_id=None, rules=rules), T0 + HOUR, rules)
    clock, _ = domain.retriage(
        clock,
        category="other",
        priority=Priority.LOW,
        team_id="service-desk",
        school_id=None,
        at=T0 + HOUR,
        rules=rules,
    )
    _, events = domain.advance(clock, now=T0 + 4 * DAY, rules=rules)
    assert escalations(events) == [
        (1, "team_lead", "sd-lead"),
        (2, "assistant_superintendent", "as-north"),
    ]


def test_ladder_without_school_or_known_team_starts_at_fallback_team_lead() -> None:
    for team_id in (None, "disbanded-team"):
        rungs = domain.ladder(DISTRICT, LADDER, school_id=None, team_id=team_id)
        assert (rungs[0].role, rungs[0].staff_id) == ("team_lead", "sd-lead")


def test_running_clock_fires_nothing_before_its_due_time() -> None:
    clock = answered(started(), T0)
    after, events = domain.advance(clock, now=T0 + 3 * DAY - SECOND, rules=RULES)
    assert events == []
    assert after == clock


def test_due_clock_fires_breach_then_level_one_and_waits_for_level_two() -> None:
    clock = answered(started(), T0)
    now = T0 + 3 * DAY + 5 * SECOND
    after, events = domain.advance(clock, now=now, rules=RULES)
    assert events[0] == SlaBreached(
        concern_id="c-1",
        target=SlaTarget.RESOLUTION,
        due_at=T0 + 3 * DAY,
        breached_at=now,
        policy="standard",
    )
    assert escalations(events) == [(1, "principal", "p-lincoln")]
    assert events[1].escalated_at == now  # type: ignore[attr-defined]
    assert events[1].school_id == "lincoln-es"  # type: ignore[attr-defined]
    assert events[1].escalated_to_name == "Dana Whitfield"  # type: ignore[attr-defined]
    assert (after.level, after.breached_at) == (1, now)
    assert after.next_due_at == T0 + 4 * DAY


def test_each_level_fires_after_its_own_delay_past_the_breach() -> None:
    clock = answered(started(), T0)
    seen = []
    for offset in (3 * DAY, 4 * DAY - SECOND, 4 * DAY, 5 * DAY - SECOND, 5 * DAY):
        clock, events = domain.advance(clock, now=T0 + offset, rules=RULES)
        seen.append(escalations(events))
    assert seen == [
        [(1, "principal", "p-lincoln")],
        [],
        [(2, "assistant_superintendent", "as-north")],
        [],
        [(3, "ombudsperson", "ombuds")],
    ]
    assert clock.next_due_at is None


def test_after_downtime_every_missed_step_fires_once_in_order() -> None:
    clock = answered(started(), T0)
    now = T0 + 6 * DAY
    after, events = domain.advance(clock, now=now, rules=RULES)
    assert kinds(events) == ["breached:resolution", "escalated:1", "escalated:2", "escalated:3"]
    assert (after.level, after.next_due_at) == (3, None)
    again, more = domain.advance(after, now=now + DAY, rules=RULES)
    assert more == [] and again == after


def test_ticking_step_by_step_fires_the_same_steps_as_catching_up() -> None:
    clock = started(school_id=None)
    clock, _ = domain.retriage(
        clock,
        category="other",
        priority=Priority.LOW,
        team_id="transportation",
        school_id=None,
        at=T0,
        rules=RULES,
    )
    fired: list[EventData] = []
    now = T0
    while now < T0 + 6 * DAY:
        now += HOUR
        clock, events = domain.advance(clock, now=now, rules=RULES)
        fired += events
    assert kinds(fired) == [
        "breached:first_response",
        "breached:resolution",
        "escalated:1",
        "escalated:3",
    ]
    assert escalations(fired) == [(1, "team_lead", "tr-lead"), (3, "ombudsperson", "ombuds")]
    caught_up, all_at_once = domain.advance(
        domain.retriage(
            started(school_id=None),
            category="other",
            priority=Priority.LOW,
            team_id="transportation",
            school_id=None,
            at=T0,
            rules=RULES,
        )[0],
        now=now,
        rules=RULES,
    )
    assert kinds(all_at_once) == kinds(fired)
    assert caught_up.fired == clock.fired


# --- reminders -------------------------------------------------------------------------------


def test_reminders_repeat_to_the_current_level_until_the_next_level() -> None:
    rules = rules_with(reminder_interval_s=8 * 3600)
    clock = answered(started(rules=rules), T0, rules)
    _, events = domain.advance(clock, now=T0 + 5 * DAY, rules=rules)
    assert kinds(events) == [
        "breached:resolution",
        "escalated:1",
        "reminded:1:1",
        "reminded:1:2",
        "escalated:2",
        "reminded:2:1",
        "reminded:2:2",
        "escalated:3",
    ]
    assert reminders(events)[:2] == [(1, 1, "p-lincoln"), (1, 2, "p-lincoln")]


def test_reminders_to_the_last_level_go_on_at_their_interval() -> None:
    rules = rules_with(reminder_interval_s=8 * 3600)
    clock = answered(started(rules=rules), T0, rules)
    clock, _ = domain.advance(clock, now=T0 + 5 * DAY, rules=rules)
    assert clock.next_due_at == T0 + 5 * DAY + 8 * HOUR
    clock, events = domain.advance(clock, now=T0 + 6 * DAY, rules=rules)
    assert reminders(events) == [(3, 1, "ombuds"), (3, 2, "ombuds"), (3, 3, "ombuds")]


def test_someone_acting_ends_the_reminders_of_that_level_but_not_the_ladder() -> None:
    rules = rules_with(reminder_interval_s=8 * 3600)
    clock = answered(started(rules=rules), T0, rules)
    clock, _ = domain.advance(clock, now=T0 + 3 * DAY + 9 * HOUR, rules=rules)
    assert clock.reminders == 1
    clock, _ = domain.message_added(
        clock, by_staff=True, public=True, at=T0 + 3 * DAY + 10 * HOUR, rules=rules
    )
    clock, events = domain.advance(clock, now=T0 + 4 * DAY + 9 * HOUR, rules=rules)
    assert kinds(events) == ["escalated:2", "reminded:2:1"]


def test_acknowledging_or_waiting_counts_as_acting_on_the_escalation() -> None:
    rules = rules_with(reminder_interval_s=8 * 3600)
    clock = started(rules=rules)
    clock, _ = domain.advance(clock, now=T0 + 3 * DAY, rules=rules)
    clock, _ = domain.status_changed(
        clock, to_status="acknowledged", at=T0 + 3 * DAY + HOUR, rules=rules
    )
    _, events = domain.advance(clock, now=T0 + 4 * DAY - SECOND, rules=rules)
    assert reminders(events) == []


def test_resolution_ends_the_ladder_and_the_reminders() -> None:
    rules = rules_with(reminder_interval_s=8 * 3600)
    breached, _ = domain.advance(
        answered(started(rules=rules), T0, rules), now=T0 + 3 * DAY, rules=rules
    )
    stopped, _ = domain.stop(breached, at=T0 + 3 * DAY + HOUR, rules=rules)
    _, events = domain.advance(stopped, now=T0 + 10 * DAY, rules=rules)
    assert events == [] and stopped.next_due_at is None


# --- resolution and reopening -----------------------------------------------------------------


def test_resolution_before_the_targets_meets_both() -> None:
    clock, events = domain.stop(started(), at=T0 + HOUR, rules=RULES)
    assert kinds(events) == ["met:first_response", "met:resolution"]
    assert (clock.status, clock.stopped_at, clock.next_due_at) == (
        ClockStatus.STOPPED,
        T0 + HOUR,
        None,
    )
    after, more = domain.advance(clock, now=T0 + 30 * DAY, rules=RULES)
    assert more == [] and after == clock


def test_resolution_after_the_breach_is_not_a_met_target() -> None:
    breached, _ = domain.advance(answered(started(), T0), now=T0 + 3 * DAY, rules=RULES)
    _, events = domain.stop(breached, at=T0 + 3 * DAY + HOUR, rules=RULES)
    assert events == []


def test_reopen_starts_a_new_cycle_with_level_reset() -> None:
    breached, _ = domain.advance(answered(started(), T0), now=T0 + 4 * DAY, rules=RULES)
    stopped, _ = domain.stop(breached, at=T0 + 5 * DAY, rules=RULES)
    reopened_at = T0 + 6 * DAY
    clock = domain.reopen(stopped, at=reopened_at, rules=RULES)
    assert (clock.status, clock.cycle, clock.level, clock.breached_at, clock.stopped_at) == (
        ClockStatus.RUNNING,
        2,
        0,
        None,
        None,
    )
    assert clock.started_at == reopened_at and clock.first_response_at is None
    assert clock.resolution_due_at == reopened_at + 3 * DAY
    _, events = domain.advance(answered(clock, reopened_at), now=reopened_at + 3 * DAY, rules=RULES)
    assert kinds(events) == ["breached:resolution", "escalated:1"]


def test_redelivered_reopen_does_not_restart_the_cycle_again() -> None:
    stopped, _ = domain.stop(started(), at=T0 + HOUR, rules=RULES)
    once = domain.reopen(stopped, at=T0 + 2 * HOUR, rules=RULES)
    assert domain.reopen(once, at=T0 + 2 * HOUR, rules=RULES) == once


def test_resolution_older_than_the_current_cycle_does_not_stop_it() -> None:
    stopped, _ = domain.stop(started(), at=T0 + HOUR, rules=RULES)
    reopened = domain.reopen(stopped, at=T0 + 2 * HOUR, rules=RULES)
    assert domain.stop(reopened, at=T0 + HOUR, rules=RULES) == (reopened, [])


def test_triage_to_critical_brings_the_due_time_forward() -> None:
    clock, _ = domain.retriage(
        started(category="transportation"),
        category="transportation",
        priority=Priority.CRITICAL,
        team_id="transportation",
        school_id="lincoln-es",
        at=T0,
        rules=RULES,
    )
    assert (clock.policy.id, clock.team_id, clock.priority) == (
        "critical",
        "transportation",
        Priority.CRITICAL,
    )
    assert clock.resolution_due_at == T0 + DAY
    assert clock.next_due_at == T0 + HOUR  # the critical first response


def test_triage_after_a_breach_keeps_the_missed_target() -> None:
    critical = answered(started(category="safety", priority=Priority.CRITICAL), T0)
    breached, _ = domain.advance(critical, now=T0 + DAY, rules=RULES)
    clock, _ = domain.retriage(
        breached,
        category="safety",
        priority=Priority.NORMAL,
        team_id="school-lincoln-es",
        school_id="lincoln-es",
        at=T0 + DAY,
        rules=RULES,
    )
    assert clock.policy.id == "standard"
    assert clock.resolution_due_at == T0 + DAY
    assert (clock.level, clock.next_due_at) == (1, T0 + 2 * DAY)


def test_redelivered_triage_changes_nothing() -> None:
    once, _ = domain.retriage(
        started(),
        category="other",
        priority=Priority.LOW,
        team_id="service-desk",
        school_id="lincoln-es",
        at=T0,
        rules=RULES,
    )
    again, events = domain.retriage(
        once,
        category="other",
        priority=Priority.LOW,
        team_id="service-desk",
        school_id="lincoln-es",
        at=T0,
        rules=RULES,
    )
    assert again == once and events == []


def test_deployed_district_file_gives_a_72_hour_standard_target() -> None:
    district = load_district(DEFAULT_DISTRICT_CONFIG)
    config = district.section("escalation", EscalationConfig)
    rules = Rules(
        policies=seed_policies(district, config),
        calendars=calendars_of(district, config),
        district=district,
    )
    clock = domain.start(
        "c-2",
        category="enrollment",
        school_id=None,
        priority=Priority.NORMAL,
        channel="web",
        started_at=T0,
        rules=rules,
    )
    assert clock.resolution_due_at == T0 + timedelta(hours=district.district.guarantee_hours)


def test_business_hours_clock_breaches_at_the_right_local_hour_after_a_holiday() -> None:
    rules = rules_with(calendar="business-hours")
    chicago = ZoneInfo("America/Chicago")
    thursday_noon = datetime(2026, 3, 5, 12, 0, tzinfo=chicago)
    clock = answered(started(at=thursday_noon, rules=rules), thursday_noon, rules)
    # 72 opening hours = 8 working days: Thu 5 h, (Fri 6 March a holiday), Mon-Fri 45 h,
    # Mon-Tue 18 h, Wed 4 h -> Wednesday 18 March 12:00 local, after the DST change of 8 March.
    assert clock.resolution_due_at == datetime(2026, 3, 18, 12, 0, tzinfo=chicago)
    calendar = rules.calendar(clock.policy)
    assert isinstance(calendar, BusinessHours)
    assert calendar.hours[0] == parse_hours("08:00-17:00")


def test_response_at_the_very_instant_the_target_falls_due_meets_it() -> None:
    clock, events = domain.status_changed(
        started(), to_status="acknowledged", at=T0 + DAY, rules=RULES
    )
    assert kinds(events) == ["met:first_response"]
    _, events = domain.stop(clock, at=T0 + 3 * DAY, rules=RULES)
    assert kinds(events) == ["met:resolution"]


def test_a_second_later_the_target_is_breached_even_if_the_scheduler_was_late() -> None:
    _, events = domain.status_changed(
        started(), to_status="acknowledged", at=T0 + DAY + SECOND, rules=RULES
    )
    assert kinds(events) == ["breached:first_response"]


def test_clock_history_records_every_step_in_order() -> None:
    rules = rules_with(warnings=(50,))
    clock = started(rules=rules)
    clock, _ = domain.status_changed(clock, to_status="acknowledged", at=T0 + HOUR, rules=rules)
    clock, _ = domain.status_changed(
        clock, to_status="awaiting_requester", at=T0 + 2 * HOUR, rules=rules
    )
    clock, _ = domain.message_added(
        clock, by_staff=False, public=True, at=T0 + 3 * HOUR, rules=rules
    )
    clock, _ = domain.advance(clock, now=T0 + 4 * DAY, rules=rules)
    assert [(e.kind, e.target, e.level) for e in clock.history] == [
        ("started", None, None),
        ("first_response", None, None),
        ("met", "first_response", None),
        ("paused", None, None),
        ("resumed", None, None),
        ("answered", None, None),  # the requester's message ended the wait
        ("warning", "resolution", None),
        ("breached", "resolution", None),
        ("escalated", None, 1),
    ]


def test_closing_without_resolution_stops_the_clock_without_meeting_targets() -> None:
    # A merge into another concern closes this one straight from its open status.
    clock, events = domain.status_changed(started(), to_status="closed", at=T0 + HOUR, rules=RULES)
    assert events == []
    assert (clock.status, clock.next_due_at, clock.history[-1].kind) == (
        ClockStatus.STOPPED,
        None,
        "closed",
    )
    _, later = domain.advance(clock, now=T0 + 10 * DAY, rules=RULES)
    assert later == []


# --- the due time people are told (issue 16) -------------------------------------------------

CHICAGO = ZoneInfo("America/Chicago")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHICAGO).astimezone(UTC)


def test_a_target_passed_during_a_pause_by_a_retriage_is_due_at_the_next_working_hour() -> None:
    rules = rules_with(calendar="business-hours")
    monday = local(2026, 3, 9, 8, 0)
    clock = answered(started(at=monday, rules=rules), monday + HOUR, rules)
    # 30 opening hours in (Monday to Thursday 11:00), then waiting on the parent
    thursday = local(2026, 3, 12, 11, 0)
    clock, _ = domain.status_changed(
        clock, to_status="awaiting_requester", at=thursday, rules=rules
    )
    evening = local(2026, 3, 12, 19, 0)
    clock, _ = domain.retriage(
        clock,
        category="other",
        priority=Priority.CRITICAL,
        team_id="service-desk",
        school_id="lincoln-es",
        at=evening,
        rules=rules,
    )

    next_morning = local(2026, 3, 13, 8, 0)
    assert clock.policy.id == "critical" and clock.status is ClockStatus.PAUSED
    assert clock.resolution_due_at == clock.next_due_at == next_morning
    _, events = domain.advance(clock, now=next_morning, rules=rules)
    [breach] = [e for e in events if isinstance(e, SlaBreached)]
    assert breach.due_at == next_morning  # never the submission time


def test_a_pause_on_saturday_after_a_friday_closing_due_time_fires_the_breach_due_friday() -> None:
    rules = rules_with(calendar="business-hours")
    # 72 opening hours from Tuesday 3 March 08:00, Friday 6 March a holiday: due Friday
    # 13 March 17:00
    tuesday = local(2026, 3, 3, 8, 0)
    clock = answered(started(at=tuesday, rules=rules), tuesday + HOUR, rules)
    due = local(2026, 3, 13, 17, 0)
    assert clock.resolution_due_at == due
    saturday = local(2026, 3, 14, 10, 0)
    clock, events = domain.status_changed(
        clock, to_status="awaiting_requester", at=saturday, rules=rules
    )

    breaches = [e for e in events if isinstance(e, SlaBreached)]
    assert [b.due_at for b in breaches] == [due]
    assert clock.resolution_due_at == due


def test_a_pause_keeps_the_due_time_told_and_the_resume_moves_it_by_the_pause() -> None:
    clock = answered(started(), T0 + HOUR)
    paused, _ = domain.status_changed(
        clock, to_status="awaiting_requester", at=T0 + DAY, rules=RULES
    )
    resumed, _ = domain.message_added(
        paused, by_staff=False, public=True, at=T0 + 2 * DAY, rules=RULES
    )

    assert clock.resolution_due_at == paused.resolution_due_at == T0 + 3 * DAY
    assert resumed.resolution_due_at == T0 + 4 * DAY
    [told] = domain.due_changed(clock, paused, sequence=2, at=T0 + DAY)
    assert (told.paused, told.resolution_due_at, told.sequence) == (True, T0 + 3 * DAY, 2)
    [told] = domain.due_changed(paused, resumed, sequence=3, at=T0 + 2 * DAY)
    assert (told.paused, told.resolution_due_at) == (False, T0 + 4 * DAY)
    assert domain.due_changed(resumed, resumed, sequence=4, at=T0 + 2 * DAY) == []


# --- callbacks -------------------------------------------------------------------------------


def callback(due: datetime, *, remind: datetime | None = None) -> domain.PendingCallback:
    return domain.PendingCallback(
        id="cb-1", due_at=due, scheduled_at=T0, remind_at=remind, assignee_id="sd-specialist"
    )


def test_callback_reminds_before_it_is_due_and_a_missed_one_breaches_and_escalates() -> None:
    due = T0 + timedelta(hours=4)
    clock, _ = domain.callback_scheduled(
        answered(started(), T0), callback(due, remind=due - timedelta(hours=1)), at=T0, rules=RULES
    )
    assert clock.next_due_at == due - timedelta(hours=1)  # the same lease claims it
    clock, events = domain.advance(clock, now=due - timedelta(hours=1), rules=RULES)
    assert kinds(events) == ["warning:callback:75"]
    assert clock.next_due_at == due
    clock, events = domain.advance(clock, now=due, rules=RULES)
    assert kinds(events) == ["breached:callback", "escalated:1"]
    assert escalations(events) == [(1, "principal", DISTRICT.school("lincoln-es").principal)]
    assert clock.level == 0  # the resolution ladder is not climbed by a missed callback
    assert clock.callbacks == () and clock.next_due_at == T0 + 3 * DAY
    _, again = domain.advance(clock, now=due + DAY, rules=RULES)
    assert "breached:callback" not in kinds(again)


def test_callback_made_in_time_fires_nothing_and_counts_on_time() -> None:
    due = T0 + timedelta(hours=4)
    clock, _ = domain.callback_scheduled(answered(started(), T0), callback(due), at=T0, rules=RULES)
    clock, events = domain.callback_completed(
        clock, "cb-1", made=True, on_time=True, at=due - timedelta(minutes=1), rules=RULES
    )
    assert events == [] and clock.callbacks == ()
    assert clock.history[-1].kind == "callback_on_time"
    # its news arriving late (out of order) does not watch it again
    late, _ = domain.callback_scheduled(clock, callback(due), at=T0, rules=RULES)
    assert late.callbacks == ()
    _, events = domain.advance(late, now=due + timedelta(hours=1), rules=RULES)
    assert events == []


def test_scheduler_down_past_a_callback_reminds_then_escalates_in_one_pass() -> None:
    due = T0 + timedelta(hours=4)
    clock, _ = domain.callback_scheduled(
        answered(started(), T0), callback(due, remind=due - timedelta(hours=1)), at=T0, rules=RULES
    )
    _, events = domain.advance(clock, now=due + timedelta(hours=1), rules=RULES)
    assert kinds(events) == ["warning:callback:99", "breached:callback", "escalated:1"]
