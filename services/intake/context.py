"""Everything intake's handlers and routes need, wired once at startup."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.intake.config import IntakeConfig
from services.intake.idempotency import IdempotencyKeys
from services.intake.promise import Promise
from services.intake.repository import ConcernRepository, DisclosureRepository
from shared.clock import Clock
from shared.district import DistrictConfig
from shared.events import Priority


@dataclass(frozen=True)
class IntakeContext:
    """Everything intake's handlers need, wired once at startup."""

    repo: ConcernRepository
    keys: IdempotencyKeys
    clock: Clock
    district: DistrictConfig
    config: IntakeConfig
    source: str
    published: Callable[[], None]
    contact_secret: bytes
    access_key: bytes
    disclosures: DisclosureRepository
    sms_updates: bool = False  # notify texts requesters: a phone alone is reachable
    promise: Promise | None = None  # the SLA clock's due time, computed as escalation does

    def resolution_due(
        self,
        *,
        concern_id: str,
        category: str,
        school_id: str | None,
        priority: Priority | None,
        at: datetime,
    ) -> datetime:
        """The due time the concern's SLA clock will have if (re)started at `at`."""
        if self.promise is None:
            return at + self.guarantee
        return self.promise.resolution_due(
            concern_id=concern_id, category=category, school_id=school_id, priority=priority, at=at
        )

    @property
    def guarantee(self) -> timedelta:
        return timedelta(hours=self.district.district.guarantee_hours)
