"""The district file's `standards:` section: the customer-service standards the Board adopted
(what each measures, its target), the implementation milestones, the staff courses and the
pledge. A contract of the district file, read by escalation (the Board's figures) and triage
(training and pledge coverage of its directory); each computes its own measures. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Measure(StrEnum):
    """What a standard is measured by; each is a share (0..1) unless said otherwise."""

    FIRST_RESPONSE_WITHIN_TARGET = "first_response_within_target"
    RESOLVED_WITHIN_GUARANTEE = "resolved_within_guarantee"
    RESOLVED_WITHIN_TARGET = "resolved_within_target"
    SATISFACTION_MEAN = "satisfaction_mean"  # a score of 1..5
    CALLS_ANSWERED = "calls_answered"  # answered calls / calls (intake's call records)
    CALL_ANSWER_P90_S = "call_answer_p90_s"  # seconds: at most the target
    CALLBACKS_ON_TIME = "callbacks_on_time"  # callbacks made by their due time (escalation)
    STAFF_TRAINED = "staff_trained"  # staff with the required course (triage's directory)
    PLEDGE_SIGNED = "pledge_signed"  # staff who signed the current pledge (triage)
    # requests for information answered within the standard's `within_days` (escalation)
    INFORMATION_ANSWERED = "information_answered_within_days"


# Measures computed from SLA clocks (escalation; callbacks are watched by the clock); the
# others come from intake (calls) or triage (training).
CLOCK_MEASURES = frozenset(
    {
        Measure.FIRST_RESPONSE_WITHIN_TARGET,
        Measure.RESOLVED_WITHIN_GUARANTEE,
        Measure.RESOLVED_WITHIN_TARGET,
        Measure.SATISFACTION_MEAN,
        Measure.INFORMATION_ANSWERED,
        Measure.CALLBACKS_ON_TIME,
    }
)
AT_MOST = frozenset({Measure.CALL_ANSWER_P90_S})  # lower is better


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Standard(_Strict):
    """A customer-service standard in plain words, with a measurable target."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str = Field(min_length=3, description="the standard as families read it")
    measure: Measure
    target: float = Field(ge=0, description="a share 0..1, a score 1..5, or seconds")
    within_days: int | None = Field(
        default=None,
        ge=1,
        le=365,
        description="information_answered_within_days: the days a family has to answer",
    )

    @model_validator(mode="after")
    def _target_fits(self) -> Standard:
        if (self.measure is Measure.INFORMATION_ANSWERED) != (self.within_days is not None):
            raise ValueError(
                f"standard {self.id}: within_days is given with the measure "
                f"{Measure.INFORMATION_ANSWERED.value}, and only with it"
            )
        if self.measure is Measure.SATISFACTION_MEAN and not 1 <= self.target <= 5:
            raise ValueError(f"standard {self.id}: a satisfaction target is a score 1..5")
        if (
            self.measure not in AT_MOST
            and self.measure is not Measure.SATISFACTION_MEAN
            and self.target > 1
        ):
            raise ValueError(f"standard {self.id}: a share target is between 0 and 1")
        return self


class Milestone(_Strict):
    """A step of the implementation timeline: met when `done`, or when its measure reaches
    its target."""

    name: str = Field(min_length=3)
    due: date
    done: bool = False
    measure: Measure | None = None
    target: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _measured_has_target(self) -> Milestone:
        if (self.measure is None) != (self.target is None):
            raise ValueError(f"milestone {self.name!r}: give both measure and target, or neither")
        return self


class Course(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str


class StandardsConfig(_Strict):
    """The `standards:` section of the district file."""

    adopted_on: date | None = Field(default=None, description="when the Board adopted them")
    standards: list[Standard] = Field(default_factory=list)
    pledge_version: str = Field(
        default="1", min_length=1, description="the current text of the Customer Service Pledge"
    )
    courses: list[Course] = Field(default_factory=list)
    required_course: str | None = Field(
        default=None, description="the course every staff member takes"
    )
    milestones: list[Milestone] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> StandardsConfig:
        ids = [s.id for s in self.standards]
        if len(set(ids)) != len(ids):
            raise ValueError("standards: ids must be unique")
        courses = {c.id for c in self.courses}
        if self.required_course is not None and self.required_course not in courses:
            raise ValueError(f"required_course {self.required_course!r} is not in courses")
        return self


def share(part: int, whole: int) -> float | None:
    """`part` of `whole` as a share rounded to four places; None of nothing."""
    return round(part / whole, 4) if whole else None


# --- compliance ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compliance:
    """One standard's value against its target; `met` is None without data."""

    standard: str
    name: str
    measure: str
    target: float
    value: float | None
    met: bool | None


def compliance(standard: Standard, values: Mapping[str, float | None]) -> Compliance:
    """Whether the measured value keeps the standard (at least the target; at most for
    times)."""
    value = values.get(standard.measure.value)
    met = (
        None
        if value is None
        else (value <= standard.target if standard.measure in AT_MOST else value >= standard.target)
    )
    return Compliance(
        standard=standard.id,
        name=standard.name,
        measure=standard.measure.value,
        target=standard.target,
        value=value,
        met=met,
    )


@dataclass(frozen=True)
class MilestoneState:
    name: str
    due: date
    met: bool
    late: bool  # past its date and not met


def milestone_state(
    milestone: Milestone, values: Mapping[str, float | None], today: date
) -> MilestoneState:
    """Met when marked done or when its measure reached its target."""
    met = milestone.done
    if not met and milestone.measure is not None and milestone.target is not None:
        value = values.get(milestone.measure.value)
        met = value is not None and (
            value <= milestone.target if milestone.measure in AT_MOST else value >= milestone.target
        )
    return MilestoneState(
        name=milestone.name, due=milestone.due, met=met, late=not met and today > milestone.due
    )
