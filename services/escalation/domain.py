"""Escalation's rules: SLA policies, due times, the escalation ladder and what a clock fires.

Pure: no I/O, no framework. Functions take the current time and return a new clock state plus
the event data to publish; the repository stores both in one write.

Calendar: around the clock for now (due = cycle start + the policy's resolution target).
Business-hours calendars will change `resolution_due` only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from shared.district import DistrictConfig, SlaConfig, SlaPolicyConfig
from shared.events import ConcernEscalated, EventData, Priority, SlaBreached, SlaTarget

TEAM_LEAD = "team_lead"


class ClockStatus(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"


class NoPolicyApplies(LookupError):
    """The district's SLA policies have no match (and no default) for a concern."""


@dataclass(frozen=True)
class Rung:
    """One step of a concern's escalation ladder, resolved to a person."""

    level: int
    role: str
    staff_id: str
    name: str
    after: timedelta


@dataclass(frozen=True)
class SlaClock:
    """The SLA clock of one concern, for its current cycle (a reopen starts a new cycle)."""

    concern_id: str
    category: str
    school_id: str | None
    team_id: str | None
    priority: Priority | None
    policy: str
    status: ClockStatus
    cycle: int
    started_at: datetime
    resolution_due_at: datetime
    level: int = 0
    breached_at: datetime | None = None
    stopped_at: datetime | None = None
    next_due_at: datetime | None = None


def choose_policy(sla: SlaConfig, *, category: str, priority: Priority | None) -> SlaPolicyConfig:
    """The first policy whose category and priority match where it sets them."""
    for policy in sla.policies:
        if policy.category is not None and policy.category != category:
            continue
        if policy.priority is not None and policy.priority != priority:
            continue
        return policy
    raise NoPolicyApplies(f"no SLA policy for category {category!r}, priority {priority}")


def resolution_due(started_at: datetime, policy: SlaPolicyConfig) -> datetime:
    """When a cycle that started at `started_at` must be resolved (around-the-clock calendar)."""
    return started_at + timedelta(seconds=policy.resolution_s)


def ladder(district: DistrictConfig, *, school_id: str | None, team_id: str | None) -> list[Rung]:
    """The people a breached concern escalates to, level by level."""
    school = district.school(school_id)
    rungs: list[Rung] = []
    for step in sorted(district.sla.ladder, key=lambda s: s.level):
        role: str = step.role
        if step.role == "principal":
            if school is not None:
                staff_id = school.principal
            else:
                # A district-wide concern has no principal: its owning team's lead answers.
                team = district.team(team_id or "") or district.team(district.fallback_team)
                assert team is not None  # the config validates that the fallback team exists
                staff_id, role = team.lead, TEAM_LEAD
        elif step.role == "assistant_superintendent":
            if school is None:
                continue
            staff_id = school.assistant_superintendent
        else:
            staff_id = next(s.id for s in district.staff if s.role == "ombudsperson")
        person = district.staff_member(staff_id)
        assert person is not None  # the config validates every staff reference
        rungs.append(Rung(level=step.level, role=role, staff_id=staff_id, name=person.name,
                          after=timedelta(seconds=step.after_s)))
    return rungs


def start(concern_id: str, *, category: str, school_id: str | None, priority: Priority | None,
          started_at: datetime, district: DistrictConfig) -> SlaClock:
    """A running clock for a new concern, on the policy its category (and priority) selects."""
    policy = choose_policy(district.sla, category=category, priority=priority)
    clock = SlaClock(
        concern_id=concern_id, category=category, school_id=school_id, team_id=None,
        priority=priority, policy=policy.id, status=ClockStatus.RUNNING, cycle=1,
        started_at=started_at, resolution_due_at=resolution_due(started_at, policy),
    )
    return _scheduled(clock, district)


def retriage(clock: SlaClock, *, category: str, priority: Priority, team_id: str,
             district: DistrictConfig) -> SlaClock:
    """Triage's decision: re-choose the policy and recompute the current cycle's due time."""
    policy = choose_policy(district.sla, category=category, priority=priority)
    after = replace(clock, category=category, priority=priority, team_id=team_id,
                    policy=policy.id)
    if clock.breached_at is None:
        # A missed target stays missed; only a clock not yet breached gets the new target.
        after = replace(after, resolution_due_at=resolution_due(clock.started_at, policy))
    return _scheduled(after, district)


def stop(clock: SlaClock, *, at: datetime) -> SlaClock:
    """Resolution stops the clock; a resolution older than the current cycle changes nothing."""
    if clock.status is ClockStatus.STOPPED or at < clock.started_at:
        return clock
    return replace(clock, status=ClockStatus.STOPPED, stopped_at=at, next_due_at=None)


def reopen(clock: SlaClock, *, at: datetime, district: DistrictConfig) -> SlaClock:
    """A reopened concern gets a new cycle: new start, no breach, level reset."""
    if at <= clock.started_at:
        return clock  # the same or an older reopen: already applied
    policy = choose_policy(district.sla, category=clock.category, priority=clock.priority)
    restarted = replace(
        clock, policy=policy.id, status=ClockStatus.RUNNING, cycle=clock.cycle + 1,
        started_at=at, resolution_due_at=resolution_due(at, policy), level=0,
        breached_at=None, stopped_at=None,
    )
    return _scheduled(restarted, district)


def next_due(clock: SlaClock, district: DistrictConfig) -> datetime | None:
    """When this clock next has something to fire, or None when it has nothing left."""
    if clock.status is ClockStatus.STOPPED:
        return None
    if clock.breached_at is None:
        return clock.resolution_due_at
    rung = _next_rung(clock, district)
    return clock.resolution_due_at + rung.after if rung is not None else None


def advance(clock: SlaClock, *, now: datetime,
            district: DistrictConfig) -> tuple[SlaClock, list[EventData]]:
    """Fire every step due by `now`, in order and once each (catching up after downtime)."""
    events: list[EventData] = []
    due = next_due(clock, district)
    while due is not None and due <= now:
        if clock.breached_at is None:
            clock = replace(clock, breached_at=now)
            events.append(SlaBreached(
                concern_id=clock.concern_id, target=SlaTarget.RESOLUTION,
                due_at=clock.resolution_due_at, breached_at=now, policy=clock.policy,
            ))
        else:
            rung = _next_rung(clock, district)
            assert rung is not None  # `next_due` returned a time, so a rung is left
            clock = replace(clock, level=rung.level)
            events.append(ConcernEscalated(
                concern_id=clock.concern_id, level=rung.level, role=rung.role,
                escalated_to=rung.staff_id, escalated_to_name=rung.name, escalated_at=now,
                school_id=clock.school_id,
            ))
        due = next_due(clock, district)
    return replace(clock, next_due_at=due), events


def _next_rung(clock: SlaClock, district: DistrictConfig) -> Rung | None:
    rungs = ladder(district, school_id=clock.school_id, team_id=clock.team_id)
    return next((r for r in rungs if r.level > clock.level), None)


def _scheduled(clock: SlaClock, district: DistrictConfig) -> SlaClock:
    return replace(clock, next_due_at=next_due(clock, district))
