"""Running a frontend process (`python -m frontends.<name>`): logging, then uvicorn."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import uvicorn
from fastapi import FastAPI

from frontends.common.settings import FrontendSettings
from shared.logs import configure_logging

S = TypeVar("S", bound=FrontendSettings)


def server_config(app: FastAPI, settings: FrontendSettings) -> uvicorn.Config:
    """How uvicorn serves a front door. X-Forwarded-For and X-Forwarded-Proto are believed
    only from the proxies in FORWARDED_ALLOW_IPS (none by default): the phone checks the
    provider's signature over the URL it rebuilds from them, so a caller must not choose its
    scheme."""
    trusted = settings.forwarded_allow_ips.strip()
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
    )


def run(name: str, settings: S, create_app: Callable[[S], FastAPI]) -> None:
    """Log as `name` (JSON lines) from the start, build the app, serve it on HOST:PORT until
    SIGTERM/SIGINT."""
    configure_logging(name, settings.log_level)
    uvicorn.Server(server_config(create_app(settings), settings)).run()
