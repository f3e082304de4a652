"""A token bucket per client, in memory: enough to slow down guessing (each replica counts for
itself, so N replicas allow N times the rate: still far below what guessing would need)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

# A frontend (role `frontend`) forwards the family's address in this header, so that limits
# count per family rather than per frontend; services trust it from no other caller.
FORWARDED_FOR_HEADER = "X-Bureau-Forwarded-For"


class RateLimiter:
    """`rate` requests per `per_s` seconds per key, with bursts up to `rate`."""

    def __init__(
        self,
        rate: int,
        per_s: float,
        *,
        max_keys: int = 10_000,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._capacity = float(rate)
        self._refill_per_s = rate / per_s
        self._max_keys = max_keys
        self._now = now
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, key: str) -> bool:
        """Take one token for `key`; False when its bucket is empty."""
        now = self._now()
        tokens, last = self._buckets.pop(key, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - last) * self._refill_per_s)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > self._max_keys:  # forget the least recently seen
            self._buckets.popitem(last=False)
        return allowed

    def retry_after_s(self) -> int:
        """Seconds until one more request is allowed for a key that was just refused."""
        return max(1, round(1.0 / self._refill_per_s))
