"""Security (low), issue 15: "each 500 also lacks the security headers". An unexpected error
is answered by the handler Starlette runs outside every middleware, so the headers the
SecurityHeaders middleware adds never reach it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from shared.http import SECURITY_HEADERS, create_service_app

pytestmark = pytest.mark.unit


def failing_app() -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    app = create_service_app(title="t", lifespan=lifespan)

    @app.get("/v1/broken")
    async def broken() -> None:
        raise RuntimeError("a bug nobody foresaw")

    return app


async def test_an_unexpected_error_is_a_500_problem_with_the_security_headers() -> None:
    transport = httpx.ASGITransport(app=failing_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.get("/v1/broken")
    assert answer.status_code == 500
    assert "a bug nobody foresaw" not in answer.text
    for name, value in SECURITY_HEADERS:
        assert answer.headers.get(name.decode()) == value.decode(), name
