"""A service started while its store is away waits for it, saying so in `/readyz`, and comes up
when the store does; it never exits on a transient fault."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest

from devtools.launcher import free_port, start_secantus, stop_process
from shared import http as service_http
from shared.clock import SystemClock
from shared.http import create_service_app, runtime_lifespan
from shared.messaging.consumer import Handler
from shared.runtime import Runtime
from shared.settings import ServiceSettings
from tests.conftest import Isolation, eventually

pytestmark = pytest.mark.integration


async def readyz_until(
    client: httpx.AsyncClient, accept: Callable[[httpx.Response], bool], timeout_s: float = 10.0
) -> httpx.Response:
    """The first `/readyz` answer that `accept` takes; fails the test after `timeout_s`."""

    async def answer() -> httpx.Response | None:
        response = await client.get("/readyz")
        return response if accept(response) else None

    return await eventually(answer, timeout_s=timeout_s, what="the /readyz answer")


async def test_service_waits_for_its_store_naming_it_in_readyz_then_comes_up(
    isolation: Isolation, amqp_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_http, "STARTUP_FOREGROUND_S", 0.2)
    port = free_port()  # nothing listens there yet: the store is down
    settings = ServiceSettings(
        service_name="svc",
        mongo_url=f"mongodb://127.0.0.1:{port}/?directConnection=true",
        mongo_db=isolation.db("svc"),
        amqp_url=amqp_url,
        queue_prefix=isolation.queue_prefix,
        events_exchange=isolation.events_exchange,
        private_exchange=isolation.private_exchange,
        io_timeout_s=0.5,
        shutdown_grace_s=1.0,
    )
    wired: list[Runtime] = []

    async def wire(runtime: Runtime) -> tuple[Any, Mapping[str, Handler]]:
        wired.append(runtime)
        return object(), {}

    app = create_service_app(
        title="svc",
        lifespan=runtime_lifespan(settings, clock=SystemClock(), outbox_collections=[], wire=wire),
    )
    with tempfile.TemporaryDirectory(prefix="bureau-start-") as storage:
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://svc"
            ) as client:
                # once the first attempt to reach the store has failed
                waiting = await readyz_until(client, lambda a: "store" in a.json()["detail"])
                assert waiting.status_code == 503
                assert waiting.json()["title"] == "Starting"
                assert waiting.json()["checks"] == {"store": "ServerSelectionTimeoutError"}

                store = await asyncio.to_thread(
                    start_secantus, port=port, storage_path=storage, log_path=f"{storage}/store.log"
                )
                try:
                    await readyz_until(client, lambda a: a.status_code == 200, timeout_s=30)
                    assert len(wired) == 1
                finally:
                    await asyncio.to_thread(stop_process, store)
