"""HTTP details the intake routers share: the context, who may call, ETag and If-Match."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Response

from services.intake.aggregate import Disclosable
from services.intake.context import IntakeContext
from shared.authz import Access, Permission
from shared.http import Problem, authorize, out_of_scope, service_context
from shared.store import Document

Ctx = Annotated[IntakeContext, Depends(service_context)]

# Who calls, by what they may do (shared/authz.py); each answers the caller's `Access`,
# whose `actor` (the token's subject) is recorded as who acted.
Submitter = Annotated[Access, Depends(authorize(Permission.SUBMIT))]
CatalogReader = Annotated[Access, Depends(authorize(Permission.CATALOG))]
Reader = Annotated[Access, Depends(authorize(Permission.CONCERN_READ))]
Worker = Annotated[Access, Depends(authorize(Permission.CONCERN_ACT))]
Revealer = Annotated[Access, Depends(authorize(Permission.STUDENT_REVEAL))]
Auditor = Annotated[Access, Depends(authorize(Permission.AUDIT_READ))]

T = TypeVar("T")


def check_scope(access: Access, doc: Document) -> None:
    """403 unless the concern's school or team is within the caller's reach, or the concern is
    assigned to the caller (a backup from another team covering for an away member, a
    hand-over)."""
    if not access.covers_concern(
        school_id=doc.get("school_id"),
        team_id=doc.get("team_id"),
        assignee_id=doc.get("assignee_id"),
    ):
        raise out_of_scope()


async def disclosable_in_scope(concern_id: str, who: Access, *, ctx: IntakeContext) -> Disclosable:
    """The concern as a reveal reads it: 404 when there is none, 403 unless it is within the
    caller's reach (as `check_scope`)."""
    concern = await ctx.repo.disclosable(concern_id)
    if concern is None:
        raise Problem(404, "Concern not found", f"No concern has id {concern_id!r}.")
    if not concern.within(who):
        raise out_of_scope()
    return concern


async def reveal_in_scope(
    concern_id: str,
    who: Access,
    reason: str,
    reveal: Callable[..., Awaitable[T]],
    *,
    ctx: IntakeContext,
    response: Response,
) -> T:
    """A reveal with a reason: the concern within the caller's reach, `reveal` (which records
    who asked, when and why before anything is shown) run for it, the answer never cached."""
    revealed = await reveal(
        await disclosable_in_scope(concern_id, who, ctx=ctx),
        actor=who.actor,
        roles=sorted(r.value for r in who.principal.roles),
        reason=reason,
        ctx=ctx,
    )
    response.headers["Cache-Control"] = "no-store"
    return revealed


def scope_query(access: Access) -> Document:
    """The part of a search that keeps a scoped caller to its schools and teams."""
    if access.everything:
        return {}
    reach: list[Document] = []
    if access.schools:
        reach.append({"school_id": {"$in": sorted(access.schools)}})
    if access.teams:
        reach.append({"team_id": {"$in": sorted(access.teams)}})
    reach.append({"assignee_id": access.actor})  # handed to them, whatever its team
    return {"$or": reach}
