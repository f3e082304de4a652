"""The staff side: work queues, counts, the case and its timeline, and the case actions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime

from services.intake import handlers, queries, views
from services.intake.aggregate import Case
from services.intake.domain import Status
from services.intake.lifecycle import Action, Command, InvalidCommand
from services.intake.queries import ConcernFilter, SortOrder
from services.intake.repository import case_of
from services.intake.schemas import (
    CallbackCancel,
    CallbackCreate,
    CallbackDone,
    ConcernCounts,
    ConcernPage,
    ConcernRead,
    MergeCreate,
    MessageCreate,
    NoteCreate,
    ReasonCreate,
    ResolutionCreate,
    StatusChangeCreate,
    TimelineEntryRead,
)
from services.intake.web import Ctx, Reader, Worker, check_scope, scope_query
from shared.authz import Access
from shared.events import Channel, Priority
from shared.http import IfMatch, Problem, set_etag
from shared.store import Document

router = APIRouter(prefix="/v1/concerns", tags=["staff"])

_ACTION_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such concern"},
    409: {"description": "the lifecycle does not allow this action now"},
    412: {"description": "If-Match names a version that is no longer current"},
    422: {"description": "an invalid field (problem details name it)"},
}

Optional = Annotated[str | None, Query(max_length=64)]


def _not_found(concern_id: str) -> Problem:
    return Problem(404, "Concern not found", f"No concern has id {concern_id!r}.")


def _filter(
    status: list[Status],
    category: str | None,
    school_id: str | None,
    team_id: str | None,
    assignee_id: str | None,
    priority: Priority | None,
    channel: Channel | None,
    overdue: bool | None,
    submitted_from: AwareDatetime | None,
    submitted_to: AwareDatetime | None,
    due_from: AwareDatetime | None,
    due_to: AwareDatetime | None,
    q: str | None,
) -> ConcernFilter:
    return ConcernFilter(
        statuses=tuple(status),
        category=category,
        school_id=school_id,
        team_id=team_id,
        assignee_id=assignee_id,
        priority=priority.value if priority else None,
        channel=channel.value if channel else None,
        overdue=overdue,
        submitted_from=submitted_from,
        submitted_to=submitted_to,
        due_from=due_from,
        due_to=due_to,
        text=q,
    )


@router.get("", response_model=ConcernPage)
async def list_concerns(
    ctx: Ctx,
    who: Reader,
    status: Annotated[list[Status], Query(description="repeat for several")] = [],  # noqa: B006
    category: Optional = None,
    school_id: Optional = None,
    team_id: Optional = None,
    assignee_id: Optional = None,
    priority: Priority | None = None,
    channel: Channel | None = None,
    overdue: Annotated[bool | None, Query(description="open and past its due time")] = None,
    submitted_from: AwareDatetime | None = None,
    submitted_to: AwareDatetime | None = None,
    due_from: AwareDatetime | None = None,
    due_to: AwareDatetime | None = None,
    q: Annotated[
        str | None,
        Query(
            min_length=2,
            max_length=200,
            description="words of the description, or a tracking number",
        ),
    ] = None,
    sort: SortOrder = SortOrder.DUE,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> ConcernPage:
    """Search concerns; by default the most urgent first (a team's work queue)."""
    now = ctx.clock.now()
    base = queries.to_query(
        _filter(
            status,
            category,
            school_id,
            team_id,
            assignee_id,
            priority,
            channel,
            overdue,
            submitted_from,
            submitted_to,
            due_from,
            due_to,
            q,
        ),
        now=now,
    )
    base = _within(base, scope_query(who))
    try:
        query = queries.page_query(base, sort, cursor)
    except queries.InvalidCursor as exc:
        raise Problem(
            422, "Invalid request", str(exc), errors=[{"field": "cursor", "message": str(exc)}]
        ) from None
    docs = await ctx.repo.find(query, sort=queries.sort_spec(sort), limit=limit + 1)
    more = len(docs) > limit
    docs = docs[:limit]
    return ConcernPage(
        items=[views.summary(d, now=now) for d in docs],
        sort=sort,
        next_cursor=queries.encode_cursor(sort, docs[-1]) if more else None,
    )


@router.get("/counts", response_model=ConcernCounts)
async def count_concerns(
    ctx: Ctx,
    who: Reader,
    category: Optional = None,
    school_id: Optional = None,
    team_id: Optional = None,
    assignee_id: Optional = None,
    priority: Priority | None = None,
    channel: Channel | None = None,
    submitted_from: AwareDatetime | None = None,
    submitted_to: AwareDatetime | None = None,
) -> ConcernCounts:
    """How many concerns are in each status, and how many are overdue (for dashboards)."""
    now = ctx.clock.now()
    f = _filter(
        [],
        category,
        school_id,
        team_id,
        assignee_id,
        priority,
        channel,
        None,
        submitted_from,
        submitted_to,
        None,
        None,
        None,
    )
    reach = scope_query(who)
    by_status = await ctx.repo.count_by_status(_within(queries.to_query(f, now=now), reach))
    overdue_filter = _filter(
        [],
        category,
        school_id,
        team_id,
        assignee_id,
        priority,
        channel,
        True,
        submitted_from,
        submitted_to,
        None,
        None,
        None,
    )
    overdue = await ctx.repo.count(_within(queries.to_query(overdue_filter, now=now), reach))
    counts = {s: by_status.get(s.value, 0) for s in Status}
    return ConcernCounts(by_status=counts, total=sum(counts.values()), overdue=overdue)


async def _staff_view(ctx: Ctx, doc: Document, who: Access) -> ConcernRead:
    """The case as `who` may see it: its links to other concerns (merged into it, possible
    duplicates from the same family) only to those within their reach (Security #8)."""
    merged_from = await ctx.repo.merged_from(doc["_id"])
    shown = await _readable(ctx, who, [*merged_from, *views.linked_concerns(doc)])
    return views.staff_view(
        views.links_within(doc, shown),
        now=ctx.clock.now(),
        merged_from=[i for i in merged_from if shown is None or i in shown],
    )


async def _readable(ctx: Ctx, who: Access, ids: list[str]) -> set[str] | None:
    """Those of `ids` the caller may read (None: all of them, whatever they are)."""
    if who.everything:
        return None
    if not ids:
        return set()
    unique = sorted(set(ids))
    query = _within({"_id": {"$in": unique}}, scope_query(who))
    return {d["_id"] for d in await ctx.repo.find(query, sort=[("_id", 1)], limit=len(unique))}


def _within(query: Document, reach: Document) -> Document:
    """A search limited to the caller's reach."""
    if not reach:
        return query
    return {"$and": [query, reach]} if query else reach


async def _case(ctx: Ctx, concern_id: str) -> Document:
    doc = await ctx.repo.get_document(concern_id)
    if doc is None:
        raise _not_found(concern_id)
    return doc


@router.get("/{concern_id}", response_model=ConcernRead, responses={404: _ACTION_ERRORS[404]})
async def read_concern(concern_id: str, ctx: Ctx, who: Reader, response: Response) -> ConcernRead:
    """The case: status, team, priority, assignee, escalation, messages and timeline. Its
    ETag is the version to send back in If-Match. The student is shown masked."""
    doc = await _case(ctx, concern_id)
    check_scope(who, doc)
    set_etag(response, doc["version"])
    return await _staff_view(ctx, doc, who)


@router.get(
    "/{concern_id}/timeline",
    response_model=list[TimelineEntryRead],
    responses={404: _ACTION_ERRORS[404]},
)
async def read_timeline(concern_id: str, ctx: Ctx, who: Reader) -> list[TimelineEntryRead]:
    """Everything that happened to the case, oldest first, with who did it."""
    doc = await _case(ctx, concern_id)
    check_scope(who, doc)
    return views.timeline(
        views.links_within(doc, await _readable(ctx, who, views.linked_concerns(doc)))
    )


async def _act(
    ctx: Ctx,
    concern_id: str,
    command: Command,
    if_match: int | None,
    response: Response,
    who: Access,
) -> ConcernRead:
    check_scope(who, await _case(ctx, concern_id))
    return await _run(
        ctx,
        concern_id,
        response,
        handlers.act(concern_id, command, ctx=ctx, if_match=if_match),
        who=who,
    )


async def _run(
    ctx: Ctx,
    concern_id: str,
    response: Response,
    work: Awaitable[Document],
    *,
    who: Access,
    text_field: str | None = None,
) -> ConcernRead:
    """Run one action and answer the case (as `who` may see it) with its new ETag (a refusal
    is answered as problem details, shared/errors); `text_field` names the field a bad text
    is in."""
    try:
        doc = await work
    except InvalidCommand as exc:
        if text_field is None:
            raise
        raise InvalidCommand(text_field, str(exc)) from None
    set_etag(response, doc["version"])
    return await _staff_view(ctx, doc, who)


def _reason_action(path: str, action: Action, name: str, doc: str) -> None:
    """Route an action whose only input is an optional reason, kept on the timeline."""

    async def endpoint(
        concern_id: str,
        ctx: Ctx,
        who: Worker,
        if_match: IfMatch,
        response: Response,
        body: ReasonCreate | None = None,
    ) -> ConcernRead:
        command = Command(action, who.actor, text=body.reason if body else None)
        return await _act(ctx, concern_id, command, if_match, response, who)

    _route(path, name, doc, endpoint)


def _message_action(path: str, action: Action, name: str, doc: str) -> None:
    """Route an action that sends the requester a message signed with the author's public name."""

    async def endpoint(
        concern_id: str,
        body: MessageCreate,
        ctx: Ctx,
        who: Worker,
        if_match: IfMatch,
        response: Response,
    ) -> ConcernRead:
        command = Command(
            action,
            who.actor,
            text=body.message,
            author_name=handlers.public_author_name(who.actor, ctx),
        )
        return await _act(ctx, concern_id, command, if_match, response, who)

    _route(path, name, doc, endpoint)


def _route(path: str, name: str, doc: str, endpoint: Callable[..., Awaitable[ConcernRead]]) -> None:
    endpoint.__name__ = endpoint.__qualname__ = name
    endpoint.__doc__ = doc
    router.post(
        f"/{{concern_id}}/{path}", name=name, response_model=ConcernRead, responses=_ACTION_ERRORS
    )(endpoint)


_reason_action(
    "acknowledge",
    Action.ACKNOWLEDGE,
    "acknowledge",
    "First response: the case is seen and owned (received or reopened -> acknowledged).",
)

_message_action(
    "request-information",
    Action.REQUEST_INFORMATION,
    "request_information",
    "Ask the requester a question; the case waits on them (its SLA clock pauses).",
)

_reason_action(
    "resume",
    Action.RESUME,
    "resume",
    "Stop waiting on the requester (awaiting_requester -> acknowledged).",
)

_message_action(
    "replies",
    Action.REPLY,
    "reply",
    "A public reply, sent to the requester; it acknowledges a new or reopened case.",
)


@router.post("/{concern_id}/notes", response_model=ConcernRead, responses=_ACTION_ERRORS)
async def add_note(
    concern_id: str, body: NoteCreate, ctx: Ctx, who: Worker, if_match: IfMatch, response: Response
) -> ConcernRead:
    """An internal note: staff only, never shown to the requester."""
    command = Command(Action.NOTE, who.actor, text=body.note)
    return await _act(ctx, concern_id, command, if_match, response, who)


@router.post("/{concern_id}/callbacks", response_model=ConcernRead, responses=_ACTION_ERRORS)
async def schedule_callback(
    concern_id: str,
    body: CallbackCreate,
    ctx: Ctx,
    who: Worker,
    if_match: IfMatch,
    response: Response,
) -> ConcernRead:
    """Promise to call the requester back by a time of its own: a task for the assignee (you
    by default), who is reminded before it is due; a missed callback warns and escalates."""
    before = (
        timedelta(minutes=body.remind_before_minutes)
        if body.remind_before_minutes is not None
        else None
    )
    command = Command(
        Action.SCHEDULE_CALLBACK,
        who.actor,
        text=body.note,
        due_at=body.due_at,
        assignee_id=body.assignee_id,
        remind_before=before,
    )
    return await _act(ctx, concern_id, command, if_match, response, who)


@router.post(
    "/{concern_id}/callbacks/{callback_id}/complete",
    response_model=ConcernRead,
    responses=_ACTION_ERRORS,
)
async def complete_callback(
    concern_id: str,
    callback_id: str,
    body: CallbackDone,
    ctx: Ctx,
    who: Worker,
    if_match: IfMatch,
    response: Response,
) -> ConcernRead:
    """The callback was made: say how it went (reached, voicemail, no_answer)."""
    command = Command(
        Action.COMPLETE_CALLBACK,
        who.actor,
        text=body.note,
        callback_id=callback_id,
        outcome=body.outcome,
    )
    return await _act(ctx, concern_id, command, if_match, response, who)


@router.post(
    "/{concern_id}/callbacks/{callback_id}/cancel",
    response_model=ConcernRead,
    responses=_ACTION_ERRORS,
)
async def cancel_callback(
    concern_id: str,
    callback_id: str,
    ctx: Ctx,
    who: Worker,
    if_match: IfMatch,
    response: Response,
    body: CallbackCancel | None = None,
) -> ConcernRead:
    """The callback is no longer needed (the family wrote back, the case was resolved)."""
    command = Command(
        Action.CANCEL_CALLBACK,
        who.actor,
        text=body.reason if body else None,
        callback_id=callback_id,
    )
    return await _act(ctx, concern_id, command, if_match, response, who)


@router.post("/{concern_id}/resolve", response_model=ConcernRead, responses=_ACTION_ERRORS)
async def resolve(
    concern_id: str,
    body: ResolutionCreate,
    ctx: Ctx,
    who: Worker,
    if_match: IfMatch,
    response: Response,
) -> ConcernRead:
    """Resolve with a summary the requester sees; they may reopen it for 14 days."""
    command = Command(Action.RESOLVE, who.actor, text=body.summary)
    return await _act(ctx, concern_id, command, if_match, response, who)


_reason_action(
    "reopen", Action.REOPEN, "reopen", "Reopen a resolved case; a new guarantee period starts."
)

_reason_action("close", Action.CLOSE, "close", "Close a resolved case for good.")


@router.post("/{concern_id}/merge", response_model=ConcernRead, responses=_ACTION_ERRORS)
async def merge(
    concern_id: str, body: MergeCreate, ctx: Ctx, who: Worker, if_match: IfMatch, response: Response
) -> ConcernRead:
    """Close this case as a duplicate of another (by id or tracking number) of the same school
    or team that the caller may act on, with a reason. Every service hears `concern.merged`:
    the requester is told and may reopen it for 14 days; the Ombudsperson sees it."""
    source = await _case(ctx, concern_id)
    check_scope(who, source)

    def covers(case: Case) -> bool:
        return who.covers(school_id=case.school_id, team_id=case.team_id)

    async def work() -> Document:
        into = await handlers.merge_target(case_of(source), body.into, ctx=ctx, covers=covers)
        command = Command(Action.MERGE, who.actor, text=body.reason, into=into)
        return await handlers.act(concern_id, command, ctx=ctx, if_match=if_match)

    return await _run(ctx, concern_id, response, work(), who=who)


@router.post("/{concern_id}/status", response_model=ConcernRead, responses=_ACTION_ERRORS)
async def change_status(
    concern_id: str,
    body: StatusChangeCreate,
    ctx: Ctx,
    who: Worker,
    if_match: IfMatch,
    response: Response,
) -> ConcernRead:
    """Move to a status by the action that reaches it (the reason is the resolution summary
    when resolving). Kept for existing clients; prefer the action endpoints."""
    check_scope(who, await _case(ctx, concern_id))
    work = handlers.change_status(
        concern_id, body.status, body.reason, actor=who.actor, ctx=ctx, if_match=if_match
    )
    # The reason is what the target needs as text (a resolution summary, a question).
    return await _run(ctx, concern_id, response, work, who=who, text_field="reason")
