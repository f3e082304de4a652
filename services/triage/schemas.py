"""Triage's HTTP contract (see `services.triage.api`, `rules_api` and `safety_api`): a concern's
decision and what staff change in it, teams, members and their queues, routing rules and their
dry run, and the safety words. Pydantic, the standard library, shared/ and triage's pure rule
shapes only: a front door imports them without triage's store."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.triage.rules import Rule
from shared.events import Channel, Priority

MAX_WORDS = 300
Term = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# why staff re-triage or merge, kept in the decision history: spaces alone are no reason
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=1000)]


class DuplicateRead(BaseModel):
    concern_id: str
    reason: str
    similarity: float


class HistoryRead(BaseModel):
    model_config = ConfigDict(extra="allow")

    at: datetime
    by: str
    action: str


class DecisionRead(BaseModel):
    concern_id: str
    category: str
    school_id: str | None
    team_id: str
    priority: Priority
    tags: list[str]
    rule: str
    decided_by: str
    decided_at: datetime
    assignee_id: str | None
    covering_for: str | None = None
    status: str
    merged_into: str | None = None
    possible_duplicates: list[DuplicateRead]
    submitted_at: datetime
    history: list[HistoryRead]
    version: int = Field(
        default=0, description="goes back in `If-Match` with a re-triage (also the ETag)"
    )

    @classmethod
    def of(cls, doc: dict[str, Any]) -> DecisionRead:
        return cls(concern_id=doc["_id"], **{k: v for k, v in doc.items() if k in cls.model_fields})


class TriageUpdate(_Body):
    """A manual re-triage: change any of category, team, priority, assignee, with a reason."""

    reason: Reason
    category: str | None = None
    team_id: str | None = None
    priority: Priority | None = None
    assignee_id: str | None = None


class MergeCreate(_Body):
    into_concern_id: str = Field(min_length=1, max_length=100)
    reason: Reason


class TeamRead(BaseModel):
    id: str
    name: str
    lead: str
    members: list[str]


class QueueItemRead(BaseModel):
    concern_id: str
    category: str
    school_id: str | None
    priority: Priority
    tags: list[str]
    assignee_id: str | None
    submitted_at: datetime
    possible_duplicates: list[DuplicateRead]


class MemberRead(BaseModel):
    id: str
    name: str
    teams: list[str]
    load: int
    open: list[str]
    away: bool
    backup_id: str | None
    away_until: datetime | None = None


class AwayUpdate(_Body):
    away: bool
    backup_id: str | None = Field(default=None, description="who takes new concerns meanwhile")
    until: datetime | None = None


class HandoverCreate(_Body):
    to: str | None = Field(default=None, description="defaults to the member's backup")
    reason: str | None = Field(default=None, max_length=1000)


class HandoverRead(BaseModel):
    member_id: str
    to: str
    moved: list[str]


# --- routing rules ------------------------------------------------------------------------


class RuleCreate(Rule):
    position: int | None = Field(
        default=None, ge=0, description="0 = tried first; default: tried last"
    )


class RuleRead(Rule):
    position: int


class RuleOrder(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule_ids: list[str] = Field(description="every rule id, in the order they are tried")


class DryRunCreate(BaseModel):
    """A concern as triage would see it."""

    model_config = ConfigDict(extra="forbid")

    category: str
    school_id: str | None = None
    channel: Channel = Channel.WEB
    description: str = Field(default="", max_length=5000)
    requester_relationship: str | None = None
    student_flags: list[str] = Field(default_factory=list)
    school_contacted: bool | None = None


class ConsideredRead(BaseModel):
    rule_id: str
    matched: bool
    why: list[str]


class DryRunRead(BaseModel):
    team_id: str
    team_name: str
    priority: Priority
    rule: str
    tags: list[str]
    reasons: list[str]
    safety_words: list[str]
    considered: list[ConsideredRead]


# --- safety words -------------------------------------------------------------------------


class SafetyWordsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    words: list[Term] = Field(
        max_length=MAX_WORDS,
        description="words or phrases, case and accents ignored; a trailing `*` allows any "
        "ending (`amenaz*`); repeats are dropped",
    )


class SafetyWordsRead(BaseModel):
    words: list[str]
    origin: Literal["district", "admin"] = Field(
        description="`district`: the district file's, never changed here"
    )
    updated_at: datetime | None = None
    updated_by: str | None = None
