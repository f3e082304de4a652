"""The in-memory cache of read-mostly data."""

from __future__ import annotations

import asyncio

import pytest

from shared.cache import Cached

pytestmark = pytest.mark.unit


async def test_value_is_reused_within_the_ttl_and_reloaded_after() -> None:
    loads = 0
    now = 0.0

    async def load() -> int:
        nonlocal loads
        loads += 1
        return loads

    cached = Cached(load, ttl_s=5, now=lambda: now)
    assert await cached.get() == 1
    now = 4.9
    assert await cached.get() == 1
    now = 5.0
    assert await cached.get() == 2


async def test_invalidate_forces_a_fresh_read_and_concurrent_callers_share_one_load() -> None:
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.01)
        return loads

    cached = Cached(load, ttl_s=60)
    assert await asyncio.gather(*(cached.get() for _ in range(10))) == [1] * 10
    cached.invalidate()
    assert await cached.get() == 2


async def test_a_load_under_way_when_an_edit_invalidates_is_not_kept() -> None:
    store = {"rules": "old"}
    reading = asyncio.Event()
    proceed = asyncio.Event()

    async def load() -> str:
        value = store["rules"]  # read before the edit lands
        reading.set()
        await proceed.wait()
        return value

    cached = Cached(load, ttl_s=60)
    first = asyncio.create_task(cached.get())
    await reading.wait()
    store["rules"] = "new"  # a local edit, then its invalidate, while the load is in flight
    cached.invalidate()
    proceed.set()
    assert await first == "old"  # that caller asked before the edit

    assert await cached.get() == "new"  # but the old read was not kept for later callers
