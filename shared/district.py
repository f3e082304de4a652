"""The schema of the district configuration file (`deploy/district.yaml`).

Only the file's shape lives here; what each part means is decided by the service that owns it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError, model_validator

from shared.events import Priority

_LANGUAGE = re.compile(r"[a-z]{2,3}")
# libyaml's parser when PyYAML has it (the same safe loading, about ten times faster: every
# service and front door reads the district file at start, the unit tests once per app)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LocalizedName(_Config):
    en: str
    es: str

    def get(self, language: str) -> str:
        return self.es if language == "es" else self.en


class DistrictInfo(_Config):
    name: str
    timezone: str = "UTC"
    guarantee_hours: int = Field(default=72, gt=0)


StaffRole = Literal["principal", "assistant_superintendent", "ombudsperson", "specialist"]


class StaffMember(_Config):
    id: str
    name: str
    role: StaffRole
    email: EmailStr | None = None
    phone: str | None = None


class School(_Config):
    id: str
    name: LocalizedName
    principal: str
    assistant_superintendent: str
    team: str


class Team(_Config):
    id: str
    name: str = Field(description="in English, and wherever `names` has no entry")
    names: dict[str, str] = Field(
        default_factory=dict,
        description="the name families read in other languages, e.g. `{es: Departamento de "
        "Transporte}`; English (`name`) where a language has none",
    )
    lead: str
    members: list[str] = Field(default_factory=list, description="staff ids")
    sensitive: bool = Field(
        default=False,
        description="routing here tells something about "
        "the student (e.g. special education): never shown publicly",
    )

    @model_validator(mode="after")
    def _names_are_languages(self) -> Team:
        problems = [
            f"names.{code}: "
            + ("not a language code like es or hmn" if not _LANGUAGE.fullmatch(code) else "empty")
            for code, text in self.names.items()
            if not _LANGUAGE.fullmatch(code) or not text.strip()
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def name_in(self, language: str) -> str:
        """The team's name in `language`, else in English."""
        return self.names.get(language) or self.name


class Category(_Config):
    id: str
    name: LocalizedName
    team: str = Field(description="a team id, or `school` for the school's own team")
    priority: Priority = Priority.NORMAL


class SlaPolicyConfig(_Config):
    id: str
    category: str | None = None
    priority: Priority | None = None
    first_response_s: int = Field(gt=0)
    resolution_s: int = Field(gt=0)


class LadderStepConfig(_Config):
    level: int = Field(ge=1)
    role: Literal["principal", "assistant_superintendent", "ombudsperson"]
    after_s: int = Field(ge=0)


class SlaConfig(_Config):
    policies: list[SlaPolicyConfig] = Field(min_length=1)
    ladder: list[LadderStepConfig] = Field(min_length=1)


SectionT = TypeVar("SectionT", bound=BaseModel)
SERVICE_SECTIONS = frozenset(
    {
        "intake",
        "triage",
        "escalation",
        "notify",
        "phone",
        "safety_desk",  # shared by notify and the phone front door (shared/safety_desk.py)
        "staff_sign_in",
        "standards",
        "web",
        "board",
    }
)


class DistrictConfig(BaseModel):
    """The common directory (schools, teams, staff, categories) plus service sections.

    A top-level key named after a service (`intake`, `triage`, `escalation`, `notify`) is that
    service's own section, validated by the service with `section(name, Model)`; any other
    unknown key is refused, so that a typo does not pass silently.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    district: DistrictInfo
    staff: list[StaffMember]
    schools: list[School]
    teams: list[Team]
    categories: list[Category]
    fallback_team: str
    sla: SlaConfig

    @model_validator(mode="after")
    def _only_service_sections(self) -> DistrictConfig:
        unknown = sorted(set(self.model_extra or {}) - SERVICE_SECTIONS)
        if unknown:
            raise ValueError(
                f"unknown keys {unknown}; service sections are {sorted(SERVICE_SECTIONS)}"
            )
        return self

    @model_validator(mode="after")
    def _references_resolve(self) -> DistrictConfig:
        staff = {s.id for s in self.staff}
        teams = {t.id for t in self.teams}
        problems = [
            f"team {t.id}: unknown lead {t.lead}" for t in self.teams if t.lead not in staff
        ]
        problems += [
            f"team {t.id}: unknown member {m}"
            for t in self.teams
            for m in t.members
            if m not in staff
        ]
        for s in self.schools:
            problems += [
                f"school {s.id}: unknown staff {who}"
                for who in (s.principal, s.assistant_superintendent)
                if who not in staff
            ]
            if s.team not in teams:
                problems.append(f"school {s.id}: unknown team {s.team}")
        problems += [
            f"category {c.id}: unknown team {c.team}"
            for c in self.categories
            if c.team != "school" and c.team not in teams
        ]
        if self.fallback_team not in teams:
            problems.append(f"fallback_team: unknown team {self.fallback_team}")
        if not any(s.role == "ombudsperson" for s in self.staff):
            problems.append("staff: no ombudsperson")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def section(self, name: str, model: type[SectionT]) -> SectionT:
        """A service's own section of the file, validated by the service's model."""
        raw = (self.model_extra or {}).get(name) or {}
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            raise DistrictConfigError(
                f"invalid `{name}` section of the district configuration: {exc}"
            ) from exc

    def school(self, school_id: str | None) -> School | None:
        return next((s for s in self.schools if s.id == school_id), None)

    def category(self, category_id: str) -> Category | None:
        return next((c for c in self.categories if c.id == category_id), None)

    def team(self, team_id: str) -> Team | None:
        return next((t for t in self.teams if t.id == team_id), None)

    def team_name_in(self, shown: str | None, language: str) -> str | None:
        """A team name as a family's view of its concern gives it (the English `name`), in
        `language`; a name this file does not know is given back as it is."""
        team = next((t for t in self.teams if t.name == shown), None) if shown else None
        return team.name_in(language) if team else shown

    def staff_member(self, staff_id: str) -> StaffMember | None:
        return next((s for s in self.staff if s.id == staff_id), None)

    def fallback(self) -> Team:
        """The fallback team (the validator makes sure it is one of the teams)."""
        team = self.team(self.fallback_team)
        if team is None:
            raise DistrictConfigError(f"fallback_team: unknown team {self.fallback_team}")
        return team

    def referenced_staff(self, staff_id: str) -> StaffMember:
        """The staff member a validated reference names (a principal, a team's lead)."""
        person = self.staff_member(staff_id)
        if person is None:
            raise DistrictConfigError(f"unknown staff member {staff_id}")
        return person


class DistrictConfigError(ValueError):
    """The district configuration file is missing or invalid."""


def read_yaml(path: Path) -> Any:
    """A YAML file's document, read safely (with libyaml's parser when PyYAML has it)."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)


def load_district(path: Path) -> DistrictConfig:
    """Read and validate the district configuration; fail fast with a readable message."""
    try:
        raw = read_yaml(path)
        return DistrictConfig.model_validate(raw)
    except FileNotFoundError as exc:
        raise DistrictConfigError(f"district configuration not found: {path}") from exc
    except (yaml.YAMLError, ValidationError) as exc:
        raise DistrictConfigError(f"invalid district configuration {path}: {exc}") from exc
