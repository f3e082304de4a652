"""The store's own count of the bureau's work: operations per collection (`top`), and
waiting until the bureau is drained (only idle polling left)."""

from __future__ import annotations

import time
from typing import Any

from pymongo import MongoClient


def store_top(mongo_url: str) -> dict[str, tuple[int, int]]:
    """The store's own per-collection counters (`top`): namespace -> (operations, micros)."""
    client: MongoClient[dict[str, Any]]
    with MongoClient(mongo_url) as client:
        totals = client.admin.command("top")["totals"]
    return {
        ns: (entry["total"]["count"], entry["total"]["time"])
        for ns, entry in totals.items()
        if isinstance(entry, dict) and "total" in entry
    }


def idle_rates(mongo_url: str, seconds: float = 4.0) -> dict[str, float]:
    """Operations/s per collection of the idle bureau: relays' and schedulers' polls."""
    before, started = store_top(mongo_url), time.time()
    time.sleep(seconds)
    after, elapsed = store_top(mongo_url), time.time() - started
    return {ns: (n - before.get(ns, (0, 0))[0]) / elapsed for ns, (n, _) in after.items()}


def settle(mongo_url: str, idle_per_s: float, quiet_s: float = 3.0, limit_s: float = 180.0) -> None:
    """Wait until the store sees no more than its idle polling for `quiet_s`: drained."""
    deadline = time.time() + limit_s
    last = sum(n for n, _ in store_top(mongo_url).values())
    quiet_since = time.time()
    while time.time() < deadline:
        time.sleep(0.5)
        now = sum(n for n, _ in store_top(mongo_url).values())
        if now - last > idle_per_s * 0.5 * 1.5 + 3:
            quiet_since = time.time()
        elif time.time() - quiet_since >= quiet_s:
            return
        last = now
