"""Who may do what: the one table of permissions that all four services enforce.

Every protected route declares one `Permission` (through `shared.http.authorize`); this table
says which roles hold it and with which scope. A role absent from a permission's row gets a
403; a scoped role is then limited to the concerns of its schools or teams (or to itself).
The role-matrix test walks every route of every service with every role against this table,
and `markdown()` renders it for the README. Pure: no I/O, no framework.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from shared.auth import Principal, Role


class Permission(StrEnum):
    SUBMIT = "concern:submit"
    CATALOG = "catalog:read"
    CONCERN_READ = "concern:read"
    CONCERN_ACT = "concern:act"
    REQUESTER_SEARCH = "requester:search"
    STUDENT_REVEAL = "student:reveal"
    TRIAGE_ACT = "triage:act"
    DIRECTORY_READ = "directory:read"
    MEMBERS_MANAGE = "members:manage"
    CONFIG_READ = "config:read"
    CONFIG_WRITE = "config:write"
    OVERSIGHT_READ = "oversight:read"
    REPORTS_READ = "reports:read"
    AUDIT_READ = "audit:read"
    REQUESTER_RELAY = "requester:relay"
    FORM_FILES = "form:files"


class Scope(StrEnum):
    ALL = "all"
    SCHOOLS = "own schools"  # concerns of the schools in the token's `schools` claim
    TEAMS = "own teams"  # concerns routed to the teams in the token's `teams` claim
    SELF = "self"  # only what concerns the caller (its own out-of-office, its own handover)


WHAT: Mapping[Permission, str] = {
    Permission.SUBMIT: "submit a concern (intake `POST /v1/concerns`)",
    Permission.CATALOG: "read categories and schools (intake)",
    Permission.CONCERN_READ: "read a concern: case, work queues, counts, timeline (intake); its "
    "triage decision (triage); its SLA clock (escalation); its "
    "deliveries (notify)",
    Permission.CONCERN_ACT: "work a concern: acknowledge, reply, note, resolve, ... (intake)",
    Permission.REQUESTER_SEARCH: "find a family's concerns by their phone or email, with a "
    "reason (intake; every search is recorded on each concern found)",
    Permission.STUDENT_REVEAL: "reveal a concern's student information, with a reason "
    "(intake; every reveal is recorded)",
    Permission.TRIAGE_ACT: "re-triage or merge a concern (triage)",
    Permission.DIRECTORY_READ: "read teams, team queues, members (triage)",
    Permission.MEMBERS_MANAGE: "mark a member away, hand over their concerns (triage)",
    Permission.CONFIG_READ: "read rules, policies, templates, subscriptions; rule dry-run",
    Permission.CONFIG_WRITE: "change rules, policies, templates, subscriptions",
    Permission.OVERSIGHT_READ: "the Ombudsperson's view of escalated concerns (escalation)",
    Permission.REPORTS_READ: "Board reports: aggregates, no case content (escalation)",
    Permission.AUDIT_READ: "export a student's record of access and disclosures (intake)",
    Permission.REQUESTER_RELAY: "act for a family who opened its concern on a front door with "
    "the tracking number and its access code or PIN (checked by intake): read and answer the "
    "concern's survey (notify)",
    Permission.FORM_FILES: "keep the files a family chose on a concern form until it is sent, "
    "then attach them to the concern it created (intake)",
}

_STAFF_ON_CASES: Mapping[Role, Scope] = {
    Role.SPECIALIST: Scope.ALL,
    Role.TEAM_MEMBER: Scope.TEAMS,
    Role.PRINCIPAL: Scope.SCHOOLS,
    Role.ASSISTANT_SUPERINTENDENT: Scope.SCHOOLS,
    Role.OMBUDSPERSON: Scope.ALL,
}

TABLE: Mapping[Permission, Mapping[Role, Scope]] = {
    Permission.SUBMIT: {Role.FRONTEND: Scope.ALL, Role.INTAKE_AGENT: Scope.ALL},
    Permission.CATALOG: {role: Scope.ALL for role in Role},
    Permission.CONCERN_READ: {
        **_STAFF_ON_CASES,
        Role.INTAKE_AGENT: Scope.ALL,
        Role.AUDITOR: Scope.ALL,
    },
    Permission.CONCERN_ACT: _STAFF_ON_CASES,
    # Call-center agents find the caller's concerns while on the phone; they do not work them.
    Permission.REQUESTER_SEARCH: {**_STAFF_ON_CASES, Role.INTAKE_AGENT: Scope.ALL},
    Permission.STUDENT_REVEAL: _STAFF_ON_CASES,
    Permission.TRIAGE_ACT: {
        Role.SPECIALIST: Scope.ALL,
        Role.TEAM_MEMBER: Scope.TEAMS,
        Role.OMBUDSPERSON: Scope.ALL,
    },
    Permission.DIRECTORY_READ: {
        role: Scope.ALL for role in Role if role not in (Role.FRONTEND, Role.BOARD)
    },
    Permission.MEMBERS_MANAGE: {
        Role.SPECIALIST: Scope.ALL,
        Role.ADMIN: Scope.ALL,
        Role.TEAM_MEMBER: Scope.SELF,
    },
    Permission.CONFIG_READ: {
        Role.ADMIN: Scope.ALL,
        Role.AUDITOR: Scope.ALL,
        Role.SPECIALIST: Scope.ALL,
    },
    Permission.CONFIG_WRITE: {Role.ADMIN: Scope.ALL},
    Permission.OVERSIGHT_READ: {Role.OMBUDSPERSON: Scope.ALL, Role.AUDITOR: Scope.ALL},
    Permission.REPORTS_READ: {
        Role.OMBUDSPERSON: Scope.ALL,
        Role.AUDITOR: Scope.ALL,
        Role.ADMIN: Scope.ALL,
        Role.SPECIALIST: Scope.ALL,
        Role.ASSISTANT_SUPERINTENDENT: Scope.ALL,
        Role.PRINCIPAL: Scope.ALL,
        Role.BOARD: Scope.ALL,
    },
    Permission.AUDIT_READ: {Role.AUDITOR: Scope.ALL, Role.OMBUDSPERSON: Scope.ALL},
    # only the family front doors: staff never answer a family's survey for them
    Permission.REQUESTER_RELAY: {Role.FRONTEND: Scope.ALL},
    # only the family front doors: a form's files before its concern exists
    Permission.FORM_FILES: {Role.FRONTEND: Scope.ALL},
}

# Routes open without a bearer token, and what protects them instead. The role-matrix test
# fails when a route is neither here nor protected by a permission.
PUBLIC_ROUTES: Mapping[str, str] = {
    "/healthz": "probe",
    "/readyz": "probe",
    "/metrics": "probe (scraped inside the cluster)",
    "/openapi.json": "documentation",
    "/docs": "documentation",
    "/docs/oauth2-redirect": "documentation",
    "/redoc": "documentation",
    "/v1/tracking/": "the requester: tracking number + access token (intake)",
    "/open311/v2/": "Open311: its api_key for filing, public views otherwise (intake)",
    "/v1/surveys/": "the survey link's secret token (notify)",
}


def is_public(path: str) -> bool:
    """Whether a route path is answered without a bearer token (see PUBLIC_ROUTES)."""
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in PUBLIC_ROUTES)


@dataclass(frozen=True)
class Access:
    """What one caller may reach under one permission: everything, or its schools/teams/self."""

    principal: Principal
    permission: Permission
    everything: bool
    schools: frozenset[str]
    teams: frozenset[str]
    itself: bool

    @property
    def actor(self) -> str:
        """Who acts, for histories and logs: the token's subject."""
        return self.principal.subject

    def covers(self, *, school_id: str | None, team_id: str | None) -> bool:
        """Whether a concern of this school and team is within reach."""
        return (
            self.everything
            or (school_id is not None and school_id in self.schools)
            or (team_id is not None and team_id in self.teams)
        )

    def covers_concern(
        self, *, school_id: str | None, team_id: str | None, assignee_id: str | None
    ) -> bool:
        """Whether a concern is within reach: its school or team, or it is assigned to the
        caller (a backup from another team covering for an away member, a hand-over)."""
        return self.covers(school_id=school_id, team_id=team_id) or (
            assignee_id is not None and assignee_id == self.actor
        )

    def covers_member(self, member_id: str) -> bool:
        """Whether a staff member's own settings are within reach."""
        return self.everything or (self.itself and member_id == self.principal.subject)


def access(principal: Principal, permission: Permission) -> Access | None:
    """The caller's reach under `permission` (the union over its roles); None if it has none."""
    scopes = [scope for role, scope in TABLE[permission].items() if role in principal.roles]
    if not scopes:
        return None
    return Access(
        principal=principal,
        permission=permission,
        everything=Scope.ALL in scopes,
        schools=principal.schools if Scope.SCHOOLS in scopes else frozenset(),
        teams=principal.teams if Scope.TEAMS in scopes else frozenset(),
        itself=Scope.SELF in scopes,
    )


def roles_for(permission: Permission) -> list[str]:
    """The roles that hold a permission (in any scope)."""
    return sorted(role.value for role in TABLE[permission])


def markdown() -> str:
    """The table as Markdown, for the README: one row per permission, one column per role."""
    roles = list(Role)
    lines = [
        "| permission | what | " + " | ".join(f"`{r.value}`" for r in roles) + " |",
        "|---|---|" + "---|" * len(roles),
    ]
    for permission in Permission:
        cells = [TABLE[permission].get(role) for role in roles]
        lines.append(
            f"| `{permission.value}` | {WHAT[permission]} | "
            + " | ".join(c.value if c else "—" for c in cells)
            + " |"
        )
    return "\n".join(lines)
