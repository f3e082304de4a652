"""Routing rules as data: their shape, their validation against the district, and matching.

A rule has conditions (every condition given must hold; within a list, any value matches)
and actions (owning team, priority, tags). Rules are tried in order; the first that matches
routes the concern. Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import re2
from pydantic import BaseModel, ConfigDict, Field

from shared.district import DistrictConfig
from shared.events import Channel, Priority

SCHOOL_TEAM = "school"
RULE_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
MAX_PATTERN_CHARS = 500


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Conditions(_Model):
    """What a concern must look like for a rule to apply; an empty list means any."""

    categories: list[str] = Field(default_factory=list, max_length=50)
    schools: list[str] = Field(default_factory=list, max_length=200)
    channels: list[Channel] = Field(default_factory=list)
    relationships: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="requester relationship, e.g. parent_guardian",
    )
    keywords: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="words or phrases in the description; `word*` "
        "matches any word starting with `word`",
    )
    pattern: str | None = Field(
        default=None,
        max_length=MAX_PATTERN_CHARS,
        description="a regular expression searched in the description (case-insensitive)",
    )
    student_flags: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="any of these flags, e.g. special_education",
    )
    school_contacted: bool | None = Field(
        default=None,
        description="whether the requester raised it at the school first "
        "(unset: either; a concern that does not say is neither)",
    )


class Actions(_Model):
    """What a matching rule decides; a missing team or priority keeps the category's own."""

    team: str | None = Field(
        default=None, description="a team id, or `school` for the school's own team"
    )
    priority: Priority | None = None
    tags: list[str] = Field(default_factory=list, max_length=20)


class RuleBody(_Model):
    """A routing rule without its id (what `PUT /v1/rules/{id}` takes)."""

    description: str = Field(default="", max_length=500)
    enabled: bool = True
    sensitive: bool = Field(
        default=False,
        description="a match tells something about the "
        "student (e.g. special education): the routing is never shown "
        "publicly (Open311, public events, webhooks)",
    )
    conditions: Conditions = Field(default_factory=Conditions)
    actions: Actions = Field(default_factory=Actions)


class Rule(RuleBody):
    """One routing rule as configured or sent to the admin API."""

    id: str = Field(pattern=RULE_ID, description="lower-case letters, digits, `-` and `_`")


@dataclass(frozen=True)
class Facts:
    """What triage knows about a concern when routing it."""

    category: str
    school_id: str | None
    channel: Channel
    description: str = ""
    relationship: str | None = None
    student_flags: tuple[str, ...] = ()
    school_contacted: bool | None = None


def rule_problems(rule: Rule, district: DistrictConfig) -> list[tuple[str, str]]:
    """Why a rule cannot be used in this district, as `(field, message)` pairs."""
    problems: list[tuple[str, str]] = []
    team = rule.actions.team
    if team is not None and team != SCHOOL_TEAM and district.team(team) is None:
        problems.append(
            (
                "actions.team",
                f"unknown team {team!r}; known teams: "
                f"{', '.join(t.id for t in district.teams)}, "
                f"or {SCHOOL_TEAM!r}",
            )
        )
    known_categories = {c.id for c in district.categories}
    problems += [
        (f"conditions.categories.{i}", f"unknown category {c!r}")
        for i, c in enumerate(rule.conditions.categories)
        if c not in known_categories
    ]
    known_schools = {s.id for s in district.schools}
    problems += [
        (f"conditions.schools.{i}", f"unknown school {s!r}")
        for i, s in enumerate(rule.conditions.schools)
        if s not in known_schools
    ]
    if rule.conditions.pattern is not None and _compiled(rule.conditions.pattern) is None:
        problems.append(
            (
                "conditions.pattern",
                "not a regular expression that runs in linear "
                "time (RE2 syntax: no backreferences or "
                "lookarounds)",
            )
        )
    problems += [
        (f"conditions.keywords.{i}", "empty keyword")
        for i, k in enumerate(rule.conditions.keywords)
        if not normalise(k).strip("* ")
    ]
    if not rule.actions.team and rule.actions.priority is None and not rule.actions.tags:
        problems.append(("actions", "a rule must set a team, a priority or tags"))
    return problems


def normalise(text: str) -> str:
    """Lower case without accents, so `Autolesión` and `autolesion` read the same."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=1024)
def _term_regex(term: str) -> re.Pattern[str]:
    """A term as a whole-word pattern; a trailing `*` allows any word ending."""
    term = normalise(term).strip()
    prefix = term.endswith("*")
    words = term.rstrip("*").split()
    body = r"[\s\-]+".join(re.escape(w) for w in words)
    ending = r"\w*" if prefix else r"(?!\w)"
    return re.compile(r"(?<!\w)" + body + ending)


def terms_found(terms: Iterable[str], text: str) -> list[str]:
    """The terms (words, phrases, `prefix*`) that occur in a text, in the order given."""
    plain = normalise(text)
    return [t for t in terms if normalise(t).strip("* ") and _term_regex(t).search(plain)]


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re2._Regexp | None:
    """A rule's pattern in RE2, whose time is linear in the text (Security #5: `^(a+)+$`
    froze triage's event loop with Python's backtracking engine); None if RE2 refuses it."""
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error:
        return None


def match(rule: Rule, facts: Facts) -> tuple[bool, list[str]]:
    """Whether a rule applies to a concern, with the reasons (or the first failed condition)."""
    c = rule.conditions
    why: list[str] = []

    def check(ok: bool, passed: str, failed: str) -> bool:
        if ok:
            why.append(passed)
        else:
            why[:] = [failed]
        return ok

    if not rule.enabled:
        return False, ["rule is disabled"]
    if c.categories and not check(
        facts.category in c.categories,
        f"category is {facts.category}",
        f"category {facts.category} not in {c.categories}",
    ):
        return False, why
    if c.schools and not check(
        facts.school_id in c.schools,
        f"school is {facts.school_id}",
        f"school {facts.school_id} not in {c.schools}",
    ):
        return False, why
    if c.channels and not check(
        facts.channel in c.channels,
        f"channel is {facts.channel}",
        f"channel {facts.channel} not in {[str(ch) for ch in c.channels]}",
    ):
        return False, why
    if c.relationships and not check(
        facts.relationship in c.relationships,
        f"requester is {facts.relationship}",
        f"requester relationship {facts.relationship} not in {c.relationships}",
    ):
        return False, why
    if c.school_contacted is not None and not check(
        facts.school_contacted is c.school_contacted,
        f"school contacted first: {facts.school_contacted}",
        f"school contacted first: {facts.school_contacted}, not {c.school_contacted}",
    ):
        return False, why
    if c.keywords:
        found = terms_found(c.keywords, facts.description)
        if not check(
            bool(found),
            f"description mentions {found}",
            "description mentions none of the keywords",
        ):
            return False, why
    if c.pattern is not None:
        compiled = _compiled(c.pattern)  # a stored rule RE2 refuses matches nothing
        hit = compiled.search(facts.description) if compiled is not None else None
        if not check(
            hit is not None,
            "description matches the pattern",
            "description does not match the pattern",
        ):
            return False, why
    if c.student_flags:
        flags = sorted(set(c.student_flags) & set(facts.student_flags))
        if not check(
            bool(flags),
            f"student flags {flags}",
            f"student flags {list(facts.student_flags)} include none of {c.student_flags}",
        ):
            return False, why
    return True, why or ["rule has no conditions"]
