"""Triage's HTTP API: the decision about a concern, and the district's teams."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from services.triage.handlers import TriageContext
from shared.events import Priority
from shared.http import Problem, service_context

router = APIRouter(prefix="/v1", tags=["triage"])


class DecisionRead(BaseModel):
    concern_id: str
    category: str
    school_id: str | None
    team_id: str
    priority: Priority
    rule: str
    decided_by: str
    decided_at: datetime


class TeamRead(BaseModel):
    id: str
    name: str


Ctx = Annotated[TriageContext, Depends(service_context)]


@router.get("/concerns/{concern_id}/triage", response_model=DecisionRead)
async def read_decision(concern_id: str, ctx: Ctx) -> DecisionRead:
    """How a concern was routed, and by which rule."""
    doc = await ctx.repo.get(concern_id)
    if doc is None:
        raise Problem(404, "No triage decision", f"Concern {concern_id!r} has not been triaged.")
    return DecisionRead(concern_id=doc["_id"], **{k: v for k, v in doc.items()
                                                  if k in DecisionRead.model_fields})


@router.get("/teams", response_model=list[TeamRead])
async def list_teams(ctx: Ctx) -> list[TeamRead]:
    """The district's teams that concerns are routed to."""
    return [TeamRead(id=t.id, name=t.name) for t in ctx.district.teams]
