"""Messages that arrive by mail or SMS to a concern: the frontend says who wrote and what it
answers (a tracking number, the bureau's own Message-IDs, or, by SMS, the sender's number);
intake finds the concern and decides whose message it is.

A message from the requester's own address (or number) is the requester's message, with the
same effect as writing through the status page: it ends a wait for information. Anything else
(another address, a sender the mail server found forged, a concern no longer open) is kept on
the staff timeline as an unverified message for staff to decide; it is never attached as the
requester's, never published, never logged with its text or address. A message to a concern
merged into another goes to the concern it was merged into, and is judged there.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid

from fastapi import APIRouter

from services.intake import handlers
from services.intake.context import IntakeContext
from services.intake.domain import OPEN_STATUSES, Status
from services.intake.inbound_schemas import (
    BounceCreate,
    BounceRead,
    InboundMessageCreate,
    InboundMessageRead,
    Outcome,
)
from services.intake.lifecycle import Action, ActionNotAllowed, Command
from services.intake.repository import case_of
from services.intake.web import Ctx, Submitter
from shared.events import MESSAGE_ID_PATTERN, ConcernDeliveryBounced, envelopes
from shared.http import Problem
from shared.outbox import outbox_push
from shared.store import Document

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/inbound", tags=["inbound"])

# A Message-ID the bureau wrote starts with its concern's id: `<concern-id.hash@domain>`
# (notify's mails); `<concern.concern-id@domain>` anchors the thread in `References`.
_CONCERN_IN_MESSAGE_ID = re.compile(
    r"^<(?:concern\.)?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})[.@]",
    re.IGNORECASE,
)
_TRACKING = re.compile(r"^CS-\d{4}-\d{6}$")
INBOUND = "inbound_messages"


def concern_ids_in(references: list[str]) -> list[str]:
    """The concern ids named by the bureau's own Message-IDs, in order."""
    found = [m.group(1).lower() for r in references if (m := _CONCERN_IN_MESSAGE_ID.match(r))]
    return list(dict.fromkeys(found))


def _same_sender(channel: str, doc: Document, sender: str) -> bool:
    requester = doc.get("requester") or {}
    if channel == "email":
        return (
            bool(requester.get("email"))
            and str(requester["email"]).strip().lower() == sender.strip().lower()
        )
    return bool(requester.get("phone")) and str(requester["phone"]).strip() == sender.strip()


async def _find_concern(
    body: InboundMessageCreate,
    ctx: IntakeContext,
) -> Document | None:
    if body.tracking_number:
        tracking = body.tracking_number.upper()
        if _TRACKING.match(tracking):
            doc = await ctx.repo.by_tracking_number(tracking)
            if doc is not None:
                return doc
    for concern_id in concern_ids_in(body.references):
        doc = await ctx.repo.get_document(concern_id)
        if doc is not None:
            return doc
    if body.channel == "sms" and not body.tracking_number:
        # by SMS, no subject: the sender's concern waiting on them, else their latest open one
        return await ctx.repo.open_concern_of_phone(body.from_address)
    return None


async def _merged_target(doc: Document, ctx: IntakeContext) -> Document:
    """A reply to a concern merged into another goes to that one, where staff work it: followed
    once, never further; the requester checks are then made on the concern it reaches."""
    into = doc.get("merged_into")
    if not into or Status(doc["status"]) in OPEN_STATUSES:
        return doc
    return await ctx.repo.get_document(into) or doc


def _external_key(channel: str, external_id: str) -> str:
    return hashlib.sha256(f"{channel}\0{external_id}".encode()).hexdigest()


@router.post(
    "/messages",
    response_model=InboundMessageRead,
    responses={
        404: {"description": "no concern matches the tracking number, references or number"},
        422: {"description": "an invalid field"},
    },
)
async def receive_message(
    body: InboundMessageCreate, ctx: Ctx, who: Submitter
) -> InboundMessageRead:
    """A message by mail or SMS to an existing concern: the requester's, or kept for staff."""
    inbound = ctx.repo.collection.database[INBOUND]
    key = _external_key(body.channel, body.external_id) if body.external_id else None
    if key is not None:
        earlier = await inbound.find_one({"_id": key})
        if earlier is not None:
            return InboundMessageRead(**{**earlier["answer"], "replayed": True})
    doc = await _find_concern(body, ctx)
    if doc is None:
        raise Problem(
            404,
            "Concern not found",
            "No concern matches this tracking number, these references or this number.",
        )
    answer = await _take(await _merged_target(doc, ctx), body, ctx=ctx, actor=who.actor)
    if key is not None:
        await inbound.update_one(
            {"_id": key},
            {"$setOnInsert": {"answer": answer.model_dump(mode="json"), "at": ctx.clock.now()}},
            upsert=True,
        )
    log.info(
        "inbound message",
        extra={
            "concern_id": answer.concern_id,
            "channel": body.channel,
            "outcome": answer.outcome.value,
        },
    )
    return answer


async def _take(
    doc: Document, body: InboundMessageCreate, *, ctx: IntakeContext, actor: str
) -> InboundMessageRead:
    status = case_of(doc).status
    reason = "from the requester's own address"
    if not body.sender_verified:
        reason = "the sender could not be verified"
    elif not _same_sender(body.channel, doc, body.from_address):
        reason = "not from the requester's address"
    elif status not in OPEN_STATUSES:
        reason = f"the concern is {status}"
    else:
        command = Command(Action.REQUESTER_MESSAGE, handlers.REQUESTER_ACTOR, text=body.body)
        try:
            after = await handlers.act(doc["_id"], command, ctx=ctx)
        except (ActionNotAllowed, handlers.ConcurrentChange) as exc:
            reason = f"not possible now ({type(exc).__name__})"
        else:
            message = after["messages"][-1]
            return InboundMessageRead(
                outcome=Outcome.REQUESTER_MESSAGE,
                reason=reason,
                concern_id=after["_id"],
                tracking_number=after["tracking_number"],
                status=Status(after["status"]),
                message_id=message["id"],
            )
    entry_id = str(uuid.uuid4())
    entry = {
        "id": entry_id,
        "kind": "unverified_message",
        "at": ctx.clock.now(),
        "actor": actor,
        "channel": body.channel,
        "sender": body.from_address,
        "text": body.body,
        "reason": reason,
    }
    result = await ctx.repo.collection.update_one(
        {"_id": doc["_id"]},
        {"$push": {"timeline": entry}, "$inc": {"version": 1}, "$set": {"updated_at": entry["at"]}},
    )
    if result.matched_count != 1:
        raise Problem(404, "Concern not found", "The concern no longer exists.")
    return InboundMessageRead(
        outcome=Outcome.UNVERIFIED,
        reason=reason,
        concern_id=doc["_id"],
        tracking_number=doc["tracking_number"],
        status=status,
        message_id=entry_id,
    )


def _naming(concern_id: str, references: list[str]) -> list[str]:
    """The Message-IDs among `references` of the bureau's mails about this concern."""
    return [
        r
        for r in dict.fromkeys(references)
        if concern_ids_in([r]) == [concern_id] and re.match(MESSAGE_ID_PATTERN, r)
    ]


@router.post(
    "/bounces",
    response_model=BounceRead,
    responses={404: {"description": "the report names no mail of the bureau's concerns"}},
)
async def receive_bounce(body: BounceCreate, ctx: Ctx, who: Submitter) -> BounceRead:
    """A delivery status report: the bureau's mail did not reach the requester. The case
    shows it (staff may need to call); the address stays out of it. Notify hears of it
    (`concern.delivery_bounced`, private) and marks the delivery of that mail failed."""
    for concern_id in concern_ids_in(body.references):
        now = ctx.clock.now()
        entry_id = (
            "bounce:" + hashlib.sha256("\0".join(sorted(body.references)).encode()).hexdigest()[:32]
        )
        push: Document = {
            "timeline": {
                "id": entry_id,
                "kind": "delivery_bounced",
                "at": now,
                "actor": who.actor,
                "channel": "email",
                "status": body.status,
            }
        }
        named = _naming(concern_id, body.references)
        if named:  # with the entry, once: notify marks the delivery of that mail failed
            bounced = ConcernDeliveryBounced(
                concern_id=concern_id, message_ids=named, status=body.status, bounced_at=now
            )
            push.update(outbox_push(envelopes([bounced], source=ctx.source, time=now)))
        result = await ctx.repo.collection.update_one(
            {"_id": concern_id, "timeline.id": {"$ne": entry_id}},
            {"$push": push, "$inc": {"version": 1}, "$set": {"updated_at": now}},
        )
        doc = await ctx.repo.get_document(concern_id)
        if doc is not None:
            if result.modified_count:
                ctx.published()
                log.info(
                    "delivery bounced", extra={"concern_id": concern_id, "status": body.status}
                )
            return BounceRead(concern_id=concern_id, tracking_number=doc["tracking_number"])
    raise Problem(404, "Concern not found", "The report names no mail the bureau sent.")
