"""How services are served: whose X-Forwarded-For is believed."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, Request

from shared.serve import server_config
from shared.settings import ServiceSettings

pytestmark = pytest.mark.unit


async def client_seen(settings: ServiceSettings, *, peer: str, forwarded: str) -> str:
    """The client address the app sees for one request from `peer` naming `forwarded`."""
    app = FastAPI()

    @app.get("/who")
    async def who(request: Request) -> str:
        return request.client.host if request.client else ""

    config = server_config(app, settings)
    config.load()
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/who",
        "raw_path": b"/who",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"x-forwarded-for", forwarded.encode())],
        "client": (peer, 50000),
        "server": ("127.0.0.1", 8001),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await config.loaded_app(scope, receive, send)
    return next(m["body"] for m in sent if m["type"] == "http.response.body").decode()


async def test_forwarded_for_from_an_unlisted_peer_is_ignored() -> None:
    """Security (low): a rotating X-Forwarded-For (from localhost, trusted by uvicorn's
    default) bypassed the tracking-lookup limit."""
    assert (
        await client_seen(ServiceSettings(), peer="127.0.0.1", forwarded="203.0.113.9")
        == '"127.0.0.1"'
    )


async def test_forwarded_for_from_a_configured_proxy_names_the_family() -> None:
    settings = ServiceSettings(forwarded_allow_ips="10.0.0.0/8")
    assert await client_seen(settings, peer="10.1.2.3", forwarded="203.0.113.9") == '"203.0.113.9"'
    assert (
        await client_seen(settings, peer="198.51.100.7", forwarded="203.0.113.9")
        == '"198.51.100.7"'
    )
