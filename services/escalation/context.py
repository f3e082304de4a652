"""Everything escalation's handlers, scheduler and routes need, wired once at startup."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from services.escalation.calendar import Calendar
from services.escalation.config import EscalationConfig
from services.escalation.domain import Rules
from services.escalation.repository import ClockRepository, PolicyRepository
from shared.clock import Clock
from shared.district import DistrictConfig


@dataclass(frozen=True)
class EscalationContext:
    """Everything escalation's handlers need, wired once at startup."""

    repo: ClockRepository
    policies: PolicyRepository
    clock: Clock
    district: DistrictConfig
    config: EscalationConfig
    calendars: Mapping[str, Calendar]
    source: str
    published: Callable[[], None]
    lease: timedelta

    async def rules(self) -> Rules:
        """The rules with the policies as stored now (the admin API may have changed them)."""
        return Rules(
            policies=await self.policies.all(),
            calendars=self.calendars,
            district=self.district,
            supervisors=self.config.department_supervisors,
        )

    @property
    def step_rules(self) -> Rules:
        """Rules for firing steps: a clock carries its own policy, so none is looked up."""
        return Rules(
            policies=(),
            calendars=self.calendars,
            district=self.district,
            supervisors=self.config.department_supervisors,
        )
