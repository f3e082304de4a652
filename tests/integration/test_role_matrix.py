"""The role matrix: every route of the four services, called with every role and with bad
tokens, answers as the table in shared/authz.py says (401, 403, or anything but those)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import aio_pika
import httpx
import pytest
from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from pymongo import AsyncMongoClient

from services.escalation.main import create_app as escalation_app
from services.escalation.settings import EscalationSettings
from services.intake.main import create_app as intake_app
from services.intake.settings import IntakeSettings
from services.notify.main import create_app as notify_app
from services.notify.settings import NotifySettings
from services.triage.main import create_app as triage_app
from services.triage.settings import TriageSettings
from shared.auth import Role
from shared.authz import TABLE, Permission, is_public
from shared.http import Authorize
from tests.conftest import Isolation, bearer, eventually

pytestmark = pytest.mark.integration

# Values for path parameters: unknown ids, so that an admitted caller meets a 404 or a 422
# (never a change), while the caller's right to try is what the test checks.
PATH_VALUES = {
    "concern_id": str(uuid.uuid4()),
    "fmt": "json",
    "kind": "acknowledgement",
    "channel": "email",
    "language": "en",
    "student_id": "S-000000",
    "tracking_number": "CS-2000-000001",
    "token": "t" * 24,
}

BAD_TOKENS: dict[str, dict[str, str]] = {
    "none": {},
    "expired": bearer("admin", "specialist", ttl_s=-600),
    "forged": bearer("admin", "specialist", signing_key="someone-elses-key-of-enough-length"),
    "wrong-audience": bearer("admin", "specialist", audience="another-app"),
    "not-a-jwt": {"Authorization": "Bearer not.a.jwt"},
}


@dataclass(frozen=True)
class Route:
    service: str
    method: str
    path: str
    permission: Permission | None

    @property
    def url(self) -> str:
        url = self.path
        for name, value in PATH_VALUES.items():
            url = url.replace("{" + name + "}", value)
        return url.replace("{", "").replace("}", "")  # any other id: its own (unknown) name

    def __str__(self) -> str:
        return f"{self.service} {self.method} {self.path}"


def _permissions(dependant: Dependant) -> list[Permission]:
    found = []
    for sub in dependant.dependencies:
        if isinstance(sub.call, Authorize):
            found.append(sub.call.permission)
        found += _permissions(sub)
    return found


def routes_of(service: str, app: FastAPI) -> list[Route]:
    """Every route of an app (iterating `app.routes`), with the permission it declares."""
    found = []
    for context in routing.iter_route_contexts(app.routes):
        original = context.original_route
        dependant = original.dependant if isinstance(original, routing.APIRoute) else None
        permissions = sorted(set(_permissions(dependant))) if dependant else []
        assert len(permissions) <= 1, f"{context.path_format} declares {permissions}"
        for method in sorted(set(context.methods or ()) - {"HEAD"}):
            found.append(
                Route(
                    service,
                    method,
                    context.path_format or "",
                    permissions[0] if permissions else None,
                )
            )
    return found


FACTORIES: dict[str, tuple[Callable[..., FastAPI], type[Any]]] = {
    "intake": (intake_app, IntakeSettings),
    "triage": (triage_app, TriageSettings),
    "escalation": (escalation_app, EscalationSettings),
    "notify": (notify_app, NotifySettings),
}


@pytest.fixture
async def services(
    mongo_url: str,
    amqp_url: str,
    isolation: Isolation,
    mongo: AsyncMongoClient,
    amqp: aio_pika.abc.AbstractRobustConnection,
) -> AsyncIterator[dict[str, tuple[FastAPI, httpx.AsyncClient]]]:
    """The four services in-process, on this test's store and broker names."""
    running: dict[str, tuple[FastAPI, httpx.AsyncClient]] = {}
    async with AsyncExitStack() as stack:
        for name, (factory, settings_type) in FACTORIES.items():
            settings = settings_type(
                mongo_url=mongo_url,
                mongo_db=isolation.db(name),
                amqp_url=amqp_url,
                queue_prefix=isolation.queue_prefix,
                events_exchange=isolation.events_exchange,
                private_exchange=isolation.private_exchange,
            )
            app = factory(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")
            )
            running[name] = (app, client)
        yield running


async def call(client: httpx.AsyncClient, route: Route, headers: dict[str, str]) -> httpx.Response:
    if route.method in ("POST", "PUT", "PATCH"):  # an empty body: admitted callers get a 4xx
        return await client.request(route.method, route.url, headers=headers, json={})
    return await client.request(route.method, route.url, headers=headers)


def caller(role: Role) -> dict[str, str]:
    # scoped roles get a school and a team, so that only the concern decides their reach
    return bearer(
        role.value, sub=f"{role.value}-1", schools=["lincoln-es"], teams=["transportation"]
    )


async def test_every_route_answers_every_role_as_the_table_says(
    services: dict[str, tuple[FastAPI, httpx.AsyncClient]],
) -> None:
    mismatches: list[str] = []
    used: set[Permission] = set()
    for name, (app, client) in services.items():
        for route in routes_of(name, app):
            if route.permission is None:
                if not is_public(route.path):
                    mismatches.append(f"{route}: no permission and not a public route")
                    continue
                answer = await call(client, route, {})
                if answer.status_code == 401 or answer.status_code >= 500:
                    mismatches.append(f"{route} without a token: {answer.status_code}")
                continue
            used.add(route.permission)
            for label, headers in BAD_TOKENS.items():
                answer = await call(client, route, headers)
                if (
                    answer.status_code != 401
                    or "bearer" not in answer.headers.get("www-authenticate", "").lower()
                ):
                    mismatches.append(f"{route} with {label} token: {answer.status_code}")
            for role in Role:
                answer = await call(client, route, caller(role))
                allowed = role in TABLE[route.permission]
                status = answer.status_code
                if status >= 500:
                    mismatches.append(f"{route} as {role.value}: {status} {answer.text}")
                elif allowed and status in (401, 403):
                    mismatches.append(f"{route} as {role.value}: {status}, the table allows")
                elif not allowed and (
                    status != 403 or answer.json().get("permission") != route.permission.value
                ):
                    mismatches.append(f"{route} as {role.value}: {status}, the table forbids")
    assert not mismatches, "\n".join(mismatches)
    assert used == set(Permission), f"permissions no route uses: {set(Permission) - used}"


async def test_a_principal_reaches_only_the_concerns_of_its_school(
    services: dict[str, tuple[FastAPI, httpx.AsyncClient]],
) -> None:
    _, intake = services["intake"]
    ids = {}
    for school in ("lincoln-es", "roosevelt-ms"):
        created = await intake.post(
            "/v1/concerns",
            headers=bearer("frontend"),
            json={
                "channel": "web",
                "category": "transportation",
                "school_id": school,
                "description": "The bus skipped our stop three mornings this week.",
            },
        )
        assert created.status_code == 201, created.text
        ids[school] = created.json()["id"]
    principal = bearer("principal", sub="pr-lincoln", schools=["lincoln-es"])

    own = await intake.get(f"/v1/concerns/{ids['lincoln-es']}", headers=principal)
    other = await intake.get(f"/v1/concerns/{ids['roosevelt-ms']}", headers=principal)
    acting = await intake.post(
        f"/v1/concerns/{ids['roosevelt-ms']}/notes",
        headers=principal,
        json={"note": "not mine to write"},
    )
    listed = await intake.get("/v1/concerns", headers=principal)
    counted = await intake.get("/v1/concerns/counts", headers=principal)

    assert own.status_code == 200
    assert (other.status_code, other.json()["title"]) == (403, "Outside your scope")
    assert acting.status_code == 403
    assert [c["id"] for c in listed.json()["items"]] == [ids["lincoln-es"]]
    assert counted.json()["total"] == 1
    specialist = await intake.get("/v1/concerns", headers=bearer("specialist"))
    assert {c["id"] for c in specialist.json()["items"]} == set(ids.values())

    # a team member sees what triage routed to a team of theirs, and nothing else
    async def routed() -> dict[str, Any] | None:
        listed = await intake.get("/v1/concerns", headers=bearer("specialist"))
        teams = {c["id"]: (c.get("team") or {}).get("id") for c in listed.json()["items"]}
        return teams if all(teams.values()) else None

    teams = await eventually(routed, what="triage to route both concerns")
    team = teams[ids["lincoln-es"]]
    member = await intake.get("/v1/concerns", headers=bearer("team_member", teams=[team]))
    outsider = await intake.get(
        "/v1/concerns", headers=bearer("team_member", teams=["no-such-team"])
    )
    assert {c["id"] for c in member.json()["items"]} == {i for i, t in teams.items() if t == team}
    assert outsider.json()["items"] == []


async def test_staff_actions_record_the_tokens_subject(
    services: dict[str, tuple[FastAPI, httpx.AsyncClient]],
) -> None:
    _, intake = services["intake"]
    created = await intake.post(
        "/v1/concerns",
        headers=bearer("intake_agent", sub="agent-3"),
        json={
            "channel": "phone",
            "category": "transportation",
            "school_id": "lincoln-es",
            "description": "Bus 14 is late every single morning.",
        },
    )
    concern_id = created.json()["id"]
    noted = await intake.post(
        f"/v1/concerns/{concern_id}/notes",
        json={"note": "called back"},
        headers=bearer("specialist", sub="sd-9"),
    )
    case = noted.json()
    assert case["taken_by"] == "agent-3"
    assert [e["actor"] for e in case["timeline"]] == ["agent-3", "sd-9"]
