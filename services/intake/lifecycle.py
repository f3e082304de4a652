"""The lifecycle of a concern: ONE state machine of actions, each a move between statuses.

`MOVES` is the table: for each action, the statuses it may start from and where it leads.
`decide` checks a command against the table and returns what happens: the new status, the
message or resolution it records, and the events it publishes. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from services.intake.domain import OPEN_STATUSES, Status
from shared.errors import DomainError
from shared.events import (
    CallbackOutcome,
    ConcernCallbackCompleted,
    ConcernCallbackScheduled,
    ConcernMerged,
    ConcernMessageAdded,
    ConcernReopened,
    ConcernReplyShared,
    ConcernResolutionShared,
    ConcernResolved,
    ConcernStatusChanged,
    EventData,
    MessageAuthor,
    MessageVisibility,
)

REOPEN_WINDOW = timedelta(days=14)
# Unless staff say otherwise, the one who makes a callback is reminded this long before it.
CALLBACK_REMINDER = timedelta(minutes=15)


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    REQUEST_INFORMATION = "request_information"
    RESUME = "resume"
    REPLY = "reply"
    NOTE = "note"
    SCHEDULE_CALLBACK = "schedule_callback"
    COMPLETE_CALLBACK = "complete_callback"
    CANCEL_CALLBACK = "cancel_callback"
    REMIND_REQUESTER = "remind_requester"
    CLOSE_UNANSWERED = "close_unanswered"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    CLOSE = "close"
    MERGE = "merge"
    REQUESTER_MESSAGE = "requester_message"
    REQUESTER_REOPEN = "requester_reopen"


_R, _A, _W = Status.RECEIVED, Status.ACKNOWLEDGED, Status.AWAITING_REQUESTER
_S, _O, _C = Status.RESOLVED, Status.REOPENED, Status.CLOSED


def _stay(*statuses: Status) -> dict[Status, Status]:
    return {s: s for s in statuses}


# The state machine: action -> {from status: to status}. A pair not in the table is refused.
MOVES: dict[Action, dict[Status, Status]] = {
    # First response: the concern is seen and owned.
    Action.ACKNOWLEDGE: {_R: _A, _O: _A},
    # Waiting on the requester: the SLA clock pauses (escalation reads status_changed).
    Action.REQUEST_INFORMATION: {_R: _W, _A: _W, _O: _W},
    Action.RESUME: {_W: _A},
    # The bureau's own moves on a long wait: ask again, then close with notice (the family
    # may reopen it within the reopen window, as after a resolution).
    Action.REMIND_REQUESTER: {_W: _W},
    Action.CLOSE_UNANSWERED: {_W: _C},
    # A public reply is a first response, so it acknowledges a new or reopened concern.
    Action.REPLY: {_R: _A, _A: _A, _W: _W, _O: _A},
    Action.NOTE: _stay(*Status),
    Action.SCHEDULE_CALLBACK: _stay(*OPEN_STATUSES),
    # A promised call is made (or called off) whatever the case became meanwhile.
    Action.COMPLETE_CALLBACK: _stay(*Status),
    Action.CANCEL_CALLBACK: _stay(*Status),
    Action.RESOLVE: {s: _S for s in OPEN_STATUSES},
    Action.REOPEN: {_S: _O},
    Action.CLOSE: {_S: _C},
    Action.MERGE: {s: _C for s in (*OPEN_STATUSES, _S)},
    # The requester's answer ends a wait for information.
    Action.REQUESTER_MESSAGE: {_R: _R, _A: _A, _W: _A, _O: _O},
    # A merged (closed) concern may be reopened by its requester too: it may not be the
    # duplicate staff thought it was (see reopen_window_open).
    Action.REQUESTER_REOPEN: {_S: _O, _C: _O},
}

# Actions whose text is required, and what the text is called in the API.
TEXT_REQUIRED: dict[Action, str] = {
    Action.REQUEST_INFORMATION: "message",
    Action.REPLY: "message",
    Action.NOTE: "note",
    Action.RESOLVE: "summary",
    Action.REQUESTER_MESSAGE: "message",
    Action.MERGE: "reason",
    Action.REMIND_REQUESTER: "message",
    Action.CLOSE_UNANSWERED: "notice",
}
# Actions whose text is a public message the requester sees (the rest is internal).
_PUBLIC_STAFF_TEXT = frozenset({Action.REQUEST_INFORMATION, Action.REPLY})
_REQUESTER_TEXT = frozenset({Action.REQUESTER_MESSAGE, Action.REQUESTER_REOPEN})
_INTERNAL_MESSAGE = frozenset({Action.NOTE})


class ActionNotAllowed(DomainError):
    """The table (or a rule such as the reopen window) refuses the action now: a 409."""

    status, title = 409, "Action not allowed"

    def __init__(self, action: Action, current: Status, reason: str | None = None) -> None:
        allowed = ", ".join(sorted(MOVES[action])) or "none"
        super().__init__(
            reason
            or f"{action} is not possible on a concern that is {current} (possible when: {allowed})"
        )
        self.action = action
        self.current = current

    def problem_extra(self) -> dict[str, Any]:
        return {"current_status": self.current.value}


class InvalidCommand(DomainError, ValueError):
    """A command that can never succeed as written: a 422 naming the field."""

    status, title = 422, "Invalid request"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)


class CallbackStatus(StrEnum):
    SCHEDULED = "scheduled"
    DONE = "done"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Callback:
    """A call promised to the requester: a task with a due time, an assignee and a reminder,
    done with an outcome or cancelled."""

    id: str
    due_at: datetime
    scheduled_at: datetime
    actor: str
    assignee_id: str | None = None
    remind_at: datetime | None = None
    note: str | None = None
    status: CallbackStatus = CallbackStatus.SCHEDULED
    outcome: CallbackOutcome | None = None
    done_at: datetime | None = None
    done_by: str | None = None

    @property
    def open(self) -> bool:
        return self.status is CallbackStatus.SCHEDULED


@dataclass(frozen=True)
class CaseState:
    """What the state machine needs to know of a concern."""

    id: str
    status: Status
    resolved_at: datetime | None = None
    merged_at: datetime | None = None
    callbacks: tuple[Callback, ...] = ()
    # triage's routing tells something about the student (special education): who works
    # the concern stays off the public exchange too
    routing_sensitive: bool = False


@dataclass(frozen=True)
class Command:
    action: Action
    actor: str
    text: str | None = None
    due_at: datetime | None = None
    into: str | None = None
    author_name: str | None = None
    callback_id: str | None = None
    outcome: CallbackOutcome | None = None
    assignee_id: str | None = None
    remind_before: timedelta | None = None


@dataclass(frozen=True)
class Message:
    id: str
    author: MessageAuthor
    visibility: MessageVisibility
    text: str
    at: datetime
    actor: str
    author_name: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What one accepted command changes, and the events it publishes."""

    id: str
    action: Action
    actor: str
    at: datetime
    from_status: Status
    to_status: Status
    text: str | None
    message: Message | None
    events: tuple[EventData, ...]
    resolution_summary: str | None = None
    callback_due_at: datetime | None = None
    merged_into: str | None = None
    resolution_due_at: datetime | None = None
    unmerged: bool = False  # a merged concern reopened: no longer merged into another
    callbacks: tuple[Callback, ...] | None = None  # the concern's callbacks, when they changed
    callback: Callback | None = None  # the callback this action scheduled, made or cancelled

    @property
    def status_changed(self) -> bool:
        return self.from_status is not self.to_status


def decide(
    state: CaseState, command: Command, *, now: datetime, entry_id: str, guarantee: timedelta
) -> Outcome:
    """Check `command` against the table and rules; answer the outcome or raise."""
    action = command.action
    text = (command.text or "").strip() or None
    if action in TEXT_REQUIRED and text is None:
        raise InvalidCommand(TEXT_REQUIRED[action], f"{action} needs a {TEXT_REQUIRED[action]}")
    if action is Action.MERGE:
        if not command.into:
            raise InvalidCommand("into", "merge needs the concern to merge into")
        if command.into == state.id:
            raise InvalidCommand("into", "a concern cannot be merged into itself")
    to = MOVES[action].get(state.status)
    if to is None:
        raise ActionNotAllowed(action, state.status)
    callbacks, touched, callback_events = _callbacks(state, command, now=now, entry_id=entry_id)
    if action is Action.REQUESTER_REOPEN and not reopen_window_open(state, now):
        if state.status is Status.CLOSED and state.merged_at is None and state.resolved_at is None:
            raise ActionNotAllowed(action, state.status)
        raise ActionNotAllowed(
            action,
            state.status,
            "this concern was resolved more than "
            f"{REOPEN_WINDOW.days} days ago and can no longer be reopened; "
            "please submit a new concern",
        )

    message = _message(command, text, now=now, entry_id=entry_id)
    events: list[EventData] = []
    if message is not None:
        events.append(
            ConcernMessageAdded(
                concern_id=state.id,
                message_id=message.id,
                author=message.author,
                visibility=message.visibility,
                added_at=now,
            )
        )
        if message.author is MessageAuthor.STAFF and message.visibility is MessageVisibility.PUBLIC:
            events.append(
                ConcernReplyShared(
                    concern_id=state.id,
                    message_id=message.id,
                    text=message.text,
                    author_name=message.author_name,
                    added_at=now,
                    information_request=action is Action.REQUEST_INFORMATION,
                )
            )
    if to is not state.status:
        events.append(
            ConcernStatusChanged(
                concern_id=state.id, from_status=state.status, to_status=to, changed_at=now
            )
        )
    # A merge is a move to closed that every service hears of as `concern.merged`: triage
    # drops it from queues and loads, escalation shows it to the Ombudsperson, notify tells
    # the requester (who may reopen it).
    if action in (Action.REMIND_REQUESTER, Action.CLOSE_UNANSWERED):
        # to the family (no message of the case: the bureau's own words, on the timeline)
        events.append(
            ConcernReplyShared(
                concern_id=state.id,
                message_id=entry_id,
                text=text or "",
                author_name=None,
                added_at=now,
                information_request=action is Action.REMIND_REQUESTER,
            )
        )
    if action is Action.MERGE:
        events.append(
            ConcernMerged(
                concern_id=state.id,
                into_concern_id=command.into or "",
                merged_at=now,
                decided_by=command.actor,
            )
        )
    events += callback_events
    if to is Status.RESOLVED:
        events.append(ConcernResolved(concern_id=state.id, resolved_at=now))
        # what was done, for the requester's resolution message (private: free text)
        events.append(
            ConcernResolutionShared(concern_id=state.id, summary=text or "", resolved_at=now)
        )
    elif to is Status.REOPENED:
        events.append(ConcernReopened(concern_id=state.id, reopened_at=now))
    return Outcome(
        id=entry_id,
        action=action,
        actor=command.actor,
        at=now,
        from_status=state.status,
        to_status=to,
        text=text,
        message=message,
        events=tuple(events),
        resolution_summary=text if action in (Action.RESOLVE, Action.CLOSE_UNANSWERED) else None,
        callback_due_at=command.due_at if action is Action.SCHEDULE_CALLBACK else None,
        callbacks=callbacks,
        callback=touched,
        merged_into=command.into if action is Action.MERGE else None,
        unmerged=state.merged_at is not None and to is Status.REOPENED,
        # A reopened concern starts a new guarantee period.
        resolution_due_at=now + guarantee if to is Status.REOPENED else None,
    )


def _callbacks(
    state: CaseState, command: Command, *, now: datetime, entry_id: str
) -> tuple[tuple[Callback, ...] | None, Callback | None, list[EventData]]:
    """The concern's callbacks after a callback action (None for other actions), the one it
    touched, and the events it publishes."""
    action = command.action
    if action is Action.SCHEDULE_CALLBACK:
        if command.due_at is None:
            raise InvalidCommand("due_at", "a callback needs a due time")
        if command.due_at <= now:
            raise InvalidCommand("due_at", "a callback must be due in the future")
        before = CALLBACK_REMINDER if command.remind_before is None else command.remind_before
        if before < timedelta(0):
            raise InvalidCommand("remind_before_minutes", "a reminder comes before the call")
        remind_at = command.due_at - before if before else None
        if remind_at is not None and remind_at <= now:
            remind_at = now  # due sooner than the reminder: remind at once
        callback = Callback(
            id=entry_id,
            due_at=command.due_at,
            scheduled_at=now,
            actor=command.actor,
            assignee_id=command.assignee_id or command.actor,
            remind_at=remind_at,
            note=(command.text or "").strip() or None,
        )
        return (
            (*state.callbacks, callback),
            callback,
            [
                ConcernCallbackScheduled(
                    concern_id=state.id,
                    callback_id=callback.id,
                    due_at=callback.due_at,
                    remind_at=remind_at,
                    assignee_id=None if state.routing_sensitive else callback.assignee_id,
                    scheduled_at=now,
                )
            ],
        )
    if action not in (Action.COMPLETE_CALLBACK, Action.CANCEL_CALLBACK):
        return None, None, []
    done = action is Action.COMPLETE_CALLBACK
    if done and command.outcome is None:
        raise InvalidCommand("outcome", "say how the call went: reached, voicemail or no_answer")
    found = next((c for c in state.callbacks if c.id == command.callback_id), None)
    if found is None:
        raise InvalidCommand("callback_id", "this concern has no such callback")
    if not found.open:
        raise ActionNotAllowed(action, state.status, f"this callback is already {found.status}")
    after = replace(
        found,
        status=CallbackStatus.DONE if done else CallbackStatus.CANCELLED,
        outcome=command.outcome if done else None,
        done_at=now,
        done_by=command.actor,
    )
    return (
        tuple(after if c.id == found.id else c for c in state.callbacks),
        after,
        [
            ConcernCallbackCompleted(
                concern_id=state.id,
                callback_id=found.id,
                outcome=after.outcome,
                due_at=found.due_at,
                completed_at=now,
                on_time=now <= found.due_at,
            )
        ],
    )


def reopen_window_open(state: CaseState, now: datetime) -> bool:
    """A requester may reopen a resolved concern for 14 days after its resolution (closing it
    keeps that window, which the resolution mail promised), and a merged one for 14 days
    after its merge."""
    if state.status is Status.CLOSED and state.merged_at is not None:
        return now - state.merged_at <= REOPEN_WINDOW
    return (
        state.status in (Status.RESOLVED, Status.CLOSED)
        and state.resolved_at is not None
        and now - state.resolved_at <= REOPEN_WINDOW
    )


def _message(command: Command, text: str | None, *, now: datetime, entry_id: str) -> Message | None:
    if text is None:
        return None
    if command.action in _REQUESTER_TEXT:
        author, visibility = MessageAuthor.REQUESTER, MessageVisibility.PUBLIC
    elif command.action in _PUBLIC_STAFF_TEXT:
        author, visibility = MessageAuthor.STAFF, MessageVisibility.PUBLIC
    elif command.action in _INTERNAL_MESSAGE:
        author, visibility = MessageAuthor.STAFF, MessageVisibility.INTERNAL
    else:
        return None  # a reason or a summary stays on the timeline entry
    return Message(
        id=entry_id,
        author=author,
        visibility=visibility,
        text=text,
        at=now,
        actor=command.actor,
        author_name=command.author_name if author is MessageAuthor.STAFF else None,
    )


# The legacy `POST /status` endpoint names a target status; these actions reach one.
_STATUS_ACTIONS = (
    Action.ACKNOWLEDGE,
    Action.RESUME,
    Action.REQUEST_INFORMATION,
    Action.RESOLVE,
    Action.REOPEN,
    Action.CLOSE,
)


def action_reaching(from_status: Status, to_status: Status) -> Action | None:
    """The action that moves `from_status` to `to_status`, if the table has one."""
    for action in _STATUS_ACTIONS:
        if MOVES[action].get(from_status) is to_status:
            return action
    return None


def reachable(from_status: Status) -> set[Status]:
    """Every status one action can move a concern to from `from_status` (for messages)."""
    return {
        to
        for action in _STATUS_ACTIONS
        if (to := MOVES[action].get(from_status)) and to is not from_status
    }
