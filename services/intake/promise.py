"""The due time intake tells a family at once: the SLA clock's own arithmetic.

Escalation owns due times. So that the receipt, the acknowledgement and every view agree with
the clock from the first answer, intake runs escalation's pure clock arithmetic (its domain,
policies and calendars: no store, no I/O) on the policies the district file seeds. Afterwards
escalation's `sla.due_changed` keeps the case in step: pauses, resumes, re-triage, reopening,
and policies an administrator edited since the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.escalation import domain as clock_rules
from services.escalation.config import EscalationConfig
from services.escalation.policies import NoPolicyApplies, calendars_of, seed_policies
from shared.district import DistrictConfig
from shared.events import Priority


@dataclass(frozen=True)
class Promise:
    """Computes the resolution due time a new (or reopened) concern's clock will have."""

    rules: clock_rules.Rules
    fallback: timedelta

    @classmethod
    def of(cls, district: DistrictConfig) -> Promise:
        """From the district file, as escalation seeds its policies."""
        config = district.section("escalation", EscalationConfig)
        return cls(
            rules=clock_rules.Rules(
                policies=seed_policies(district, config),
                calendars=calendars_of(district, config),
                district=district,
            ),
            fallback=timedelta(hours=district.district.guarantee_hours),
        )

    def resolution_due(
        self,
        *,
        concern_id: str,
        category: str,
        school_id: str | None,
        priority: Priority | None,
        at: datetime,
    ) -> datetime:
        """When the clock started at `at` will be due; without a priority, the category's
        usual one (as escalation starts a clock before triage decides)."""
        if priority is None:
            known = self.rules.district.category(category)
            priority = known.priority if known is not None else None
        try:
            clock = clock_rules.start(
                concern_id,
                category=category,
                school_id=school_id,
                priority=priority,
                channel=None,
                started_at=at,
                rules=self.rules,
            )
        except NoPolicyApplies:
            return at + self.fallback
        return clock.resolution_due_at or at + self.fallback
