"""The requester's contact, for staff who must call back: shown only to staff with a
legitimate interest in the concern (its team or school), with a reason, and every access
recorded before it is shown (like a reveal of student information). Contact details stay out
of lists, events and logs.

Staff with the same interest find a family's earlier concerns by its email or phone: each
concern keeps only keyed hashes of them (`requester_keys`), the search is posted (never in a
URL), limited to the caller's reach, and recorded on every concern it finds."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from services.intake import handlers, views
from services.intake.aggregate import DisclosureKind
from services.intake.contact_schemas import (
    ContactAccessRead,
    ContactRevealCreate,
    ContactRevealRead,
    RequesterSearchCreate,
)
from services.intake.domain import lookup_term, requester_key
from services.intake.queries import SortOrder
from services.intake.repository import disclosable_of
from services.intake.schemas import ConcernPage
from services.intake.web import (
    Auditor,
    Ctx,
    Worker,
    disclosable_in_scope,
    reveal_in_scope,
    scope_query,
)
from shared.authz import Access, Permission
from shared.http import Problem, authorize
from shared.store import Document

router = APIRouter(prefix="/v1", tags=["requester contact"])
REVEALED = "contact_revealed"
SEARCHED = "requester_searched"
# Who may look a family up: staff on their cases, and call-center agents with a caller on
# the phone (who may read every concern but work none).
Searcher = Annotated[Access, Depends(authorize(Permission.REQUESTER_SEARCH))]


@router.post(
    "/concerns/{concern_id}/requester/reveal",
    response_model=ContactRevealRead,
    responses={
        404: {"description": "no such concern, or its requester left no contact"},
        403: {"description": "outside your schools or teams"},
    },
)
async def reveal_contact(
    concern_id: str, body: ContactRevealCreate, ctx: Ctx, who: Worker, response: Response
) -> ContactRevealRead:
    """The requester's name, email and phone, to reach them (a callback). Who, when and why
    are recorded before it is shown."""
    contact, disclosure_id = await reveal_in_scope(
        concern_id, who, body.reason, handlers.reveal_contact, ctx=ctx, response=response
    )
    return ContactRevealRead(
        concern_id=concern_id,
        disclosure_id=disclosure_id,
        name=contact.name,
        email=contact.email,
        phone=contact.phone,
        language=contact.language,
        preferred_contact=contact.preferred_contact.value if contact.preferred_contact else None,
    )


@router.post(
    "/concerns/requester-search",
    response_model=ConcernPage,
    responses={422: {"description": "neither an email nor an E.164 phone number"}},
)
async def requester_search(
    body: RequesterSearchCreate, ctx: Ctx, who: Searcher, response: Response
) -> ConcernPage:
    """A family's concerns, newest first, found by their email or phone (or those of the
    requester of `concern_id`, that one left out), among those within your schools and teams
    (or assigned to you). Posted so that the contact stays out of URLs; each concern found
    records who looked, when and why."""
    now = ctx.clock.now()
    query: Document
    if body.concern_id is not None:
        concern = await disclosable_in_scope(body.concern_id, who, ctx=ctx)
        if not concern.requester_keys:  # anonymous, or stored before the lookup existed
            return ConcernPage(items=[], next_cursor=None, sort=SortOrder.SUBMITTED_DESC)
        keys = list(concern.requester_keys)
        query = {"requester_keys": {"$in": keys}, "_id": {"$ne": concern.id}}
    else:
        term = lookup_term(body.requester or "")
        if term is None:
            message = "enter an email address, or a phone number with its country code (+1...)"
            raise Problem(
                422,
                "Invalid request",
                message,
                errors=[{"field": "requester", "message": message}],
            )
        query = {"requester_keys": requester_key(term, ctx.contact_secret)}
    reach = scope_query(who)
    docs = await ctx.repo.find(
        {"$and": [query, reach]} if reach else query,
        sort=[("submitted_at", -1), ("_id", -1)],
        limit=body.limit,
    )
    roles = sorted(r.value for r in who.principal.roles)
    for doc in docs:  # recorded as a reveal is, of another kind
        await handlers.record_disclosure(
            disclosable_of(doc),
            DisclosureKind.REQUESTER_SEARCHED,
            actor=who.actor,
            roles=roles,
            reason=body.reason,
            ctx=ctx,
        )
    response.headers["Cache-Control"] = "no-store"
    return ConcernPage(
        items=[views.summary(d, now=now) for d in docs],
        next_cursor=None,
        sort=SortOrder.SUBMITTED_DESC,
    )


@router.get("/concerns/{concern_id}/requester/accesses", response_model=list[ContactAccessRead])
async def contact_accesses(concern_id: str, ctx: Ctx, who: Auditor) -> list[ContactAccessRead]:
    """Every access to the requester's contact and every search that found the concern by
    it, oldest first (who, when, why)."""
    found = [
        *await ctx.disclosures.for_concern(concern_id, kind=REVEALED),
        *await ctx.disclosures.for_concern(concern_id, kind=SEARCHED),
    ]
    return [
        ContactAccessRead(
            id=d["_id"],
            kind=d["kind"],
            actor=d["actor"],
            roles=d["roles"],
            reason=d["reason"],
            at=d["at"],
        )
        for d in sorted(found, key=lambda d: d["at"])
    ]
