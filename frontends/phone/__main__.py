"""`python -m frontends.phone`: the phone front door on PORT (default 8006)."""

from __future__ import annotations

import uvicorn

from frontends.phone.app import create_app
from frontends.phone.settings import PhoneSettings
from shared.logs import configure_logging


def main() -> None:
    settings = PhoneSettings()
    configure_logging("phone", settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
