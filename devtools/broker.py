"""Removing the queues and exchanges a test or benchmark run declared under its own prefix."""

from __future__ import annotations

import aio_pika

QUEUE_OWNERS = ("intake", "triage", "escalation", "notify", "probe", "svc")
QUEUE_SUFFIXES = ("events", "dlq", "retry.0", "retry.1", "retry.2", "retry.3")


async def delete_prefixed_topology(
    amqp_url: str, queue_prefix: str, exchanges: tuple[str, ...]
) -> None:
    """Delete `<prefix><service>.<suffix>` queues and the given exchanges (absent ones too)."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        for owner in QUEUE_OWNERS:
            for suffix in QUEUE_SUFFIXES:
                await channel.queue_delete(f"{queue_prefix}{owner}.{suffix}")
        for exchange in exchanges:
            await channel.exchange_delete(exchange)
    finally:
        await connection.close()
