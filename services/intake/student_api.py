"""Student information: revealed to a role with an interest in the concern, with a reason,
and every reveal recorded; one student's record exported for an auditor or the Ombudsperson.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from services.intake import handlers
from services.intake.schemas import (
    DisclosureRead,
    DisclosureRecord,
    StudentRead,
    StudentRevealCreate,
    StudentRevealRead,
)
from services.intake.web import Auditor, Ctx, Revealer, reveal_in_scope

router = APIRouter(prefix="/v1", tags=["student information"])

StudentId = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9-]{1,32}$", description="the student's district id")
]


@router.post(
    "/concerns/{concern_id}/student/reveal",
    response_model=StudentRevealRead,
    responses={
        404: {"description": "no such concern, or it names no student"},
        403: {"description": "outside your schools or teams"},
    },
)
async def reveal_student(
    concern_id: str, body: StudentRevealCreate, ctx: Ctx, who: Revealer, response: Response
) -> StudentRevealRead:
    """The concern's student in full. Who, when and why are recorded before it is shown."""
    student, disclosure_id = await reveal_in_scope(
        concern_id, who, body.reason, handlers.reveal_student, ctx=ctx, response=response
    )
    return StudentRevealRead(
        concern_id=concern_id,
        disclosure_id=disclosure_id,
        student=StudentRead(
            name=student.name,
            student_id=student.student_id,
            grade=student.grade,
            special_education=student.special_education,
        ),
    )


@router.get("/students/{student_id}/disclosures", response_model=DisclosureRecord)
async def student_disclosures(
    student_id: StudentId, ctx: Ctx, who: Auditor, response: Response
) -> DisclosureRecord:
    """One student's record of access and disclosures (34 CFR 99.32), oldest first: each
    concern that collected their information, what was shared, and every reveal."""
    entries = await handlers.student_record(student_id, ctx=ctx)
    response.headers["Cache-Control"] = "no-store"
    return DisclosureRecord(entries=[DisclosureRead(**e) for e in entries])
