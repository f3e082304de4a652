"""Everything notify's handlers, dispatcher and routes need, wired once at startup."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from services.notify.channels import OutboundChannel
from services.notify.config import NotifyConfig
from services.notify.dispatcher import DispatchLoop
from services.notify.domain import ChannelName
from services.notify.repository import (
    ConcernRepository,
    DeliveryRepository,
    SubscriptionRepository,
    SurveyRepository,
    TemplateRepository,
)
from shared.board import BoardConfig
from shared.clock import Clock
from shared.district import DistrictConfig


@dataclass(frozen=True)
class NotifyContext:
    repo: DeliveryRepository
    concerns: ConcernRepository
    templates: TemplateRepository
    subscriptions: SubscriptionRepository
    surveys: SurveyRepository
    channels: Mapping[ChannelName, OutboundChannel]
    clock: Clock
    district: DistrictConfig
    config: NotifyConfig
    source: str
    published: Callable[..., None]  # (collection written) -> wake the outbox relay
    dispatch: DispatchLoop
    delivery_attempts: int
    delivery_lease: timedelta
    backoff_s: tuple[float, ...]
    dispatch_batch: int
    survey_key: str
    board: BoardConfig  # the `board:` section: who gets the monthly packet

    @property
    def available(self) -> frozenset[ChannelName]:
        """The channels this deployment can send through."""
        return frozenset(self.channels)
