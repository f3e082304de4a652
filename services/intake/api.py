"""Intake's HTTP API for frontends: submission and the catalog a concern form is built from.

The staff side is in `staff_api.py`, the requester's in `requester_api.py`, Open311 in
`open311.py`; `routers` lists them all.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from services.intake import (
    contact_api,
    handlers,
    idempotency,
    open311,
    requester_api,
    staff_api,
    student_api,
)
from services.intake.domain import UNCATEGORIZED, ContactChannel, NewConcern, Requester, Student
from services.intake.schemas import (
    CategoryRead,
    ConcernCreate,
    ConcernReceipt,
    LocalizedNameRead,
    SchoolRead,
)
from services.intake.web import CatalogReader, Ctx, Submitter
from shared.http import Problem
from shared.store import Document

router = APIRouter(prefix="/v1", tags=["submission"])

_NOTICES: dict[tuple[str, bool | str], str] = {
    ("en", True): "Keep your tracking number and access token: with them you can follow your "
    "concern and write to us. We will also keep you informed.",
    ("en", False): "You left no way to reach you, so we cannot send you updates. Keep your "
    "tracking number and access token: with them you can follow your concern "
    "and write to us.",
    ("es", True): "Guarde su número de seguimiento y su clave de acceso: con ellos puede "
    "seguir su caso y escribirnos. También le mantendremos informado.",
    ("es", False): "No dejó ningún medio de contacto, así que no podremos enviarle "
    "novedades. Guarde su número de seguimiento y su clave de acceso: con ellos "
    "puede seguir su caso y escribirnos.",
    ("en", "phone"): "We cannot send text messages, so we will not write to you. Keep your "
    "tracking number and PIN: call us with them to hear how your concern is "
    "going.",
    ("es", "phone"): "No podemos enviar mensajes de texto, así que no le escribiremos. Guarde "
    "su número de seguimiento y su PIN: llámenos con ellos para saber cómo va "
    "su caso.",
}


def receipt(
    doc: Document, access_token: str, pin: str = "", *, sms: bool = False
) -> ConcernReceipt:
    """The answer to a submission, the same for the first request and its retries."""
    requester = Requester(**{**doc["requester"], "preferred_contact": None})
    language = "es" if requester.language.startswith("es") else "en"
    promised = requester.reachable_in_writing(sms=sms)
    notice = _NOTICES[(language, "phone" if requester.phone and not promised else promised)]
    return ConcernReceipt(
        id=doc["_id"],
        tracking_number=doc["tracking_number"],
        status=doc["history"][0]["to"],
        submitted_at=doc["submitted_at"],
        resolution_due_at=doc["resolution_due_at"],
        access_token=access_token,
        pin=pin,
        status_url=f"/v1/tracking/{doc['tracking_number']}",
        updates_promised=promised,
        notice=notice,
    )


@router.post(
    "/concerns",
    status_code=201,
    response_model=ConcernReceipt,
    responses={
        422: {
            "description": "an invalid field (problem details name it), or an Idempotency-Key "
            "already used with another body"
        }
    },
)
async def create_concern(
    body: ConcernCreate,
    ctx: Ctx,
    who: Submitter,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=255,
            description="makes retries safe: the same key and body answer the first concern "
            "and create nothing",
        ),
    ] = None,
) -> ConcernReceipt:
    """Receive a concern; answers its tracking number, due time and the requester's token."""
    if idempotency_key is not None and not idempotency.KEY_PATTERN.match(idempotency_key):
        raise Problem(
            422,
            "Invalid request",
            "Idempotency-Key must be 1-255 visible ASCII characters.",
            errors=[
                {"field": "header.Idempotency-Key", "message": "1-255 visible ASCII characters"}
            ],
        )
    requester = body.requester
    new = NewConcern(
        channel=body.channel,
        category=body.category or UNCATEGORIZED,
        school_id=body.school_id,
        description=body.description,
        school_contacted=body.school_contacted,
        taken_by=who.actor,
        requester=Requester(
            name=requester.name,
            email=requester.email,
            phone=requester.phone,
            language=requester.language,
            relationship=requester.relationship,
            preferred_contact=ContactChannel(requester.preferred_contact)
            if requester.preferred_contact
            else None,
            reply_to_message_id=body.reply_to_message_id,
        ),
        student=Student(**body.student.model_dump()) if body.student else None,
    )
    submission = await handlers.submit_concern(
        # a key is the caller's own: another caller reusing it (and the body) must not
        # get the first requester's access token back (Security, low)
        new,
        ctx=ctx,
        idempotency_key=f"{who.actor} {idempotency_key}" if idempotency_key else None,
        body_fingerprint=idempotency.fingerprint(body.model_dump(mode="json")),
    )
    if submission.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return receipt(
        submission.document, submission.access_token, submission.pin, sms=ctx.sms_updates
    )


@router.get("/categories", response_model=list[CategoryRead], tags=["catalog"])
async def list_categories(ctx: Ctx, who: CatalogReader) -> list[CategoryRead]:
    """The district's concern categories, named in English and Spanish."""
    return [
        CategoryRead(id=c.id, name=LocalizedNameRead(**c.name.model_dump()))
        for c in ctx.district.categories
    ]


@router.get("/schools", response_model=list[SchoolRead], tags=["catalog"])
async def list_schools(ctx: Ctx, who: CatalogReader) -> list[SchoolRead]:
    """The district's schools, named in English and Spanish."""
    return [
        SchoolRead(id=s.id, name=LocalizedNameRead(**s.name.model_dump()))
        for s in ctx.district.schools
    ]


routers = [
    router,
    staff_api.router,
    student_api.router,
    requester_api.router,
    open311.router,
    contact_api.router,
]
