"""What escalation does on each event it consumes, and on each due clock the scheduler finds."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.escalation import domain
from services.escalation.context import EscalationContext
from services.escalation.domain import Change, Rules, SlaClock
from services.escalation.repository import Claimed, Stored
from shared.aggregates import RETRY, Retry, load_decide_save
from shared.errors import ChangedMeanwhile
from shared.events import (
    CloudEvent,
    ConcernAssigned,
    ConcernCallbackCompleted,
    ConcernCallbackScheduled,
    ConcernEscalated,
    ConcernMessageAdded,
    ConcernReopened,
    ConcernResolved,
    ConcernStatusChanged,
    ConcernSubmitted,
    ConcernTriaged,
    ConcernUnassigned,
    EventData,
    MessageAuthor,
    MessageVisibility,
    SlaBreached,
    SurveyAnswered,
    envelopes,
    routed_envelopes,
)
from shared.messaging.handler_table import HandlerTable

log = logging.getLogger(__name__)

SAVE_ATTEMPTS = 5
# A clock found due whose step is not reached yet (sub-millisecond rounding of stored times)
# is looked at again this much later instead of being claimed again in the same pass.
RECHECK = timedelta(milliseconds=1)


class ClockNotFound(LookupError):
    """An event about a concern whose clock has not started (yet): retried later."""


class ConcurrentChange(ChangedMeanwhile):
    """The clock kept changing under this handler; the consumer retries the event (as
    transient: contention passes by itself, so the event is never parked for it)."""


def _envelopes(
    clock: SlaClock, events: list[EventData], *, ctx: EscalationContext, now: datetime
) -> list[CloudEvent]:
    """The envelopes of a clock's events; an escalation's public copy names no one when the
    owning team's very name tells something about the student (Security #2)."""
    team = ctx.district.team(clock.team_id or "")
    sensitive = team is not None and team.sensitive
    return routed_envelopes(events, source=ctx.source, time=now, sensitive=sensitive)


async def on_submitted(
    event: CloudEvent, data: ConcernSubmitted, *, ctx: EscalationContext
) -> None:
    """Start the concern's clock; a redelivered submission finds it started and changes nothing."""
    category = ctx.district.category(data.category)
    # Until triage decides, the category's usual priority selects the policy, so that a
    # safety concern runs on the critical target from its first second.
    priority = category.priority if category is not None else None
    clock = domain.start(
        data.concern_id,
        category=data.category,
        school_id=data.school_id,
        priority=priority,
        channel=data.channel.value,
        started_at=data.submitted_at,
        rules=await ctx.rules(),
    )
    now = ctx.clock.now()
    due = envelopes(
        domain.due_changed(None, clock, sequence=1, at=now), source=ctx.source, time=now
    )
    if await ctx.repo.start(clock, due, event_id=event.id):
        ctx.published()
        log.info(
            "sla clock started",
            extra={
                "concern_id": clock.concern_id,
                "policy": clock.policy.id,
                "resolution_due_at": clock.resolution_due_at,
            },
        )


async def on_triaged(event: CloudEvent, data: ConcernTriaged, *, ctx: EscalationContext) -> None:
    """Triage's priority may select another policy; the owning team is the ladder's first rung."""
    rules = await ctx.rules()
    await _change(
        data.concern_id,
        lambda c: domain.retriage(
            c,
            category=data.category,
            priority=data.priority,
            team_id=data.team_id,
            school_id=data.school_id,
            at=data.triaged_at,
            rules=rules,
        ),
        event=event,
        ctx=ctx,
        what="sla clock retriaged",
    )


async def on_assigned(event: CloudEvent, data: ConcernAssigned, *, ctx: EscalationContext) -> None:
    """Note the assignee beside the clock: they read it even from another team (a backup)."""
    await ctx.repo.remember_assignee(data.concern_id, data.assignee_id, data.assigned_at)


async def on_unassigned(
    event: CloudEvent, data: ConcernUnassigned, *, ctx: EscalationContext
) -> None:
    """Nobody is assigned any more: the former assignee reads the clock no longer (unless
    their team covers it), an assignment noted later than this stays."""
    await ctx.repo.remember_assignee(data.concern_id, None, data.unassigned_at)


async def on_status_changed(
    event: CloudEvent, data: ConcernStatusChanged, *, ctx: EscalationContext
) -> None:
    """Acknowledgement meets the first response; waiting on the requester pauses the clock."""
    rules = ctx.step_rules
    await _change(
        data.concern_id,
        lambda c: domain.status_changed(
            c, to_status=data.to_status, at=data.changed_at, rules=rules
        ),
        event=event,
        ctx=ctx,
        what="sla clock status changed",
    )


async def on_message_added(
    event: CloudEvent, data: ConcernMessageAdded, *, ctx: EscalationContext
) -> None:
    """A public staff reply meets the first response; the requester's answer resumes."""
    rules = ctx.step_rules
    await _change(
        data.concern_id,
        lambda c: domain.message_added(
            c,
            by_staff=data.author is MessageAuthor.STAFF,
            public=data.visibility is MessageVisibility.PUBLIC,
            at=data.added_at,
            rules=rules,
        ),
        event=event,
        ctx=ctx,
        what="sla clock message added",
    )


async def on_resolved(event: CloudEvent, data: ConcernResolved, *, ctx: EscalationContext) -> None:
    """Resolution stops the clock (and says which targets were met)."""
    rules = ctx.step_rules
    await _change(
        data.concern_id,
        lambda c: domain.stop(c, at=data.resolved_at, rules=rules),
        event=event,
        ctx=ctx,
        what="sla clock stopped",
    )


async def on_reopened(event: CloudEvent, data: ConcernReopened, *, ctx: EscalationContext) -> None:
    """A reopened concern starts a new cycle."""
    rules = await ctx.rules()
    await _change(
        data.concern_id,
        lambda c: (domain.reopen(c, at=data.reopened_at, rules=rules), []),
        event=event,
        ctx=ctx,
        what="sla clock restarted",
    )


async def on_callback_scheduled(
    event: CloudEvent, data: ConcernCallbackScheduled, *, ctx: EscalationContext
) -> None:
    """Watch a callback: remind before it is due, escalate when it is missed."""
    rules = ctx.step_rules
    callback = domain.PendingCallback(
        id=data.callback_id,
        due_at=data.due_at,
        scheduled_at=data.scheduled_at,
        remind_at=data.remind_at,
        assignee_id=data.assignee_id,
    )
    await _change(
        data.concern_id,
        lambda c: domain.callback_scheduled(c, callback, at=data.scheduled_at, rules=rules),
        event=event,
        ctx=ctx,
        what="callback watched",
    )


async def on_callback_completed(
    event: CloudEvent, data: ConcernCallbackCompleted, *, ctx: EscalationContext
) -> None:
    """A callback made (on time or not, for the Board) or cancelled: no longer watched."""
    rules = ctx.step_rules
    await _change(
        data.concern_id,
        lambda c: domain.callback_completed(
            c,
            data.callback_id,
            made=data.outcome is not None,
            on_time=data.on_time,
            at=data.completed_at,
            rules=rules,
            due_at=data.due_at,
        ),
        event=event,
        ctx=ctx,
        what="callback done",
    )


async def on_survey_answered(
    event: CloudEvent, data: SurveyAnswered, *, ctx: EscalationContext
) -> None:
    """Keep the satisfaction score for the Board reports."""
    await _change(
        data.concern_id,
        lambda c: (domain.surveyed(c, score=data.score, at=data.answered_at), []),
        event=event,
        ctx=ctx,
        what="satisfaction recorded",
    )


async def _change(
    concern_id: str,
    change: Callable[[SlaClock], Change],
    *,
    event: CloudEvent,
    ctx: EscalationContext,
    what: str,
) -> None:
    """Change the clock once per event: the write names the event and checks the version.

    It starts from the clock as this replica last wrote it (no read) when that is recent;
    when another replica or the scheduler wrote since, the write fails and the clock is read.
    """

    async def attempt(stored: Stored | None) -> Retry | None:
        if stored is None:
            raise ClockNotFound(concern_id)
        if event.id in stored.applied:
            return None  # a redelivery: applied already
        # A change that alters nothing still records the event, so that a late redelivery
        # (after later changes) cannot apply it over them.
        after, events = change(stored.clock)
        now = ctx.clock.now()
        events = events + domain.due_changed(
            stored.clock, after, sequence=stored.version + 1, at=now
        )
        if not await ctx.repo.save(
            stored, after, _envelopes(after, events, ctx=ctx, now=now), event_id=event.id
        ):
            return RETRY
        log.info(
            what,
            extra={
                "concern_id": concern_id,
                "event_id": event.id,
                "policy": after.policy.id,
                "status": after.status.value,
                "cycle": after.cycle,
                "next_due_at": after.next_due_at,
            },
        )
        _published(ctx, events)
        return None

    await load_decide_save(
        lambda: ctx.repo.get(concern_id),
        attempt,
        first=lambda: ctx.repo.current(concern_id),
        conflict=lambda: ConcurrentChange(concern_id),
        attempts=SAVE_ATTEMPTS,
    )


@dataclass(frozen=True)
class Swept:
    """What one pass of the scheduler did, and when it should look again."""

    fired: int
    next_due_at: datetime | None  # the earliest due time seen past the pass, within its horizon


async def sweep(
    *, ctx: EscalationContext, horizon: timedelta = timedelta(0), limit: int = 1_000
) -> Swept:
    """Claim and fire due clocks until none is due (or `limit` claims were tried).

    One look at the index lists up to `CANDIDATES` due clocks, claimed one by one before the
    next look; the last look (nothing due) also tells the earliest due time within `horizon`.
    """
    fired = tried = 0
    rules = ctx.step_rules
    while tried < limit:
        due = await ctx.repo.due(ctx.clock.now(), horizon)
        if not due.free:
            if not due.complete and horizon:  # a crowd of held clocks hid what comes next
                now = ctx.clock.now()
                return Swept(fired, await ctx.repo.next_due_between(now, now + horizon))
            return Swept(fired, due.later)
        for candidate in due.free[: limit - tried]:
            tried += 1
            now = ctx.clock.now()
            claimed = await ctx.repo.claim(candidate, now, ctx.lease)
            if claimed is None:
                continue  # another replica took it first, or a handler moved it
            fired += await _fire(claimed, now=now, rules=rules, ctx=ctx)
    now = ctx.clock.now()
    return Swept(fired, await ctx.repo.next_due_between(now, now + horizon) if horizon else None)


async def _fire(claimed: Claimed, *, now: datetime, rules: Rules, ctx: EscalationContext) -> int:
    """Fire a claimed clock's due steps and give up its lease; 1 when some step fired."""
    after, events = domain.advance(claimed.clock, now=now, rules=rules)
    if not events and after.next_due_at is not None and after.next_due_at <= now:
        after = replace(after, next_due_at=now + RECHECK)
    events += domain.due_changed(claimed.clock, after, sequence=claimed.version + 1, at=now)
    if not await ctx.repo.save_step(claimed, after, _envelopes(after, events, ctx=ctx, now=now)):
        # A handler changed the clock meanwhile (or the lease ran out): give it up, so that
        # the next look fires it from its fresh state.
        await ctx.repo.release(claimed)
        return 0
    _published(ctx, events)
    return 1 if events else 0


async def fire_due(*, ctx: EscalationContext, limit: int = 1_000) -> int:
    """Claim and fire due clocks until none is due (or `limit`); returns how many fired steps."""
    return (await sweep(ctx=ctx, limit=limit)).fired


def _published(ctx: EscalationContext, events: list[EventData]) -> None:
    if events:
        ctx.published()
    for data in events:
        if isinstance(data, SlaBreached):
            log.warning(
                "sla breached",
                extra={
                    "concern_id": data.concern_id,
                    "target": data.target.value,
                    "policy": data.policy,
                    "due_at": data.due_at,
                },
            )
        elif isinstance(data, ConcernEscalated):
            log.warning(
                "concern escalated",
                extra={
                    "concern_id": data.concern_id,
                    "level": data.level,
                    "role": data.role,
                    "escalated_to": data.escalated_to,
                    "reminder": data.reminder,
                },
            )


# What escalation consumes, by event type: its queue's bindings are derived from this table. A
# clock is started by an insert keyed by the concern, and changed by updates that record the
# event id and only match a clock that has not applied it: idempotent by nature, so the
# consumer skips its inbox (two store round trips per event).
HANDLERS = HandlerTable(
    {
        "concern.submitted": on_submitted,
        "concern.triaged": on_triaged,
        "concern.assigned": on_assigned,
        "concern.unassigned": on_unassigned,
        "concern.status_changed": on_status_changed,
        "concern.message_added": on_message_added,
        "concern.resolved": on_resolved,
        "concern.reopened": on_reopened,
        "survey.answered": on_survey_answered,
        "concern.callback_scheduled": on_callback_scheduled,
        "concern.callback_completed": on_callback_completed,
    },
    idempotent=True,
)
