"""The inbound messages' HTTP contract (see `services.intake.inbound`): a family's mail or text
as a front door hands it over, what intake made of it, and a delivery report. Pydantic, the
standard library and intake's pure status names only: a front door imports them without
intake's store."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from services.intake.domain import Status
from services.intake.schemas import LongText, _Strict


class Outcome(StrEnum):
    REQUESTER_MESSAGE = "requester_message"
    UNVERIFIED = "unverified"


MessageIdRef = Annotated[str, StringConstraints(strip_whitespace=True, max_length=998)]


class InboundMessageCreate(_Strict):
    channel: Literal["email", "sms"]
    from_address: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)
    ] = Field(description="the sender's address (email) or number in E.164 (sms)")
    sender_verified: bool = Field(
        default=True,
        description="false unless the district's mail server vouched for the sender "
        "(its Authentication-Results passed; forged or unchecked senders are false): "
        "the message is then never the requester's",
    )
    tracking_number: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] | None
    ) = None
    references: list[MessageIdRef] = Field(
        default=[],
        max_length=50,
        description="Message-IDs the mail answers (In-Reply-To, References)",
    )
    external_id: Annotated[str, StringConstraints(strip_whitespace=True, max_length=998)] | None = (
        Field(
            default=None,
            description="the message's own id (a Message-ID, an SMS sid): the same "
            "id is taken once",
        )
    )
    body: LongText


class InboundMessageRead(BaseModel):
    outcome: Outcome = Field(
        description="`requester_message`: added as the requester's "
        "message; `unverified`: kept for staff to decide"
    )
    reason: str
    concern_id: str
    tracking_number: str
    status: Status
    message_id: str
    replayed: bool = False


class BounceCreate(_Strict):
    references: list[MessageIdRef] = Field(
        min_length=1,
        max_length=50,
        description="Message-IDs of the bureau's mails the report is about",
    )
    status: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] | None = Field(
        default=None, description="the RFC 3464 status, e.g. 5.1.1"
    )


class BounceRead(BaseModel):
    concern_id: str
    tracking_number: str
