"""Running a frontend process (`python -m frontends.<name>`): logging, then uvicorn."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import uvicorn
from fastapi import FastAPI

from frontends.common.settings import FrontendSettings
from shared.logs import configure_logging

S = TypeVar("S", bound=FrontendSettings)


def run(name: str, settings: S, create_app: Callable[[S], FastAPI]) -> None:
    """Log as `name` (JSON lines) from the start, build the app, serve it on HOST:PORT until
    SIGTERM/SIGINT. Proxy headers are trusted from FORWARDED_ALLOW_IPS (uvicorn's own
    variable; 127.0.0.1 by default)."""
    configure_logging(name, settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
    )
