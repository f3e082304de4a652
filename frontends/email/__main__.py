"""`python -m frontends.email`: the email front door, HTTP on PORT (default 8005)."""

from __future__ import annotations

import uvicorn

from frontends.email.app import create_app
from frontends.email.settings import EmailSettings
from shared.logs import configure_logging


def main() -> None:
    settings = EmailSettings()
    configure_logging("email", settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
