"""Everything triage's handlers and routes need, wired once at startup."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.triage.config import TriageConfig
from services.triage.repository import DecisionRepository, MemberRepository, RuleRepository
from shared.clock import Clock
from shared.district import DistrictConfig


@dataclass(frozen=True)
class TriageContext:
    decisions: DecisionRepository
    rules: RuleRepository
    members: MemberRepository
    clock: Clock
    district: DistrictConfig
    config: TriageConfig
    source: str
    published: Callable[[], None]
