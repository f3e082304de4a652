"""What triage does with each event it consumes and each command staff send.

Automatic triage (`concern.details_shared`): route by the rules, flag possible duplicates,
assign inside the owning team, and store the decision with `concern.triaged` and
`concern.assigned` in one write. Staff commands: re-triage, merge, away/backup, hand-over.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.triage import assignment, duplicates
from services.triage.assignment import Seat, Strategy
from services.triage.context import TriageContext
from services.triage.domain import (
    PRIORITY_RANK,
    Decision,
    FirstDecision,
    RequesterSlotTaken,
    Routing,
    category_route,
    public_route,
    reroute,
    route,
)
from services.triage.rules import Facts
from shared.aggregates import RETRY, Retry, load_decide_save
from shared.clock import as_utc
from shared.errors import ChangedMeanwhile, DomainError
from shared.events import (
    CloudEvent,
    ConcernAssigned,
    ConcernDetailsShared,
    ConcernMerged,
    ConcernReopened,
    ConcernResolved,
    ConcernStatus,
    ConcernStatusChanged,
    ConcernTriaged,
    ConcernUnassigned,
    EventData,
    Priority,
    UnassignedCause,
    envelopes,
    routed_envelopes,
)
from shared.messaging.handler_table import HandlerTable
from shared.metrics import CONCERN_STAGE_SECONDS
from shared.store import Document

log = logging.getLogger(__name__)

RULES_DECIDED = "rules"
MAX_CLAIM_ATTEMPTS = 50


class Refused(DomainError):
    """A command that cannot be done as asked; answered as problem details (shared/errors)."""


class NotFound(Refused):
    status, title = 404, "Not found"


class Conflict(Refused):
    status, title = 409, "Conflict"


class Invalid(Refused):
    status, title = 422, "Invalid request"


class Stale(Refused):
    status, title = 412, "Decision changed meanwhile"


class AssignmentContention(ChangedMeanwhile):
    """Too many replicas changed the same loads at once; the event is retried (as transient:
    contention passes by itself, so it is never parked for it)."""


# --- automatic triage ---------------------------------------------------------------------


async def on_details_shared(
    event: CloudEvent, data: ConcernDetailsShared, *, ctx: TriageContext
) -> None:
    """Route, flag duplicates and assign a new concern; tell the bureau in one write.

    Safe to apply twice: the member the concern is already counted on is kept, and the
    decision (with its events) is stored only by the first insert of its `_id`.
    """
    facts = Facts(
        category=data.category,
        school_id=data.school_id,
        channel=data.channel,
        description=data.description,
        relationship=data.requester_relationship,
        student_flags=tuple(data.student_flags),
        school_contacted=data.school_contacted,
    )
    routing = route(
        facts,
        await ctx.rules.current(),
        ctx.district,
        (await ctx.rules.safety_words(ctx.config.safety_words)).words,
        ctx.config.school_first,
    )
    submitted_at = as_utc(data.submitted_at)
    text = duplicates.fingerprint(data.description)
    seat = await _assign(ctx, data.concern_id, routing.team_id, reuse_holder=True)
    now = ctx.clock.now()
    for attempt in range(1, DUPLICATE_ATTEMPTS + 1):
        seq, candidates = await _possible_duplicates(ctx, data, text, submitted_at)
        decision, envelopes = _first_decision(
            ctx, event, data, routing, seat, candidates, text, now, requester_seq=seq
        )
        try:
            stored = await ctx.decisions.add_first(decision, envelopes)
        except RequesterSlotTaken:
            # the same family's other concern was stored meanwhile: read again, it is there
            # now (the seat stays ours: _assign keeps the holder); the last time, the event
            # is retried as transient
            if attempt == DUPLICATE_ATTEMPTS:
                raise
            continue
        break
    if not stored:
        # a redelivery (or another replica was first): the stored decision stands
        await _undo_claim(ctx, data.concern_id, seat)
        return
    ctx.published()
    CONCERN_STAGE_SECONDS.labels("triaged").observe(max(0.0, (now - submitted_at).total_seconds()))
    log.info(
        "concern triaged",
        extra={
            "concern_id": data.concern_id,
            "team_id": routing.team_id,
            "priority": routing.priority.value,
            "rule": routing.rule,
            "assignee_id": seat.assignee_id if seat else None,
            "possible_duplicates": len(candidates),
        },
    )


DUPLICATE_ATTEMPTS = 5
"""Reads of a family's concerns before a concern's triage gives way (and is retried)."""


async def _possible_duplicates(
    ctx: TriageContext, data: ConcernDetailsShared, text: frozenset[str], submitted_at: datetime
) -> tuple[int | None, list[duplicates.Candidate]]:
    """The concern's number among its requester key's concerns, and the concerns stored so
    far that it may duplicate. The number is read before the concerns: whichever of two
    concerns of one family triaged at once is stored second read the other's number first,
    so it fails to store, reads again and finds the other."""
    key = duplicates.requester_key(data.contact_key, data.category, data.school_id)
    seq = await ctx.decisions.next_requester_seq(key) if key else None
    window = timedelta(days=ctx.config.duplicates.window_days)
    probe = duplicates.probe_keys(
        contact_key=data.contact_key,
        category=data.category,
        school_id=data.school_id,
        text_fingerprint=text,
        threshold=ctx.config.duplicates.similarity,
    )
    earlier = [
        duplicates.Earlier(
            concern_id=d["_id"],
            category=d["category"],
            school_id=d.get("school_id"),
            contact_key=d.get("contact_key"),
            fingerprint=frozenset(d.get("fingerprint", [])),
            submitted_at=as_utc(d["submitted_at"]),
        )
        # submitted up to a window later too: stored first by a consumer that got it first
        for d in await ctx.decisions.earlier(
            probe, submitted_at - window, submitted_at + window, duplicates.MAX_COMPARED
        )
    ]
    candidates = duplicates.find_duplicates(
        concern_id=data.concern_id,
        category=data.category,
        school_id=data.school_id,
        contact_key=data.contact_key,
        text_fingerprint=text,
        submitted_at=submitted_at,
        earlier=earlier,
        window=window,
        threshold=ctx.config.duplicates.similarity,
    )
    return seq, candidates


def _first_decision(
    ctx: TriageContext,
    event: CloudEvent,
    data: ConcernDetailsShared,
    routing: Routing,
    seat: Seat | None,
    candidates: list[duplicates.Candidate],
    text: frozenset[str],
    now: datetime,
    *,
    requester_seq: int | None,
) -> tuple[FirstDecision, list[CloudEvent]]:
    """A new concern's decision and the events it publishes (stored in one write)."""
    triaged = _triaged(
        data.concern_id,
        data.category,
        data.school_id,
        routing.team_id,
        routing.team_name,
        routing.priority,
        routing.rule,
        now,
        RULES_DECIDED,
        duplicates.ids(candidates),
        sensitive=routing.sensitive,
    )
    events: list[EventData] = [triaged]
    history: list[Document] = [
        {
            "at": now,
            "by": RULES_DECIDED,
            "action": "routed",
            "rule": routing.rule,
            "reasons": list(routing.reasons),
            "team_id": routing.team_id,
            "priority": routing.priority.value,
        }
    ]
    if seat is not None:
        events.append(_assigned(ctx, data.concern_id, routing.team_id, seat, now, RULES_DECIDED))
        history.append(_assigned_entry(seat, now, RULES_DECIDED, ctx.config.assignment.value))
    decision = FirstDecision(
        concern_id=data.concern_id,
        category=data.category,
        school_id=data.school_id,
        channel=data.channel,
        contact_key=data.contact_key,
        fingerprint=text,
        submitted_at=as_utc(data.submitted_at),
        routing=routing,
        seat=seat,
        possible_duplicates=tuple(candidates),
        decided_by=RULES_DECIDED,
        decided_at=now,
        history=tuple(history),
        source_event_id=event.id,
        requester_seq=requester_seq,
    )
    return decision, _routing_envelopes(ctx, events, now, sensitive=routing.sensitive)


async def on_resolved(event: CloudEvent, data: ConcernResolved, *, ctx: TriageContext) -> None:
    """A resolved concern leaves its team's queue and its assignee's load."""
    await _set_open(ctx, data.concern_id, open_=False)


async def on_status_changed(
    event: CloudEvent, data: ConcernStatusChanged, *, ctx: TriageContext
) -> None:
    """A concern intake closed without a resolution (the family never answered a request for
    information) leaves its team's queue and its assignee's load, as a resolved one does;
    reopening it is `concern.reopened`. Other moves change nothing here."""
    if data.to_status is ConcernStatus.CLOSED and data.from_status is not ConcernStatus.RESOLVED:
        await _set_open(ctx, data.concern_id, open_=False)


async def on_reopened(event: CloudEvent, data: ConcernReopened, *, ctx: TriageContext) -> None:
    """A reopened concern is back in its team's queue and on its assignee's load."""
    await _set_open(ctx, data.concern_id, open_=True)


async def on_merged(event: CloudEvent, data: ConcernMerged, *, ctx: TriageContext) -> None:
    """A merged concern (by intake's staff, or by triage's own merge) leaves its team's queue
    and its assignee's load."""
    decision = await ctx.decisions.mark_merged(
        data.concern_id, into=data.into_concern_id, at=data.merged_at, by=data.decided_by
    )
    if decision is None:  # already merged (a redelivery, or triage's own merge)
        decision = await ctx.decisions.load(data.concern_id)
    if decision is None:
        raise LookupError(f"concern {data.concern_id} not triaged yet")
    if decision.assignee_id is not None:
        await ctx.members.release(decision.assignee_id, data.concern_id)


async def _set_open(ctx: TriageContext, concern_id: str, *, open_: bool) -> None:
    wanted = "open" if open_ else "resolved"
    # a reopened merged concern (its requester says it is no duplicate) is open again
    decision = await ctx.decisions.set_status(concern_id, wanted, unmerge=open_)
    if decision is None:  # merged, or already so (a redelivery): read what is stored
        decision = await ctx.decisions.load(concern_id)
    if decision is None:
        # Triage has not seen the concern yet (events crossed); the retry comes back later.
        raise LookupError(f"concern {concern_id} not triaged yet")
    assignee = decision.assignee_id
    if assignee is not None:  # idempotent both ways: the member's set decides
        if open_:
            await ctx.members.add(assignee, concern_id)
        else:
            await ctx.members.release(assignee, concern_id)


# --- assignment ---------------------------------------------------------------------------


async def _assign(
    ctx: TriageContext, concern_id: str, team_id: str, *, reuse_holder: bool
) -> Seat | None:
    """Count the concern on the right member of the team and say who; None if nobody can."""
    if reuse_holder:
        holder = await ctx.members.holder(concern_id)
        if holder is not None:  # a redelivery after the claim: keep the first choice
            return Seat(holder)
    team = ctx.district.team(team_id)
    if team is None:
        return None
    candidates = assignment.seats(team.members, await ctx.members.away(ctx.clock.now()))
    if not candidates:
        return None
    if ctx.config.assignment is Strategy.ROUND_ROBIN:
        seat = assignment.round_robin(candidates, await ctx.members.ticket(team_id))
        await ctx.members.add(seat.assignee_id, concern_id)
        return seat
    ids = [s.assignee_id for s in candidates]
    await ctx.members.ensure(ids)

    async def attempt(loads: dict[str, int]) -> Seat | Retry:
        seat = assignment.least_loaded(candidates, loads)
        load = loads.get(seat.assignee_id, 0)  # the claim counts it only on this load
        return seat if await ctx.members.claim(seat.assignee_id, concern_id, load) else RETRY

    async with ctx.members.assigning(team_id):
        return await load_decide_save(
            lambda: ctx.members.loads(ids),
            attempt,
            conflict=lambda: AssignmentContention(
                concern_id, f"could not assign {concern_id} in team {team_id}; try again"
            ),
            attempts=MAX_CLAIM_ATTEMPTS,
        )


async def _undo_claim(ctx: TriageContext, concern_id: str, seat: Seat | None) -> None:
    """Another replica stored the decision first: drop our claim if it chose someone else."""
    stored = await ctx.decisions.load(concern_id)
    if seat is not None and stored is not None and stored.assignee_id != seat.assignee_id:
        await ctx.members.release(seat.assignee_id, concern_id)
        if stored.assignee_id is not None:  # counted by the other replica; noted as theirs
            await ctx.members.add(stored.assignee_id, concern_id)


def _routing_envelopes(
    ctx: TriageContext,
    events: list[EventData],
    now: datetime,
    *,
    sensitive: bool,
    public_category: str | None = None,
) -> list[CloudEvent]:
    """Routing events in full for bureau services (the private exchange), each with its
    public copy: no duplicate links, and a sensitive routing shown as the route of its
    category (or of `public_category`, the one public events showed before a re-triage into
    a category that itself tells; its assignment not at all)."""
    public: list[EventData] = []
    for data in events:
        if isinstance(data, ConcernTriaged):
            category = public_category or data.category
            shown: dict[str, Any] = {
                "category": category,
                "possible_duplicate_of": [],
                "sensitive": False,
            }
            if sensitive:
                team_id, team_name, rule = public_route(category, data.school_id, ctx.district)
                shown |= {
                    "team_id": team_id,
                    "team_name": team_name,
                    "rule": rule,
                    "decided_by": RULES_DECIDED,
                }
                if data.priority is not Priority.CRITICAL:
                    shown["priority"] = category_route(category, data.school_id, ctx.district)[1]
            public.append(data.model_copy(update=shown))
        elif isinstance(data, ConcernAssigned | ConcernUnassigned) and not sensitive:
            public.append(data)
    return envelopes(events, source=ctx.source, time=now) + envelopes(
        public, source=ctx.source, time=now, restricted=False
    )


def _sensitive(ctx: TriageContext, decision: Decision, team_id: str) -> bool:
    """Whether a decision's routing stays private: its team is sensitive, or it keeps the
    team a sensitive rule chose."""
    team = ctx.district.team(team_id)
    return bool(
        (team is not None and team.sensitive)
        or (decision.sensitive and team_id == decision.team_id)
    )


def _assigned(
    ctx: TriageContext, concern_id: str, team_id: str, seat: Seat, now: datetime, by: str
) -> ConcernAssigned:
    staff = ctx.district.staff_member(seat.assignee_id)
    return ConcernAssigned(
        concern_id=concern_id,
        team_id=team_id,
        assignee_id=seat.assignee_id,
        assignee_name=staff.name if staff else seat.assignee_id,
        assigned_at=now,
        decided_by=by,
    )


def _assigned_entry(
    seat: Seat, now: datetime, by: str, how: str, reason: str | None = None
) -> Document:
    entry: Document = {
        "at": now,
        "by": by,
        "action": "assigned",
        "assignee_id": seat.assignee_id,
        "how": how,
    }
    if seat.covering_for:
        entry["covering_for"] = seat.covering_for
    if reason:
        entry["reason"] = reason
    return entry


def _triaged(
    concern_id: str,
    category: str,
    school_id: str | None,
    team_id: str,
    team_name: str,
    priority: Priority,
    rule: str,
    now: datetime,
    by: str,
    possible_duplicates: list[str],
    *,
    sensitive: bool = False,
) -> ConcernTriaged:
    return ConcernTriaged(
        concern_id=concern_id,
        category=category,
        school_id=school_id,
        team_id=team_id,
        team_name=team_name,
        priority=priority,
        rule=rule,
        triaged_at=now,
        decided_by=by,
        possible_duplicate_of=possible_duplicates,
        sensitive=sensitive,
    )


# --- staff commands -----------------------------------------------------------------------


@dataclass(frozen=True)
class Retriage:
    """What a specialist changes; at least one field besides the reason."""

    reason: str
    category: str | None = None
    team_id: str | None = None
    priority: Priority | None = None
    assignee_id: str | None = None
    expected_version: int | None = None  # the version the specialist read (If-Match)


async def retriage(
    ctx: TriageContext, concern_id: str, change: Retriage, *, actor: str
) -> Document:
    """Change a concern's category, team, priority or assignee, keeping who and why."""
    decision = await _decision(ctx, concern_id)
    if change.expected_version is not None and decision.version != change.expected_version:
        # read and then written against this version: nothing changed in between unseen
        raise Stale(
            "Someone else changed how this concern is routed since you read it; "
            "reload it and try again."
        )
    if decision.merged:
        raise Conflict(
            f"concern {concern_id} was merged into {decision.merged_into}; re-triage that one"
        )
    district = ctx.district
    if change.category is not None and district.category(change.category) is None:
        raise Invalid(f"unknown category {change.category!r}", field="category")
    if change.team_id is not None and district.team(change.team_id) is None:
        raise Invalid(f"unknown team {change.team_id!r}", field="team_id")
    if change.assignee_id is not None and district.staff_member(change.assignee_id) is None:
        raise Invalid(f"unknown staff member {change.assignee_id!r}", field="assignee_id")
    rerouted = reroute(
        decision,
        category=change.category,
        team_id=change.team_id,
        priority=change.priority,
        district=district,
    )
    team_id, changes = rerouted.team_id, rerouted.changes

    old_assignee = decision.assignee_id
    seat: Seat | None
    if change.assignee_id is not None:
        seat = assignment.cover(
            change.assignee_id, await ctx.members.away(ctx.clock.now())
        ) or Seat(change.assignee_id)
        if seat.assignee_id != old_assignee:
            await ctx.members.add(seat.assignee_id, concern_id)
    elif "team_id" in changes:
        if old_assignee is not None:
            await ctx.members.release(old_assignee, concern_id)
        seat = await _assign(ctx, concern_id, team_id, reuse_holder=False)
    else:
        seat = Seat(old_assignee) if old_assignee else None
    new_assignee = seat.assignee_id if seat else None
    if not changes and new_assignee == old_assignee:
        return await _document(ctx, concern_id)  # nothing differs: no decision to record

    async def give_back() -> None:
        """The decision was not stored: loads count the concern on whom it still names."""
        if new_assignee is not None and new_assignee != old_assignee:
            await ctx.members.release(new_assignee, concern_id)
        moved_off = change.assignee_id is None and "team_id" in changes
        if moved_off and old_assignee is not None and new_assignee != old_assignee:
            if decision.status == "open":  # released above to choose in the new team
                await ctx.members.add(old_assignee, concern_id)

    now = ctx.clock.now()
    sensitive = _sensitive(ctx, decision, team_id)
    public_category = decision.shown_category(rerouted.category, district)
    events: list[EventData] = []
    history: list[Document] = []
    set_: Document = {}
    if changes:
        team = district.team(team_id)
        if team is None:  # a stored decision's team that the district file no longer has
            await give_back()
            raise Conflict(
                f"team {team_id!r} no longer exists; re-triage to another team", field="team_id"
            )
        events.append(
            _triaged(
                concern_id,
                rerouted.category,
                decision.school_id,
                team_id,
                team.name,
                rerouted.priority,
                "manual",
                now,
                actor,
                list(decision.possible_duplicates),
                sensitive=sensitive,
            )
        )
        history.append(
            {
                "at": now,
                "by": actor,
                "action": "retriaged",
                "rule": "manual",
                "reason": change.reason,
                "changes": changes,
            }
        )
        set_.update(
            category=rerouted.category,
            team_id=team_id,
            priority=rerouted.priority.value,
            priority_rank=PRIORITY_RANK[rerouted.priority],
            rule="manual",
            decided_by=actor,
            decided_at=now,
            sensitive=sensitive,
            public_category=public_category if public_category != rerouted.category else None,
        )
    if rerouted.priority_manual and not decision.priority_manual:
        set_["priority_manual"] = True
    if new_assignee != old_assignee:
        set_.update(assignee_id=new_assignee, covering_for=seat.covering_for if seat else None)
        if seat is not None:
            events.append(_assigned(ctx, concern_id, team_id, seat, now, actor))
            history.append(
                _assigned_entry(
                    seat,
                    now,
                    actor,
                    "manual" if change.assignee_id else ctx.config.assignment.value,
                    change.reason,
                )
            )
        else:
            # nobody in the new team can take it: the former assignee no longer works it,
            # and intake, escalation and notify must hear so (their access follows it)
            events.append(
                ConcernUnassigned(
                    concern_id=concern_id,
                    team_id=team_id,
                    unassigned_at=now,
                    decided_by=actor,
                    cause=UnassignedCause.NO_MEMBER_AVAILABLE,
                )
            )
            history.append(
                {
                    "at": now,
                    "by": actor,
                    "action": "unassigned",
                    "reason": change.reason,
                    "why": UnassignedCause.NO_MEMBER_AVAILABLE.value,
                    "former_assignee_id": old_assignee,
                }
            )
    if not await ctx.decisions.change(
        concern_id,
        version=decision.version,
        set_=set_,
        history=history,
        events=_routing_envelopes(
            ctx, events, now, sensitive=sensitive, public_category=public_category
        ),
    ):
        await give_back()
        raise Conflict(f"concern {concern_id} changed meanwhile; read it again and retry")
    if old_assignee is not None and new_assignee != old_assignee:
        await ctx.members.release(old_assignee, concern_id)
    ctx.published()
    log.info(
        "concern re-triaged",
        extra={"concern_id": concern_id, "by": actor, "changed": sorted(changes)},
    )
    return await _document(ctx, concern_id)


async def merge(
    ctx: TriageContext, concern_id: str, *, into: str, reason: str, actor: str
) -> Document:
    """Confirm that a concern duplicates another: mark it merged and tell intake."""
    if into == concern_id:
        raise Invalid("a concern cannot be merged into itself", field="into_concern_id")
    decision = await _decision(ctx, concern_id)
    target = await ctx.decisions.load(into)
    if target is None:
        raise Invalid(f"concern {into!r} has not been triaged", field="into_concern_id")
    if decision.merged:
        if decision.merged_into == into:
            return await _document(ctx, concern_id)  # asked twice: already done
        raise Conflict(f"concern {concern_id} is already merged into {decision.merged_into}")
    if not decision.related(target):
        raise Invalid(
            "a concern can only be merged into one of the same school or team",
            field="into_concern_id",
        )
    if target.merged:
        raise Conflict(
            f"concern {into} is itself merged into {target.merged_into}; merge into that one"
        )
    if target.status != "open":  # as intake refuses: the family's duplicate would be lost
        raise Conflict(f"concern {into} is resolved or closed; merge into an open concern")
    now = ctx.clock.now()
    merged = ConcernMerged(
        concern_id=concern_id, into_concern_id=into, merged_at=now, decided_by=actor
    )
    if not await ctx.decisions.change(
        concern_id,
        version=decision.version,
        set_={"status": "merged", "merged_into": into},
        history=[{"at": now, "by": actor, "action": "merged", "into": into, "reason": reason}],
        events=routed_envelopes(
            [merged],
            source=ctx.source,
            time=now,
            sensitive=_sensitive(ctx, decision, decision.team_id),
        ),
    ):
        raise Conflict(f"concern {concern_id} changed meanwhile; read it again and retry")
    if decision.assignee_id:
        await ctx.members.release(decision.assignee_id, concern_id)
    ctx.published()
    log.info("concern merged", extra={"concern_id": concern_id, "into": into, "by": actor})
    return await _document(ctx, concern_id)


async def set_away(
    ctx: TriageContext,
    member_id: str,
    *,
    away: bool,
    backup_id: str | None,
    until: datetime | None,
    actor: str,
) -> Document:
    """Mark a member away (their new concerns go to the backup) or back."""
    if ctx.district.staff_member(member_id) is None:
        raise NotFound(f"no staff member {member_id!r}")
    if backup_id is not None:
        if ctx.district.staff_member(backup_id) is None:
            raise Invalid(f"unknown staff member {backup_id!r}", field="backup_id")
        if backup_id == member_id:
            raise Invalid("a member cannot be their own backup", field="backup_id")
    return await ctx.members.set_away(
        member_id, away=away, backup_id=backup_id, until=until, by=actor, at=ctx.clock.now()
    )


async def handover(
    ctx: TriageContext, member_id: str, *, to: str | None, reason: str | None, actor: str
) -> tuple[str, list[str]]:
    """Move every open concern of a member to their backup (or `to`); returns who and which.

    Safe to repeat: a hand-over cut short by a crash is completed by the next call.
    """
    member = await ctx.members.get(member_id)
    if member is None or ctx.district.staff_member(member_id) is None:
        raise NotFound(f"no team member {member_id!r}")
    target = to or member.get("backup_id")
    if target is None:
        raise Invalid(f"{member_id} has no backup; say whom to hand over to", field="to")
    if ctx.district.staff_member(target) is None:
        raise Invalid(f"unknown staff member {target!r}", field="to")
    if target == member_id:
        raise Invalid("cannot hand over to the same member", field="to")
    moved: list[str] = []
    for concern_id in list(member.get("open", [])):
        decision = await ctx.decisions.load(concern_id)
        if decision is None:
            continue
        if decision.assignee_id == member_id and decision.status == "open":
            now = ctx.clock.now()
            seat = Seat(target, member_id)
            await ctx.members.add(target, concern_id)
            events = _routing_envelopes(
                ctx,
                [_assigned(ctx, concern_id, decision.team_id, seat, now, actor)],
                now,
                sensitive=_sensitive(ctx, decision, decision.team_id),
            )
            if not await ctx.decisions.change(
                concern_id,
                version=decision.version,
                set_={"assignee_id": target, "covering_for": member_id},
                history=[_assigned_entry(seat, now, actor, "handover", reason)],
                events=events,
                where={"assignee_id": member_id},
            ):
                await ctx.members.release(target, concern_id)
                continue  # changed meanwhile (re-triaged, resolved): leave it to that change
            moved.append(concern_id)
        await ctx.members.release(member_id, concern_id)
    if moved:
        ctx.published()
    log.info(
        "hand-over", extra={"member_id": member_id, "to": target, "moved": len(moved), "by": actor}
    )
    return target, moved


async def _decision(ctx: TriageContext, concern_id: str) -> Decision:
    decision = await ctx.decisions.load(concern_id)
    if decision is None:
        raise NotFound(f"concern {concern_id!r} has not been triaged")
    return decision


async def _document(ctx: TriageContext, concern_id: str) -> Document:
    """The stored decision as the API shows it."""
    doc = await ctx.decisions.get(concern_id)
    if doc is None:
        raise NotFound(f"concern {concern_id!r} has not been triaged")
    return doc


def routing_view(routing: Routing) -> dict[str, Any]:
    """A routing as the dry run shows it."""
    return {
        "team_id": routing.team_id,
        "team_name": routing.team_name,
        "priority": routing.priority,
        "rule": routing.rule,
        "tags": list(routing.tags),
        "reasons": list(routing.reasons),
        "safety_words": list(routing.safety_words),
        "considered": [
            {"rule_id": c.rule_id, "matched": c.matched, "why": c.why} for c in routing.considered
        ],
    }


# What triage consumes, by event type: its queue's bindings are derived from this table. A
# decision is stored once per concern (its `_id`), a concern already counted on a member stays
# there, loads move only with the concern's membership in a member's open list: idempotent by
# nature (no inbox needed).
HANDLERS = HandlerTable(
    {
        "concern.details_shared": on_details_shared,
        "concern.resolved": on_resolved,
        "concern.reopened": on_reopened,
        "concern.merged": on_merged,
        "concern.status_changed": on_status_changed,
    },
    idempotent=True,
)
