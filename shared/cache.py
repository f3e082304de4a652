"""Small read-mostly data (templates, subscriptions, rules, policies) kept in memory for a
few seconds, so that handling an event does not read it from the store every time.

A replica sees its own edits at once (`invalidate`); other replicas within `ttl_s`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Cached(Generic[T]):
    """One value loaded by `load`, reused for `ttl_s` seconds."""

    def __init__(
        self,
        load: Callable[[], Awaitable[T]],
        ttl_s: float,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl_s = ttl_s
        self._now = now
        self._value: T | None = None
        self._loaded_at = float("-inf")
        self._generation = 0  # bumped by `invalidate`: a load begun before is not kept
        self._lock = asyncio.Lock()

    async def get(self) -> T:
        """The value, loading it again when it is older than the TTL."""
        if self._value is not None and self._now() - self._loaded_at < self._ttl_s:
            return self._value
        async with self._lock:  # one load for many concurrent callers
            if self._value is None or self._now() - self._loaded_at >= self._ttl_s:
                generation = self._generation
                value = await self._load()
                if generation != self._generation:  # edited meanwhile: what we read may be old
                    return value
                self._value, self._loaded_at = value, self._now()
            return self._value

    def invalidate(self) -> None:
        """Forget the value (after a local edit), so the next `get` reads the store, even
        when a load was already under way."""
        self._value = None
        self._generation += 1
