"""The concern state machine: every action from every status, allowed or refused, and what
each accepted action records and publishes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.intake.domain import OPEN_STATUSES, Status
from services.intake.lifecycle import (
    MOVES,
    REOPEN_WINDOW,
    Action,
    ActionNotAllowed,
    Callback,
    CallbackStatus,
    CaseState,
    Command,
    InvalidCommand,
    Outcome,
    action_reaching,
    decide,
)
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
    Exchange,
    MessageAuthor,
    MessageVisibility,
    spec_of,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
GUARANTEE = timedelta(hours=72)
CALLBACK = Callback(
    id="cb1",
    due_at=NOW + timedelta(hours=1),
    scheduled_at=NOW - timedelta(hours=1),
    actor="staff-1",
    assignee_id="staff-2",
)


def command(action: Action, **fields: object) -> Command:
    defaults: dict[str, object] = {
        "text": "some words",
        "due_at": NOW + timedelta(hours=2),
        "into": "other",
        "callback_id": "cb1",
        "outcome": CallbackOutcome.REACHED,
    }
    defaults.update(fields)
    return Command(action, "staff-1", **defaults)  # type: ignore[arg-type]


def run(
    status: Status,
    action: Action,
    *,
    resolved_at: datetime | None = NOW,
    merged_at: datetime | None = None,
    **fields: object,
) -> Outcome:
    state = CaseState(
        id="c1",
        status=status,
        resolved_at=resolved_at,
        merged_at=merged_at if status is Status.CLOSED else None,
        callbacks=(CALLBACK,),
    )
    return decide(state, command(action, **fields), now=NOW, entry_id="e1", guarantee=GUARANTEE)


ALL = [(a, s) for a in Action for s in Status]


@pytest.mark.parametrize(("action", "status"), [p for p in ALL if p[1] in MOVES[p[0]]])
def test_allowed_action_moves_as_the_table_says(action: Action, status: Status) -> None:
    outcome = run(status, action, merged_at=NOW)
    assert outcome.to_status is MOVES[action][status]
    assert outcome.actor == "staff-1" and outcome.at == NOW
    changes = [e for e in outcome.events if isinstance(e, ConcernStatusChanged)]
    assert len(changes) == (1 if outcome.status_changed else 0)


@pytest.mark.parametrize(("action", "status"), [p for p in ALL if p[1] not in MOVES[p[0]]])
def test_action_the_table_does_not_allow_is_refused(action: Action, status: Status) -> None:
    with pytest.raises(ActionNotAllowed, match="not possible"):
        run(status, action)


def test_every_action_is_in_the_table_and_closed_allows_only_notes_callbacks_and_reopening() -> (
    None
):
    assert set(MOVES) == set(Action)
    assert [a for a in Action if Status.CLOSED in MOVES[a]] == [
        Action.NOTE,
        Action.COMPLETE_CALLBACK,
        Action.CANCEL_CALLBACK,
        Action.REQUESTER_REOPEN,
    ]


def test_a_callback_is_a_task_with_an_assignee_and_a_reminder_before_it_is_due() -> None:
    outcome = run(
        Status.ACKNOWLEDGED,
        Action.SCHEDULE_CALLBACK,
        text="after 3 pm",
        due_at=NOW + timedelta(hours=2),
        assignee_id="staff-2",
    )
    scheduled = next(e for e in outcome.events if isinstance(e, ConcernCallbackScheduled))
    assert scheduled.due_at == NOW + timedelta(hours=2)
    assert scheduled.remind_at == NOW + timedelta(hours=2) - timedelta(minutes=15)
    assert scheduled.assignee_id == "staff-2" and "3 pm" not in scheduled.model_dump_json()
    assert outcome.callbacks is not None and outcome.callbacks[-1].id == "e1"
    assert outcome.callbacks[-1].status is CallbackStatus.SCHEDULED
    soon = run(
        Status.ACKNOWLEDGED,
        Action.SCHEDULE_CALLBACK,
        due_at=NOW + timedelta(minutes=5),
        remind_before=timedelta(minutes=30),
        assignee_id=None,
    )
    assert soon.callback is not None and soon.callback.remind_at == NOW  # at once
    assert soon.callback.assignee_id == "staff-1"  # the one who promised it


def test_a_callback_is_done_with_its_outcome_once_or_cancelled() -> None:
    made = run(
        Status.ACKNOWLEDGED, Action.COMPLETE_CALLBACK, text=None, outcome=CallbackOutcome.VOICEMAIL
    )
    assert made.callback is not None and made.callback.status is CallbackStatus.DONE
    assert made.callback.outcome is CallbackOutcome.VOICEMAIL and made.callback.done_at == NOW
    [done] = [e for e in made.events if isinstance(e, ConcernCallbackCompleted)]
    assert done.on_time and done.outcome is CallbackOutcome.VOICEMAIL
    cancelled = run(Status.RESOLVED, Action.CANCEL_CALLBACK, text=None, outcome=None)
    assert cancelled.callback is not None
    assert cancelled.callback.status is CallbackStatus.CANCELLED
    again = CaseState(id="c1", status=Status.ACKNOWLEDGED, callbacks=made.callbacks or ())
    with pytest.raises(ActionNotAllowed, match="already done"):
        decide(again, command(Action.CANCEL_CALLBACK), now=NOW, entry_id="e2", guarantee=GUARANTEE)
    with pytest.raises(InvalidCommand, match="how the call went"):
        run(Status.ACKNOWLEDGED, Action.COMPLETE_CALLBACK, outcome=None)
    with pytest.raises(InvalidCommand) as unknown:
        run(Status.ACKNOWLEDGED, Action.COMPLETE_CALLBACK, callback_id="nope")
    assert unknown.value.field == "callback_id"


def test_request_information_waits_and_the_requester_answer_resumes() -> None:
    asked = run(Status.ACKNOWLEDGED, Action.REQUEST_INFORMATION, text="Which bus stop?")
    assert asked.to_status is Status.AWAITING_REQUESTER
    assert asked.message is not None and asked.message.visibility is MessageVisibility.PUBLIC
    answered = run(Status.AWAITING_REQUESTER, Action.REQUESTER_MESSAGE, text="Oak & 5th")
    assert answered.to_status is Status.ACKNOWLEDGED
    assert answered.message is not None and answered.message.author is MessageAuthor.REQUESTER


def test_public_reply_publishes_its_text_only_privately() -> None:
    outcome = run(Status.RECEIVED, Action.REPLY, text="We are on it", author_name="Sam")
    assert outcome.to_status is Status.ACKNOWLEDGED  # a reply is a first response
    added = next(e for e in outcome.events if isinstance(e, ConcernMessageAdded))
    shared = next(e for e in outcome.events if isinstance(e, ConcernReplyShared))
    assert "We are on it" not in added.model_dump_json()
    assert added.visibility is MessageVisibility.PUBLIC and added.author is MessageAuthor.STAFF
    assert shared.text == "We are on it" and shared.author_name == "Sam"


def test_internal_note_is_announced_without_text_and_never_shared() -> None:
    outcome = run(Status.ACKNOWLEDGED, Action.NOTE, text="Called the depot")
    assert outcome.to_status is Status.ACKNOWLEDGED
    assert outcome.message is not None
    assert outcome.message.visibility is MessageVisibility.INTERNAL
    assert not any(isinstance(e, ConcernReplyShared) for e in outcome.events)
    assert all("depot" not in e.model_dump_json() for e in outcome.events)


@pytest.mark.parametrize(
    "action",
    [
        Action.REPLY,
        Action.NOTE,
        Action.RESOLVE,
        Action.REQUEST_INFORMATION,
        Action.REQUESTER_MESSAGE,
    ],
)
@pytest.mark.parametrize("text", [None, "   "])
def test_action_that_needs_text_refuses_none(action: Action, text: str | None) -> None:
    with pytest.raises(InvalidCommand):
        run(Status.ACKNOWLEDGED, action, text=text)


def test_resolve_records_the_summary_and_publishes_resolved() -> None:
    outcome = run(Status.ACKNOWLEDGED, Action.RESOLVE, text="Route fixed")
    assert outcome.resolution_summary == "Route fixed"
    assert any(isinstance(e, ConcernResolved) for e in outcome.events)
    # the family's resolution message says what was done: privately, never on bureau.events
    [shared] = [e for e in outcome.events if isinstance(e, ConcernResolutionShared)]
    assert shared.summary == "Route fixed" and spec_of(shared).exchange is Exchange.PRIVATE
    assert all(
        "Route fixed" not in e.model_dump_json()
        for e in outcome.events
        if spec_of(e).exchange is Exchange.PUBLIC
    )


def test_reopen_starts_a_new_guarantee_and_publishes_reopened() -> None:
    outcome = run(Status.RESOLVED, Action.REOPEN, text=None)
    assert outcome.resolution_due_at == NOW + GUARANTEE
    assert any(isinstance(e, ConcernReopened) for e in outcome.events)


def test_requester_may_reopen_within_fourteen_days_of_resolution() -> None:
    resolved = NOW - REOPEN_WINDOW + timedelta(minutes=1)
    assert (
        run(Status.RESOLVED, Action.REQUESTER_REOPEN, resolved_at=resolved, text=None).to_status
        is Status.REOPENED
    )


def test_requester_may_not_reopen_after_fourteen_days() -> None:
    with pytest.raises(ActionNotAllowed, match="14 days"):
        run(
            Status.RESOLVED,
            Action.REQUESTER_REOPEN,
            resolved_at=NOW - REOPEN_WINDOW - timedelta(minutes=1),
        )


def test_staff_may_reopen_after_fourteen_days() -> None:
    outcome = run(Status.RESOLVED, Action.REOPEN, resolved_at=NOW - timedelta(days=60))
    assert outcome.to_status is Status.REOPENED


def test_merge_closes_and_publishes_the_merge_for_every_service() -> None:
    outcome = run(Status.ACKNOWLEDGED, Action.MERGE, into="c2", text="same bus stop")
    assert outcome.to_status is Status.CLOSED and outcome.merged_into == "c2"
    assert [type(e) for e in outcome.events] == [ConcernStatusChanged, ConcernMerged]
    merged = outcome.events[1]
    assert isinstance(merged, ConcernMerged)
    assert (merged.into_concern_id, merged.decided_by) == ("c2", "staff-1")


def test_merge_needs_a_reason() -> None:
    with pytest.raises(InvalidCommand) as caught:
        run(Status.ACKNOWLEDGED, Action.MERGE, into="c2", text="  ")
    assert caught.value.field == "reason"


def test_requester_may_reopen_a_merged_concern_for_fourteen_days_but_not_a_closed_one() -> None:
    reopened = run(Status.CLOSED, Action.REQUESTER_REOPEN, merged_at=NOW - timedelta(days=3))
    assert reopened.to_status is Status.REOPENED and reopened.unmerged
    with pytest.raises(ActionNotAllowed, match="14 days"):
        run(
            Status.CLOSED,
            Action.REQUESTER_REOPEN,
            merged_at=NOW - REOPEN_WINDOW - timedelta(minutes=1),
        )
    with pytest.raises(ActionNotAllowed, match="not possible"):
        run(Status.CLOSED, Action.REQUESTER_REOPEN, merged_at=None, resolved_at=None)


def test_closing_a_resolved_concern_keeps_the_fourteen_day_reopen_window() -> None:
    reopened = run(Status.CLOSED, Action.REQUESTER_REOPEN, resolved_at=NOW - timedelta(days=3))
    assert reopened.to_status is Status.REOPENED
    with pytest.raises(ActionNotAllowed, match="14 days"):
        run(
            Status.CLOSED,
            Action.REQUESTER_REOPEN,
            resolved_at=NOW - REOPEN_WINDOW - timedelta(minutes=1),
        )


def test_concern_cannot_be_merged_into_itself() -> None:
    with pytest.raises(InvalidCommand) as caught:
        run(Status.ACKNOWLEDGED, Action.MERGE, into="c1")
    assert caught.value.field == "into"


def test_callback_must_be_due_in_the_future() -> None:
    with pytest.raises(InvalidCommand) as caught:
        run(Status.ACKNOWLEDGED, Action.SCHEDULE_CALLBACK, due_at=NOW)
    assert caught.value.field == "due_at"
    outcome = run(Status.ACKNOWLEDGED, Action.SCHEDULE_CALLBACK)
    assert outcome.callback_due_at == NOW + timedelta(hours=2)
    assert [type(e) for e in outcome.events] == [ConcernCallbackScheduled]


@pytest.mark.parametrize(
    ("start", "to", "action"),
    [
        (Status.RECEIVED, Status.ACKNOWLEDGED, Action.ACKNOWLEDGE),
        (Status.AWAITING_REQUESTER, Status.ACKNOWLEDGED, Action.RESUME),
        (Status.ACKNOWLEDGED, Status.RESOLVED, Action.RESOLVE),
        (Status.RESOLVED, Status.CLOSED, Action.CLOSE),
        (Status.RESOLVED, Status.REOPENED, Action.REOPEN),
        (Status.RESOLVED, Status.ACKNOWLEDGED, None),
        (Status.CLOSED, Status.REOPENED, None),
    ],
)
def test_a_target_status_maps_to_the_action_that_reaches_it(
    start: Status, to: Status, action: Action | None
) -> None:
    assert action_reaching(start, to) is action


def test_open_statuses_are_those_an_sla_clock_runs_in() -> None:
    assert Status.RESOLVED not in OPEN_STATUSES and Status.CLOSED not in OPEN_STATUSES
