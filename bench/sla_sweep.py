"""Benchmark: the SLA scheduler's sweep with many open clocks of which a few are due.

    .venv/bin/python -m bench.sla_sweep                       # 10,000 and 100,000 open clocks
    .venv/bin/python -m bench.sla_sweep --open 100000 1000000 --due 10 100

For each number of open clocks it loads that many real clock documents (future due times) with
`insert_many` in batches, then for each number of due clocks:
- sweep: one pass of the scheduler (`fire_due`) finding and firing every due clock, with the
  time per fired clock; and an idle pass (nothing due), which is the price of looking;
- lag: clocks falling due over the next seconds with the real scheduler loop running on the
  system clock; lag = when the step fired - when it was due (p50, p99, max).

Starts its own SecantusDB unless `MONGO_URL` is set. Events go to the clocks' outboxes (no
broker needed: publishing is the relay's job and not part of the sweep). Writes the figures as
JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from devtools.launcher import store_url
from services.escalation import domain
from services.escalation.config import EscalationConfig
from services.escalation.context import EscalationContext
from services.escalation.handlers import fire_due
from services.escalation.policies import PolicySettings, calendars_of, seed_policies
from services.escalation.repository import (
    CLOCKS,
    VERSION,
    ClockRepository,
    PolicyRepository,
    to_document,
)
from services.escalation.scheduler import Scheduler
from shared.clock import Clock, SystemClock
from shared.district import load_district
from shared.events import Priority
from shared.outbox import OutboxRelay, with_outbox
from shared.settings import DEFAULT_DISTRICT_CONFIG

RESULTS = Path(__file__).resolve().parent / "results"
DISTRICT = load_district(DEFAULT_DISTRICT_CONFIG)
# The deployed calendars and ladder, without warnings or reminders: each due clock then has one
# step to fire (its breach, with the first level of the ladder, which follows at once).
CONFIG = DISTRICT.section("escalation", EscalationConfig).model_copy(
    update={"defaults": PolicySettings(warnings=(), reminder_interval_s=None), "policies": {}}
)
RULES = domain.Rules(
    policies=seed_policies(DISTRICT, CONFIG),
    calendars=calendars_of(DISTRICT, CONFIG),
    district=DISTRICT,
)
BATCH = 5_000
STANDARD = timedelta(hours=72)


def clock_document(concern_id: str, started_at: datetime) -> dict[str, Any]:
    """A real clock document, as the service stores it, started at `started_at`."""
    clock = domain.start(
        concern_id,
        category="transportation",
        school_id="lincoln-es",
        priority=Priority.NORMAL,
        channel="web",
        started_at=started_at,
        rules=RULES,
    )
    # Acknowledged: the resolution target is the next step, 72 hours after the start.
    clock, _ = domain.status_changed(clock, to_status="acknowledged", at=started_at, rules=RULES)
    return with_outbox({**to_document(clock), VERSION: 2}, [])


class Fixed:
    """A clock that stays where it is put (the sweep measurement runs at one instant)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def context(repo: ClockRepository, policies: PolicyRepository, clock: Clock) -> EscalationContext:
    return EscalationContext(
        repo=repo,
        policies=policies,
        clock=clock,
        district=DISTRICT,
        config=CONFIG,
        calendars=RULES.calendars,
        source="/bureau/escalation",
        published=lambda: None,
        lease=timedelta(seconds=30),
    )


async def load_open(db: Any, n: int, now: datetime) -> float:
    """Insert `n` open clocks due between 1 hour and 70 hours from now; returns seconds."""
    collection = db[CLOCKS]
    started = time.perf_counter()
    template = clock_document("template", now)
    for first in range(0, n, BATCH):
        docs = []
        for i in range(first, min(first + BATCH, n)):
            # Spread the due times without re-running the domain for each document.
            offset = timedelta(seconds=3600 + (i * 7919) % (69 * 3600))
            due = now + offset
            docs.append(
                {
                    **template,
                    "_id": f"open-{i:07d}",
                    "started_at": due - STANDARD,
                    "running_since": due - STANDARD,
                    "submitted_at": due - STANDARD,
                    "next_due_at": due,
                    "resolution_due_at": due,
                }
            )
        await collection.insert_many(docs, ordered=False)
    return time.perf_counter() - started


async def add_due(db: Any, prefix: str, due_times: list[datetime]) -> None:
    await db[CLOCKS].insert_many(
        [clock_document(f"{prefix}-{i:05d}", due - STANDARD) for i, due in enumerate(due_times)]
    )


async def sweep(
    db: Any, repo: ClockRepository, policies: PolicyRepository, due: int, now: datetime, tag: str
) -> dict[str, float]:
    """One pass firing `due` overdue clocks, then an idle pass."""
    await add_due(db, f"due-{tag}", [now - timedelta(seconds=1 + i) for i in range(due)])
    ctx = context(repo, policies, Fixed(now))
    started = time.perf_counter()
    fired = await fire_due(ctx=ctx, limit=due + 10)
    sweep_s = time.perf_counter() - started
    assert fired == due, (fired, due)
    started = time.perf_counter()
    assert await fire_due(ctx=ctx) == 0
    idle_s = time.perf_counter() - started
    return {
        "due": due,
        "sweep_s": round(sweep_s, 4),
        "per_due_ms": round(sweep_s / due * 1000, 2),
        "idle_pass_ms": round(idle_s * 1000, 2),
    }


async def lag(
    db: Any, repo: ClockRepository, policies: PolicyRepository, due: int, tick_s: float, tag: str
) -> dict[str, float]:
    """Clocks due over the next seconds; the real scheduler loop fires them."""
    system = SystemClock()
    first = system.now() + timedelta(seconds=1)
    spread = timedelta(seconds=2)
    due_times = [first + spread * i / due for i in range(due)]
    await add_due(db, f"lag-{tag}", due_times)
    scheduler = Scheduler(ctx=context(repo, policies, system), tick_s=tick_s)
    task = asyncio.create_task(scheduler.run())
    deadline = time.monotonic() + 30
    while scheduler.fired < due and time.monotonic() < deadline:  # noqa: ASYNC110 - polls a count
        await asyncio.sleep(0.05)
    scheduler.stop()
    await task
    ids = [f"lag-{tag}-{i:05d}" for i in range(due)]
    docs = (
        await db[CLOCKS]
        .find({"_id": {"$in": ids}}, {"breached_at": 1, "resolution_due_at": 1})
        .to_list()
    )
    lags = sorted(
        (d["breached_at"] - d["resolution_due_at"]).total_seconds()
        for d in docs
        if d.get("breached_at")
    )
    assert len(lags) == due, (len(lags), due)
    return {
        "due": due,
        "tick_s": tick_s,
        "lag_p50_s": round(statistics.median(lags), 3),
        "lag_p99_s": round(lags[min(len(lags) - 1, int(0.99 * len(lags)))], 3),
        "lag_max_s": round(lags[-1], 3),
    }


class _NoSink:
    async def publish(self, *, name: str, event_id: str, event_type: str, body: bytes) -> None:
        raise AssertionError("nothing is pending")


async def relay_idle_ms(db: Any) -> float:
    """One idle pass of the shared outbox relay over the clocks (not the scheduler's cost, but
    it runs every poll in every replica, so it is reported next to the sweep)."""
    await db[CLOCKS].update_many({"outbox.id": {"$exists": True}}, {"$set": {"outbox": []}})
    relay = OutboxRelay(
        collections=[db[CLOCKS]], sink=_NoSink(), clock=SystemClock(), lease_s=30, poll_s=0.5
    )
    started = time.perf_counter()
    await relay.drain()
    return round((time.perf_counter() - started) * 1000, 1)


async def run(open_counts: list[int], due_counts: list[int], tick_s: float) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    with store_url(prefix="bench-sla-") as mongo_url:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            mongo_url, tz_aware=True, timeoutMS=600_000
        )
        try:
            for n in open_counts:
                db = client[f"bench_sla_{n}"]
                await client.drop_database(db.name)
                repo, policies = ClockRepository(db), PolicyRepository(db)
                await repo.ensure_indexes()
                await policies.seed(RULES.policies)
                now = datetime.now(UTC).replace(microsecond=0)
                load_s = await load_open(db, n, now)
                print(
                    f"{n:>9,} open clocks loaded in {load_s:7.1f}s ({n / load_s:,.0f} docs/s)",
                    flush=True,
                )
                row: dict[str, Any] = {
                    "open": n,
                    "load_s": round(load_s, 1),
                    "sweeps": [],
                    "lag": [],
                }
                for due in due_counts:
                    figures = await sweep(db, repo, policies, due, now, f"{due}")
                    row["sweeps"].append(figures)
                    print(
                        f"          due {due:>5}: sweep {figures['sweep_s'] * 1000:8.1f} ms "
                        f"({figures['per_due_ms']:6.2f} ms per due clock); idle pass "
                        f"{figures['idle_pass_ms']:6.2f} ms",
                        flush=True,
                    )
                row["relay_idle_pass_ms"] = await relay_idle_ms(db)
                print(
                    f"          outbox relay idle pass {row['relay_idle_pass_ms']} ms", flush=True
                )
                figures = await lag(db, repo, policies, max(due_counts), tick_s, "x")
                row["lag"].append(figures)
                print(
                    f"          lag ({figures['due']} clocks due over 2 s, tick {tick_s}s): "
                    f"p50 {figures['lag_p50_s']}s, p99 {figures['lag_p99_s']}s, "
                    f"max {figures['lag_max_s']}s",
                    flush=True,
                )
                results.append(row)
                await client.drop_database(db.name)
        finally:
            await client.close()
    return {"open": open_counts, "due": due_counts, "tick_s": tick_s, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--open", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--due", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--tick", type=float, default=0.5, help="scheduler tick (s)")
    args = parser.parse_args()
    figures = asyncio.run(run(args.open, args.due, args.tick))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "sla_sweep.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written to {out.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    main()
