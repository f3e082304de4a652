"""Benchmark: post N concerns to a locally started bureau; print accepted concerns/s at the
intake and the submit-to-acknowledgement latency (POST sent -> mail received by SMTP) p50/p99.

    .venv/bin/python -m bench.submit_ack --concerns 300 --concurrency 16
    .venv/bin/python -m bench.submit_ack --concerns 200 --rate 20

Starts its own SecantusDB, SMTP sink and the four services (queue and exchange names of its
own, so it does not disturb a running bureau); uses the local RabbitMQ (`AMQP_URL`).
Also measures the store's own ceiling (sequential inserts/s) so the figures can be read as
ratios. Writes the figures as JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from devtools.broker import delete_prefixed_topology
from devtools.bureau import LocalBureau

RESULTS = Path(__file__).resolve().parent / "results"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def store_ceiling(mongo_url: str, n: int = 1000) -> float:
    """Sequential single-document inserts per second into the same store."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    collection = client["bench_ceiling"]["docs"]
    started = time.perf_counter()
    for i in range(n):
        await collection.insert_one({"i": i, "payload": "x" * 200})
    elapsed = time.perf_counter() - started
    await client.drop_database("bench_ceiling")
    await client.close()
    return n / elapsed


async def post_concerns(intake: str, n: int, concurrency: int,
                        rate: float | None) -> tuple[dict[str, float], list[float], float]:
    """Closed loop (`concurrency` clients as fast as answers come) or open loop at `rate`/s."""
    sent_at: dict[str, float] = {}
    latencies: list[float] = []

    async def post(client: httpx.AsyncClient, i: int) -> None:
        body = {
            "channel": "web", "category": "transportation", "school_id": "lincoln-es",
            "description": f"Benchmark concern number {i}: the bus was late again.",
            "requester": {"name": f"Parent {i}", "email": f"parent{i}@example.org"},
        }
        started = time.time()
        answer = await client.post(f"{intake}/v1/concerns", json=body)
        latencies.append(time.time() - started)
        if answer.status_code == 201:
            sent_at[answer.json()["tracking_number"]] = started

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

    limits = httpx.Limits(max_connections=max(concurrency, 64))
    async with httpx.AsyncClient(timeout=30, limits=limits) as c:
        started = time.perf_counter()
        if rate:
            await paced(c, 1.0 / rate)
        else:
            await asyncio.gather(*(worker(c) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return sent_at, latencies, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concerns", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rate", type=float, default=None,
                        help="post at this fixed rate (concerns/s) instead of a closed loop")
    args = parser.parse_args()
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="bureau-bench-") as workdir:
        bureau = LocalBureau(workdir=Path(workdir), env={
            "AMQP_URL": os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
            "QUEUE_PREFIX": f"bench.{tag}.",
            "EVENTS_EXCHANGE": f"bench.{tag}.bureau.events",
            "PRIVATE_EXCHANGE": f"bench.{tag}.bureau.private",
            "LOG_LEVEL": "WARNING",
        })
        try:
            mongo_url = bureau.start_store()
            ceiling = asyncio.run(store_ceiling(mongo_url))
            smtp = bureau.start_smtp()
            bureau.start_services(per_service_env={
                name: {"MONGO_DB": f"bench_{tag}_{name}"}
                for name in ("intake", "triage", "escalation", "notify")})
            sent_at, latencies, elapsed = asyncio.run(
                post_concerns(bureau.url("intake"), args.concerns, args.concurrency, args.rate))
            deadline = time.time() + 120
            while time.time() < deadline and len(smtp.mails) < len(sent_at):
                time.sleep(0.2)
            acks = []
            for mail in smtp.mails:
                for tracking, started in sent_at.items():
                    if tracking in mail.text:
                        acks.append(mail.received_at - started)
                        break
        finally:
            bureau.stop()
            asyncio.run(delete_prefixed_topology(
                bureau.env["AMQP_URL"], f"bench.{tag}.",
                (f"bench.{tag}.bureau.events", f"bench.{tag}.bureau.private")))
    accepted = len(sent_at) / elapsed
    figures = {
        "concerns": args.concerns, "concurrency": args.concurrency, "rate": args.rate,
        "accepted": len(sent_at), "acknowledged": len(acks),
        "accepted_per_s": round(accepted, 1),
        "intake_p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "intake_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "ack_p50_ms": round(percentile(acks, 0.50) * 1000, 1),
        "ack_p99_ms": round(percentile(acks, 0.99) * 1000, 1),
        "store_inserts_per_s": round(ceiling, 1),
        "accepted_per_s_over_store_inserts_per_s": round(accepted / ceiling, 3),
        "mean_ack_ms": round(statistics.fmean(acks) * 1000, 1) if acks else None,
    }
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    RESULTS.mkdir(exist_ok=True)
    name = f"submit_ack_rate{args.rate:g}.json" if args.rate else "submit_ack.json"
    (RESULTS / name).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
