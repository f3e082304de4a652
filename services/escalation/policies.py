"""SLA policies as data: their shape, their validation, how one is chosen, how they are seeded.

A policy matches concerns on category and/or priority (unset = any) and says: the first-response
and resolution targets, the calendar they count on, the statuses that pause the clock, the
warning points, the escalation ladder with each level's delay past the breach, and how often
the current level is reminded. Policies are tried in `rank` order; the first match applies.

Seeding: the district file's `sla.policies` (targets and match) and `sla.ladder`, completed by
escalation's own section (`escalation.defaults` and `escalation.policies.<id>`), give the
policies a fresh store starts with. After that the store is the source: the admin API edits it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.escalation.calendar import AROUND_THE_CLOCK, AroundTheClock, Calendar
from shared.district import DistrictConfig
from shared.events import OPEN_STATUSES as OPEN_CONCERN_STATUSES
from shared.events import ConcernStatus, Priority

if TYPE_CHECKING:
    from services.escalation.config import EscalationConfig

# The lifecycle statuses a concern can be in while its clock runs, in lifecycle order.
OPEN_STATUSES = tuple(s.value for s in ConcernStatus if s in OPEN_CONCERN_STATUSES)
LadderRole = Literal["principal", "assistant_superintendent", "ombudsperson"]
POLICY_ID = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# The longest duration a policy may name (Security, low: a huge one was accepted, and the
# concerns it matched silently got no SLA clock). A year of seconds is far past any target.
MAX_DURATION_S = 366 * 24 * 3600


class LadderStep(_Model):
    """One level of the ladder and how long after the resolution breach it is reached."""

    level: int = Field(ge=1, le=3)
    role: LadderRole
    after_s: int = Field(
        ge=0, le=MAX_DURATION_S, description="seconds of calendar time after the breach"
    )


class PolicySettings(_Model):
    """What a policy says besides its match and targets (the district file's extra part)."""

    calendar: str = AROUND_THE_CLOCK
    pause_statuses: tuple[str, ...] = (ConcernStatus.AWAITING_REQUESTER.value,)
    warnings: tuple[int, ...] = (50, 75)
    reminder_interval_s: int | None = Field(default=None, gt=0, le=MAX_DURATION_S)
    ladder: tuple[LadderStep, ...] | None = None

    @field_validator("pause_statuses")
    @classmethod
    def _open_statuses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(OPEN_STATUSES))
        if unknown:
            raise ValueError(
                f"not statuses of an open concern: {unknown}; choose from {list(OPEN_STATUSES)}"
            )
        if ConcernStatus.RECEIVED in value or ConcernStatus.REOPENED in value:
            raise ValueError("a new or reopened concern cannot wait with its clock paused")
        return tuple(sorted(set(value)))

    @field_validator("warnings")
    @classmethod
    def _percentages(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 1 <= p <= 99 for p in value):
            raise ValueError("warning points are percentages from 1 to 99")
        if list(value) != sorted(set(value)):
            raise ValueError("warning points must be increasing, each once")
        return value


class PolicyFields(PolicySettings):
    """A policy's content: everything but its id (the body of a replacement)."""

    rank: int = Field(default=100, ge=0, description="lower ranks are tried first")
    category: str | None = None
    priority: Priority | None = None
    first_response_s: int = Field(gt=0, le=MAX_DURATION_S)
    resolution_s: int = Field(gt=0, le=MAX_DURATION_S)
    ladder: tuple[LadderStep, ...] = Field(min_length=1)  # type: ignore[assignment]

    @model_validator(mode="after")
    def _coherent(self) -> PolicyFields:
        if self.first_response_s > self.resolution_s:
            raise ValueError("first_response_s must not exceed resolution_s")
        levels = [s.level for s in self.ladder]
        if levels != sorted(set(levels)):
            raise ValueError("ladder levels must be increasing, each once")
        delays = [s.after_s for s in self.ladder]
        if delays != sorted(delays):
            raise ValueError("ladder delays (after_s) must not decrease from one level to the next")
        return self


class Policy(PolicyFields):
    """An SLA policy as stored and served by the admin API."""

    id: str = Field(pattern=POLICY_ID)

    @property
    def first_response(self) -> timedelta:
        return timedelta(seconds=self.first_response_s)

    @property
    def resolution(self) -> timedelta:
        return timedelta(seconds=self.resolution_s)

    @property
    def reminder_interval(self) -> timedelta | None:
        return timedelta(seconds=self.reminder_interval_s) if self.reminder_interval_s else None

    def matches(self, *, category: str, priority: Priority | None) -> bool:
        """Whether this policy applies to a concern of this category and priority."""
        return (self.category is None or self.category == category) and (
            self.priority is None or self.priority == priority
        )

    @property
    def catch_all(self) -> bool:
        return self.category is None and self.priority is None


class NoPolicyApplies(LookupError):
    """No policy matches a concern (and there is no catch-all policy)."""


def choose_policy(
    policies: Sequence[Policy], *, category: str, priority: Priority | None
) -> Policy:
    """The first policy, in rank order, whose category and priority match where it sets them."""
    for policy in sorted(policies, key=lambda p: p.rank):
        if policy.matches(category=category, priority=priority):
            return policy
    raise NoPolicyApplies(f"no SLA policy for category {category!r}, priority {priority}")


def reference_problems(
    policy: Policy, *, district: DistrictConfig, calendars: Mapping[str, Calendar]
) -> list[dict[str, str]]:
    """Field errors for references the model alone cannot check (category, calendar)."""
    problems = []
    if policy.category is not None and district.category(policy.category) is None:
        problems.append({"field": "category", "message": f"unknown category {policy.category!r}"})
    if policy.calendar not in calendars:
        problems.append(
            {
                "field": "calendar",
                "message": f"unknown calendar {policy.calendar!r}; known: {sorted(calendars)}",
            }
        )
    return problems


def calendars_of(district: DistrictConfig, config: EscalationConfig) -> dict[str, Calendar]:
    """Every calendar policies may name: around the clock, and the district's own."""
    try:
        timezone = ZoneInfo(district.district.timezone)
    except ZoneInfoNotFoundError as exc:
        raise ValueError(
            f"district.timezone: unknown time zone {district.district.timezone!r}"
        ) from exc
    calendars: dict[str, Calendar] = {AROUND_THE_CLOCK: AroundTheClock()}
    for calendar in config.calendars:
        calendars[calendar.id] = calendar.build(timezone)
    return calendars


def seed_policies(district: DistrictConfig, config: EscalationConfig) -> list[Policy]:
    """The policies a fresh store starts with, in the district file's order."""
    unknown = sorted(set(config.policies) - {p.id for p in district.sla.policies})
    if unknown:
        raise ValueError(f"escalation.policies: no `sla.policies` entry with id {unknown}")
    for team_id, staff_id in config.department_supervisors.items():
        if team_id != "*" and district.team(team_id) is None:
            raise ValueError(f"escalation.department_supervisors: unknown team {team_id!r}")
        if district.staff_member(staff_id) is None:
            raise ValueError(f"escalation.department_supervisors: unknown staff {staff_id!r}")
    ladder = tuple(
        LadderStep(level=s.level, role=s.role, after_s=s.after_s)
        for s in sorted(district.sla.ladder, key=lambda s: s.level)
    )
    seeded = []
    for index, base in enumerate(district.sla.policies):
        override = config.policies.get(base.id)
        settings = (
            config.defaults
            if override is None
            else config.defaults.model_copy(
                update={name: getattr(override, name) for name in override.model_fields_set}
            )
        )
        seeded.append(
            Policy(
                id=base.id,
                rank=(index + 1) * 10,
                category=base.category,
                priority=base.priority,
                first_response_s=base.first_response_s,
                resolution_s=base.resolution_s,
                calendar=settings.calendar,
                pause_statuses=settings.pause_statuses,
                warnings=settings.warnings,
                reminder_interval_s=settings.reminder_interval_s,
                ladder=settings.ladder or ladder,
            )
        )
    return seeded
