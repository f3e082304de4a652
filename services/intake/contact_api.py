"""The requester's contact, for staff who must call back: shown only to staff with a
legitimate interest in the concern (its team or school), with a reason, and every access
recorded before it is shown (like a reveal of student information). Contact details stay out
of lists, events and logs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.intake import handlers
from services.intake.web import Auditor, Ctx, Worker, reveal_in_scope
from shared.http import Problem

router = APIRouter(prefix="/v1", tags=["requester contact"])


class ContactRevealCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=10, max_length=1000)
    ] = Field(description="why you need it, e.g. the callback you are making (recorded)")


class ContactRevealRead(BaseModel):
    concern_id: str
    disclosure_id: str = Field(description="the record of this access")
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    language: str
    preferred_contact: str | None = None


class ContactAccessRead(BaseModel):
    id: str
    actor: str
    roles: list[str]
    reason: str
    at: datetime


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
    try:
        contact, disclosure_id = await reveal_in_scope(
            concern_id, who, body.reason, handlers.reveal_contact, ctx=ctx, response=response
        )
    except handlers.NoContact:
        raise Problem(404, "No contact", "The requester left no way to reach them.") from None
    return ContactRevealRead.model_validate(
        {"concern_id": concern_id, "disclosure_id": disclosure_id, **contact}
    )


@router.get("/concerns/{concern_id}/requester/accesses", response_model=list[ContactAccessRead])
async def contact_accesses(concern_id: str, ctx: Ctx, who: Auditor) -> list[ContactAccessRead]:
    """Every access to the requester's contact, oldest first (who, when, why)."""
    return [
        ContactAccessRead(
            id=d["_id"], actor=d["actor"], roles=d["roles"], reason=d["reason"], at=d["at"]
        )
        for d in await ctx.disclosures.for_concern(concern_id, kind="contact_revealed")
    ]
