"""Notify's router (or `routers`) in-process over a context a test built, with a token of
`roles`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import httpx
from fastapi import APIRouter, FastAPI

from services.notify import api
from services.notify.context import NotifyContext
from shared.http import install_problem_handlers
from shared.settings import ServiceSettings
from tests.conftest import bearer


@asynccontextmanager
async def api_client(
    ctx: NotifyContext, *roles: str, routers: Sequence[APIRouter] = (api.router,)
) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_problem_handlers(app)
    for router in routers:
        app.include_router(router)
    app.state.ctx = ctx
    app.state.verifier = ServiceSettings().token_verifier()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://notify", headers=bearer(*roles)
    ) as http:
        yield http
