"""Triage's own section of the district configuration (`triage:` in deploy/district.yaml)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.triage.assignment import Strategy
from services.triage.rules import Rule, rule_problems
from shared.district import DistrictConfig, DistrictConfigError

DEFAULT_SAFETY_WORDS = [
    # English
    "threat*",
    "weapon*",
    "gun",
    "guns",
    "knife",
    "knives",
    "abuse*",
    "abusing",
    "self-harm",
    "self harm",
    "suicid*",
    "kill myself",
    "hurt myself",
    "bully*",
    "bullied",
    "assault*",
    # Spanish
    "amenaz*",
    "arma",
    "armas",
    "pistola*",
    "cuchillo*",
    "abuso*",
    "maltrato*",
    "autolesi*",
    "acoso",
    "acosa*",
    "intimida*",
    "agresi*",
]


class DuplicatesConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    window_days: int = Field(default=14, ge=1, le=365)
    similarity: float = Field(
        default=0.6, gt=0, le=1, description="token-set Jaccard at or above which texts match"
    )


class TriageConfig(BaseModel):
    """Assignment strategy, safety words, duplicate detection, and the rules seeded at first
    start (afterwards the rules live in triage's store and change through the admin API)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    assignment: Strategy = Strategy.LEAST_LOADED
    safety_words: list[str] = Field(default_factory=lambda: list(DEFAULT_SAFETY_WORDS))
    duplicates: DuplicatesConfig = Field(default_factory=DuplicatesConfig)
    school_first: list[str] = Field(
        default_factory=list,
        description="categories whose concerns go to the named school's "
        "team first when the school has not seen them yet "
        "(school_contacted false) and no rule matched",
    )
    rules: list[Rule] = Field(default_factory=list)


def load_config(district: DistrictConfig) -> TriageConfig:
    """Triage's section of the district file, with its seed rules checked against it."""
    config = district.section("triage", TriageConfig)
    problems = [
        f"triage.rules[{rule.id}].{field}: {message}"
        for rule in config.rules
        for field, message in rule_problems(rule, district)
    ]
    ids = [r.id for r in config.rules]
    problems += [f"triage.rules: duplicate id {i}" for i in sorted(set(ids)) if ids.count(i) > 1]
    if problems:
        raise DistrictConfigError("invalid `triage` section: " + "; ".join(problems))
    return config
