"""The call center's HTTP contract (see `services.intake.calls`): a call's start, steps and
end as the phone front door reports them, a voicemail's callback, the call as recorded, a
caller's open concern, and the call report. Pydantic, the standard library and intake's schemas
only: a front door imports them without intake's store."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from services.intake.schemas import PHONE_PATTERN, Reason, RequesterView, _Strict

UNKNOWN = "unknown"  # a call's group nobody can tell: no concern, no school chosen
NO_GROUP = "none"  # the concern has none: district-wide (no school), not yet routed (no team)


class CallOutcome(StrEnum):
    STATUS_HEARD = "status_heard"
    VOICEMAIL_LEFT = "voicemail_left"
    CONNECTED = "connected"
    ABANDONED = "abandoned"


CallSid = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
Step = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.:-]{0,39}$")]
Phone = Annotated[str, StringConstraints(pattern=PHONE_PATTERN)]


class CallStart(_Strict):
    call_sid: CallSid = Field(description="the provider's id of the call (Twilio `CallSid`)")
    started_at: AwareDatetime | None = Field(default=None, description="default: now")


class CallStepCreate(_Strict):
    step: Step = Field(description="where the caller went, e.g. `language`, `menu:status`")
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$")
    outcome: CallOutcome | None = None
    served_at: AwareDatetime | None = Field(
        default=None,
        description="for an outcome: when the caller was served (status heard, voicemail "
        "recorded, a desk picked up); default: now",
    )
    concern_id: str | None = Field(default=None, max_length=64)
    tracking_number: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9-]{4,32}$",
        description="the concern the caller heard (status by tracking number and PIN): the call "
        "is tied to it, as by `concern_id`",
    )
    school_id: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="the school the caller chose in the phone menu (where it offers one); it "
        "wins over the school of the concern the call is about",
    )


class CallEnd(_Strict):
    duration_s: int | None = Field(default=None, ge=0)


class VoicemailCallback(_Strict):
    concern_id: str = Field(max_length=64, description="the concern the voicemail created")
    callback_due_at: AwareDatetime = Field(description="the district's callback standard")
    note: Reason | None = None


class CallRead(BaseModel):
    call_sid: str
    started_at: datetime
    ended_at: datetime | None = None
    language: str | None = None
    path: list[str] = Field(default_factory=list)
    outcomes: list[CallOutcome] = Field(default_factory=list)
    answered_after_s: float | None = None
    concern_id: str | None = None
    school_id: str | None = None
    duration_s: int | None = None


class RecentConcern(BaseModel):
    """The open concern of a phone number (waiting on the requester first), as its requester
    may see it."""

    language: str
    view: RequesterView


class CallGroup(BaseModel):
    """The calls of one school, category or team (aggregates only)."""

    key: str = Field(
        description=f"the group's id; `{NO_GROUP}`: the concern has none (no school: "
        f"district-wide; no team: not yet routed); `{UNKNOWN}`: the call is tied to no concern "
        "and the caller chose no school"
    )
    calls: int | None = Field(description="null: suppressed (see `suppressed`)")
    answered: int | None
    answered_share: float | None = None
    p90_answer_s: float | None = None
    suppressed: list[str] = Field(
        default_factory=list,
        description="figures not shown to a Board member (under `board.suppress_below`)",
    )


class CallReport(BaseModel):
    start: datetime
    end: datetime
    calls: int | None = Field(description="null: suppressed (see `suppressed`)")
    by_outcome: dict[str, int | None]
    answered: int | None = Field(description="calls where the caller was served")
    median_answer_s: float | None = None
    p90_answer_s: float | None = None
    callbacks_scheduled: int | None
    callbacks_due: int | None = Field(
        default=0,
        description=(
            "callbacks of any concern due in the period and made or missed by now (cancelled "
            "ones and those not yet due are not counted)"
        ),
    )
    callbacks_on_time: float | None = Field(
        default=None,
        description=("share of those made by their due time (the Board's `callbacks_on_time`)"),
    )
    by_school: list[CallGroup] = Field(default_factory=list)
    by_category: list[CallGroup] = Field(default_factory=list)
    by_team: list[CallGroup] = Field(default_factory=list)
    suppressed: list[str] = Field(
        default_factory=list,
        description="district-wide figures not shown to a Board member (a count under "
        "`board.suppress_below`, or a time or share from fewer calls or callbacks)",
    )
