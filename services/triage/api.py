"""Triage's HTTP API: decisions and re-triage, merges, teams and their queues, members.

Every route needs a bearer token whose roles hold its permission (shared/authz.py); who acts
is the token's subject, kept in the decision history.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from services.triage import handlers
from services.triage.assignment import Absence
from services.triage.context import TriageContext
from services.triage.handlers import Retriage
from services.triage.schemas import (
    AwayUpdate,
    DecisionRead,
    HandoverCreate,
    HandoverRead,
    MemberRead,
    MergeCreate,
    QueueItemRead,
    TeamRead,
    TriageUpdate,
)
from shared.authz import Access, Permission, access
from shared.clock import as_utc
from shared.http import IfMatch, Problem, authorize, out_of_scope, service_context, set_etag

router = APIRouter(prefix="/v1", tags=["triage"])

Ctx = Annotated[TriageContext, Depends(service_context)]
Reader = Annotated[Access, Depends(authorize(Permission.CONCERN_READ))]
Triager = Annotated[Access, Depends(authorize(Permission.TRIAGE_ACT))]
Directory = Annotated[Access, Depends(authorize(Permission.DIRECTORY_READ))]
Manager = Annotated[Access, Depends(authorize(Permission.MEMBERS_MANAGE))]


def _with_etag(response: Response, decision: DecisionRead) -> DecisionRead:
    """The decision, its version as the answer's ETag (for `If-Match` on a re-triage)."""
    set_etag(response, decision.version)
    return decision


async def _decision_in_reach(ctx: TriageContext, concern_id: str, who: Access) -> dict[str, Any]:
    doc = await ctx.decisions.get(concern_id)
    if doc is None:
        raise Problem(404, "No triage decision", f"Concern {concern_id!r} has not been triaged.")
    if not (
        who.covers(school_id=doc.get("school_id"), team_id=doc.get("team_id"))
        or _assigned_to(who, doc)
    ):
        raise out_of_scope()
    return doc


def _assigned_to(who: Access, doc: dict[str, Any]) -> bool:
    """A concern assigned to the caller is theirs whatever its team (a backup from another
    team covering for an away member, a hand-over), as in intake."""
    return bool(doc.get("assignee_id")) and doc.get("assignee_id") == who.actor


def _cases_within(who: Access) -> dict[str, Any] | None:
    """The part of a search that keeps the caller to the concerns it may read (Security #8:
    the directory is open to every staff role, the concerns in it are not); None: all."""
    reach = access(who.principal, Permission.CONCERN_READ)
    if reach is not None and reach.everything:
        return None
    clauses: list[dict[str, Any]] = []
    if reach is not None and reach.schools:
        clauses.append({"school_id": {"$in": sorted(reach.schools)}})
    if reach is not None and reach.teams:
        clauses.append({"team_id": {"$in": sorted(reach.teams)}})
    if reach is not None:  # handed to them, whatever its team
        clauses.append({"assignee_id": who.actor})
    return {"$or": clauses} if clauses else {"_id": {"$in": []}}


async def _visible(ctx: TriageContext, who: Access, ids: list[str]) -> list[str]:
    """Those of `ids` the caller may read, in their order."""
    where = _cases_within(who)
    if where is None:
        return ids
    seen = await ctx.decisions.within(ids, where)
    return [i for i in ids if i in seen]


def _member_in_reach(ctx: TriageContext, member_id: str, who: Access) -> None:
    if ctx.district.staff_member(member_id) is None:
        raise Problem(404, "No such staff member", f"No staff member {member_id!r}.")
    if not who.covers_member(member_id):
        raise Problem(403, "Outside your scope", "You may change only your own settings.")


@router.get("/concerns/{concern_id}/triage", response_model=DecisionRead)
async def read_decision(concern_id: str, ctx: Ctx, who: Reader, response: Response) -> DecisionRead:
    """How a concern was routed and assigned, by which rule or person, and its history;
    possible duplicates only among the concerns the caller may read. Its version is the
    ETag, for `If-Match` on a re-triage."""
    doc = await _decision_in_reach(ctx, concern_id, who)
    shown = set(await _visible(ctx, who, [d["concern_id"] for d in doc["possible_duplicates"]]))
    return _with_etag(
        response,
        DecisionRead.of(
            {
                **doc,
                "possible_duplicates": [
                    d for d in doc["possible_duplicates"] if d["concern_id"] in shown
                ],
            }
        ),
    )


@router.patch(
    "/concerns/{concern_id}/triage",
    response_model=DecisionRead,
    responses={412: {"description": "If-Match names a version that is no longer current"}},
)
async def retriage(
    concern_id: str,
    body: TriageUpdate,
    ctx: Ctx,
    who: Triager,
    if_match: IfMatch,
    response: Response,
) -> DecisionRead:
    """Re-triage by hand; publishes `concern.triaged` and/or `concern.assigned` (or
    `concern.unassigned` when nobody in the new team can take it). With `If-Match` (the ETag
    read), refused with 412 if someone changed the decision since."""
    if not (body.category or body.team_id or body.priority or body.assignee_id):
        raise Problem(
            422,
            "Nothing to change",
            "Give at least one of category, team_id, priority, assignee_id.",
            errors=[{"field": "body", "message": "nothing to change"}],
        )
    await _decision_in_reach(ctx, concern_id, who)
    change = Retriage(
        reason=body.reason,
        category=body.category,
        team_id=body.team_id,
        priority=body.priority,
        assignee_id=body.assignee_id,
        expected_version=if_match,
    )
    return _with_etag(
        response,
        DecisionRead.of(await handlers.retriage(ctx, concern_id, change, actor=who.actor)),
    )


@router.post("/concerns/{concern_id}/merge", response_model=DecisionRead)
async def merge(concern_id: str, body: MergeCreate, ctx: Ctx, who: Triager) -> DecisionRead:
    """Confirm a duplicate of a concern of the same school or team that the caller may act
    on: publishes `concern.merged`; nothing is deleted."""
    await _decision_in_reach(ctx, concern_id, who)
    target = await ctx.decisions.get(body.into_concern_id)
    if target is None or not who.covers(
        school_id=target.get("school_id"), team_id=target.get("team_id")
    ):
        # the same answer whether it does not exist or is out of reach: nothing revealed
        detail = f"No triaged concern you may act on has id {body.into_concern_id!r}."
        raise Problem(
            422, "Invalid request", detail, errors=[{"field": "into_concern_id", "message": detail}]
        )
    return DecisionRead.of(
        await handlers.merge(
            ctx, concern_id, into=body.into_concern_id, reason=body.reason, actor=who.actor
        )
    )


@router.get("/teams", response_model=list[TeamRead])
async def list_teams(ctx: Ctx, who: Directory) -> list[TeamRead]:
    """The district's teams that concerns are routed to."""
    return [
        TeamRead(id=t.id, name=t.name, lead=t.lead, members=t.members) for t in ctx.district.teams
    ]


@router.get("/teams/{team_id}/queue", response_model=list[QueueItemRead])
async def team_queue(
    team_id: str, ctx: Ctx, who: Directory, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[QueueItemRead]:
    """A team's open concerns that the caller may read: most urgent first, then oldest."""
    if ctx.district.team(team_id) is None:
        raise Problem(404, "No such team", f"Team {team_id!r} does not exist.")
    items = []
    for d in await ctx.decisions.queue(team_id, limit, _cases_within(who)):
        shown = set(await _visible(ctx, who, [p["concern_id"] for p in d["possible_duplicates"]]))
        d["possible_duplicates"] = [p for p in d["possible_duplicates"] if p["concern_id"] in shown]
        items.append(
            QueueItemRead(
                concern_id=d["_id"],
                **{k: v for k, v in d.items() if k in QueueItemRead.model_fields},
            )
        )
    return items


def _member(
    ctx: TriageContext, doc: dict[str, Any] | None, member_id: str, shown: set[str] | None = None
) -> MemberRead:
    """A member; `shown`: the open concerns the caller may read (None: all)."""
    staff = ctx.district.staff_member(member_id)
    doc = doc or {}
    return MemberRead(
        id=member_id,
        name=staff.name if staff else member_id,
        teams=[t.id for t in ctx.district.teams if member_id in t.members],
        load=int(doc.get("load", 0)),
        open=[i for i in doc.get("open", []) if shown is None or i in shown],
        # back once the date they gave has passed (assignment no longer skips them)
        away=bool(doc.get("away", False))
        and Absence(
            doc.get("backup_id"),
            as_utc(until) if (until := doc.get("away_until")) else None,
        ).on(ctx.clock.now()),
        backup_id=doc.get("backup_id"),
        away_until=doc.get("away_until"),
    )


@router.get("/members", response_model=list[MemberRead])
async def list_members(ctx: Ctx, who: Directory) -> list[MemberRead]:
    """Team members (and backups) with their load and out-of-office state; of their open
    concerns, those the caller may read."""
    docs = {d["_id"]: d for d in await ctx.members.all()}
    ids = sorted({m for t in ctx.district.teams for m in t.members} | set(docs))
    shown = await _shown(ctx, who, [c for d in docs.values() for c in d.get("open", [])])
    return [_member(ctx, docs.get(i), i, shown) for i in ids]


async def _shown(ctx: TriageContext, who: Access, ids: list[str]) -> set[str] | None:
    return None if _cases_within(who) is None else set(await _visible(ctx, who, ids))


@router.get("/members/{member_id}", response_model=MemberRead)
async def read_member(member_id: str, ctx: Ctx, who: Directory) -> MemberRead:
    """One member's load and out-of-office state."""
    if ctx.district.staff_member(member_id) is None:
        raise Problem(404, "No such staff member", f"No staff member {member_id!r}.")
    doc = await ctx.members.get(member_id)
    return _member(ctx, doc, member_id, await _shown(ctx, who, list((doc or {}).get("open", []))))


@router.put("/members/{member_id}/away", response_model=MemberRead)
async def set_away(member_id: str, body: AwayUpdate, ctx: Ctx, who: Manager) -> MemberRead:
    """Mark a member away with a backup (their new concerns go to the backup), or back."""
    _member_in_reach(ctx, member_id, who)
    doc = await handlers.set_away(
        ctx, member_id, away=body.away, backup_id=body.backup_id, until=body.until, actor=who.actor
    )
    return _member(ctx, doc, member_id, await _shown(ctx, who, list(doc.get("open", []))))


@router.post("/members/{member_id}/handover", response_model=HandoverRead)
async def handover(member_id: str, body: HandoverCreate, ctx: Ctx, who: Manager) -> HandoverRead:
    """Move every open concern of a member to their backup (or `to`) in one call."""
    _member_in_reach(ctx, member_id, who)
    to, moved = await handlers.handover(
        ctx, member_id, to=body.to, reason=body.reason, actor=who.actor
    )
    shown = await _shown(ctx, who, moved)  # of the concerns moved, those the caller may read
    return HandoverRead(
        member_id=member_id, to=to, moved=[c for c in moved if shown is None or c in shown]
    )
