"""SMS opt-outs: a number that texted STOP gets no SMS from the bureau until it texts START.

The phone front door reports the keywords (carriers require them to be honoured); the
dispatcher refuses an SMS to an opted-out number as a permanent failure, so the delivery log
says why nothing was sent. Numbers are kept only as a keyed hash.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response

from shared.authz import Access, Permission
from shared.http import authorize, service_context

OPT_OUTS = "sms_opt_outs"
PHONE_PATTERN = r"^\+[1-9]\d{6,14}$"
REFUSAL = "the recipient opted out of SMS (STOP)"


def _key(phone: str) -> str:
    return hashlib.sha256(f"sms-opt-out:{phone.strip()}".encode()).hexdigest()


async def opted_out(ctx: Any, phone: str) -> bool:
    """Whether this number said STOP (and not START since)."""
    return await ctx.repo.database[OPT_OUTS].find_one({"_id": _key(phone)}) is not None


router = APIRouter(prefix="/v1/sms-opt-outs", tags=["sms opt-outs"])
Frontend = Annotated[Access, Depends(authorize(Permission.SUBMIT))]
Phone = Annotated[str, Path(pattern=PHONE_PATTERN, description="E.164")]
Ctx = Annotated[Any, Depends(service_context)]


@router.put("/{phone}", status_code=204)
async def opt_out(phone: Phone, who: Frontend, ctx: Ctx) -> Response:
    """The number texted STOP: no more SMS to it."""
    await ctx.repo.database[OPT_OUTS].update_one(
        {"_id": _key(phone)},
        {"$setOnInsert": {"at": ctx.clock.now(), "by": who.actor}},
        upsert=True,
    )
    return Response(status_code=204)


@router.delete("/{phone}", status_code=204)
async def opt_in(phone: Phone, who: Frontend, ctx: Ctx) -> Response:
    """The number texted START: SMS may reach it again."""
    await ctx.repo.database[OPT_OUTS].delete_one({"_id": _key(phone)})
    return Response(status_code=204)


@router.get("/{phone}", status_code=204, responses={404: {"description": "not opted out"}})
async def is_opted_out(phone: Phone, who: Frontend, ctx: Ctx) -> Response:
    """204 when the number has opted out, 404 when SMS may reach it."""
    return Response(status_code=204 if await opted_out(ctx, phone) else 404)
