"""Running a service process: logging, then uvicorn with a graceful shutdown."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from shared.logs import configure_logging
from shared.settings import ServiceSettings
from shared.tracing import configure_tracing


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Serve until SIGTERM/SIGINT; the app's lifespan then drains in-flight work."""
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(settings.service_name)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
    )
