"""Load generation and statistics shared by the benchmarks."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from devtools.broker import delete_prefixed_topology
from devtools.bureau import LocalBureau
from shared.auth import mint_token
from shared.settings import ServiceSettings


def frontend_headers() -> dict[str, str]:
    """A web frontend's bearer token, signed with the development key the services use."""
    settings = ServiceSettings()
    key = settings.jwt_signing_key.get_secret_value() if settings.jwt_signing_key else ""
    token = mint_token(
        subject="bench-frontend",
        roles=["frontend"],
        signing_key=key,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_s=24 * 3600,
    )
    return {"Authorization": f"Bearer {token}"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def concern(i: int) -> dict[str, Any]:
    """The body every benchmark posts: a realistic concern with a requester email."""
    return {
        "channel": "web",
        "category": "transportation",
        "school_id": "lincoln-es",
        "description": f"Benchmark concern number {i}: the bus was late again this morning.",
        "requester": {"name": f"Parent {i}", "email": f"parent{i}@example.org"},
    }


@dataclass
class Run:
    """What one load run saw: when each accepted concern was sent, and answer latencies."""

    sent_at: dict[str, float] = field(default_factory=dict)  # tracking number -> epoch seconds
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0

    @property
    def accepted_per_s(self) -> float:
        return len(self.sent_at) / self.elapsed if self.elapsed else 0.0

    def latency_ms(self, q: float) -> float:
        return round(percentile(self.latencies, q) * 1000, 1)


async def post_concerns(
    url: str, n: int, *, concurrency: int = 16, rate: float | None = None
) -> Run:
    """Closed loop (`concurrency` clients, each posting as soon as answered) or open loop
    (one post every 1/`rate` s, whatever the answers do)."""
    run = Run()

    async def post(client: httpx.AsyncClient, i: int) -> None:
        started = time.time()
        try:
            answer = await client.post(f"{url}/v1/concerns", json=concern(i))
        except httpx.HTTPError:
            run.errors += 1
            return
        run.latencies.append(time.time() - started)
        if answer.status_code == 201:
            run.sent_at[answer.json()["tracking_number"]] = started
        else:
            run.errors += 1

    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            await post(client, queue.get_nowait())

    async def paced(client: httpx.AsyncClient, interval: float) -> None:
        tasks = []
        start = time.perf_counter()
        for i in range(n):
            delay = start + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(client, i)))
        await asyncio.gather(*tasks)

    limits = httpx.Limits(max_connections=max(concurrency, 256), max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=60, limits=limits, headers=frontend_headers()) as client:
        started = time.perf_counter()
        if rate:
            await paced(client, 1.0 / rate)
        else:
            await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        run.elapsed = time.perf_counter() - started
    return run


def rss_mib(pid: int) -> float:
    """Resident memory of a process, from /proc."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


SERVICES = ("intake", "triage", "escalation", "notify")


@contextmanager
def bench_bureau(amqp_url: str, name: str) -> Iterator[tuple[LocalBureau, str]]:
    """A local bureau (not started) whose queues and exchanges are its own, and its tag;
    stops it and deletes its topology afterwards."""
    tag = uuid.uuid4().hex[:8]
    prefix = f"{name}.{tag}."
    exchanges = (f"{prefix}bureau.events", f"{prefix}bureau.private")
    with tempfile.TemporaryDirectory(prefix=f"bureau-{name}-") as workdir:
        bureau = LocalBureau(
            workdir=Path(workdir),
            env={
                "AMQP_URL": amqp_url,
                "QUEUE_PREFIX": prefix,
                "EVENTS_EXCHANGE": exchanges[0],
                "PRIVATE_EXCHANGE": exchanges[1],
                "LOG_LEVEL": "WARNING",
            },
        )
        try:
            yield bureau, tag
        finally:
            bureau.stop()
            asyncio.run(delete_prefixed_topology(amqp_url, prefix, exchanges))


def start_services(
    bureau: LocalBureau,
    tag: str,
    store_url: str,
    *,
    store_per_service: bool,
    names: tuple[str, ...] = SERVICES,
) -> dict[str, str]:
    """Start services (all four by default), each on its own database of `store_url`, or of
    a store of its own; answers each service's store URL."""
    urls = (
        bureau.start_store_per_service(names)
        if store_per_service
        else dict.fromkeys(names, store_url)
    )
    bureau.start_services(
        names,
        per_service_env={
            name: {"MONGO_DB": f"bench_{tag}_{name}", "MONGO_URL": urls[name]} for name in names
        },
    )
    return urls
