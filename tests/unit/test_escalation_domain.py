"""SLA arithmetic, policy choice and the escalation ladder, with fixed datetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.escalation import domain
from services.escalation.domain import ClockStatus, NoPolicyApplies, SlaClock
from shared.district import DistrictConfig, SlaConfig, load_district
from shared.events import ConcernEscalated, EventData, Priority, SlaBreached, SlaTarget
from shared.settings import DEFAULT_DISTRICT_CONFIG

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

RAW: dict[str, Any] = {
    "district": {"name": "Test District"},
    "staff": [
        {"id": "p-lincoln", "name": "Dana Whitfield", "role": "principal"},
        {"id": "as-north", "name": "Helen Okafor", "role": "assistant_superintendent"},
        {"id": "ombuds", "name": "Grace Liu", "role": "ombudsperson"},
        {"id": "tr-lead", "name": "Ana Kowalski", "role": "specialist"},
        {"id": "sd-lead", "name": "Sam Porter", "role": "specialist"},
    ],
    "schools": [
        {"id": "lincoln-es", "name": {"en": "Lincoln", "es": "Lincoln"}, "principal": "p-lincoln",
         "assistant_superintendent": "as-north", "team": "school-lincoln-es"},
    ],
    "teams": [
        {"id": "service-desk", "name": "Service Desk", "lead": "sd-lead"},
        {"id": "transportation", "name": "Transportation", "lead": "tr-lead"},
        {"id": "school-lincoln-es", "name": "Lincoln Front Office", "lead": "p-lincoln"},
    ],
    "categories": [
        {"id": "transportation", "name": {"en": "Transport", "es": "Transporte"},
         "team": "transportation"},
        {"id": "safety", "name": {"en": "Safety", "es": "Seguridad"}, "team": "school",
         "priority": "critical"},
        {"id": "other", "name": {"en": "Other", "es": "Otro"}, "team": "service-desk",
         "priority": "low"},
    ],
    "fallback_team": "service-desk",
    "sla": {
        "policies": [
            {"id": "critical", "priority": "critical", "first_response_s": 3600,
             "resolution_s": 86400},
            {"id": "transport-high", "category": "transportation", "priority": "high",
             "first_response_s": 3600, "resolution_s": 7200},
            {"id": "transport", "category": "transportation", "first_response_s": 3600,
             "resolution_s": 172800},
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


def started(*, category: str = "other", school_id: str | None = "lincoln-es",
            priority: Priority | None = None, at: datetime = T0) -> SlaClock:
    return domain.start("c-1", category=category, school_id=school_id, priority=priority,
                        started_at=at, district=DISTRICT)


def escalations(events: list[EventData]) -> list[tuple[int, str, str]]:
    return [(e.level, e.role, e.escalated_to) for e in events if isinstance(e, ConcernEscalated)]


# --- policy choice and due times ---------------------------------------------------------


def test_critical_priority_selects_critical_policy_whatever_the_category() -> None:
    policy = domain.choose_policy(DISTRICT.sla, category="transportation",
                                  priority=Priority.CRITICAL)
    assert policy.id == "critical"


def test_category_and_priority_policy_applies_when_both_match() -> None:
    policy = domain.choose_policy(DISTRICT.sla, category="transportation", priority=Priority.HIGH)
    assert policy.id == "transport-high"


def test_category_policy_applies_to_any_priority_of_its_category() -> None:
    assert domain.choose_policy(DISTRICT.sla, category="transportation",
                                priority=Priority.LOW).id == "transport"
    assert domain.choose_policy(DISTRICT.sla, category="transportation",
                                priority=None).id == "transport"


def test_policy_without_category_or_priority_is_the_default() -> None:
    assert domain.choose_policy(DISTRICT.sla, category="other", priority=Priority.HIGH).id == \
        "standard"
    assert domain.choose_policy(DISTRICT.sla, category="other", priority=None).id == "standard"


def test_no_matching_policy_is_an_error_not_a_guess() -> None:
    sla = SlaConfig.model_validate({
        "policies": [{"id": "critical", "priority": "critical", "first_response_s": 1,
                      "resolution_s": 2}],
        "ladder": RAW["sla"]["ladder"],
    })
    with pytest.raises(NoPolicyApplies):
        domain.choose_policy(sla, category="other", priority=Priority.NORMAL)


def test_resolution_is_due_the_policy_target_after_start_around_the_clock() -> None:
    friday_evening = datetime(2026, 3, 6, 17, 30, tzinfo=UTC)
    clock = started(at=friday_evening)
    assert clock.policy == "standard"
    assert clock.resolution_due_at == datetime(2026, 3, 9, 17, 30, tzinfo=UTC)
    assert clock.next_due_at == clock.resolution_due_at
    assert clock.status is ClockStatus.RUNNING and clock.level == 0


def test_critical_clock_is_due_in_24_hours() -> None:
    clock = started(category="safety", priority=Priority.CRITICAL)
    assert (clock.policy, clock.resolution_due_at) == ("critical", T0 + DAY)


# --- the ladder --------------------------------------------------------------------------


def test_school_concern_ladder_is_principal_then_assistant_superintendent_then_ombuds() -> None:
    rungs = domain.ladder(DISTRICT, school_id="lincoln-es", team_id="school-lincoln-es")
    assert [(r.level, r.role, r.staff_id, r.name, r.after) for r in rungs] == [
        (1, "principal", "p-lincoln", "Dana Whitfield", timedelta(0)),
        (2, "assistant_superintendent", "as-north", "Helen Okafor", DAY),
        (3, "ombudsperson", "ombuds", "Grace Liu", 2 * DAY),
    ]


def test_ladder_without_school_starts_at_team_lead_and_skips_assistant_superintendent() -> None:
    rungs = domain.ladder(DISTRICT, school_id=None, team_id="transportation")
    assert [(r.level, r.role, r.staff_id) for r in rungs] == [
        (1, "team_lead", "tr-lead"),
        (3, "ombudsperson", "ombuds"),
    ]


def test_ladder_without_school_or_known_team_starts_at_fallback_team_lead() -> None:
    for team_id in (None, "disbanded-team"):
        rungs = domain.ladder(DISTRICT, school_id=None, team_id=team_id)
        assert (rungs[0].role, rungs[0].staff_id) == ("team_lead", "sd-lead")


# --- what a clock fires --------------------------------------------------------------------


def test_running_clock_fires_nothing_before_its_due_time() -> None:
    clock = started()
    after, events = domain.advance(clock, now=clock.resolution_due_at - timedelta(seconds=1),
                                   district=DISTRICT)
    assert events == []
    assert after == clock


def test_due_clock_fires_breach_then_level_one_and_waits_for_level_two() -> None:
    clock = started()
    now = clock.resolution_due_at + timedelta(seconds=5)
    after, events = domain.advance(clock, now=now, district=DISTRICT)
    assert events[0] == SlaBreached(concern_id="c-1", target=SlaTarget.RESOLUTION,
                                    due_at=clock.resolution_due_at, breached_at=now,
                                    policy="standard")
    assert escalations(events) == [(1, "principal", "p-lincoln")]
    assert events[1].escalated_at == now  # type: ignore[attr-defined]
    assert events[1].school_id == "lincoln-es"  # type: ignore[attr-defined]
    assert (after.level, after.breached_at) == (1, now)
    assert after.next_due_at == clock.resolution_due_at + DAY


def test_after_downtime_every_missed_step_fires_once_in_order() -> None:
    clock = started()
    now = clock.resolution_due_at + 3 * DAY
    after, events = domain.advance(clock, now=now, district=DISTRICT)
    assert isinstance(events[0], SlaBreached)
    assert escalations(events) == [(1, "principal", "p-lincoln"),
                                   (2, "assistant_superintendent", "as-north"),
                                   (3, "ombudsperson", "ombuds")]
    assert len(events) == 4
    assert (after.level, after.next_due_at) == (3, None)
    again, more = domain.advance(after, now=now + DAY, district=DISTRICT)
    assert more == [] and again == after


def test_ticking_step_by_step_fires_the_same_steps_as_catching_up() -> None:
    clock = started(school_id=None)
    clock = domain.retriage(clock, category="other", priority=Priority.LOW,
                            team_id="transportation", district=DISTRICT)
    fired: list[EventData] = []
    now = T0
    while now < T0 + 6 * DAY:
        now += HOUR
        clock, events = domain.advance(clock, now=now, district=DISTRICT)
        fired += events
    assert [type(e).__name__ for e in fired] == ["SlaBreached", "ConcernEscalated",
                                                 "ConcernEscalated"]
    assert escalations(fired) == [(1, "team_lead", "tr-lead"), (3, "ombudsperson", "ombuds")]


def test_resolved_clock_fires_nothing_even_when_long_overdue() -> None:
    clock = domain.stop(started(), at=T0 + HOUR)
    assert (clock.status, clock.stopped_at, clock.next_due_at) == (ClockStatus.STOPPED,
                                                                    T0 + HOUR, None)
    after, events = domain.advance(clock, now=T0 + 30 * DAY, district=DISTRICT)
    assert events == [] and after == clock


def test_resolution_after_breach_stops_further_escalation() -> None:
    breached, _ = domain.advance(started(), now=T0 + 3 * DAY, district=DISTRICT)
    stopped = domain.stop(breached, at=T0 + 3 * DAY + HOUR)
    _, events = domain.advance(stopped, now=T0 + 10 * DAY, district=DISTRICT)
    assert events == []


def test_reopen_starts_a_new_cycle_with_level_reset() -> None:
    breached, _ = domain.advance(started(), now=T0 + 4 * DAY, district=DISTRICT)
    stopped = domain.stop(breached, at=T0 + 5 * DAY)
    reopened_at = T0 + 6 * DAY
    clock = domain.reopen(stopped, at=reopened_at, district=DISTRICT)
    assert (clock.status, clock.cycle, clock.level, clock.breached_at, clock.stopped_at) == (
        ClockStatus.RUNNING, 2, 0, None, None)
    assert clock.started_at == reopened_at
    assert clock.resolution_due_at == clock.next_due_at == reopened_at + 3 * DAY
    _, events = domain.advance(clock, now=reopened_at + 3 * DAY, district=DISTRICT)
    assert isinstance(events[0], SlaBreached)
    assert escalations(events) == [(1, "principal", "p-lincoln")]


def test_redelivered_reopen_does_not_restart_the_cycle_again() -> None:
    stopped = domain.stop(started(), at=T0 + HOUR)
    once = domain.reopen(stopped, at=T0 + 2 * HOUR, district=DISTRICT)
    assert domain.reopen(once, at=T0 + 2 * HOUR, district=DISTRICT) == once


def test_resolution_older_than_the_current_cycle_does_not_stop_it() -> None:
    stopped = domain.stop(started(), at=T0 + HOUR)
    reopened = domain.reopen(stopped, at=T0 + 2 * HOUR, district=DISTRICT)
    assert domain.stop(reopened, at=T0 + HOUR) == reopened


def test_triage_to_critical_brings_the_due_time_forward() -> None:
    clock = domain.retriage(started(category="transportation"), category="transportation",
                            priority=Priority.CRITICAL, team_id="transportation",
                            district=DISTRICT)
    assert (clock.policy, clock.team_id, clock.priority) == ("critical", "transportation",
                                                             Priority.CRITICAL)
    assert clock.resolution_due_at == clock.next_due_at == T0 + DAY


def test_triage_after_a_breach_keeps_the_missed_target() -> None:
    breached, _ = domain.advance(started(category="safety", priority=Priority.CRITICAL),
                                 now=T0 + DAY, district=DISTRICT)
    clock = domain.retriage(breached, category="safety", priority=Priority.NORMAL,
                            team_id="school-lincoln-es", district=DISTRICT)
    assert clock.resolution_due_at == T0 + DAY
    assert (clock.level, clock.next_due_at) == (1, T0 + 2 * DAY)


def test_deployed_district_file_gives_a_72_hour_standard_target() -> None:
    district = load_district(DEFAULT_DISTRICT_CONFIG)
    clock = domain.start("c-2", category="enrollment", school_id=None, priority=Priority.NORMAL,
                         started_at=T0, district=district)
    assert clock.resolution_due_at == T0 + timedelta(hours=district.district.guarantee_hours)
