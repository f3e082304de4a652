"""The frontends' intake client: what it sends, and how intake's refusals reach a frontend."""

from __future__ import annotations

import json

import httpx
import pytest
from pydantic import SecretStr

from frontends.common.intake import (
    FORWARDED_FOR_HEADER,
    IntakeClient,
    IntakeConflict,
    IntakeError,
    IntakeInvalid,
    IntakeNotFound,
    IntakeRateLimited,
    IntakeUnavailable,
)
from frontends.common.settings import FrontendSettings
from shared.auth import TokenVerifier

pytestmark = pytest.mark.unit

RECEIPT = {
    "id": "c1",
    "tracking_number": "CS-2026-000001",
    "status": "received",
    "submitted_at": "2026-12-01T10:00:00Z",
    "resolution_due_at": "2026-12-04T10:00:00Z",
    "access_token": "tok",
    "status_url": "/v1/tracking/CS-2026-000001",
    "updates_promised": True,
    "notice": "Keep it.",
    "pin": "482913",
}


def client(handler: httpx.MockTransport) -> IntakeClient:
    return IntakeClient("http://intake", lambda: "the-token", transport=handler)


async def test_submission_sends_token_idempotency_key_and_family_address() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=RECEIPT)

    intake = client(httpx.MockTransport(answer))
    receipt = await intake.create_concern(
        {"category": "transportation"}, idempotency_key="k-1", client_address="203.0.113.9"
    )
    assert receipt.tracking_number == "CS-2026-000001"
    sent = seen[0]
    assert sent.headers["Authorization"] == "Bearer the-token"
    assert sent.headers["Idempotency-Key"] == "k-1"
    assert sent.headers[FORWARDED_FOR_HEADER] == "203.0.113.9"
    assert json.loads(sent.content) == {"category": "transportation"}


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (404, IntakeNotFound),
        (409, IntakeConflict),
        (422, IntakeInvalid),
        (429, IntakeRateLimited),
        (503, IntakeUnavailable),
    ],
)
async def test_problem_details_become_typed_errors(status: int, kind: type[IntakeError]) -> None:
    body = {
        "type": "about:blank",
        "title": "Refused",
        "status": status,
        "detail": "why",
        "errors": [{"field": "requester.email", "message": "not an email"}],
    }
    intake = client(
        httpx.MockTransport(
            lambda r: httpx.Response(status, json=body, headers={"Retry-After": "7"})
        )
    )
    with pytest.raises(kind) as raised:
        await intake.tracking("CS-2026-000001", "wrong")
    assert raised.value.status == status
    assert raised.value.title == "Refused"
    assert raised.value.errors[0].field == "requester.email"
    assert raised.value.retry_after_s == 7


async def test_an_unreachable_intake_is_unavailable_not_a_crash() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(IntakeUnavailable):
        await client(httpx.MockTransport(refuse)).categories()
    assert await client(httpx.MockTransport(refuse)).ready() is False


async def test_catalog_is_fetched_once_a_minute() -> None:
    calls = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(
            200,
            json=[{"id": "transportation", "name": {"en": "Transportation", "es": "Transporte"}}],
        )

    intake = client(httpx.MockTransport(answer))
    assert (await intake.categories())[0].name.es == "Transporte"
    await intake.categories()
    assert calls == ["/v1/categories"]


def test_development_mints_a_frontend_token_and_production_requires_one() -> None:
    settings = FrontendSettings(frontend_name="web")
    principal = TokenVerifier(
        issuer="bureau-dev",
        audience="bureau",
        signing_key=settings.jwt_signing_key.get_secret_value(),
    ).verify(settings.token_source()())
    assert principal.subject == "web"
    assert {r.value for r in principal.roles} == {"frontend"}
    with pytest.raises(ValueError, match="BUREAU_CLIENT_TOKEN"):
        FrontendSettings(environment="production")
    given = FrontendSettings(environment="production", bureau_client_token=SecretStr("issued"))
    assert given.token_source()() == "issued"


def test_intake_counts_limits_on_the_forwarded_address_only_for_the_frontend_role() -> None:
    from types import SimpleNamespace

    from starlette.requests import Request

    from services.intake.requester_api import client_address
    from tests.conftest import bearer

    verifier = TokenVerifier(
        issuer="bureau-dev",
        audience="bureau",
        signing_key=FrontendSettings().jwt_signing_key.get_secret_value(),
    )

    def request(headers: dict[str, str]) -> Request:
        app = SimpleNamespace(state=SimpleNamespace(verifier=verifier))
        raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        return Request({"type": "http", "headers": raw, "client": ("10.0.0.5", 1), "app": app})

    family = {FORWARDED_FOR_HEADER: "203.0.113.9"}
    assert client_address(request({**family, **bearer("frontend")})) == "via:203.0.113.9"
    assert client_address(request({**family, **bearer("specialist")})) == "10.0.0.5"
    assert client_address(request(family)) == "10.0.0.5"
    assert client_address(request({**family, "Authorization": "Bearer forged"})) == "10.0.0.5"
