"""The requester contact's HTTP contract (see `services.intake.contact_api`): a reveal asked
with its reason and what it shows, a search for a family's earlier concerns, and the record of
each access. Pydantic and the standard library only, so a front door imports them without
intake's store."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator


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


class RequesterSearchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requester: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200)]
        | None
    ) = Field(
        default=None, description="the family's email, or phone number in E.164 (+15551234567)"
    )
    concern_id: str | None = Field(
        default=None,
        max_length=64,
        description="instead of a contact: the other concerns of this concern's requester "
        "(by its email or phone; the concern must be within your reach)",
    )
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=10, max_length=1000)
    ] = Field(description="why you look, e.g. the family on the phone (recorded)")
    limit: int = Field(default=50, ge=1, le=100)

    @model_validator(mode="after")
    def _one_way(self) -> RequesterSearchCreate:
        if (self.requester is None) == (self.concern_id is None):
            raise ValueError("give either `requester` or `concern_id`")
        return self


class ContactAccessRead(BaseModel):
    id: str
    kind: str = Field(
        default="contact_revealed",
        description="`contact_revealed`, or `requester_searched` (found by the family's contact)",
    )
    actor: str
    roles: list[str]
    reason: str
    at: datetime
