"""Benchmark: post N concerns to a locally started bureau; print accepted concerns/s at the
intake and the submit-to-acknowledgement latency (POST sent -> mail received by SMTP) p50/p99.

    .venv/bin/python -m bench.submit_ack --concerns 300 --concurrency 16

Starts its own SecantusDB, SMTP sink and the four services (queue and exchange names of its
own, so it does not disturb a running bureau); uses the local RabbitMQ (`AMQP_URL`).
Also measures the store's own ceiling (sequential inserts/s) so the figures can be read as
ratios. Writes the figures as JSON to bench/results/submit_ack.json.
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


async def post_concerns(intake: str, n: int,
                        concurrency: int) -> tuple[dict[str, float], list[float], float]:
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker(client: httpx.AsyncClient) -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
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

    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=concurrency)) as c:
        started = time.perf_counter()
        await asyncio.gather(*(worker(c) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return sent_at, latencies, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concerns", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
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
                post_concerns(bureau.url("intake"), args.concerns, args.concurrency))
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
        "concerns": args.concerns, "concurrency": args.concurrency,
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
    (RESULTS / "submit_ack.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
