"""Escalation's rules: the SLA clock of a concern, what it fires, and the escalation ladder.

Pure: no I/O, no framework. Every function takes the time of what happened and returns a new
clock plus the event data to publish; the repository stores both in one write.

How a clock counts. Each cycle (the first from submission, one more per reopen) measures
*counted time*: time on the policy's calendar while the clock runs; a pause (a status the
policy lists, e.g. awaiting the requester) stops the count. Every step the clock can fire is a
point on that count: a warning at p% of a target, the breach of a target, escalation level k at
its delay past the resolution breach, the n-th reminder of the current level at n intervals
past its escalation. The next step's wall-clock time (`next_due_at`) is what the scheduler
looks for; `advance` fires every step whose point has passed, in order, once each (each step
has a key recorded in `fired`), so a scheduler that was down catches up.

A callback promised to the requester is a wall-clock task beside the counted steps: its
reminder warns (`sla.warning`, target `callback`) and, missed, it breaches (`sla.breached`)
and escalates to the first rung of the ladder at once; `next_due_at` is the earliest of the
clock's next step and its callbacks' next times, so the same lease claims both.

Who "acts" (this ends the reminders of the current level; the ladder still climbs until the
concern is resolved): a status change to `acknowledged` or to a pause status such as
`awaiting_requester`, a public reply by staff, or the resolution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal

from services.escalation.calendar import AroundTheClock, Calendar
from services.escalation.policies import OPEN_STATUSES, LadderStep, Policy, choose_policy
from shared.district import DistrictConfig
from shared.events import (
    ConcernEscalated,
    ConcernStatus,
    EventData,
    Priority,
    SlaBreached,
    SlaDueChanged,
    SlaMet,
    SlaTarget,
    SlaWarning,
)

TEAM_LEAD = "team_lead"
ANY_TEAM = "*"
ZERO = timedelta(0)
RESOLUTION_BREACH = "breach:resolution"
FIRST_RESPONSE_BREACH = "breach:first_response"


class ClockStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


class StepKind(StrEnum):
    WARNING = "warning"
    BREACH = "breach"
    ESCALATION = "escalation"
    REMINDER = "reminder"


@dataclass(frozen=True)
class Rung:
    """One step of a concern's escalation ladder, resolved to a person."""

    level: int
    role: str
    staff_id: str
    name: str
    after: timedelta


@dataclass(frozen=True)
class Entry:
    """One line of a clock's history (what the Ombudsperson reads and the reports count)."""

    at: datetime
    kind: str
    cycle: int
    target: str | None = None
    level: int | None = None
    reminder: int | None = None
    percent: int | None = None
    detail: str | None = None
    # a callback's line: when it was due (the Board counts each callback in its due month)
    due_at: datetime | None = None


@dataclass(frozen=True)
class Rules:
    """What the clock arithmetic needs: the policies, the calendars, the district directory."""

    policies: Sequence[Policy]
    calendars: Mapping[str, Calendar]
    district: DistrictConfig
    # level 2 of a concern without a school: the owning department's assistant superintendent
    supervisors: Mapping[str, str] = field(default_factory=dict)

    def calendar(self, policy: Policy) -> Calendar:
        """The policy's calendar; around the clock if it was removed from the district file."""
        return self.calendars.get(policy.calendar) or AroundTheClock()

    def choose(self, *, category: str, priority: Priority | None) -> Policy:
        return choose_policy(self.policies, category=category, priority=priority)


@dataclass(frozen=True)
class PendingCallback:
    """A callback still to make: reminded at `remind_at`, missed at `due_at`."""

    id: str
    due_at: datetime
    scheduled_at: datetime
    remind_at: datetime | None = None
    assignee_id: str | None = None
    reminded: bool = False

    @property
    def next_at(self) -> datetime:
        if self.remind_at is not None and not self.reminded and self.remind_at < self.due_at:
            return self.remind_at
        return self.due_at


CALLBACK_DONE = frozenset({"callback_on_time", "callback_late", "callback_cancelled"})


@dataclass(frozen=True)
class SlaClock:
    """The SLA clock of one concern: its current cycle and the history of all cycles."""

    concern_id: str
    category: str
    school_id: str | None
    team_id: str | None
    priority: Priority | None
    channel: str | None
    submitted_at: datetime
    policy: Policy
    status: ClockStatus
    cycle: int
    started_at: datetime
    running_since: datetime | None
    elapsed: timedelta = ZERO  # counted time banked before `running_since`
    paused_at: datetime | None = None  # while paused: since when
    first_response_at: datetime | None = None
    breached_at: datetime | None = None  # when the resolution breach fired
    breach_position: timedelta | None = None  # the resolution target, frozen at the breach
    level: int = 0
    level_at: datetime | None = None
    reminders: int = 0
    acted_at: datetime | None = None
    stopped_at: datetime | None = None
    fired: frozenset[str] = frozenset()
    next_due_at: datetime | None = None
    first_response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    satisfaction: int | None = None
    surveyed_at: datetime | None = None
    history: tuple[Entry, ...] = field(default_factory=tuple)
    callbacks: tuple[PendingCallback, ...] = ()


@dataclass(frozen=True)
class Step:
    """Something a clock will fire once its counted time reaches `position`."""

    position: timedelta
    kind: StepKind
    key: str
    target: SlaTarget | None = None
    percent: int | None = None
    rung: Rung | None = None
    reminder: int = 0


Change = tuple[SlaClock, list[EventData]]


# --- the ladder ----------------------------------------------------------------------------


def ladder(
    district: DistrictConfig,
    steps: Sequence[LadderStep],
    *,
    school_id: str | None,
    team_id: str | None,
    supervisors: Mapping[str, str] | None = None,
) -> list[Rung]:
    """The people a breached concern escalates to, level by level. Without a school, the
    assistant superintendent is the one `supervisors` names for the owning team (or for `*`,
    any team); the level is skipped only when none is named."""
    school = district.school(school_id)
    rungs: list[Rung] = []
    for step in sorted(steps, key=lambda s: s.level):
        role: str = step.role
        if step.role == "principal":
            if school is not None:
                staff_id = school.principal
            else:
                # A district-wide concern has no principal: its owning team's lead answers.
                team = district.team(team_id or "") or district.fallback()
                staff_id, role = team.lead, TEAM_LEAD
        elif step.role == "assistant_superintendent":
            if school is not None:
                staff_id = school.assistant_superintendent
            else:
                named = supervisors or {}
                supervisor = named.get(team_id or "") or named.get(ANY_TEAM)
                if supervisor is None:
                    continue
                staff_id = supervisor
        else:
            staff_id = next(s.id for s in district.staff if s.role == "ombudsperson")
        person = district.referenced_staff(staff_id)
        rungs.append(
            Rung(
                level=step.level,
                role=role,
                staff_id=staff_id,
                name=person.name,
                after=timedelta(seconds=step.after_s),
            )
        )
    return rungs


# --- steps and their times -----------------------------------------------------------------


def pending_steps(clock: SlaClock, rules: Rules) -> list[Step]:
    """The steps this cycle may still fire, earliest first (ties: in the order listed here)."""
    if clock.status is ClockStatus.STOPPED:
        return []
    policy = clock.policy
    steps: list[Step] = []
    if clock.first_response_at is None:
        steps += _target_steps(SlaTarget.FIRST_RESPONSE, policy.first_response, policy)
    resolution = resolution_position(clock)
    if RESOLUTION_BREACH not in clock.fired:
        steps += _target_steps(SlaTarget.RESOLUTION, resolution, policy)
    else:
        rungs = ladder(
            rules.district,
            policy.ladder,
            school_id=clock.school_id,
            team_id=clock.team_id,
            supervisors=rules.supervisors,
        )
        upcoming = next((r for r in rungs if r.level > clock.level), None)
        if upcoming is not None:
            steps.append(
                Step(
                    resolution + upcoming.after,
                    StepKind.ESCALATION,
                    f"escalation:{upcoming.level}",
                    rung=upcoming,
                )
            )
        current = next((r for r in rungs if r.level == clock.level), None)
        interval = policy.reminder_interval
        if current is not None and interval is not None and not _acted_since_escalation(clock):
            n = clock.reminders + 1
            at = resolution + current.after + n * interval
            if upcoming is None or at < resolution + upcoming.after:
                steps.append(
                    Step(
                        at,
                        StepKind.REMINDER,
                        f"reminder:{current.level}:{n}",
                        rung=current,
                        reminder=n,
                    )
                )
    pending = [s for s in steps if s.key not in clock.fired]
    return sorted(pending, key=lambda s: s.position)  # stable: ties keep the order above


def resolution_position(clock: SlaClock) -> timedelta:
    """Where on the counted time the resolution target lies (frozen once breached)."""
    return clock.breach_position if clock.breach_position is not None else clock.policy.resolution


def elapsed_at(clock: SlaClock, now: datetime, rules: Rules) -> timedelta:
    """Counted time of the current cycle at `now`."""
    if clock.status is not ClockStatus.RUNNING or clock.running_since is None:
        return clock.elapsed
    return clock.elapsed + rules.calendar(clock.policy).between(clock.running_since, now)


def wall_time(
    clock: SlaClock, position: timedelta, rules: Rules, *, at: datetime | None = None
) -> datetime | None:
    """When counted time reaches `position` (what the scheduler waits for); None while the
    clock is paused short of it (that depends on the resume).

    A position the clock had passed when it last stopped counting (a re-triage onto a shorter
    target) falls due at once: at the resume when running, else at the first counted instant
    from `at`, the change that found it passed (never the submission time)."""
    calendar = rules.calendar(clock.policy)
    if position <= clock.elapsed:
        if clock.status is ClockStatus.RUNNING and clock.running_since is not None:
            return clock.running_since
        return calendar.next_open(at or clock.paused_at or clock.started_at)
    if clock.status is not ClockStatus.RUNNING or clock.running_since is None:
        return None
    return calendar.add(clock.running_since, position - clock.elapsed)


def promised_time(
    clock: SlaClock, position: timedelta, rules: Rules, *, at: datetime | None = None
) -> datetime | None:
    """The due time people are told: the scheduler's; while the clock is paused short of
    `position`, the time it would be due had it resumed at the pause (it moves later by the
    counted length of the pause once it resumes)."""
    due = wall_time(clock, position, rules, at=at)
    if due is None and clock.status is ClockStatus.PAUSED and clock.paused_at is not None:
        return rules.calendar(clock.policy).add(clock.paused_at, position - clock.elapsed)
    return due


def _target_steps(target: SlaTarget, position: timedelta, policy: Policy) -> list[Step]:
    steps = [
        Step(
            position * percent / 100,
            StepKind.WARNING,
            f"warning:{target}:{percent}",
            target=target,
            percent=percent,
        )
        for percent in policy.warnings
    ]
    steps.append(Step(position, StepKind.BREACH, f"breach:{target}", target=target))
    return steps


def _acted_since_escalation(clock: SlaClock) -> bool:
    return (
        clock.acted_at is not None
        and clock.level_at is not None
        and clock.acted_at >= clock.level_at
    )


# --- firing ----------------------------------------------------------------------------------


def advance(clock: SlaClock, *, now: datetime, rules: Rules, inclusive: bool = True) -> Change:
    """Fire every step due by `now`, in order and once each (catching up after downtime).

    Before applying something that happened at `now`, steps are caught up with
    `inclusive=False`: a response or resolution at the very instant a target falls due meets it.
    """
    events: list[EventData] = []
    while True:
        steps = pending_steps(clock, rules)
        if not steps:
            break
        reached = elapsed_at(clock, now, rules)
        if steps[0].position > reached or (not inclusive and steps[0].position == reached):
            break
        clock, event = _fire(clock, steps[0], now, rules)
        events.append(event)
    clock, called = _callbacks_due(clock, now=now, rules=rules, inclusive=inclusive)
    return _scheduled(clock, rules, now), events + called


def _callbacks_due(clock: SlaClock, *, now: datetime, rules: Rules, inclusive: bool) -> Change:
    """Remind of callbacks coming due; a missed one breaches and escalates to level 1."""
    if clock.status is ClockStatus.STOPPED:
        return clock, []
    events: list[EventData] = []
    kept: list[PendingCallback] = []
    for callback in clock.callbacks:
        if callback.next_at < callback.due_at and _reached(callback.next_at, now, inclusive):
            span = (callback.due_at - callback.scheduled_at).total_seconds()
            used = (now - callback.scheduled_at).total_seconds()
            percent = min(99, max(1, round(100 * used / span))) if span > 0 else 99
            events.append(
                SlaWarning(
                    concern_id=clock.concern_id,
                    target=SlaTarget.CALLBACK,
                    due_at=callback.due_at,
                    warned_at=now,
                    percent=percent,
                    policy=clock.policy.id,
                )
            )
            clock = _log(
                clock,
                Entry(
                    now,
                    "callback_reminded",
                    clock.cycle,
                    target=SlaTarget.CALLBACK,
                    detail=callback.id,
                ),
            )
            callback = replace(callback, reminded=True)
        if not _reached(callback.due_at, now, inclusive):
            kept.append(callback)
            continue
        events.append(
            SlaBreached(
                concern_id=clock.concern_id,
                target=SlaTarget.CALLBACK,
                due_at=callback.due_at,
                breached_at=now,
                policy=clock.policy.id,
            )
        )
        rungs = ladder(
            rules.district,
            clock.policy.ladder,
            school_id=clock.school_id,
            team_id=clock.team_id,
            supervisors=rules.supervisors,
        )
        rung = rungs[0] if rungs else None
        clock = _log(
            clock,
            Entry(
                now,
                "callback_missed",
                clock.cycle,
                target=SlaTarget.CALLBACK,
                level=rung.level if rung else None,
                detail=callback.id,
                due_at=callback.due_at,
            ),
        )
        if rung is not None:
            events.append(_escalated(clock, rung, now))
    return replace(clock, callbacks=tuple(kept)), events


def _escalated(
    clock: SlaClock, rung: Rung, now: datetime, *, reminder: int = 0
) -> ConcernEscalated:
    """The concern escalated (or its rung reminded) to a rung's person, now."""
    return ConcernEscalated(
        concern_id=clock.concern_id,
        level=rung.level,
        role=rung.role,
        escalated_to=rung.staff_id,
        escalated_to_name=rung.name,
        escalated_at=now,
        school_id=clock.school_id,
        reminder=reminder,
    )


def _reached(moment: datetime, now: datetime, inclusive: bool) -> bool:
    return moment < now or (inclusive and moment == now)


def callback_scheduled(
    clock: SlaClock, callback: PendingCallback, *, at: datetime, rules: Rules
) -> Change:
    """A callback to watch (unless it was made or cancelled before this news arrived)."""
    done = any(e.kind in CALLBACK_DONE and e.detail == callback.id for e in clock.history)
    if done or any(c.id == callback.id for c in clock.callbacks):
        return clock, []
    clock = _log(
        replace(clock, callbacks=(*clock.callbacks, callback)),
        Entry(
            at,
            "callback_scheduled",
            clock.cycle,
            target=SlaTarget.CALLBACK,
            detail=callback.id,
            due_at=callback.due_at,
        ),
    )
    return advance(clock, now=at, rules=rules, inclusive=False)


def callback_completed(
    clock: SlaClock,
    callback_id: str,
    *,
    made: bool,
    on_time: bool,
    at: datetime,
    rules: Rules,
    due_at: datetime | None = None,
) -> Change:
    """A callback made (on time or late, for the Board) or cancelled: no longer watched. Its
    line keeps when it was due (the event's, else the watched callback's)."""
    kind = ("callback_on_time" if on_time else "callback_late") if made else "callback_cancelled"
    if due_at is None:
        due_at = next((c.due_at for c in clock.callbacks if c.id == callback_id), None)
    clock = _log(
        replace(clock, callbacks=tuple(c for c in clock.callbacks if c.id != callback_id)),
        Entry(at, kind, clock.cycle, target=SlaTarget.CALLBACK, detail=callback_id, due_at=due_at),
    )
    return advance(clock, now=at, rules=rules, inclusive=False)


def _fire(clock: SlaClock, step: Step, now: datetime, rules: Rules) -> tuple[SlaClock, EventData]:
    policy = clock.policy
    fired = clock.fired | {step.key}
    if step.kind is StepKind.WARNING:
        if step.target is None or step.percent is None:
            raise ValueError(f"warning step {step.key} names no target and percent")
        target_at = (
            policy.first_response
            if step.target is SlaTarget.FIRST_RESPONSE
            else resolution_position(clock)
        )
        due = promised_time(clock, target_at, rules, at=now) or now
        entry = Entry(now, "warning", clock.cycle, target=step.target, percent=step.percent)
        return _log(replace(clock, fired=fired), entry), SlaWarning(
            concern_id=clock.concern_id,
            target=step.target,
            due_at=due,
            warned_at=now,
            percent=step.percent,
            policy=policy.id,
        )
    if step.kind is StepKind.BREACH:
        if step.target is None:
            raise ValueError(f"breach step {step.key} names no target")
        due = wall_time(clock, step.position, rules, at=now) or now
        after = replace(clock, fired=fired)
        if step.target is SlaTarget.RESOLUTION:
            after = replace(
                after, breached_at=now, breach_position=step.position, resolution_due_at=due
            )
        entry = Entry(now, "breached", clock.cycle, target=step.target)
        return _log(after, entry), SlaBreached(
            concern_id=clock.concern_id,
            target=step.target,
            due_at=due,
            breached_at=now,
            policy=policy.id,
        )
    rung = step.rung
    if rung is None:
        raise ValueError(f"{step.kind} step {step.key} names no rung")
    if step.kind is StepKind.ESCALATION:
        after = replace(clock, fired=fired, level=rung.level, level_at=now, reminders=0)
        entry = Entry(now, "escalated", clock.cycle, level=rung.level, detail=rung.staff_id)
    else:
        after = replace(clock, fired=fired, reminders=step.reminder)
        entry = Entry(
            now,
            "reminded",
            clock.cycle,
            level=rung.level,
            reminder=step.reminder,
            detail=rung.staff_id,
        )
    return _log(after, entry), _escalated(clock, rung, now, reminder=step.reminder)


def _scheduled(clock: SlaClock, rules: Rules, at: datetime | None = None) -> SlaClock:
    """Recompute the due times shown and the next one the scheduler looks for, as of `at`
    (the change being applied)."""
    if clock.status is ClockStatus.STOPPED:
        return replace(clock, next_due_at=None)
    steps = pending_steps(clock, rules)
    next_due = wall_time(clock, steps[0].position, rules, at=at) if steps else None
    for callback in clock.callbacks:
        next_due = callback.next_at if next_due is None else min(next_due, callback.next_at)
    first_response_due = clock.first_response_due_at
    if clock.first_response_at is None and FIRST_RESPONSE_BREACH not in clock.fired:
        first_response_due = promised_time(clock, clock.policy.first_response, rules, at=at)
    resolution_due = clock.resolution_due_at
    if clock.breached_at is None:
        resolution_due = promised_time(clock, resolution_position(clock), rules, at=at)
    return replace(
        clock,
        next_due_at=next_due,
        first_response_due_at=first_response_due,
        resolution_due_at=resolution_due,
    )


def _told(clock: SlaClock) -> tuple[object, ...]:
    """What people are told of a clock, to the millisecond the store keeps."""

    def ms(moment: datetime | None) -> datetime | None:
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000) if moment else None

    return (
        ms(clock.resolution_due_at),
        ms(clock.first_response_due_at),
        clock.status is ClockStatus.PAUSED,
        clock.cycle,
        clock.policy.id,
    )


def due_changed(
    before: SlaClock | None, after: SlaClock, *, sequence: int, at: datetime
) -> list[EventData]:
    """`sla.due_changed` when a change moved the due times people are told (or paused or
    resumed the clock); `sequence` is the clock's version after the change."""
    if before is not None and _told(before) == _told(after):
        return []
    return [
        SlaDueChanged(
            concern_id=after.concern_id,
            resolution_due_at=after.resolution_due_at,
            first_response_due_at=after.first_response_due_at,
            paused=after.status is ClockStatus.PAUSED,
            policy=after.policy.id,
            cycle=after.cycle,
            sequence=sequence,
            changed_at=at,
        )
    ]


def _log(clock: SlaClock, entry: Entry) -> SlaClock:
    return replace(clock, history=(*clock.history, entry))


# --- what happens to a concern -----------------------------------------------------------------


def start(
    concern_id: str,
    *,
    category: str,
    school_id: str | None,
    priority: Priority | None,
    channel: str | None,
    started_at: datetime,
    rules: Rules,
) -> SlaClock:
    """A running clock for a new concern, on the policy its category (and priority) selects."""
    policy = rules.choose(category=category, priority=priority)
    clock = SlaClock(
        concern_id=concern_id,
        category=category,
        school_id=school_id,
        team_id=None,
        priority=priority,
        channel=channel,
        submitted_at=started_at,
        policy=policy,
        status=ClockStatus.RUNNING,
        cycle=1,
        started_at=started_at,
        running_since=started_at,
        history=(Entry(started_at, "started", 1, detail=policy.id),),
    )
    return _scheduled(clock, rules, started_at)


def retriage(
    clock: SlaClock,
    *,
    category: str,
    priority: Priority,
    team_id: str,
    school_id: str | None,
    at: datetime,
    rules: Rules,
) -> Change:
    """Triage's decision: re-choose the policy; a missed target stays missed."""
    clock, events = advance(clock, now=at, rules=rules, inclusive=False)
    policy = rules.choose(category=category, priority=priority)
    after = replace(
        clock,
        category=category,
        priority=priority,
        team_id=team_id,
        school_id=school_id if school_id is not None else clock.school_id,
    )
    if policy != clock.policy and clock.status is not ClockStatus.STOPPED:
        after = _log(
            replace(after, policy=policy), Entry(at, "policy", clock.cycle, detail=policy.id)
        )
    return _scheduled(after, rules, at), events


def status_changed(clock: SlaClock, *, to_status: str, at: datetime, rules: Rules) -> Change:
    """Acknowledgement is the first response; a pause status pauses, leaving it resumes.

    Resolution and reopening arrive as their own events; their status changes change nothing.
    Closing a concern that was not resolved (a merge into another concern) stops its clock.
    """
    if clock.status is ClockStatus.STOPPED or at < clock.started_at:
        return clock, []
    if to_status == ConcernStatus.CLOSED:
        return close(clock, at=at, rules=rules)
    clock, events = advance(clock, now=at, rules=rules, inclusive=False)
    pauses = to_status in clock.policy.pause_statuses
    if pauses and to_status != ConcernStatus.ACKNOWLEDGED:
        # A target reached at the very instant counting stops (due at Friday's closing,
        # paused on Saturday) is missed: fire it before the pause would freeze it unfired.
        clock, missed = advance(clock, now=at, rules=rules)
        events += missed
    if to_status == ConcernStatus.ACKNOWLEDGED or pauses:
        clock = _acted(clock, at)
    if to_status == ConcernStatus.ACKNOWLEDGED:
        clock, met = _first_response(clock, at, rules)
        events += met
    if pauses:
        clock = pause(clock, at=at, rules=rules)
    elif clock.status is ClockStatus.PAUSED and to_status in OPEN_STATUSES:
        clock = resume(clock, at=at, rules=rules)
    return _scheduled(clock, rules, at), events


def message_added(
    clock: SlaClock, *, by_staff: bool, public: bool, at: datetime, rules: Rules
) -> Change:
    """A public staff reply is a first response (and an act); the requester's answer resumes,
    and is logged as an answer (`answered`) when it ends a wait for the requester: whether it
    resumes the clock itself or its status change (the same moment) came first. The Board
    tells a family's answer from staff resuming without one by it."""
    if clock.status is ClockStatus.STOPPED or at < clock.started_at:
        return clock, []
    clock, events = advance(clock, now=at, rules=rules, inclusive=False)
    if by_staff and public:
        clock, met = _first_response(_acted(clock, at), at, rules)
        events += met
    elif not by_staff:
        if clock.status is ClockStatus.PAUSED:
            clock = resume(clock, at=at, rules=rules)
        if _ends_a_wait(clock, at):
            clock = _log(clock, Entry(at, ANSWERED, clock.cycle))
    return _scheduled(clock, rules, at), events


ANSWERED = "answered"  # the requester's answer ended a wait for them (a history entry)


def _ends_a_wait(clock: SlaClock, at: datetime) -> bool:
    """Whether the clock of this cycle resumed at `at` and no answer is logged for it yet."""
    here = [e for e in clock.history if e.cycle == clock.cycle and e.at == at]
    return any(e.kind == "resumed" for e in here) and not any(e.kind == ANSWERED for e in here)


def pause(clock: SlaClock, *, at: datetime, rules: Rules) -> SlaClock:
    """Stop counting: bank the counted time so far."""
    if clock.status is not ClockStatus.RUNNING or clock.running_since is None:
        return clock
    paused = replace(
        clock,
        status=ClockStatus.PAUSED,
        running_since=None,
        paused_at=at,
        elapsed=elapsed_at(clock, at, rules),
    )
    return _scheduled(_log(paused, Entry(at, "paused", clock.cycle)), rules, at)


def resume(clock: SlaClock, *, at: datetime, rules: Rules) -> SlaClock:
    """Count again from `at`."""
    if clock.status is not ClockStatus.PAUSED:
        return clock
    resumed = replace(clock, status=ClockStatus.RUNNING, running_since=at, paused_at=None)
    return _scheduled(_log(resumed, Entry(at, "resumed", clock.cycle)), rules, at)


def stop(clock: SlaClock, *, at: datetime, rules: Rules) -> Change:
    """Resolution stops the clock; a resolution older than the current cycle changes nothing."""
    if clock.status is ClockStatus.STOPPED or at < clock.started_at:
        return clock, []
    clock, events = advance(clock, now=at, rules=rules, inclusive=False)
    clock, met = _first_response(clock, at, rules)
    events += met
    if RESOLUTION_BREACH not in clock.fired:
        due = promised_time(clock, resolution_position(clock), rules, at=at) or at
        events.append(
            SlaMet(
                concern_id=clock.concern_id,
                target=SlaTarget.RESOLUTION,
                due_at=due,
                met_at=at,
                policy=clock.policy.id,
            )
        )
        clock = _log(
            replace(clock, resolution_due_at=due),
            Entry(at, "met", clock.cycle, target=SlaTarget.RESOLUTION),
        )
    return _stopped(clock, at, rules, "resolved"), events


def close(clock: SlaClock, *, at: datetime, rules: Rules) -> Change:
    """Closed without a resolution (merged as a duplicate): the clock stops, no target is met,
    and the cycle counts neither as resolved nor as open in the reports."""
    if clock.status is ClockStatus.STOPPED or at < clock.started_at:
        return clock, []
    clock, events = advance(clock, now=at, rules=rules, inclusive=False)
    return _stopped(clock, at, rules, "closed"), events


def _stopped(clock: SlaClock, at: datetime, rules: Rules, kind: str) -> SlaClock:
    """The clock stopped at `at`, its history saying why (resolved, closed)."""
    stopped = replace(
        clock,
        status=ClockStatus.STOPPED,
        stopped_at=at,
        running_since=None,
        elapsed=elapsed_at(clock, at, rules),
        next_due_at=None,
        acted_at=at,
    )
    return _log(stopped, Entry(at, kind, clock.cycle))


def reopen(clock: SlaClock, *, at: datetime, rules: Rules) -> SlaClock:
    """A reopened concern gets a new cycle: new start, targets, warnings, level."""
    if at <= clock.started_at:
        return clock  # the same or an older reopen: already applied
    policy = rules.choose(category=clock.category, priority=clock.priority)
    cycle = clock.cycle + 1
    restarted = replace(
        clock,
        policy=policy,
        status=ClockStatus.RUNNING,
        cycle=cycle,
        started_at=at,
        running_since=at,
        elapsed=ZERO,
        first_response_at=None,
        breached_at=None,
        breach_position=None,
        level=0,
        level_at=None,
        reminders=0,
        acted_at=None,
        stopped_at=None,
        fired=frozenset(),
        first_response_due_at=None,
        resolution_due_at=None,
        paused_at=None,
    )
    return _scheduled(_log(restarted, Entry(at, "reopened", cycle, detail=policy.id)), rules, at)


def surveyed(clock: SlaClock, *, score: int, at: datetime) -> SlaClock:
    """The requester's satisfaction score (the latest answer counts)."""
    if clock.surveyed_at is not None and at <= clock.surveyed_at:
        return clock
    return _log(
        replace(clock, satisfaction=score, surveyed_at=at),
        Entry(at, "surveyed", clock.cycle, detail=str(score)),
    )


def _acted(clock: SlaClock, at: datetime) -> SlaClock:
    if clock.acted_at is not None and clock.acted_at >= at:
        return clock
    return replace(clock, acted_at=at)


def _first_response(clock: SlaClock, at: datetime, rules: Rules) -> Change:
    """Record the cycle's first response; `sla.met` when it came before the target."""
    if clock.first_response_at is not None:
        return clock, []
    clock = _log(replace(clock, first_response_at=at), Entry(at, "first_response", clock.cycle))
    if FIRST_RESPONSE_BREACH in clock.fired:
        return clock, []
    due = (
        clock.first_response_due_at
        or promised_time(clock, clock.policy.first_response, rules, at=at)
        or at
    )
    met = SlaMet(
        concern_id=clock.concern_id,
        target=SlaTarget.FIRST_RESPONSE,
        due_at=due,
        met_at=at,
        policy=clock.policy.id,
    )
    return _log(clock, Entry(at, "met", clock.cycle, target=SlaTarget.FIRST_RESPONSE)), [met]


# --- the Ombudsperson's list ------------------------------------------------------------------

OMBUDSPERSON = "ombudsperson"
# What `ombudsperson_from` answers for a concern listed whatever the time (at the top level).
LISTED_AT_ONCE = datetime(1970, 1, 1, tzinfo=UTC)

OmbudspersonReason = Literal["level_3", "long_overdue", "merged"]


def at_ombudsperson_rung(clock: SlaClock) -> bool:
    """Whether the concern climbed to the Ombudsperson's rung of its policy's ladder (the
    district file's `sla.ladder`, or the policy's own): every open concern there is on the
    Ombudsperson's list. A ladder without that rung lists only long-overdue concerns."""
    levels = [step.level for step in clock.policy.ladder or () if step.role == OMBUDSPERSON]
    return bool(levels) and clock.level >= min(levels)


def ombudsperson_from(clock: SlaClock) -> datetime | None:
    """While a concern is open: the resolution due time from which, once it is long overdue,
    it is on the Ombudsperson's list (`LISTED_AT_ONCE` at their rung; None when only a
    breach or a climb would list it). The store keeps and indexes it, so the list is read
    as one range: `ombudsperson_from <= now - long overdue`."""
    if clock.status is ClockStatus.STOPPED:
        return None
    if at_ombudsperson_rung(clock):
        return LISTED_AT_ONCE
    if clock.breached_at is not None:
        return clock.resolution_due_at
    return None


def ombudsperson_reason(
    clock: SlaClock, *, overdue_before: datetime, merged_since: datetime | None = None
) -> OmbudspersonReason | None:
    """Why the Ombudsperson watches this concern, or None: open at the top level, open and
    breached with its resolution due before `overdue_before` (long overdue), or closed
    unresolved by a merge into another since `merged_since`."""
    if clock.status is ClockStatus.STOPPED:
        merged = (
            merged_since is not None
            and clock.stopped_at is not None
            and clock.stopped_at >= merged_since
            and any(entry.kind == "closed" for entry in clock.history)
        )
        return "merged" if merged else None
    listed_from = ombudsperson_from(clock)
    if listed_from is None or listed_from > overdue_before:
        return None
    return "level_3" if at_ombudsperson_rung(clock) else "long_overdue"
