"""HTTP details the intake routers share: the context, the actor, ETag and If-Match."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Header, Response

from services.intake.handlers import IntakeContext
from shared.http import service_context

ACTOR_PATTERN = r"^[A-Za-z0-9._@-]{1,64}$"
UNKNOWN_ACTOR = "unknown"
NEVER_MATCHES = -1

Ctx = Annotated[IntakeContext, Depends(service_context)]


def actor(x_actor: Annotated[str | None, Header(
        alias="X-Actor", pattern=ACTOR_PATTERN,
        description="staff id of who acts; until sign-in exists, `unknown` when absent")]
          = None) -> str:
    """Who is acting. Sign-in (issue 8) will put the token's subject here."""
    return x_actor or UNKNOWN_ACTOR


Actor = Annotated[str, Depends(actor)]


def etag(version: int) -> str:
    return f'"{version}"'


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def if_match(if_match: Annotated[str | None, Header(
        alias="If-Match",
        description="the ETag last read; a stale one is refused with 412")] = None) -> int | None:
    """The version the client last saw, or None to apply to whatever is current."""
    if if_match is None or if_match.strip() == "*":
        return None
    found = re.fullmatch(r'\s*(?:W/)?"(\d{1,12})"\s*', if_match)
    return int(found.group(1)) if found else NEVER_MATCHES


IfMatch = Annotated[int | None, Depends(if_match)]
