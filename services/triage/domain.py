"""Triage's routing: the ordered rules, the category's default route, the fallback, and the
safety words that make a concern critical. Pure: no I/O, no framework."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.triage.assignment import Seat
from services.triage.duplicates import Candidate
from services.triage.rules import SCHOOL_TEAM, Facts, Rule, match, terms_found
from shared.district import DistrictConfig
from shared.errors import ChangedMeanwhile
from shared.events import Channel, Priority

PRIORITY_RANK = {Priority.CRITICAL: 0, Priority.HIGH: 1, Priority.NORMAL: 2, Priority.LOW: 3}
SAFETY_TAG = "safety"


@dataclass(frozen=True)
class Considered:
    """One rule tried for a concern, and why it did or did not apply."""

    rule_id: str
    matched: bool
    why: list[str]


@dataclass(frozen=True)
class Routing:
    """Where a concern goes, with what priority, and why."""

    team_id: str
    team_name: str
    priority: Priority
    rule: str
    tags: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    safety_words: tuple[str, ...] = ()
    considered: tuple[Considered, ...] = field(default=(), compare=False)
    sensitive: bool = False  # a sensitive rule matched, or the team is sensitive


def route(
    facts: Facts,
    rules: Sequence[Rule],
    district: DistrictConfig,
    safety_words: Sequence[str] = (),
    school_first: Collection[str] = (),
) -> Routing:
    """Route a concern: the first matching rule, else its category's route, else the fallback.

    A rule that sets no team (or no priority) keeps the category's. The school first: when no
    rule matched, a concern of a `school_first` category naming a school that has not seen it
    yet (`school_contacted` false) goes to that school's team. Safety words in the description
    make the concern critical whatever the route says.
    """
    default_team, default_priority, default_rule, reasons = _default(facts, district)
    team_id, priority, rule_name = default_team, default_priority, default_rule
    tags: tuple[str, ...] = ()
    sensitive = False
    considered: list[Considered] = []
    for rule in rules:
        matched, why = match(rule, facts)
        considered.append(Considered(rule.id, matched, why))
        if not matched:
            continue
        rule_name, tags = f"rule:{rule.id}", tuple(rule.actions.tags)
        sensitive = rule.sensitive
        reasons = [f"rule {rule.id} matched: {'; '.join(why)}"]
        if rule.actions.team is not None:
            resolved = _resolve_team(rule.actions.team, facts, district)
            team_id = resolved or district.fallback_team
            if resolved is None:
                reasons.append(
                    "rule sends to the school's team but no school was given: fallback team"
                )
        else:
            reasons.append(f"team from the category route ({team_id})")
        if rule.actions.priority is not None:
            priority = rule.actions.priority
        else:
            reasons.append(f"priority from the category route ({priority})")
        break
    else:
        reasons.append("no rule matched")
        school = district.school(facts.school_id)
        if (
            school is not None
            and facts.school_contacted is False
            and facts.category in school_first
            and team_id != school.team
        ):
            team_id, rule_name = school.team, f"{rule_name}+school-first"
            reasons.append(
                f"school first: {school.id} has not seen it yet; its team ({school.team})"
            )
    found = tuple(terms_found(safety_words, facts.description)) if safety_words else ()
    if found:
        priority = Priority.CRITICAL
        tags = (*tags, SAFETY_TAG) if SAFETY_TAG not in tags else tags
        rule_name += "+safety-words"
        reasons.append(f"safety words {list(found)}: critical")
    team = district.team(team_id)
    if team is None:  # rules are validated against the district; a stale rule falls back
        team = district.fallback()
        reasons.append(f"team {team_id} no longer exists: fallback team")
    return Routing(
        team_id=team.id,
        team_name=team.name,
        priority=priority,
        rule=rule_name,
        tags=tags,
        reasons=tuple(reasons),
        safety_words=found,
        considered=tuple(considered),
        sensitive=sensitive or team.sensitive,
    )


def public_route(
    category: str, school_id: str | None, district: DistrictConfig
) -> tuple[str, str, str]:
    """What public views and events show of a sensitive routing: the team, team name and
    rule that the (public) category alone gives, as for any concern of the category."""
    team_id, _, rule, _ = _default(
        Facts(category=category, school_id=school_id, channel=Channel.WEB), district
    )
    team = district.team(team_id)
    if team is None or team.sensitive:  # a category of a sensitive team: the fallback's name
        team = district.fallback()
    return team.id, team.name, rule


def category_route(
    category: str, school_id: str | None, district: DistrictConfig
) -> tuple[str, Priority]:
    """The team and priority the category gives a concern (the fallback when it gives none)."""
    team_id, priority, _, _ = _default(
        Facts(category=category, school_id=school_id, channel=Channel.WEB), district
    )
    return team_id, priority


def _default(facts: Facts, district: DistrictConfig) -> tuple[str, Priority, str, list[str]]:
    found = district.category(facts.category)
    if found is None:
        return (
            district.fallback_team,
            Priority.NORMAL,
            "fallback:unknown-category",
            [f"unknown category {facts.category}: fallback team"],
        )
    team_id = _resolve_team(found.team, facts, district)
    if team_id is None:
        return (
            district.fallback_team,
            found.priority,
            f"category:{found.id}:no-school",
            [
                f"category {found.id} goes to the school's team but no school was given: "
                f"fallback team"
            ],
        )
    rule = f"category:{found.id}" + (
        f":school:{facts.school_id}" if found.team == SCHOOL_TEAM else ""
    )
    return team_id, found.priority, rule, [f"category {found.id} routes to {team_id}"]


def _resolve_team(team: str, facts: Facts, district: DistrictConfig) -> str | None:
    if team != SCHOOL_TEAM:
        return team
    school = district.school(facts.school_id)
    return school.team if school is not None else None


# --- a stored decision and re-triage ---------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """A concern's triage decision as the rules of staff commands read it."""

    concern_id: str
    category: str
    school_id: str | None
    team_id: str
    priority: Priority
    status: str  # "open", "resolved" or "merged"
    version: int
    priority_manual: bool = False  # staff set the priority by hand
    assignee_id: str | None = None
    merged_into: str | None = None
    sensitive: bool = False  # a sensitive rule chose its team
    possible_duplicates: tuple[str, ...] = ()
    # the category public events last showed, when a re-triage moved the concern into one
    # whose route is sensitive (None: its category)
    public_category: str | None = None

    @property
    def merged(self) -> bool:
        return self.status == "merged"

    def shown_category(self, category: str, district: DistrictConfig) -> str:
        """The category public events show once the concern is of `category`: one whose own
        route is to a sensitive team (special education) tells the student's status, so a
        concern moved into it keeps the category shown before (Security #2)."""
        shown = self.public_category or self.category
        if category == self.category:
            return shown
        team = district.team(category_route(category, self.school_id, district)[0])
        return shown if team is not None and team.sensitive else category

    def related(self, other: Decision) -> bool:
        """Whether two concerns share a school or a team (a merge stays among them)."""
        return bool(self.school_id and self.school_id == other.school_id) or (
            self.team_id == other.team_id
        )


class RequesterSlotTaken(ChangedMeanwhile):
    """Another concern of the same requester key was stored with the number this one read:
    read the family's concerns again (it is among them now) and decide once more."""


@dataclass(frozen=True)
class FirstDecision:
    """A new concern's triage as the rules made it: where it goes, to whom, and which earlier
    concerns it may duplicate; stored once, with its log."""

    concern_id: str
    category: str
    school_id: str | None
    channel: Channel
    contact_key: str | None
    fingerprint: frozenset[str]  # of the description (duplicates.fingerprint)
    submitted_at: datetime
    routing: Routing
    seat: Seat | None
    possible_duplicates: tuple[Candidate, ...]
    decided_by: str
    decided_at: datetime
    history: tuple[dict[str, Any], ...]
    source_event_id: str
    # the n-th concern of its requester key (duplicates.requester_key) that triage stores; unique
    # per key, so of two concerns of one family triaged at once only one is stored with the
    # number both read, and the other reads again and sees it (None: an anonymous requester)
    requester_seq: int | None = None


@dataclass(frozen=True)
class Rerouted:
    """Where a re-triage puts a concern, and which of its route's fields changed."""

    category: str
    team_id: str
    priority: Priority
    priority_manual: bool
    changes: dict[str, list[str]]  # field: [old, new]


def reroute(
    decision: Decision,
    *,
    category: str | None,
    team_id: str | None,
    priority: Priority | None,
    district: DistrictConfig,
) -> Rerouted:
    """Re-triage's rules: a new category brings its own route (its team, and its priority
    unless staff set one by hand); a team or priority staff name wins over that; a priority
    set by hand stays until staff change it again."""
    new_category = category or decision.category
    new_team, new_priority = decision.team_id, decision.priority
    if new_category != decision.category:
        new_team, category_priority = category_route(new_category, decision.school_id, district)
        if not decision.priority_manual:
            new_priority = category_priority
    new_team = team_id or new_team
    new_priority = priority or new_priority
    changes = {
        name: [old, new]
        for name, old, new in (
            ("category", decision.category, new_category),
            ("team_id", decision.team_id, new_team),
            ("priority", decision.priority.value, new_priority.value),
        )
        if old != new
    }
    return Rerouted(
        category=new_category,
        team_id=new_team,
        priority=new_priority,
        priority_manual=decision.priority_manual or priority is not None,
        changes=changes,
    )
