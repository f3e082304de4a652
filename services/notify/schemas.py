"""Notify's HTTP contract (see `services.notify.api`): deliveries as staff see them, message
templates and their previews, webhook subscriptions, and the family's survey. Pydantic, the
standard library, shared/ and notify's pure names only: a front door imports them without
notify's store."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from services.notify import surveys
from services.notify.domain import ChannelName, DeliveryStatus, Kind
from shared.events import CATALOGUE, Exchange

PUBLIC_EVENTS = frozenset(n for n, spec in CATALOGUE.items() if spec.exchange is Exchange.PUBLIC)


class AttemptRead(BaseModel):
    attempt: int
    at: datetime
    ok: bool
    answer: str = Field(
        description="the outcome and the provider's status or error codes (never its words)"
    )


class DeliveryRead(BaseModel):
    """One notification of a concern, as staff may see it: the address is masked."""

    id: str
    kind: Kind
    channel: ChannelName
    recipient: str = Field(description="`requester`, a staff id, or a subscription id")
    status: DeliveryStatus
    attempts: int
    address: str | None = Field(description="masked, e.g. a***@example.org")
    language: str
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    failed_at: datetime | None = None
    last_error: str | None = None
    history: list[AttemptRead] = Field(default_factory=list)


class TemplateRead(BaseModel):
    kind: Kind
    channel: ChannelName
    language: str
    subject: str | None
    body: str
    updated_at: datetime
    origin: Literal["seed", "admin"]


class TemplateUpdate(BaseModel):
    subject: str | None = Field(
        default=None, max_length=400, description="email only; placeholders allowed"
    )
    body: str = Field(min_length=1, max_length=20_000)


class TemplatePreview(BaseModel):
    kind: Kind
    channel: ChannelName
    language: str = Field(pattern=r"^[a-z]{2,3}$", description="e.g. `en`, `es`, `vi`")
    subject: str | None = Field(
        default=None, max_length=400, description="email only; placeholders allowed"
    )
    body: str = Field(max_length=20_000)


class TemplatePreviewRead(BaseModel):
    language: str
    subject: str | None = Field(description="email only")
    text: str


class SubscriptionCreate(BaseModel):
    url: str = Field(max_length=2000, description="http(s) URL that receives the webhooks")
    event_types: list[str] = Field(
        min_length=1, max_length=50, description="public event names, or `*` for all of them"
    )
    secret: str = Field(
        min_length=16,
        max_length=256,
        description="signs every webhook (HMAC-SHA256); never shown again",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", url):
            raise ValueError("must be an http:// or https:// URL")
        return url

    @field_validator("event_types")
    @classmethod
    def _public_events(cls, names: list[str]) -> list[str]:
        unknown = sorted({n for n in names if n != "*" and n not in PUBLIC_EVENTS})
        if unknown:
            raise ValueError(f"not public events of the bureau: {', '.join(unknown)}")
        return names


class SubscriptionRead(BaseModel):
    id: str
    url: str
    event_types: list[str]
    created_at: datetime


class SurveyRead(BaseModel):
    question: str
    scale: dict[int, str]
    language: str
    status: surveys.SurveyState
    expires_at: datetime


class SurveyAnswer(BaseModel):
    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=surveys.MAX_COMMENT_CHARS)


class SurveyAnswerRead(BaseModel):
    status: surveys.SurveyState
    answered_at: datetime
