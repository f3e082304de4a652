"""What intake does on each command (from its API) and each event it consumes."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from services.intake import access, domain, lifecycle
from services.intake.aggregate import (
    Case,
    Disclosable,
    DisclosureKind,
    RequesterAccess,
)
from services.intake.context import IntakeContext
from services.intake.domain import NewConcern, Requester, Status, Student
from services.intake.idempotency import Claim
from services.intake.lifecycle import Action, ActionNotAllowed, Command, InvalidCommand
from services.intake.repository import to_document
from shared.aggregates import RETRY, Retry, load_decide_save
from shared.clock import as_utc
from shared.district import DistrictConfig
from shared.errors import ChangedMeanwhile, DomainError
from shared.events import (
    CloudEvent,
    ConcernAssigned,
    ConcernEscalated,
    ConcernMerged,
    ConcernTriaged,
    ConcernUnassigned,
    NotificationFailed,
    NotificationSent,
    SlaBreached,
    SlaDueChanged,
    SlaWarning,
    envelopes,
    routed_envelopes,
)
from shared.messaging.handler_table import HandlerTable
from shared.metrics import CONCERN_STAGE_SECONDS, CONCERNS_RECEIVED
from shared.store import Document

ACKNOWLEDGEMENT = "acknowledgement"

log = logging.getLogger(__name__)

ACTION_ATTEMPTS = 5
REQUESTER_ACTOR = "requester"
TRIAGE_MERGE_REASON = "confirmed duplicate (triage)"


class InvalidReference(DomainError):
    """A submitted field names something the district does not have."""

    status, title = 422, "Invalid request"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)


class IdempotencyKeyReused(DomainError):
    """The same Idempotency-Key came with a different body."""

    status, title = 422, "Idempotency-Key reused"

    def __init__(self, key: str) -> None:
        super().__init__(
            "This Idempotency-Key was already used with a different body; use a new "
            "key for a new concern.",
            field="header.Idempotency-Key",
        )
        self.key = key

    def problem_extra(self) -> dict[str, Any]:
        return {"errors": [{"field": self.field, "message": "already used with a different body"}]}


class ConcernNotFound(DomainError, LookupError):
    status, title = 404, "Concern not found"

    def __init__(self, concern_id: str) -> None:
        super().__init__(f"No concern has id {concern_id!r}.")
        self.concern_id = concern_id


class ConcurrentChange(ChangedMeanwhile):
    """Someone else kept changing the concern between read and write: a route answers 409,
    a consumer retries the event (as transient, never parked for it)."""

    title = "Concern changed meanwhile"

    def __init__(self, concern_id: str) -> None:
        super().__init__(concern_id, "This concern is changing too often right now; try again.")
        self.concern_id = concern_id


class PreconditionFailed(DomainError):
    """The client's `If-Match` names a version that is no longer current."""

    status, title = 412, "Concern changed meanwhile"

    def __init__(self, current: int) -> None:
        super().__init__(
            "Someone else changed this concern since you read it; reload it and try again."
        )
        self.current = current

    def problem_extra(self) -> dict[str, Any]:
        return {"current_version": self.current}


@dataclass(frozen=True)
class Submission:
    """The stored concern, the requester's token and PIN, and whether this answers a retry."""

    document: Document
    access_token: str
    replayed: bool
    pin: str = ""


def check_references(new: NewConcern, district: DistrictConfig) -> None:
    """Refuse names the district does not know, before anything is written. The refused
    value is not echoed: a form may have put personal data in the wrong field."""
    if new.category != domain.UNCATEGORIZED and district.category(new.category) is None:
        raise InvalidReference("category", "unknown category; see GET /v1/categories")
    if new.school_id is not None and district.school(new.school_id) is None:
        raise InvalidReference("school_id", "unknown school; see GET /v1/schools")
    problem = new.requester.contact_problem()
    if problem is not None:
        raise InvalidReference(*problem)


async def submit_concern(
    new: NewConcern,
    *,
    ctx: IntakeContext,
    idempotency_key: str | None = None,
    body_fingerprint: str = "",
) -> Submission:
    """Check references, number the concern, and store it with its events in one write.

    With an idempotency key, a retry answers the first concern and creates nothing."""
    check_references(new, ctx.district)
    now = ctx.clock.now()
    claim = Claim(
        key=idempotency_key or "",
        fingerprint=body_fingerprint,
        concern_id=str(uuid.uuid4()),
        nonce=access.new_nonce(),
    )
    if idempotency_key is not None:
        held = await ctx.keys.claim(claim, now=now)
        if held.fingerprint != body_fingerprint:
            raise IdempotencyKeyReused(idempotency_key)
        if held != claim:
            claim = held
            earlier = await ctx.repo.get_document(claim.concern_id)
            if earlier is not None:
                return _submission(earlier, claim, ctx, replayed=True)
    token = access.access_token(ctx.access_key, claim.concern_id, claim.nonce)
    pin = access.access_pin(ctx.access_key, claim.concern_id, claim.nonce)
    sequence = await ctx.repo.next_tracking_sequence(now.year)
    concern, events = domain.submit(
        new,
        concern_id=claim.concern_id,
        tracking=domain.tracking_number(now.year, sequence),
        now=now,
        guarantee=ctx.guarantee,
        contact_secret=ctx.contact_secret,
        access_token_hash=access.token_hash(token),
        pin_hash=access.pin_hash(ctx.access_key, claim.concern_id, pin),
        access_token=token,
        pin=pin,
        resolution_due_at=ctx.resolution_due(
            concern_id=claim.concern_id,
            category=new.category,
            school_id=new.school_id,
            priority=None,
            at=now,
        ),
    )
    if not await ctx.repo.add(concern, envelopes(events, source=ctx.source, time=now)):
        # A racing retry with the same key stored this concern first.
        earlier = await ctx.repo.get_document(claim.concern_id)
        if earlier is None:  # and was erased since
            raise ConcernNotFound(claim.concern_id)
        return _submission(earlier, claim, ctx, replayed=True)
    ctx.published()
    CONCERNS_RECEIVED.labels(concern.channel.value, concern.category).inc()
    log.info(
        "concern received",
        extra={
            "concern_id": concern.id,
            "tracking_number": concern.tracking_number,
            "channel": concern.channel.value,
            "category": concern.category,
        },
    )
    return Submission(
        document=to_document(concern, ctx.repo.vault), access_token=token, replayed=False, pin=pin
    )


def _submission(doc: Document, claim: Claim, ctx: IntakeContext, *, replayed: bool) -> Submission:
    token = access.access_token(ctx.access_key, claim.concern_id, claim.nonce)
    pin = access.access_pin(ctx.access_key, claim.concern_id, claim.nonce)
    return Submission(document=doc, access_token=token, replayed=replayed, pin=pin)


PIN_LOCKED = "urn:bureau:problem:pin-locked"


class PinLocked(DomainError):
    """Too many wrong PINs in a row: the PIN refuses every try for a while."""

    status, title = 429, "Too many wrong PINs"
    type = PIN_LOCKED  # what a client tells apart from any other 429

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(
            "This PIN is locked after too many wrong tries; wait, or use the access "
            "token or the link from our message."
        )
        self.retry_after_s = retry_after_s

    def problem_headers(self) -> dict[str, str]:
        return {"Retry-After": str(int(self.retry_after_s))}


async def pin_opens(door: RequesterAccess, pin: str, *, ctx: IntakeContext) -> bool:
    """Whether `pin` opens the concern. Every try counts as wrong until it proves right;
    after `access.PIN_ATTEMPTS` wrong ones in a row, raises `PinLocked`."""
    now = ctx.clock.now()
    if not await ctx.repo.claim_pin_try(
        door.id, now=now, attempts=access.PIN_ATTEMPTS, lockout_s=access.PIN_LOCKOUT_S
    ):
        raise PinLocked(door.pin_retry_after(now))
    if not door.pin_opens(pin, key=ctx.access_key):
        log.info("wrong requester PIN", extra={"concern_id": door.id})
        return False
    await ctx.repo.pin_succeeded(door.id)
    return True


def public_author_name(actor: str, ctx: IntakeContext) -> str | None:
    """The name a requester sees on a staff reply: only if the district allows it."""
    if not ctx.config.public_staff_names:
        return None
    member = ctx.district.staff_member(actor)
    return member.name if member else None


async def reveal_student(
    concern: Disclosable, *, actor: str, roles: list[str], reason: str, ctx: IntakeContext
) -> tuple[Student, str]:
    """The concern's student in clear, after recording who asked, when and why (the record
    is written first: a reveal is never shown unrecorded). Answers the disclosure id too."""
    student = ctx.repo.vault.open(concern.student(), concern.id)
    disclosure_id = await record_disclosure(
        concern,
        DisclosureKind.STUDENT_REVEALED,
        actor=actor,
        roles=roles,
        reason=reason,
        ctx=ctx,
        student_key=ctx.repo.vault.lookup_key(student.student_id),
    )
    log.info(
        "student information revealed",
        extra={"concern_id": concern.id, "actor": actor, "disclosure_id": disclosure_id},
    )
    return student, disclosure_id


async def record_disclosure(
    concern: Disclosable,
    kind: DisclosureKind,
    *,
    actor: str,
    roles: list[str],
    reason: str,
    ctx: IntakeContext,
    student_key: str | None = None,
) -> str:
    """Record who accessed what of the concern, when and why; answers the record's id."""
    disclosure = concern.disclosure(
        kind,
        record_id=str(uuid.uuid4()),
        actor=actor,
        roles=roles,
        reason=reason,
        at=ctx.clock.now(),
        student_key=student_key,
    )
    await ctx.disclosures.record(disclosure)
    return disclosure.id


async def reveal_contact(
    concern: Disclosable, *, actor: str, roles: list[str], reason: str, ctx: IntakeContext
) -> tuple[Requester, str]:
    """The requester's contact, after recording who asked, when and why (the record is
    written first). Answers the contact and the record's id."""
    contact = concern.contact()
    disclosure_id = await record_disclosure(
        concern, DisclosureKind.CONTACT_REVEALED, actor=actor, roles=roles, reason=reason, ctx=ctx
    )
    log.info(
        "requester contact revealed",
        extra={"concern_id": concern.id, "actor": actor, "disclosure_id": disclosure_id},
    )
    return contact, disclosure_id


async def student_record(student_id: str, *, ctx: IntakeContext) -> list[Document]:
    """One student's record of access and disclosures, oldest first: each concern that
    collected their information (and what reached triage), and every reveal."""
    key = ctx.repo.vault.lookup_key(student_id)
    if key is None:
        return []
    entries: list[Document] = []
    for concern in await ctx.repo.with_student(key):
        base = {
            "concern_id": concern["_id"],
            "tracking_number": concern["tracking_number"],
            "at": concern["submitted_at"],
        }
        entries.append(
            {
                **base,
                "kind": "collected",
                "actor": concern.get("taken_by"),
                "reason": f"submitted by {concern.get('channel')}",
            }
        )
        if ((concern.get("student") or {}).get("masked") or {}).get("special_education"):
            # the flag (never the identity) travels to triage to route the concern
            entries.append(
                {
                    **base,
                    "kind": "shared",
                    "actor": "intake",
                    "recipient": "triage",
                    "reason": "special-education flag, to route the concern",
                }
            )
        if concern.get("routing_sensitive"):
            # where the routing (which tells the flag) went: never Open311, public events
            # or webhooks, which show the category's route instead
            entries.append(
                {
                    **base,
                    "kind": "shared",
                    "actor": "triage",
                    "recipient": f"team {concern.get('team_name')}",
                    "reason": "routed by the special-education flag; the routing "
                    "reaches bureau services (intake, escalation, notify) "
                    "on the private exchange and the team's staff",
                }
            )
    for disclosure in await ctx.disclosures.for_student(key):
        entries.append(
            {k: v for k, v in disclosure.items() if k not in ("_id", "student_key")}
            | {"id": disclosure["_id"]}
        )
    return sorted(entries, key=lambda e: as_utc(e["at"]))


async def resolve_concern_id(reference: str, *, ctx: IntakeContext) -> str | None:
    """A concern id from an id or a tracking number."""
    if await ctx.repo.exists(reference):
        return reference
    doc = await ctx.repo.by_tracking_number(reference)
    return doc["_id"] if doc else None


async def act(
    concern_id: str, command: Command, *, ctx: IntakeContext, if_match: int | None = None
) -> Document:
    """Apply one action of the state machine; answers the case after it.

    Raises `ActionNotAllowed` (409), `InvalidCommand` (422), `PreconditionFailed` (412)."""
    if command.action is Action.MERGE:
        command = await _checked_merge(concern_id, command, ctx=ctx)

    async def attempt(case: Case) -> Document | Retry:
        if if_match is not None and case.version != if_match:
            raise PreconditionFailed(case.version)
        now = ctx.clock.now()
        outcome = lifecycle.decide(
            case, command, now=now, entry_id=str(uuid.uuid4()), guarantee=ctx.guarantee
        )
        if outcome.resolution_due_at is not None:  # a new cycle: the clock's new due time
            outcome = replace(
                outcome,
                resolution_due_at=ctx.resolution_due(
                    concern_id=concern_id,
                    category=case.category,
                    school_id=case.school_id,
                    priority=case.priority,
                    at=now,
                ),
            )
        team = ctx.district.team(case.team_id or "")
        events = routed_envelopes(
            list(outcome.events),
            source=ctx.source,
            time=now,
            sensitive=case.routing_sensitive or (team is not None and team.sensitive),
        )
        if not await ctx.repo.apply(concern_id, case.version, outcome, events):
            if if_match is not None:
                current = await ctx.repo.load(concern_id)
                raise PreconditionFailed(current.version if current else 0)
            return RETRY
        ctx.published()
        log.info(
            "concern action",
            extra={
                "concern_id": concern_id,
                "action": command.action.value,
                "actor": command.actor,
                "from": outcome.from_status.value,
                "to": outcome.to_status.value,
            },
        )
        return await _case(concern_id, ctx=ctx)  # as changed (not found: erased since)

    return await load_decide_save(
        lambda: _loaded(concern_id, ctx=ctx),
        attempt,
        conflict=lambda: ConcurrentChange(concern_id),
        attempts=ACTION_ATTEMPTS,
    )


async def _loaded(concern_id: str, *, ctx: IntakeContext) -> Case:
    """The concern as decisions read it; `ConcernNotFound` when there is none."""
    case = await ctx.repo.load(concern_id)
    if case is None:
        raise ConcernNotFound(concern_id)
    return case


async def _case(concern_id: str, *, ctx: IntakeContext) -> Document:
    """The concern's stored document; `ConcernNotFound` when there is none."""
    doc = await ctx.repo.get_document(concern_id)
    if doc is None:
        raise ConcernNotFound(concern_id)
    return doc


BUREAU = "bureau"  # the actor of what intake does by itself (reminders, closing a long wait)


async def sweep_awaiting(*, ctx: IntakeContext, limit: int = 200) -> int:
    """Remind the families silent for `remind_after_days` (their question again), and close
    with notice the concerns silent for `close_after_days`; answers how many it moved. Safe
    on every replica at once: each move is made on the version it read (one wins)."""
    settings = ctx.config.awaiting_requester
    now = ctx.clock.now()
    remind_before = now - timedelta(days=settings.remind_after_days)
    close_before = now - timedelta(days=settings.close_after_days)
    moved = 0
    for case in await ctx.repo.awaiting_since_before(remind_before, limit):
        action = case.long_wait(remind_before=remind_before, close_before=close_before)
        if action is None:
            continue
        doc = await ctx.repo.get_document(case.id)  # what to say: the family's words
        if doc is None:
            continue
        if action is Action.CLOSE_UNANSWERED:
            language = (doc.get("requester") or {}).get("language") or "en"
            command = Command(action, BUREAU, text=settings.notice(language))
        else:
            command = Command(action, BUREAU, text=_last_question(doc))
        try:
            await act(case.id, command, ctx=ctx, if_match=case.version)
        except (PreconditionFailed, ActionNotAllowed, InvalidCommand, ConcernNotFound):
            continue  # another replica (or the family) moved it first
        moved += 1
        log.info(
            "long wait on the requester",
            extra={"concern_id": case.id, "action": command.action.value},
        )
    return moved


def _last_question(doc: Document) -> str:
    """The question the family has not answered (the last public message of staff)."""
    for message in reversed(doc.get("messages") or []):
        if message.get("author") == "staff" and message.get("visibility") == "public":
            return str(message["text"])
    return "We are still waiting for your answer about this concern."


async def merge_target(
    source: Case, into: str, *, ctx: IntakeContext, covers: Callable[[Case], bool]
) -> str:
    """The concern a merge keeps: one the caller may act on (else it is answered as unknown,
    revealing nothing of it), of the same school or team as the duplicate."""
    target_id = await resolve_concern_id(into, ctx=ctx)
    target = await ctx.repo.load(target_id) if target_id else None
    if target is None or not covers(target):
        raise InvalidCommand(
            "into", f"no concern you may act on has id or tracking number {into!r}"
        )
    same_school = source.school_id and source.school_id == target.school_id
    same_team = source.team_id and source.team_id == target.team_id
    if not (same_school or same_team):
        raise InvalidCommand(
            "into", "a concern can only be merged into one of the same school or team"
        )
    return target.id


async def _checked_merge(concern_id: str, command: Command, *, ctx: IntakeContext) -> Command:
    """A merge names an existing concern that is still alive; resolves a tracking number."""
    target_id = await resolve_concern_id(command.into or "", ctx=ctx) if command.into else None
    if target_id is None:
        raise InvalidCommand("into", f"no concern has id or tracking number {command.into!r}")
    target = await ctx.repo.load(target_id)
    if target is not None and target.status is Status.CLOSED:
        raise ActionNotAllowed(
            Action.MERGE,
            target.status,
            "cannot merge into a closed concern; merge into the concern "
            f"it was merged into ({target.merged_into or 'none'})",
        )
    return Command(action=Action.MERGE, actor=command.actor, text=command.text, into=target_id)


async def change_status(
    concern_id: str,
    to: Status,
    reason: str | None,
    *,
    actor: str,
    ctx: IntakeContext,
    if_match: int | None = None,
) -> Document:
    """The legacy status endpoint: the action of the state machine that reaches `to`."""
    current = (await _loaded(concern_id, ctx=ctx)).status
    action = lifecycle.action_reaching(current, to)
    if action is None:
        allowed = ", ".join(sorted(lifecycle.reachable(current))) or "none"
        raise ActionNotAllowed(
            Action.ACKNOWLEDGE,
            current,
            f"a concern that is {current} cannot become {to} (allowed: {allowed})",
        )
    return await act(
        concern_id, Command(action=action, actor=actor, text=reason), ctx=ctx, if_match=if_match
    )


# --- events from other services -----------------------------------------------------------


async def _record(
    data_concern_id: str,
    event: CloudEvent,
    *,
    ctx: IntakeContext,
    facts: dict[str, object],
    entry: Document,
) -> None:
    found = await ctx.repo.record_event_facts(
        data_concern_id, event.id, facts=facts, entry=entry, at=event.time
    )
    if not found:
        raise ConcernNotFound(data_concern_id)


async def on_triaged(event: CloudEvent, data: ConcernTriaged, *, ctx: IntakeContext) -> None:
    """The case shows the category, team and priority triage decided (a re-triage may
    change the category: filters, counts and reports then agree with triage)."""
    await _record(
        data.concern_id,
        event,
        ctx=ctx,
        facts={
            "category": data.category,
            "team_id": data.team_id,
            "team_name": data.team_name,
            "priority": data.priority.value,
            "routing_sensitive": data.sensitive,
        },
        entry={
            "kind": "triaged",
            "team_id": data.team_id,
            "team_name": data.team_name,
            "priority": data.priority.value,
            "rule": data.rule,
            "actor": data.decided_by,
            "possible_duplicate_of": data.possible_duplicate_of,
        },
    )


async def on_assigned(event: CloudEvent, data: ConcernAssigned, *, ctx: IntakeContext) -> None:
    """The case shows who works it (unless a later decision about its assignee is known)."""
    if not await ctx.repo.record_assignee(
        data.concern_id,
        event.id,
        facts={
            "assignee_id": data.assignee_id,
            "assignee_name": data.assignee_name,
            "team_id": data.team_id,
        },
        entry={
            "kind": "assigned",
            "team_id": data.team_id,
            "assignee_id": data.assignee_id,
            "assignee_name": data.assignee_name,
            "actor": data.decided_by,
        },
        at=event.time,
        decided_at=data.assigned_at,
    ):
        raise ConcernNotFound(data.concern_id)


async def on_unassigned(event: CloudEvent, data: ConcernUnassigned, *, ctx: IntakeContext) -> None:
    """Nobody works the case any more (re-triaged to a team with no one to take it): its
    former assignee no longer reaches it as theirs. An assignment later than this stays."""
    if not await ctx.repo.record_assignee(
        data.concern_id,
        event.id,
        facts={"assignee_id": None, "assignee_name": None},
        entry={
            "kind": "unassigned",
            "team_id": data.team_id,
            "cause": data.cause.value,
            "actor": data.decided_by,
        },
        at=event.time,
        decided_at=data.unassigned_at,
        unassigned=True,
    ):
        raise ConcernNotFound(data.concern_id)


async def on_escalated(event: CloudEvent, data: ConcernEscalated, *, ctx: IntakeContext) -> None:
    """The case shows how far up the ladder it has gone, and to whom."""
    escalation = {
        "level": data.level,
        "role": data.role,
        "escalated_to": data.escalated_to,
        "escalated_to_name": data.escalated_to_name,
        "escalated_at": data.escalated_at,
    }
    await _record(
        data.concern_id,
        event,
        ctx=ctx,
        facts={} if data.reminder else {"escalation": escalation},
        entry={
            "kind": "escalated",
            "level": data.level,
            "role": data.role,
            "escalated_to_name": data.escalated_to_name,
            "reminder": data.reminder,
            "actor": "escalation",
        },
    )


async def on_sla_due_changed(event: CloudEvent, data: SlaDueChanged, *, ctx: IntakeContext) -> None:
    """Escalation owns due times (pauses, resumes, re-triage move them): the case shows the
    latest the clock reported, whatever order its reports arrive in."""
    if not await ctx.repo.record_due(
        data.concern_id,
        sequence=data.sequence,
        resolution_due_at=data.resolution_due_at,
        first_response_due_at=data.first_response_due_at,
        paused=data.paused,
    ):
        raise ConcernNotFound(data.concern_id)


async def on_sla_warning(event: CloudEvent, data: SlaWarning, *, ctx: IntakeContext) -> None:
    """The case shows that a share of a target is used up."""
    await _record_sla("sla_warning", event, data, ctx=ctx, percent=data.percent)


async def on_sla_breached(event: CloudEvent, data: SlaBreached, *, ctx: IntakeContext) -> None:
    """The case shows a missed target."""
    await _record_sla("sla_breached", event, data, ctx=ctx)


async def _record_sla(
    kind: str,
    event: CloudEvent,
    data: SlaWarning | SlaBreached,
    *,
    ctx: IntakeContext,
    **more: object,
) -> None:
    """The timeline entry for a target escalation reports on (no fact of the case changes)."""
    await _record(
        data.concern_id,
        event,
        ctx=ctx,
        facts={},
        entry={
            "kind": kind,
            "target": data.target.value,
            **more,
            "due_at": data.due_at,
            "actor": "escalation",
        },
    )


async def on_notification_sent(
    event: CloudEvent, data: NotificationSent, *, ctx: IntakeContext
) -> None:
    """The case shows what the requester was sent (never the address)."""
    await _record_notification("notification_sent", event, data, ctx=ctx)
    if data.kind == ACKNOWLEDGEMENT:
        submitted_at = await ctx.repo.submitted_at(data.concern_id)
        if submitted_at is not None:  # the whole path, submission to the requester's mailbox
            CONCERN_STAGE_SECONDS.labels("acknowledged").observe(
                max(0.0, (data.sent_at - submitted_at).total_seconds())
            )


async def on_notification_failed(
    event: CloudEvent, data: NotificationFailed, *, ctx: IntakeContext
) -> None:
    """The case shows a notification that did not arrive: someone may need to call."""
    await _record_notification("notification_failed", event, data, ctx=ctx)


async def _record_notification(
    kind: str,
    event: CloudEvent,
    data: NotificationSent | NotificationFailed,
    *,
    ctx: IntakeContext,
) -> None:
    """The timeline entry for a notification notify reports on (never the address)."""
    await _record(
        data.concern_id,
        event,
        ctx=ctx,
        facts={},
        entry={
            "kind": kind,
            "notification": data.kind,
            "channel": data.channel,
            "delivery_id": data.delivery_id,
            "actor": "notify",
        },
    )


async def on_merged(event: CloudEvent, data: ConcernMerged, *, ctx: IntakeContext) -> None:
    """Triage confirmed a duplicate: intake closes it into its original (once)."""

    async def attempt(case: Case) -> Retry | None:
        if case.merged or case.status is Status.CLOSED:
            return None  # already merged, or closed before: nothing to change
        # this merge was applied, then undone by a reopen: not again (the store keeps times
        # to the millisecond)
        merged_at = data.merged_at.replace(microsecond=data.merged_at.microsecond // 1000 * 1000)
        if case.last_merged_at is not None and case.last_merged_at >= merged_at:
            return None
        outcome = lifecycle.decide(
            case,
            Command(
                action=Action.MERGE,
                actor=data.decided_by,
                into=data.into_concern_id,
                text=TRIAGE_MERGE_REASON,
            ),
            now=data.merged_at,
            entry_id=f"event:{event.id}",
            guarantee=ctx.guarantee,
        )
        # `concern.merged` is the event being applied: published once, by triage
        events = envelopes(
            [e for e in outcome.events if not isinstance(e, ConcernMerged)],
            source=ctx.source,
            time=ctx.clock.now(),
        )
        if not await ctx.repo.apply(data.concern_id, case.version, outcome, events):
            return RETRY
        ctx.published()
        return None

    await load_decide_save(
        lambda: _loaded(data.concern_id, ctx=ctx),
        attempt,
        conflict=lambda: ConcurrentChange(data.concern_id),
        attempts=ACTION_ATTEMPTS,
    )


# What intake consumes, by event type: its queue's bindings are derived from this table. Every
# handler records facts conditionally on the event id (or on the case's state): idempotent by
# nature, so the consumer skips its inbox for them.
HANDLERS = HandlerTable(
    {
        "concern.triaged": on_triaged,
        "concern.assigned": on_assigned,
        "concern.unassigned": on_unassigned,
        "concern.merged": on_merged,
        "concern.escalated": on_escalated,
        "sla.warning": on_sla_warning,
        "sla.breached": on_sla_breached,
        "sla.due_changed": on_sla_due_changed,
        "notification.sent": on_notification_sent,
        "notification.failed": on_notification_failed,
    },
    idempotent=True,
)
