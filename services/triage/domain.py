"""Triage's rules: route a concern to its owning team and set its priority. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from shared.district import DistrictConfig
from shared.events import Priority

SCHOOL_TEAM = "school"


@dataclass(frozen=True)
class Routing:
    team_id: str
    team_name: str
    priority: Priority
    rule: str


def route(category: str, school_id: str | None, district: DistrictConfig) -> Routing:
    """The team that owns a concern of this category (at this school), with its priority.

    A category routed to `school` goes to the school's own team when a school is named;
    an unknown category, or a school category without a school, goes to the fallback team.
    """
    found = district.category(category)
    if found is None:
        return _to(district, district.fallback_team, Priority.NORMAL, "fallback:unknown-category")
    if found.team != SCHOOL_TEAM:
        return _to(district, found.team, found.priority, f"category:{found.id}")
    school = district.school(school_id)
    if school is None:
        return _to(district, district.fallback_team, found.priority,
                   f"category:{found.id}:no-school")
    return _to(district, school.team, found.priority, f"category:{found.id}:school:{school.id}")


def _to(district: DistrictConfig, team_id: str, priority: Priority, rule: str) -> Routing:
    team = district.team(team_id)
    if team is None:  # the district config validator makes this unreachable
        raise LookupError(f"unknown team {team_id}")
    return Routing(team_id=team.id, team_name=team.name, priority=priority, rule=rule)
