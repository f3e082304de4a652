"""The requester's side: with the tracking number and the access token from the submission,
see the status, write to the bureau, and reopen a resolved concern within 14 days.

A wrong token answers exactly like an unknown tracking number, so neither can be probed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request

from services.intake import handlers, views
from services.intake.aggregate import RequesterAccess
from services.intake.lifecycle import Action, ActionNotAllowed, Command
from services.intake.repository import requester_access_of
from services.intake.schemas import RequesterMessageCreate, RequesterReopenCreate, RequesterView
from services.intake.web import Ctx
from shared.auth import AuthError, Role
from shared.http import Problem
from shared.ratelimit import FORWARDED_FOR_HEADER, RateLimiter
from shared.store import Document


async def limit_lookups(request: Request) -> None:
    """Tracking numbers are sequential: slow down anyone trying them with guessed tokens."""
    limiter: RateLimiter | None = getattr(request.app.state, "tracking_limiter", None)
    client = client_address(request)
    if limiter is not None and not limiter.allow(client):
        raise Problem(
            429,
            "Too many requests",
            "Too many tracking lookups from this address; wait and try again.",
            headers={"Retry-After": str(limiter.retry_after_s())},
        )


def client_address(request: Request) -> str:
    """Whom the limits count: the family's address when a frontend (a valid token with the
    `frontend` role) forwards it, else the caller's own address."""
    own = request.client.host if request.client else "unknown"
    forwarded = request.headers.get(FORWARDED_FOR_HEADER, "").strip()
    verifier = getattr(request.app.state, "verifier", None)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if not forwarded or len(forwarded) > 64 or verifier is None or scheme.lower() != "bearer":
        return own
    try:
        principal = verifier.verify(token.strip())
    except AuthError:
        return own
    return f"via:{forwarded}" if principal.has(Role.FRONTEND) else own


router = APIRouter(
    prefix="/v1/tracking",
    tags=["requester"],
    dependencies=[Depends(limit_lookups)],
    responses={429: {"description": "too many lookups from this address"}},
)

TokenHeader = Annotated[
    str | None,
    Header(
        alias="X-Access-Token",
        max_length=128,
        description="the access token from the submission answer (or send X-Access-Pin)",
    ),
]
PinHeader = Annotated[
    str | None,
    Header(
        alias="X-Access-Pin",
        max_length=16,
        description="the 6-digit PIN from the submission answer, in place of the token (a phone "
        "agent reads it out); locked for a while after repeated wrong PINs",
    ),
]


def credentials(token: TokenHeader = None, pin: PinHeader = None) -> tuple[str | None, str]:
    """The requester's secret: the token, or else the PIN (`(None, pin)`)."""
    if token is not None:
        return token, ""
    if pin is not None:
        return None, pin
    raise Problem(
        422,
        "Invalid request",
        "Send the access token (X-Access-Token) or the PIN "
        "(X-Access-Pin) given with the tracking number.",
        errors=[{"field": "header.X-Access-Token", "message": "required, or header.X-Access-Pin"}],
    )


Token = Annotated[tuple[str | None, str], Depends(credentials)]

Responses = dict[int | str, dict[str, Any]]
_NOT_FOUND: Responses = {
    404: {"description": "unknown tracking number, or a token that does not match"}
}
_ERRORS: Responses = {
    **_NOT_FOUND,
    409: {"description": "not possible in the concern's current status"},
    422: {"description": "an invalid field"},
}


def _not_found() -> Problem:
    # One answer for an unknown number and a wrong token: neither is revealed.
    return Problem(
        404, "Concern not found", "No concern matches this tracking number and access token."
    )


async def _own_case(
    ctx: Ctx, tracking_number: str, secret: tuple[str | None, str]
) -> tuple[RequesterAccess, Document]:
    """The concern the requester's token or PIN opens: what opened it, and the document
    their view shows; `_not_found` for anything else."""
    doc = await ctx.repo.by_tracking_number(tracking_number) if len(tracking_number) <= 32 else None
    if doc is None:
        raise _not_found()
    door = requester_access_of(doc)
    token, pin = secret
    if token is not None:
        opened = door.token_opens(token)
    else:
        opened = await handlers.pin_opens(door, pin, ctx=ctx)  # a locked PIN refuses: a 429
    if not opened:
        raise _not_found()
    return door, doc


@router.get("/{tracking_number}", response_model=RequesterView, responses=_NOT_FOUND)
async def read_status(tracking_number: str, token: Token, ctx: Ctx) -> RequesterView:
    """The public status of one's own concern: status, team, due time, replies, resolution."""
    _, doc = await _own_case(ctx, tracking_number, token)
    return views.requester_view(doc, district=ctx.district, now=ctx.clock.now())


async def _act(ctx: Ctx, door: RequesterAccess, command: Command) -> RequesterView:
    # Refusals are answered as everywhere (shared/errors), but in the requester's words: no
    # concern id, no internal action name, no status beside the one their view shows.
    try:
        after = await handlers.act(door.id, command, ctx=ctx)
    except handlers.ConcernNotFound:
        raise _not_found() from None
    except ActionNotAllowed as exc:
        raise Problem(409, "Not possible now", str(exc).replace("requester_", "")) from None
    except handlers.ConcurrentChange:
        raise Problem(409, "Concern changed meanwhile", "Please try again.") from None
    return views.requester_view(after, district=ctx.district, now=ctx.clock.now())


@router.post("/{tracking_number}/messages", response_model=RequesterView, responses=_ERRORS)
async def add_message(
    tracking_number: str, body: RequesterMessageCreate, token: Token, ctx: Ctx
) -> RequesterView:
    """Write to the bureau: more information, or the answer to its question."""
    door, _ = await _own_case(ctx, tracking_number, token)
    command = Command(Action.REQUESTER_MESSAGE, handlers.REQUESTER_ACTOR, text=body.message)
    return await _act(ctx, door, command)


@router.post("/{tracking_number}/reopen", response_model=RequesterView, responses=_ERRORS)
async def reopen(
    tracking_number: str, token: Token, ctx: Ctx, body: RequesterReopenCreate | None = None
) -> RequesterView:
    """Reopen a resolved concern within 14 days of its resolution."""
    door, _ = await _own_case(ctx, tracking_number, token)
    command = Command(
        Action.REQUESTER_REOPEN, handlers.REQUESTER_ACTOR, text=body.reason if body else None
    )
    return await _act(ctx, door, command)
