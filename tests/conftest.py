"""Fixtures shared by every test tier.

The one place that decides which store and broker the tests use: `MONGO_URL` / `AMQP_URL`
when set (a real MongoDB, a remote broker), else a SecantusDB server started here over TCP
and the local RabbitMQ. Each test gets its own database names and queue/exchange names.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, overload

import aio_pika
import pytest
from pymongo import AsyncMongoClient

from devtools.broker import delete_prefixed_topology
from devtools.launcher import store_url
from devtools.smtp_sink import SmtpSink
from shared.auth import DEVELOPMENT_SIGNING_KEY, mint_token
from tests.tiers import deselected, tier_selected

T = TypeVar("T")
AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


# The pytest plugins of the e2e tier's fuzzing (entry point name: module), which `addopts`
# leaves out; Hypothesis's imports all of Hypothesis at the end of any run
FUZZ_PLUGINS = {
    "hypothesispytest": "_hypothesis_pytestplugin",
    "schemathesis": "schemathesis.pytest.plugin",
}


def pytest_configure(config: pytest.Config) -> None:
    """Load the fuzzing plugins when `-m` can select the e2e tier, whose fuzz tests use them;
    the other tiers start and end without importing schemathesis or Hypothesis."""
    markexpr = config.option.markexpr
    if markexpr and not tier_selected(markexpr, "e2e"):
        return
    for name, module in FUZZ_PLUGINS.items():
        if not config.pluginmanager.hasplugin(name):
            config.pluginmanager.import_plugin(module)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave unimported the modules whose tier `-m` deselects (`-m unit` imports no e2e)."""
    return True if deselected(collection_path, config.option.markexpr) else None


# The services in tests verify tokens with the default development settings.
DEV_ISSUER, DEV_AUDIENCE = "bureau-dev", "bureau"


def bearer(
    *roles: str,
    sub: str = "tester",
    schools: list[str] | None = None,
    teams: list[str] | None = None,
    ttl_s: int = 3600,
    signing_key: str = DEVELOPMENT_SIGNING_KEY,
    audience: str = DEV_AUDIENCE,
    issuer: str = DEV_ISSUER,
) -> dict[str, str]:
    """An `Authorization` header with a development token for `roles`."""
    token = mint_token(
        subject=sub,
        roles=list(roles),
        schools=schools,
        teams=teams,
        ttl_s=ttl_s,
        signing_key=signing_key,
        issuer=issuer,
        audience=audience,
    )
    return {"Authorization": f"Bearer {token}"}


# Who the older tests act as: submits (phone agent) and works every concern.
STAFF_ROLES = ("intake_agent", "specialist")


@pytest.fixture
def token() -> Callable[..., dict[str, str]]:
    """Headers with development tokens: `token("principal", schools=["lincoln-es"])`."""
    return bearer


@overload
async def eventually(
    check: Callable[[], Awaitable[T | None]],
    *,
    timeout_s: float = ...,
    what: str = ...,
    interval_s: float = ...,
) -> T: ...
@overload
async def eventually(
    check: Callable[[], T | None],
    *,
    timeout_s: float = ...,
    what: str = ...,
    interval_s: float = ...,
) -> T: ...
async def eventually(
    check: Callable[[], Any],
    *,
    timeout_s: float = 10.0,
    what: str = "condition",
    interval_s: float = 0.02,
) -> Any:
    """Poll `check` (plain or async) until it answers something truthy, and answer that;
    fail the test after `timeout_s`. The one polling helper of the tests."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(interval_s)


@pytest.fixture(scope="session")
def mongo_url() -> Iterator[str]:
    """A MongoDB-protocol server reached over TCP for the whole session."""
    with store_url(prefix="bureau-test-store-") as url:
        yield url


@pytest.fixture(scope="session")
def amqp_url() -> str:
    return AMQP_URL


@dataclass(frozen=True)
class Isolation:
    """Names no other test uses: databases, queue prefix, exchanges."""

    tag: str

    def db(self, service: str) -> str:
        return f"t_{self.tag}_{service}"

    @property
    def queue_prefix(self) -> str:
        return f"t.{self.tag}."

    @property
    def events_exchange(self) -> str:
        return f"t.{self.tag}.bureau.events"

    @property
    def private_exchange(self) -> str:
        return f"t.{self.tag}.bureau.private"

    def env(self, service: str, *, mongo_url: str, amqp_url: str) -> dict[str, str]:
        """Environment variables that point a service at this test's store and broker names."""
        return {
            "MONGO_URL": mongo_url,
            "MONGO_DB": self.db(service),
            "AMQP_URL": amqp_url,
            "QUEUE_PREFIX": self.queue_prefix,
            "EVENTS_EXCHANGE": self.events_exchange,
            "PRIVATE_EXCHANGE": self.private_exchange,
        }


@pytest.fixture
def isolation() -> Isolation:
    return Isolation(uuid.uuid4().hex[:10])


@pytest.fixture
async def mongo(mongo_url: str, isolation: Isolation) -> AsyncIterator[AsyncMongoClient]:
    """A client to the test store; drops this test's databases afterwards."""
    client: AsyncMongoClient = AsyncMongoClient(
        mongo_url, tz_aware=True, serverSelectionTimeoutMS=5000
    )
    yield client
    for name in await client.list_database_names():
        if name.startswith(f"t_{isolation.tag}_"):
            await client.drop_database(name)
    await client.close()


@pytest.fixture
async def second_client(mongo_url: str) -> AsyncIterator[AsyncMongoClient]:
    """Another connection to the same store, as a second replica would have."""
    client: AsyncMongoClient = AsyncMongoClient(
        mongo_url, tz_aware=True, serverSelectionTimeoutMS=5000
    )
    yield client
    await client.close()


async def store_operations(client: AsyncMongoClient, db_name: str) -> Counter[str]:
    """Operations the store counted per collection of one database (its `top`)."""
    totals = (await client.admin.command("top"))["totals"]
    return Counter(
        {
            ns.split(".", 1)[1]: entry["total"]["count"]
            for ns, entry in totals.items()
            if ns.startswith(f"{db_name}.") and isinstance(entry, dict)
        }
    )


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    """An SMTP server on a free port that keeps every mail it receives."""
    server = SmtpSink(port=0).start()
    yield server
    server.stop()


async def next_message(
    queue: aio_pika.abc.AbstractQueue, timeout_s: float = 10.0
) -> aio_pika.abc.AbstractIncomingMessage:
    """The next message on `queue` (acked on receipt); fails the test after `timeout_s`."""
    return await eventually(
        lambda: queue.get(no_ack=True, fail=False),
        timeout_s=timeout_s,
        what=f"a message on {queue.name}",
    )


@pytest.fixture
async def amqp(
    amqp_url: str, isolation: Isolation
) -> AsyncIterator[aio_pika.abc.AbstractRobustConnection]:
    """A broker connection; deletes this test's queues and exchanges afterwards."""
    connection = await aio_pika.connect_robust(amqp_url)
    yield connection
    await connection.close()
    await delete_prefixed_topology(
        amqp_url, isolation.queue_prefix, (isolation.events_exchange, isolation.private_exchange)
    )
