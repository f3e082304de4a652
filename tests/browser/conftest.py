"""The bureau and its family web as processes, and a headless Debian Chromium driving it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aio_pika
import pytest
from playwright.async_api import Browser, async_playwright

from devtools.bureau import LocalBureau
from devtools.launcher import REPO_ROOT, SERVICES, free_port
from devtools.screenshots import CHROMIUM, CHROMIUM_ARGS, web_district
from tests.conftest import Isolation

# Screenshots of each page, kept after the run (var/ is not committed).
ARTIFACTS = REPO_ROOT / "var" / "test-artifacts" / "browser"


def bureau_env(
    isolation: Isolation, mongo_url: str, amqp_url: str, district: Path, base_url: str
) -> dict[str, str]:
    """A test bureau's environment: its own queues, exchanges and district file, the web at
    `base_url` (the mails' links), quick retries and ticks."""
    return {
        "MONGO_URL": mongo_url,
        "AMQP_URL": amqp_url,
        "QUEUE_PREFIX": isolation.queue_prefix,
        "EVENTS_EXCHANGE": isolation.events_exchange,
        "PRIVATE_EXCHANGE": isolation.private_exchange,
        "DISTRICT_CONFIG": str(district),
        "PUBLIC_BASE_URL": base_url,
        "RETRY_DELAYS_MS": "[200, 500, 1000]",
        "OUTBOX_POLL_S": "0.2",
        "SCHEDULER_TICK_S": "0.2",
        "DISPATCH_TICK_S": "0.2",
    }


@pytest.fixture
def bureau(
    tmp_path: Path,
    isolation: Isolation,
    mongo_url: str,
    amqp_url: str,
    amqp: aio_pika.abc.AbstractRobustConnection,
) -> Iterator[LocalBureau]:
    """The four services and the web frontend as processes with this test's names; the
    mails' links point to the web frontend."""
    web_port = free_port()
    base_url = f"http://127.0.0.1:{web_port}"
    district = web_district(tmp_path / "district.yaml", base_url)
    env = {**bureau_env(isolation, mongo_url, amqp_url, district, base_url), "LOG_LEVEL": "INFO"}
    local = LocalBureau(workdir=tmp_path, env=env)
    local.ports["web"] = web_port
    local.start_smtp()
    try:
        local.start_services(
            per_service_env={name: {"MONGO_DB": isolation.db(name)} for name in SERVICES}
        )
        local.start_frontends(("web",))
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless (Playwright's own download does not work here)."""
    async with async_playwright() as driver:
        chromium = await driver.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
        )
        yield chromium
        await chromium.close()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    path = ARTIFACTS / request.node.name
    path.mkdir(parents=True, exist_ok=True)
    return path
