"""The survey of a concern for the family front doors.

A family who opened its concern on the status page (tracking number and access code or PIN,
checked by intake) answers there the one survey of the concern, whether or not a message
brought them its link: families who filed by phone or gave no email or SMS number are heard
too. The front door asks by tracking number with its own client token; the link's token never
leaves notify, and an answer here is the concern's one answer (the link then says it is
answered), counted by the Board as any other (`survey.answered`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from services.notify import surveys
from services.notify.api import (
    Ctx,
    SurveyAnswer,
    SurveyAnswerRead,
    SurveyRead,
    answer_survey,
    get_survey,
)
from services.notify.context import NotifyContext
from shared.authz import Access, Permission
from shared.http import Problem, authorize

router = APIRouter(prefix="/v1")
Relay = Annotated[Access, Depends(authorize(Permission.REQUESTER_RELAY))]
TrackingNumber = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9-]+$")]
PATH = "/concerns/by-tracking/{tracking_number}/survey"


async def _token(tracking_number: str, ctx: NotifyContext) -> str:
    """The survey token of the concern of a tracking number; 404 for one notify never heard of."""
    facts = await ctx.concerns.by_tracking_number(tracking_number.upper())
    if facts is None:
        raise Problem(404, "Survey not found", "No survey for this concern.")
    return surveys.token_for(ctx.survey_key, facts.concern_id)


@router.get(PATH, response_model=SurveyRead, tags=["surveys"])
async def get_concern_survey(tracking_number: TrackingNumber, ctx: Ctx, who: Relay) -> SurveyRead:
    """The concern's survey, for a front door that checked the family's access with intake:
    `open` or `answered`; 404 until the concern is resolved, 410 once the survey expired."""
    return await get_survey(await _token(tracking_number, ctx), ctx)


@router.post(PATH, response_model=SurveyAnswerRead, status_code=201, tags=["surveys"])
async def answer_concern_survey(
    tracking_number: TrackingNumber, body: SurveyAnswer, ctx: Ctx, who: Relay
) -> SurveyAnswerRead:
    """The family's one answer, as through the link: 409 for a second one (by either door),
    410 after 30 days; publishes `survey.answered`."""
    return await answer_survey(await _token(tracking_number, ctx), body, ctx)
