"""Hardening: rate limits, security headers and CORS for browser frontends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from shared.http import create_service_app
from shared.ratelimit import RateLimiter

pytestmark = pytest.mark.unit


def test_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    now = 0.0
    limiter = RateLimiter(3, 60.0, now=lambda: now)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b"), "another client has its own bucket"
    now = 20.0  # one token back after 60/3 s
    assert limiter.allow("a") and not limiter.allow("a")
    assert limiter.retry_after_s() == 20


def test_limiter_forgets_the_oldest_clients_beyond_its_size() -> None:
    limiter = RateLimiter(1, 60.0, max_keys=2, now=lambda: 0.0)
    assert limiter.allow("a") and limiter.allow("b") and limiter.allow("c")
    assert limiter.allow("a"), "a was forgotten, so it starts with a full bucket"


def app_with(cors: tuple[str, ...] = ()) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    app = create_service_app(title="t", lifespan=lifespan, cors_origins=cors)

    @app.get("/v1/things")
    async def things() -> dict[str, str]:
        return {"ok": "yes"}

    return app


async def test_answers_carry_security_headers() -> None:
    transport = httpx.ASGITransport(app=app_with())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.get("/v1/things")
        missing = await client.get("/nope")
    for headers in (answer.headers, missing.headers):
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert "default-src 'none'" in headers["content-security-policy"]


async def test_cors_admits_only_the_configured_frontends() -> None:
    transport = httpx.ASGITransport(app=app_with(("https://help.district.org",)))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        }
        ours = await client.options(
            "/v1/things", headers={"Origin": "https://help.district.org", **preflight}
        )
        theirs = await client.options(
            "/v1/things", headers={"Origin": "https://evil.example", **preflight}
        )
    assert ours.status_code == 200
    assert ours.headers["access-control-allow-origin"] == "https://help.district.org"
    assert "access-control-allow-origin" not in theirs.headers
