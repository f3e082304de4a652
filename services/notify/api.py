"""Notify's HTTP API: thin routes over the repository."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from services.notify.domain import ChannelName, DeliveryStatus, Kind, mask_address
from services.notify.handlers import NotifyContext
from services.notify.repository import Delivery
from shared.http import service_context

router = APIRouter(prefix="/v1", tags=["deliveries"])


class DeliveryRead(BaseModel):
    """One notification of a concern, as staff may see it: the address is masked."""

    id: str
    kind: Kind
    channel: ChannelName
    status: DeliveryStatus
    attempts: int
    address: str | None = Field(description="masked, e.g. a***@example.org")
    language: str
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None
    failed_at: datetime | None = None
    last_error: str | None = None


Ctx = Annotated[NotifyContext, Depends(service_context)]


def _read(delivery: Delivery) -> DeliveryRead:
    return DeliveryRead(
        id=delivery.id, kind=delivery.kind, channel=delivery.channel, status=delivery.status,
        attempts=delivery.attempts,
        address=mask_address(delivery.address) if delivery.address else None,
        language=delivery.language, created_at=delivery.created_at,
        updated_at=delivery.updated_at, sent_at=delivery.sent_at, failed_at=delivery.failed_at,
        last_error=delivery.last_error,
    )


@router.get("/concerns/{concern_id}/deliveries", response_model=list[DeliveryRead])
async def list_deliveries(concern_id: str, ctx: Ctx) -> list[DeliveryRead]:
    """Every notification of a concern, oldest first (empty until notify has heard of it)."""
    return [_read(d) for d in await ctx.repo.for_concern(concern_id)]
