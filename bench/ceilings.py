"""The raw ceilings of this machine, measured the way the bureau is measured."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

import aio_pika
from pymongo import AsyncMongoClient, WriteConcern

from bench.load import post_concerns
from devtools.launcher import REPO_ROOT, free_port, stop_process, wait_for_port


async def store_inserts_per_s(
    mongo_url: str, n: int = 2000, concurrency: int = 16, *, journal: bool = False
) -> float:
    """Single-document inserts per second, `concurrency` at a time, into the same store;
    with `journal`, each acknowledged once in the journal (`j: true`), as the bureau writes
    (`STORE_WRITE_CONCERN=journal`)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    collection = client["bench_ceiling"].get_collection(
        "docs", write_concern=WriteConcern(j=True) if journal else WriteConcern()
    )
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            await collection.insert_one({"i": i, "payload": "x" * 400})

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await client.drop_database("bench_ceiling")
    await client.close()
    return n / elapsed


async def confirmed_publishes_per_s(amqp_url: str, n: int = 5000, in_flight: int = 64) -> float:
    """Persistent publishes per second with publisher confirms, `in_flight` at a time."""
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.declare_exchange(
        f"bench.ceiling.{os.getpid()}", "topic", auto_delete=True
    )
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, routing_key="#")
    body = b"x" * 600
    semaphore = asyncio.Semaphore(in_flight)

    async def publish(i: int) -> None:
        async with semaphore:
            await exchange.publish(aio_pika.Message(body, delivery_mode=2), routing_key="bench")

    started = time.perf_counter()
    await asyncio.gather(*(publish(i) for i in range(n)))
    elapsed = time.perf_counter() - started
    await connection.close()
    return n / elapsed


def http_ceiling(mode: str, amqp_url: str, n: int, concurrency: int) -> dict[str, float]:
    """Requests per second and latency of the FastAPI ceiling app (`validate` or `publish`)."""
    port = free_port()
    env = {
        **os.environ,
        "CEILING_MODE": mode,
        "PORT": str(port),
        "AMQP_URL": amqp_url,
        "PYTHONPATH": str(REPO_ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.ceiling_app"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process=process, what="ceiling app")
        time.sleep(0.5)
        run = asyncio.run(post_concerns(f"http://127.0.0.1:{port}", n, concurrency=concurrency))
        return {
            "per_s": round(run.accepted_per_s, 1),
            "p50_ms": run.latency_ms(0.5),
            "p99_ms": run.latency_ms(0.99),
        }
    finally:
        stop_process(process)
