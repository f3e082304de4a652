"""What the staff pages show, decided without I/O: who the signed-in person is, which pages
and actions their roles hold, the work queue's views and filters, which actions a case's
status allows."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from frontends.common.intake import IntakeError
from frontends.web.forms import normalize_phone
from services.escalation.policies import POLICY_ID, LadderStep, Policy, PolicySettings
from shared.auth import Principal, Role
from shared.authz import Permission, access

STATUS_LABELS = {
    "received": "Received",
    "acknowledged": "Acknowledged",
    "awaiting_requester": "Awaiting requester",
    "resolved": "Resolved",
    "reopened": "Reopened",
    "closed": "Closed",
}
OPEN = ("received", "acknowledged", "awaiting_requester", "reopened")
PRIORITIES = ("critical", "high", "normal", "low")
CHANNELS = {"phone": "Phone call", "walk_in": "Front desk (walk-in)", "email": "Email"}
# How a concern reached the bureau (the work queue's filter).
QUEUE_CHANNELS = {
    "web": "Website",
    "phone": "Phone",
    "email": "Email",
    "sms": "Text message",
    "walk_in": "Front desk",
}
# The work queue's orders (intake's `sort`).
SORTS = {
    "due": "Due soonest first",
    "-submitted": "Newest first",
    "submitted": "Oldest first",
    "-updated": "Changed most recently first",
}
QUEUE_PAGE = 50
# The queue's filters intake's counts take as well.
COUNTED = (
    "category",
    "school_id",
    "team_id",
    "assignee_id",
    "priority",
    "channel",
    "submitted_from",
    "submitted_to",
)
LANGUAGES = {"en": "English", "es": "Spanish"}
CONTACTS = {"phone": "Phone call", "sms": "Text message", "email": "Email"}
# How long before a callback its caller is reminded (intake's default is 15 minutes).
REMINDERS = {
    "15": "15 minutes",
    "30": "30 minutes",
    "60": "1 hour",
    "120": "2 hours",
    "1440": "1 day",
    "0": "No reminder",
}
RELATIONSHIPS = {
    "parent_guardian": "Parent or guardian",
    "student": "Student",
    "staff": "Staff",
    "community": "Community member",
    "alumni": "Alumni",
}
# Why triage flagged a concern as a possible duplicate of another.
DUPLICATE_REASONS = {
    "same_requester": "same family, category and school within 14 days",
    "similar_text": "similar words",
}

# Each action: the statuses that allow it (the services' lifecycle decides; this only keeps
# buttons off a page where they could never work).
ACTION_STATUSES: Mapping[str, tuple[str, ...]] = {
    "acknowledge": ("received", "reopened"),
    "replies": ("received", "acknowledged", "awaiting_requester", "reopened", "resolved"),
    "request-information": ("received", "acknowledged", "reopened"),
    "resume": ("awaiting_requester",),
    "notes": (*OPEN, "resolved", "closed"),
    "callbacks": OPEN,
    # a promised call is made whatever the case became meanwhile
    "complete-callback": (*OPEN, "resolved", "closed"),
    "cancel-callback": (*OPEN, "resolved", "closed"),
    "resolve": OPEN,
    "reopen": ("resolved",),
    "close": ("resolved",),
    "merge": OPEN,
}
DONE = {
    "acknowledge": "Acknowledged.",
    "replies": "Reply sent to the family.",
    "request-information": "Question sent; the clock is paused until the family answers.",
    "resume": "Work resumed.",
    "notes": "Internal note added.",
    "callbacks": "Callback scheduled.",
    "complete-callback": "Callback recorded.",
    "cancel-callback": "Callback called off.",
    "resolve": "Resolved; the family sees the summary.",
    "reopen": "Reopened.",
    "close": "Closed.",
    "merge": "Merged into the other concern.",
    "retriage": "Re-triaged.",
    "away": "Marked away; new concerns go to the backup.",
    "back": "Marked back.",
    "handover": "Open concerns handed over.",
    "rule": "Routing rule saved; new concerns are routed by it now.",
    "rule-deleted": "Routing rule deleted; concerns it routed keep their team.",
    "rule-moved": "Order saved; new concerns are routed by the rules in this order now.",
    "subscription": "Webhook subscription added; its secret is not shown again.",
    "unsubscribed": "Webhook subscription deleted.",
    "template": "Template saved; new messages use it now.",
    "policy": "Policy saved; new clocks (and re-triaged or reopened concerns) use it.",
    "policy-added": "Policy added; new concerns it matches (and re-triaged or reopened ones) "
    "use it now.",
    "policy-deleted": "Policy deleted; new concerns it matched get the next policy that "
    "matches them.",
    "safety-words": "Safety words saved; new concerns are routed with them now.",
}


@dataclass(frozen=True)
class StaffUser:
    """The signed-in staff member, as their identity provider (or dev sign-in) says."""

    sub: str
    name: str
    roles: tuple[str, ...]
    schools: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    via: str = "oidc"

    def principal(self) -> Principal:
        known = {r.value for r in Role}
        return Principal(
            subject=self.sub,
            roles=frozenset(Role(r) for r in self.roles if r in known),
            schools=frozenset(self.schools),
            teams=frozenset(self.teams),
            name=self.name,
        )

    def may(self, permission: Permission) -> bool:
        return access(self.principal(), permission) is not None

    def reaches_all(self, permission: Permission) -> bool:
        found = access(self.principal(), permission)
        return found is not None and found.everything

    def to_session(self) -> dict[str, Any]:
        return {
            "sub": self.sub,
            "name": self.name,
            "roles": list(self.roles),
            "schools": list(self.schools),
            "teams": list(self.teams),
            "via": self.via,
        }

    @classmethod
    def from_session(cls, data: Mapping[str, Any]) -> StaffUser:
        return cls(
            sub=str(data["sub"]),
            name=str(data.get("name") or data["sub"]),
            roles=tuple(str(r) for r in data.get("roles", [])),
            schools=tuple(str(s) for s in data.get("schools", [])),
            teams=tuple(str(t) for t in data.get("teams", [])),
            via=str(data.get("via", "oidc")),
        )


@dataclass(frozen=True)
class Pages:
    """Which console pages the person's roles hold (the rest is absent from the navigation)."""

    queue: bool
    call: bool
    ombudsperson: bool
    act: bool
    triage: bool
    team: bool
    reveal: bool
    admin: bool
    board: bool = False  # the Board's figures (/staff/board): aggregates only
    configure: bool = False  # change routing rules (the admin page's forms)
    audit: bool = False  # a student's record of access and disclosures (auditors, Ombudsperson)
    find_family: bool = False  # a family's concerns by their phone or email (recorded)

    @classmethod
    def of(cls, user: StaffUser) -> Pages:
        return cls(
            queue=user.may(Permission.CONCERN_READ),
            call=user.may(Permission.SUBMIT),
            ombudsperson=user.may(Permission.OVERSIGHT_READ),
            act=user.may(Permission.CONCERN_ACT),
            triage=user.may(Permission.TRIAGE_ACT),
            team=user.may(Permission.MEMBERS_MANAGE),
            reveal=user.may(Permission.STUDENT_REVEAL),
            admin=user.may(Permission.CONFIG_READ),
            board=user.may(Permission.REPORTS_READ),
            configure=user.may(Permission.CONFIG_WRITE),
            audit=user.may(Permission.AUDIT_READ),
            find_family=user.may(Permission.REQUESTER_SEARCH),
        )

    def home(self) -> str:
        if self.queue:
            return "/staff/queue"
        if self.call:
            return "/staff/call"
        if self.ombudsperson:
            return "/staff/ombudsperson"
        if self.team:
            return "/staff/team"
        if self.admin:
            return "/staff/admin"
        if self.board:
            return "/staff/board"
        return "/staff/nothing"


@dataclass(frozen=True)
class QueueView:
    """One of the work queue's views: mine, a team's, a school's, or all within reach."""

    key: str
    label: str
    filters: dict[str, str] = field(default_factory=dict)


def team_done(query: Mapping[str, str], names: Mapping[str, str]) -> str | None:
    """The team page's notice after a change: a hand-over says how many concerns went to
    whom (triage's answer, passed on in the redirect)."""
    done = query.get("done", "")
    moved = query.get("moved", "")
    if done != "handover" or not moved.isdigit():
        return DONE.get(done)
    count = int(moved)
    if count == 0:
        return "Nothing to hand over: they have no open concerns now."
    to = query.get("to", "")
    whom = names.get(to, to) or "their backup"
    return f"Handed over {count} open {'concern' if count == 1 else 'concerns'} to {whom}."


def queue_views(user: StaffUser, member_of: tuple[str, ...]) -> list[QueueView]:
    """The views this person has: mine, each of their teams, each of their schools, all."""
    views = [QueueView("mine", "Assigned to me", {"assignee_id": user.sub})]
    for team in dict.fromkeys((*user.teams, *member_of)):
        views.append(QueueView(f"team:{team}", f"Team {team}", {"team_id": team}))
    for school in user.schools:
        views.append(QueueView(f"school:{school}", f"School {school}", {"school_id": school}))
    if user.reaches_all(Permission.CONCERN_READ) or len(views) > 2:
        views.append(QueueView("all", "Everything I can see", {}))
    return views


def default_view(user: StaffUser, views: list[QueueView]) -> QueueView:
    """A principal starts on their school, a team member on their team, others on all."""
    for prefix in ("school:", "team:") if not user.reaches_all(Permission.CONCERN_READ) else ():
        for view in views:
            if view.key.startswith(prefix):
                return view
    return next((v for v in views if v.key == "all"), views[0])


def queue_filters(
    query: Mapping[str, str], *, timezone: str = "UTC"
) -> tuple[dict[str, Any], dict[str, str]]:
    """Intake's filters from the queue form, and the form's values to show back (a page
    after the first carries intake's opaque `cursor`; the submission dates are whole days in
    the district's `timezone`, the last one included)."""
    shown = {
        k: query.get(k, "").strip()[:200]
        for k in (
            "status",
            "priority",
            "category",
            "overdue",
            "q",
            "view",
            "channel",
            "assignee",
            "sort",
            "submitted_from",
            "submitted_to",
        )
    }
    shown["sort"] = shown["sort"] if shown["sort"] in SORTS else "due"
    filters: dict[str, Any] = {"sort": shown["sort"], "limit": QUEUE_PAGE}
    cursor = query.get("cursor", "").strip()
    if cursor and len(cursor) <= 512:
        filters["cursor"] = cursor
    if shown["channel"] in QUEUE_CHANNELS:
        filters["channel"] = shown["channel"]
    else:
        shown["channel"] = ""
    if shown["assignee"]:
        filters["assignee_id"] = shown["assignee"][:64]
    zone = ZoneInfo(timezone)
    for name, days in (("submitted_from", 0), ("submitted_to", 1)):  # "to": until its end
        try:
            day = date.fromisoformat(shown[name])
        except ValueError:
            shown[name] = ""
            continue
        midnight = datetime.combine(day + timedelta(days=days), time(), tzinfo=zone)
        filters[name] = midnight.isoformat()
    status = shown["status"] or "open"
    shown["status"] = status
    if status == "open":
        filters["status"] = list(OPEN)
    elif status in STATUS_LABELS:
        filters["status"] = [status]
    if shown["priority"] in PRIORITIES:
        filters["priority"] = shown["priority"]
    if shown["category"]:
        filters["category"] = shown["category"][:64]
    if shown["overdue"] == "1":
        filters["overdue"] = "true"
    if len(shown["q"]) >= 2:
        filters["q"] = shown["q"]
    return filters, shown


def count_filters(filters: Mapping[str, Any]) -> dict[str, Any]:
    """The part of the queue's filters intake's counts take (not status, words, due or a
    page): how many concerns the chosen view holds, by status, and how many are overdue."""
    return {k: v for k, v in filters.items() if k in COUNTED}


def queue_link(shown: Mapping[str, str], **changes: str) -> str:
    """The queue's address with the form's values (and `changes`; an empty value drops the
    parameter): the next page, or the same filters from the first page again."""
    params = {k: v for k, v in {**shown, **changes}.items() if v}
    return "/staff/queue" + ("?" + urlencode(params) if params else "")


def queue_counts(counts: Any) -> dict[str, int]:
    """The view's open concerns, those overdue and the total (intake's counts)."""
    by_status = {str(getattr(k, "value", k)): v for k, v in counts.by_status.items()}
    return {
        "open": sum(by_status.get(s, 0) for s in OPEN),
        "overdue": counts.overdue,
        "total": counts.total,
    }


def family_search(form: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The family's email or phone (a US number as typed is made E.164) and the reason, from
    the search form; and what to correct, by field."""
    raw = form.get("requester", "").strip()[:200]
    reason = form.get("reason", "").strip()[:1000]
    errors = {}
    if len(reason) < 10:
        errors["reason"] = "Say why you look (at least 10 characters); it is recorded."
    like = form.get("concern_id", "").strip()[:64]
    if like:  # the other concerns of this case's family (the case page's button)
        return {"concern_id": like, "tracking": form.get("tracking", "")[:32], "reason": reason}, (
            errors
        )
    contact = raw.lower() if "@" in raw else normalize_phone(raw) or raw
    if not raw or ("@" not in raw and normalize_phone(raw) is None):
        errors["requester"] = "Enter the family's email address or phone number."
    return {"requester": contact, "reason": reason}, errors


def _listed(raw: str) -> list[str]:
    """A comma-separated field as a list (blank items dropped)."""
    return [part.strip() for part in raw.split(",") if part.strip()]


# The student flag a rule's form offers (others a rule may hold are kept as they are).
SPECIAL_EDUCATION = "special_education"
# A rule's "school contacted first" condition as the form's radio says it.
CONTACTED = {"": None, "yes": True, "no": False}
# The rule conditions the form picks from lists (several ticked: any of them).
RULE_LISTS = ("schools", "channels", "relationships")


def rule_form(rule: Any) -> dict[str, Any]:
    """The rule form's values for a rule as triage serves it (None: a new rule)."""
    if rule is None:
        return {
            "id": "",
            "enabled": True,
            "categories": [],
            "keywords": "",
            "tags": "",
            **{name: [] for name in RULE_LISTS},
            "school_contacted": "",
            "special_education": False,
            "pattern": "",
            "sensitive": False,
        }
    c = rule.conditions
    return {
        "id": rule.id,
        "description": rule.description,
        "enabled": rule.enabled,
        "categories": list(c.categories),
        "keywords": ", ".join(c.keywords),
        "team": rule.actions.team or "",
        "priority": rule.actions.priority.value if rule.actions.priority else "",
        "tags": ", ".join(rule.actions.tags),
        "schools": list(c.schools),
        "channels": [str(getattr(ch, "value", ch)) for ch in c.channels],
        "relationships": list(c.relationships),
        "school_contacted": {None: "", True: "yes", False: "no"}[c.school_contacted],
        "special_education": SPECIAL_EDUCATION in c.student_flags,
        "pattern": c.pattern or "",
        "sensitive": rule.sensitive,
    }


def rule_body(
    form: Mapping[str, str],
    categories: list[str],
    existing: Any,
    lists: Mapping[str, list[str]] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Triage's body for a rule from the console's form, and the form's values shown back.
    With `lists` (the ticked schools, channels and relationships: the form shows every
    condition) the form's school-first answer, special-education flag, pattern and
    `sensitive` replace the rule's; without, those are kept from the rule as it was. Student
    flags the form does not offer are always kept."""
    base = existing.model_dump(mode="json", exclude={"id", "position"}) if existing else {}
    conditions = {**base.get("conditions", {}), "categories": categories}
    conditions["keywords"] = _listed(form.get("keywords", ""))
    actions = {**base.get("actions", {}), "tags": _listed(form.get("tags", ""))}
    actions["team"] = form.get("team") or None
    actions["priority"] = form.get("priority") if form.get("priority") in PRIORITIES else None
    body = {
        **base,
        "description": form.get("description", "").strip(),
        "enabled": form.get("enabled") == "1",
        "conditions": conditions,
        "actions": actions,
    }
    shown: dict[str, Any] = {
        "id": form.get("id", "").strip(),
        "description": body["description"],
        "enabled": body["enabled"],
        "categories": categories,
        "keywords": form.get("keywords", ""),
        "team": form.get("team", ""),
        "priority": form.get("priority", ""),
        "tags": form.get("tags", ""),
    }
    if lists is None:
        return body, {**rule_form(existing), **shown}
    for name in RULE_LISTS:
        conditions[name] = list(dict.fromkeys(lists.get(name, [])))
    contacted = form.get("school_contacted", "")
    conditions["school_contacted"] = CONTACTED.get(contacted)
    others = [f for f in conditions.get("student_flags", []) if f != SPECIAL_EDUCATION]
    special = form.get("special_education") == "1"
    conditions["student_flags"] = [*others, SPECIAL_EDUCATION] if special else others
    conditions["pattern"] = form.get("pattern", "").strip() or None
    body["sensitive"] = form.get("sensitive") == "1"
    shown.update(
        {name: conditions[name] for name in RULE_LISTS},
        school_contacted=contacted if contacted in CONTACTED else "",
        special_education=special,
        pattern=form.get("pattern", "").strip(),
        sensitive=body["sensitive"],
    )
    return body, shown


def policy_form(policy: Any) -> dict[str, Any]:
    """The policy form's values: what it applies to and its order, targets and ladder
    delays in hours, the calendar, the warnings, reminders and whether the clock waits for
    the family."""
    return {
        "category": policy.category or "",
        "priority": policy.priority.value if policy.priority else "",
        "rank": str(policy.rank),
        "match_shown": "1",
        "first_response_h": _hours(policy.first_response_s),
        "resolution_h": _hours(policy.resolution_s),
        "calendar": policy.calendar,
        **{f"after_h_{step.level}": _hours(step.after_s) for step in policy.ladder},
        **_options_form(policy),
    }


# The status in which a clock waits for the family (the form's one pause checkbox).
AWAITING = "awaiting_requester"


def _options_form(settings: Any) -> dict[str, str]:
    """A policy's (or the defaults') warnings, reminder interval and pause, as form values."""
    return {
        "warnings": ", ".join(str(p) for p in settings.warnings),
        "reminder_h": _hours(settings.reminder_interval_s) if settings.reminder_interval_s else "",
        "pause_awaiting": "1" if AWAITING in settings.pause_statuses else "",
        "options_shown": "1",
    }


def _policy_options(
    form: Mapping[str, str], current: Any, errors: dict[str, str]
) -> dict[str, Any]:
    """The form's warnings (percent), reminder interval (hours; empty: none) and pause while
    awaiting the family, over `current`'s; nothing when the form did not show them."""
    if form.get("options_shown") != "1":
        return {}
    raw = form.get("warnings", "").replace(";", ",").replace(" ", ",")
    parts = [p for p in raw.split(",") if p]
    warnings = [int(p) for p in parts if p.isdigit() and len(p) <= 2]
    if len(warnings) != len(parts) or not all(1 <= p <= 99 for p in warnings):
        errors["warnings"] = "Enter percentages from 1 to 99 separated by commas, e.g. 50, 75."
    elif warnings != sorted(set(warnings)):
        errors["warnings"] = "Enter each percentage once, smallest first, e.g. 50, 75."
    reminder = None
    if form.get("reminder_h", "").strip():
        reminder = _policy_seconds(form, "reminder_h", "how often to remind", errors)
    others = [s for s in current.pause_statuses if s != AWAITING]
    pauses = [*others, AWAITING] if form.get("pause_awaiting") == "1" else others
    return {"warnings": warnings, "reminder_interval_s": reminder, "pause_statuses": pauses}


def _hours(seconds: int) -> str:
    return f"{seconds / 3600:g}"


_POLICY_FIELDS = {
    "first_response_s": "the first response target",
    "resolution_s": "the resolution target",
    "(after_s)": "(hours after the missed target)",
}


def _policy_seconds(
    form: Mapping[str, str], name: str, label: str, errors: dict[str, str], *, zero: bool = False
) -> int:
    """A duration field in hours (a comma is a decimal point) as seconds; 0 and the field's
    error in `errors` when it is not a positive (or, with `zero`, non-negative) number."""
    try:
        hours = float(form.get(name, "").strip().replace(",", "."))
    except ValueError:
        hours = -1.0
    if not (hours >= 0 if zero else hours > 0) or hours > 24 * 366:
        errors[name] = f"Enter {label} in hours, e.g. 72 or 0.5."
        return 0
    return round(hours * 3600)


def _policy_targets(
    form: Mapping[str, str], ladder: Sequence[LadderStep], errors: dict[str, str]
) -> dict[str, Any]:
    """The form's targets and ladder delays (hours) as a policy's seconds; what is not a
    number goes into `errors`, by field, in the form's order."""
    return {
        "first_response_s": _policy_seconds(
            form, "first_response_h", "the first response target", errors
        ),
        "resolution_s": _policy_seconds(form, "resolution_h", "the resolution target", errors),
        "ladder": [
            step.model_copy(
                update={
                    "after_s": _policy_seconds(
                        form, f"after_h_{step.level}", "the delay", errors, zero=True
                    )
                }
            )
            for step in ladder
        ],
    }


def _policy_invalid(exc: ValidationError) -> dict[str, str]:
    """The policy's own rule that failed (targets or ladder delays out of order), in words."""
    message = exc.errors()[0]["msg"].removeprefix("Value error, ")
    field = "ladder" if message.startswith("ladder") else "policy"
    for name, said in _POLICY_FIELDS.items():
        message = message.replace(name, said)
    return {field: message[:1].upper() + message[1:] + "."}


def policy_body(
    form: Mapping[str, str],
    policy: Any,
    *,
    policies: Sequence[Policy] = (),
    categories: Collection[str] | None = None,
) -> tuple[Any, dict[str, str]]:
    """The policy with the form's targets, calendar, ladder delays (hours), warnings,
    reminders and pause, and (when the form shows them) what it applies to and its order,
    checked against the other `policies`; all else kept. Or None and what to correct, by
    field."""
    errors: dict[str, str] = {}
    match = _policy_match(form, categories, errors) if form.get("match_shown") == "1" else {}
    changes: dict[str, Any] = {
        **match,
        **_policy_targets(form, policy.ladder, errors),
        "calendar": form.get("calendar") or policy.calendar,
        **_policy_options(form, policy, errors),
    }
    if errors:
        return None, errors
    try:
        changed = type(policy).model_validate({**policy.model_dump(), **changes})
    except ValidationError as exc:  # targets or ladder delays out of order
        return None, _policy_invalid(exc)
    shadowed = _shadowed(changed, policies) if match else {}
    return (None, shadowed) if shadowed else (changed, {})


def _tried_first(policies: Sequence[Policy]) -> list[Policy]:
    return sorted(policies, key=lambda p: (p.rank, p.id))


def _covers(earlier: Policy, later: Policy) -> bool:
    """Whether every concern `later` matches is matched by `earlier` too."""
    return (earlier.category is None or earlier.category == later.category) and (
        earlier.priority is None or earlier.priority == later.priority
    )


def suggested_rank(policies: Sequence[Policy]) -> int:
    """A new policy's place: between the first catch-all policy and the one tried before it
    (so that the new one applies, and there is room around it)."""
    ordered = _tried_first(policies)
    catch_all = next((p for p in ordered if p.catch_all), None)
    if catch_all is None:
        return (ordered[-1].rank + 10) if ordered else 100
    before = [p.rank for p in ordered if p.rank < catch_all.rank]
    low = max(before) if before else catch_all.rank - 20
    return max(0, (low + catch_all.rank) // 2)


def new_policy_form(defaults: PolicySettings, policies: Sequence[Policy]) -> dict[str, str]:
    """The new policy form's first values: the district's defaults (calendar, ladder delays
    in hours) and a place before the catch-all policy; targets and match left to choose."""
    return {
        "id": "",
        "category": "",
        "priority": "",
        "rank": str(suggested_rank(policies)),
        "first_response_h": "",
        "resolution_h": "",
        "calendar": defaults.calendar,
        **{f"after_h_{step.level}": _hours(step.after_s) for step in defaults.ladder or ()},
        **_options_form(defaults),
    }


def new_policy_body(
    form: Mapping[str, str],
    *,
    defaults: PolicySettings,
    policies: Sequence[Policy],
    categories: Collection[str],
) -> tuple[Policy | None, dict[str, str]]:
    """A new policy from the form (pauses, warnings and reminders from the district's
    defaults), or None and what to correct, by field, in the form's order."""
    errors: dict[str, str] = {}
    policy_id = form.get("id", "").strip()
    if not re.fullmatch(POLICY_ID, policy_id):
        errors["id"] = (
            "Enter a name of lower-case letters, digits, - and _ that starts with a "
            "letter or digit, e.g. enrollment-slow."
        )
    elif any(p.id == policy_id for p in policies):
        errors["id"] = (
            f"A policy named {policy_id} exists already: choose another name, "
            "or change that one from the list."
        )
    match = _policy_match(form, categories, errors)
    targets = _policy_targets(form, defaults.ladder or (), errors)
    options = _policy_options(form, defaults, errors)
    if errors:
        return None, errors
    try:
        policy = Policy.model_validate(
            {
                **defaults.model_dump(),
                "id": policy_id,
                **match,
                **targets,
                "calendar": form.get("calendar") or defaults.calendar,
                **options,
            }
        )
    except ValidationError as exc:  # targets or ladder delays out of order
        return None, _policy_invalid(exc)
    shadowed = _shadowed(policy, policies)
    return (None, shadowed) if shadowed else (policy, {})


def _policy_match(
    form: Mapping[str, str], categories: Collection[str] | None, errors: dict[str, str]
) -> dict[str, Any]:
    """The form's category and priority the policy applies to (empty: any), and its order;
    what is not one of the district's goes into `errors` (categories None: not checked)."""
    category = form.get("category", "") or None
    if category is not None and categories is not None and category not in categories:
        errors["category"] = "Choose a category from the list, or any category."
    priority = form.get("priority", "") or None
    if priority is not None and priority not in PRIORITIES:
        errors["priority"] = "Choose a priority from the list, or any priority."
    raw_rank = form.get("rank", "").strip()
    rank = int(raw_rank) if raw_rank.isdigit() and len(raw_rank) <= 6 else -1
    if rank < 0:
        errors["rank"] = "Enter the order as a whole number, e.g. 25."
    return {"rank": rank, "category": category, "priority": priority}


def _shadowed(policy: Policy, policies: Sequence[Policy]) -> dict[str, str]:
    """Why `policy` would never apply among the others (one tried before it covers it)."""
    ordered = _tried_first([*(p for p in policies if p.id != policy.id), policy])
    shadow = next((p for p in ordered[: ordered.index(policy)] if _covers(p, policy)), None)
    if shadow is None:
        return {}
    return {
        "rank": f"Policy {shadow.id} (order {shadow.rank}) is tried first and applies to "
        f"every concern this one would, so this one would never apply: give it a number "
        f"below {shadow.rank}."
    }


# How the console's policy fields are named in escalation's problem details.
_POLICY_API_FIELDS = {
    "id": "id",
    "rank": "rank",
    "category": "category",
    "priority": "priority",
    "calendar": "calendar",
    "first_response_s": "first_response_h",
    "resolution_s": "resolution_h",
}


def policy_refusal(error: IntakeError, *, deleting: bool = False) -> dict[str, str]:
    """What escalation refused of a new policy or a deletion, in plain words, by form field
    (`policy` when it is about the policies as a whole)."""
    if error.title == "Catch-all policy required":
        if deleting:
            return {
                "policy": "It is the only catch-all policy (any category, any priority), and "
                "one must remain so that every concern gets a clock. Add another catch-all "
                "policy first, or change this one instead."
            }
        return {"policy": "At least one catch-all policy (any category, any priority) must remain."}
    if error.title == "Policy exists":
        return {"id": "A policy with this name exists already: choose another name."}
    if error.title == "Policy not found":
        return {"policy": "This policy no longer exists; someone may have deleted it."}
    errors: dict[str, str] = {}
    for found in error.errors:
        name = _POLICY_API_FIELDS.get(found.field, "policy")
        if found.field == "category":
            said = "The district has no such category any more; choose one from the list."
        elif found.field == "calendar":
            said = "The district has no such calendar any more; choose one from the list."
        else:
            said = found.message[:1].upper() + found.message[1:]
        errors[name] = f"{errors[name]} {said}" if name in errors else said
    return errors or {"policy": error.detail or error.title}


def moved(order: Sequence[str], rule_id: str, direction: str) -> list[str] | None:
    """The rules' order with `rule_id` one place earlier (`up`) or later (`down`); None
    when it is not there or cannot move that way."""
    ids = list(order)
    if rule_id not in ids or direction not in ("up", "down"):
        return None
    at = ids.index(rule_id)
    to = at - 1 if direction == "up" else at + 1
    if not 0 <= to < len(ids):
        return None
    ids[at], ids[to] = ids[to], ids[at]
    return ids


STUDENT_ID = re.compile(r"[A-Za-z0-9-]{1,32}")
DISCLOSURES = {
    "collected": "collected with the concern",
    "shared": "shared",
    "revealed": "revealed",
}


def template_key(raw: str | None) -> tuple[str, str, str] | None:
    """`kind.channel.language` from a link or form (None unless it has the three parts)."""
    parts = tuple((raw or "").split("."))
    if len(parts) != 3 or not all(p and all(c.isalnum() or c == "_" for c in p) for p in parts):
        return None
    return parts[0], parts[1], parts[2]


@dataclass(frozen=True)
class TemplateText:
    """One language's wording of a template, to preview."""

    language: str
    subject: str | None
    body: str


def template_texts(
    templates: list[Any], key: tuple[str, str, str], edited: Mapping[str, str] | None
) -> list[TemplateText]:
    """The wording in each language of this template's kind and channel, English first (the
    one being edited with its edited text): what the preview asks notify to render."""
    kind, channel, language = key
    texts: list[TemplateText] = []
    for t in sorted(templates, key=lambda t: (t.language != "en", t.language)):
        if (t.kind.value, t.channel.value) != (kind, channel):
            continue
        subject, body = t.subject, t.body
        if edited is not None and t.language == language:
            subject, body = edited.get("subject") or None, edited.get("body", "")
        texts.append(TemplateText(language=t.language, subject=subject, body=body))
    return texts


def safety_words(text: str) -> list[str]:
    """The safety words of the form's text: one per line or separated by commas, blanks
    left out (triage checks each and drops repeats)."""
    return [w.strip() for line in text.splitlines() for w in line.split(",") if w.strip()]


def allowed_actions(status: str, *, act: bool) -> set[str]:
    """The case actions to offer for this status (none without the right to act)."""
    if not act:
        return set()
    return {name for name, statuses in ACTION_STATUSES.items() if status in statuses}


def service_action(action: str, form: Mapping[str, str]) -> str:
    """The intake path of a console action (completing or calling off names its callback)."""
    if action in ("complete-callback", "cancel-callback"):
        return f"callbacks/{form.get('callback_id', '')}/{action.removesuffix('-callback')}"
    return action


def action_body(action: str, form: Mapping[str, str], *, callback_at: datetime | None) -> Any:
    """The service's body for one action, from the posted form (None: no body)."""
    text = {k: form.get(k, "").strip() for k in ("message", "note", "summary", "reason", "into")}
    if action in ("replies", "request-information"):
        return {"message": text["message"]}
    if action == "notes":
        return {"note": text["note"]}
    if action == "resolve":
        return {"summary": text["summary"]}
    if action == "callbacks":
        body: dict[str, Any] = {
            "due_at": callback_at.isoformat() if callback_at else "",
            "note": text["note"] or None,
        }
        if form.get("assignee_id"):
            body["assignee_id"] = form["assignee_id"]
        if form.get("remind_before_minutes") in REMINDERS:
            body["remind_before_minutes"] = int(form["remind_before_minutes"])
        return body
    if action == "merge":
        return {"into": text["into"], "reason": text["reason"]}
    if action == "complete-callback":
        return {"outcome": form.get("outcome", ""), "note": text["note"] or None}
    if action == "cancel-callback":
        return {"reason": text["reason"] or None}
    return {"reason": text["reason"]} if text["reason"] else None


def fingerprint(case: Any) -> str:
    """What a person working the case sees change: status, messages, callbacks, resolution,
    team, assignee, priority (not deliveries or clock bookkeeping, which also move its
    version). A page whose fingerprint still matches may act on the current version."""
    parts = [
        case.status.value,
        str(len(case.messages)),
        ",".join(c.status.value for c in case.callbacks),
        case.resolution.at.isoformat() if case.resolution else "",
        case.team.id if case.team else "",
        case.assignee.id if case.assignee else "",
        case.priority.value if case.priority else "",
        case.merged_into or "",
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def spoken(tracking_number: str) -> str:
    """A tracking number as an agent reads it out: `CS-2026-000123` -> `CS, 2026, 0 0 0 1 2 3`."""
    parts = tracking_number.split("-")
    if len(parts) != 3:
        return " ".join(tracking_number)
    return f"{parts[0]}, {parts[1]}, {' '.join(parts[2])}"


def duration(seconds: int) -> str:
    """A target as people say it: `72 hours`, `2 days`, `30 minutes`, `5 seconds`."""
    if seconds < 60:
        return f"{seconds} second" + ("s" if seconds != 1 else "")
    if seconds % 86400 == 0 and seconds >= 2 * 86400 and seconds != 3 * 86400:
        return f"{seconds // 86400} days"
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour" + ("s" if hours != 1 else "")
    return f"{seconds // 60} minutes"


TARGETS = {
    "first_response": "first response",
    "resolution": "resolution",
    "callback": "callback",
}
LEVELS = {1: "the principal", 2: "the assistant superintendent", 3: "the Ombudsperson"}


def clock_line(entry: Any) -> str:
    """One line of an SLA clock's history in plain words (the Ombudsperson's page):
    `warning: 75% of the resolution time used`, `escalated to the principal (level 1)`."""
    target = TARGETS.get(entry.target or "", entry.target or "")
    level = entry.level
    kind = entry.kind
    if kind == "warning":
        used = f"{entry.percent}% of the " if entry.percent is not None else "most of the "
        return f"warning: {used}{target} time used" if target else "warning"
    if kind == "breached":
        return f"{target} target missed" if target else "target missed"
    if kind == "met":
        return f"{target} target met" if target else "target met"
    if kind == "escalated" and level is not None:
        return f"escalated to {LEVELS.get(level, 'level ' + str(level))} (level {level})"
    if kind == "reminded" and level is not None:
        nth = f" {entry.reminder}" if entry.reminder else ""
        return f"reminder{nth} to {LEVELS.get(level, 'level ' + str(level))} (level {level})"
    detail = entry.detail or ""
    if kind == "started":
        return f"clock started ({detail} policy)" if detail else "clock started"
    if kind == "policy":
        return f"policy changed to {detail}" if detail else "policy changed"
    if kind == "surveyed":
        return f"survey answered: {detail} of 5" if detail else "survey answered"
    return {
        "first_response": "first response given",
        "paused": "clock paused",
        "resumed": "clock resumed",
        "answered": "the family answered",
        "resolved": "resolved",
        "reopened": "reopened",
        "callback_scheduled": "callback scheduled",
        "callback_reminded": "callback reminder",
        "callback_missed": "callback missed",
    }.get(kind, kind.replace("_", " "))


# How triage chose the assignee (its `how`).
HOW_ASSIGNED = {
    "least_loaded": "the least-loaded member",
    "round_robin": "in turn (round robin)",
    "manual": "chosen by hand",
    "handover": "handed over",
}
# The fields a re-triage changes, as people say them.
ROUTED_FIELDS = {"category": "category", "team_id": "team", "priority": "priority"}


def routing_line(
    entry: Any, *, staff: Mapping[str, str], teams: Mapping[str, str], categories: Mapping[str, str]
) -> str:
    """One step of triage's history of a case in plain words: how the rules routed it and
    why, who re-triaged or assigned it, and why (the case page's *How it was routed*)."""
    extra = entry.model_extra or {}
    by = "the routing rules" if entry.by == "rules" else staff.get(entry.by, entry.by)
    reason = f": {extra['reason']}" if extra.get("reason") else ""
    action = entry.action
    if action == "routed":
        team = teams.get(extra.get("team_id", ""), extra.get("team_id") or "a team")
        said = f"routed to {team}"
        if extra.get("priority"):
            said += f", priority {extra['priority']}"
        reasons = [str(r) for r in extra.get("reasons") or []]
        return said + (f" ({'; '.join(reasons)})" if reasons else "")
    if action == "retriaged":
        names = {"category": categories, "team_id": teams}
        changed = []
        for name, change in (extra.get("changes") or {}).items():
            if not isinstance(change, list) or len(change) != 2:
                continue
            old, new = (names.get(name, {}).get(str(v), str(v)) for v in change)
            changed.append(f"{ROUTED_FIELDS.get(name, name)} {old} → {new}")
        what = f" ({', '.join(changed)})" if changed else ""
        return f"re-triaged by {by}{what}{reason}"
    if action == "assigned":
        who = staff.get(extra.get("assignee_id", ""), extra.get("assignee_id") or "someone")
        said = f"assigned to {who}"
        if extra.get("covering_for"):
            covered = staff.get(extra["covering_for"], extra["covering_for"])
            said += f", covering for {covered}"
        how = HOW_ASSIGNED.get(extra.get("how", ""))
        if how:
            said += f" ({how})"
        if entry.by != "rules":
            said += f" by {by}"
        return said + reason
    if action == "unassigned":
        return f"unassigned by {by}{reason}"
    if action == "merged":
        return f"merged into another concern by {by}{reason}"
    return f"{action.replace('_', ' ')} by {by}{reason}"
