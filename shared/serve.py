"""Running a service process: logging, then uvicorn with a graceful shutdown."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from shared.logs import configure_logging
from shared.settings import ServiceSettings
from shared.tracing import configure_tracing


def server_config(app: FastAPI, settings: ServiceSettings) -> uvicorn.Config:
    """How uvicorn serves the app. X-Forwarded-For is believed only from the proxies in
    FORWARDED_ALLOW_IPS (none by default): anyone else could rotate it past the per-address
    limits, and behind an unlisted ingress every family would share one allowance."""
    trusted = settings.forwarded_allow_ips.strip()
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
    )


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Serve until SIGTERM/SIGINT; the app's lifespan then drains in-flight work."""
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(settings.service_name)
    uvicorn.Server(server_config(app, settings)).run()
