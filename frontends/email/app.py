"""The email front door: an HTTP process (health, metrics) that runs the SMTP/LMTP listener
and the mailbox poller in its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response

from frontends.common.app import health_router
from frontends.email.client import EmailIntakeClient
from frontends.email.handlers import MailDesk
from frontends.email.listener import start_listener
from frontends.email.mailbox import MailboxPoller
from frontends.email.settings import EmailSettings
from shared.metrics import exposition

log = logging.getLogger(__name__)


def create_app(settings: EmailSettings) -> FastAPI:
    """The app; the listener, the poller and the intake client start in its lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        intake = EmailIntakeClient(
            settings.intake_url, settings.token_source(), timeout_s=settings.io_timeout_s
        )
        desk = MailDesk(intake=intake, settings=settings)
        server = await start_listener(desk, settings) if settings.email_listen_port else None
        poller = MailboxPoller(desk, settings) if settings.imap_host else None
        task = asyncio.create_task(poller.run()) if poller else None
        app.state.intake = intake
        app.state.desk = desk
        app.state.poller = poller
        try:
            yield
        finally:
            if server is not None:
                server.close()
                await server.wait_closed()
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await intake.aclose()

    app = FastAPI(title="Bureau email front door", lifespan=lifespan)
    app.include_router(health_router())

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        body, content_type = exposition()
        return Response(body, media_type=content_type)

    return app
