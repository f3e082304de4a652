"""Intake's HTTP API: thin routes over the handlers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from services.intake import handlers
from services.intake.domain import NewConcern, Requester, Status, Student, TransitionNotAllowed
from services.intake.handlers import IntakeContext
from services.intake.repository import to_document
from shared.events import Channel, Priority
from shared.http import Problem, service_context

router = APIRouter(prefix="/v1", tags=["concerns"])

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Phone = Annotated[str, StringConstraints(pattern=r"^\+[1-9]\d{6,14}$")]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")]
Relationship = Literal["parent_guardian", "student", "staff", "community", "alumni"]
Grade = Literal["PK", "K", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RequesterIn(_Strict):
    name: Text | None = None
    email: EmailStr | None = None
    phone: Phone | None = Field(default=None, description="E.164, e.g. +15551234567")
    language: Language = "en"
    relationship: Relationship | None = None


class StudentIn(_Strict):
    name: Text | None = None
    student_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,32}$")] | None = None
    grade: Grade | None = None
    special_education: bool = False


class ConcernCreate(_Strict):
    channel: Channel
    category: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    school_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=10,
                                                  max_length=5000)]
    requester: RequesterIn = Field(default_factory=RequesterIn)
    student: StudentIn | None = None


class TeamRead(BaseModel):
    id: str
    name: str


class EscalationRead(BaseModel):
    level: int
    role: str
    escalated_to_name: str
    escalated_at: datetime


class ConcernRead(BaseModel):
    """The staff view of a case. Student information is never shown here, only its presence."""

    id: str
    tracking_number: str
    status: Status
    channel: Channel
    category: str
    school_id: str | None
    description: str
    requester_language: str
    anonymous: bool
    has_student_information: bool
    submitted_at: datetime
    resolution_due_at: datetime
    team: TeamRead | None = None
    priority: Priority | None = None
    escalation: EscalationRead | None = None
    history: list[dict[str, Any]] = Field(default_factory=list)
    timeline: list[dict[str, Any]] = Field(default_factory=list)


class StatusChangeCreate(_Strict):
    status: Status
    reason: Annotated[str, StringConstraints(max_length=1000)] | None = None


Ctx = Annotated[IntakeContext, Depends(service_context)]


def _read(doc: dict[str, Any]) -> ConcernRead:
    team = TeamRead(id=doc["team_id"], name=doc["team_name"]) if doc.get("team_id") else None
    escalation = doc.get("escalation")
    requester = Requester(**doc["requester"])
    return ConcernRead(
        id=doc["_id"], tracking_number=doc["tracking_number"], status=doc["status"],
        channel=doc["channel"], category=doc["category"], school_id=doc.get("school_id"),
        description=doc["description"], requester_language=requester.language,
        anonymous=requester.anonymous, has_student_information=bool(doc.get("student")),
        submitted_at=doc["submitted_at"], resolution_due_at=doc["resolution_due_at"],
        team=team, priority=doc.get("priority"),
        escalation=EscalationRead(**escalation) if escalation else None,
        history=doc.get("history", []), timeline=doc.get("timeline", []),
    )


async def _load(ctx: IntakeContext, concern_id: str) -> dict[str, Any]:
    doc = await ctx.repo.get_document(concern_id)
    if doc is None:
        raise Problem(404, "Concern not found", f"No concern has id {concern_id!r}.")
    return doc


@router.post("/concerns", status_code=201, response_model=ConcernRead)
async def create_concern(body: ConcernCreate, ctx: Ctx) -> ConcernRead:
    """Receive a concern; answers its tracking number and promised resolution time."""
    new = NewConcern(
        channel=body.channel, category=body.category, school_id=body.school_id,
        description=body.description,
        requester=Requester(**body.requester.model_dump()),
        student=Student(**body.student.model_dump()) if body.student else None,
    )
    try:
        concern = await handlers.submit_concern(new, ctx=ctx)
    except handlers.InvalidReference as exc:
        raise Problem(422, "Invalid request", str(exc),
                      errors=[{"field": exc.field, "message": str(exc)}]) from None
    return _read(to_document(concern))


@router.get("/concerns/{concern_id}", response_model=ConcernRead)
async def read_concern(concern_id: str, ctx: Ctx) -> ConcernRead:
    """The case: status, team, priority, escalation and history."""
    return _read(await _load(ctx, concern_id))


@router.post("/concerns/{concern_id}/status", response_model=ConcernRead)
async def change_status(concern_id: str, body: StatusChangeCreate, ctx: Ctx) -> ConcernRead:
    """Move a concern through its lifecycle; a move the lifecycle forbids is a 409."""
    try:
        await handlers.change_status(concern_id, body.status, body.reason, ctx=ctx)
    except handlers.ConcernNotFound:
        raise Problem(404, "Concern not found", f"No concern has id {concern_id!r}.") from None
    except TransitionNotAllowed as exc:
        raise Problem(409, "Transition not allowed", str(exc)) from None
    except handlers.ConcurrentChange:
        raise Problem(409, "Concern changed meanwhile",
                      "Someone else changed this concern; reload it and try again.") from None
    return _read(await _load(ctx, concern_id))
