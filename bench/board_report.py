"""Benchmark: the Board report's time with many concerns (default 100,000 over two years).

    .venv/bin/python -m bench.board_report                     # 100,000 concerns
    .venv/bin/python -m bench.board_report --concerns 10000 200000

Starts escalation in-process (its indexes), then seeds real clock documents straight into
the store (`insert_many` in batches): concerns driven through the SLA domain (acknowledged,
some paused for the parent, most resolved, a few reopened, some surveyed), stored as the
repository stores them with the cycle summaries a resolution writes, and spread over 24
months. Counts them into the Board's monthly summaries as a first start on older clocks
does (`backfill`, timed), then times, through escalation's HTTP API in-process, the Board
report (`GET /v1/board/report`, read from the summaries) of one month (June 2026) and of
twelve months (July 2025 to June 2026), and, with --old-report, the older report that reads
its period's clocks (`GET /v1/reports/board`). Starts its own SecantusDB unless `MONGO_URL`
is set. Writes the figures as JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from pymongo import AsyncMongoClient

from devtools.launcher import store_url
from services.escalation import board_store, domain
from services.escalation.config import EscalationConfig
from services.escalation.main import create_app
from services.escalation.policies import calendars_of, seed_policies
from services.escalation.repository import CLOCKS, FREE, LEASE_UNTIL, VERSION, to_document
from services.escalation.settings import EscalationSettings
from services.escalation.standards import finished_cycle
from shared.auth import DEVELOPMENT_SIGNING_KEY, mint_token
from shared.clock import FakeClock
from shared.district import load_district
from shared.settings import DEFAULT_DISTRICT_CONFIG

RESULTS = Path(__file__).resolve().parent / "results"
DISTRICT = load_district(Path(os.environ.get("DISTRICT_CONFIG", DEFAULT_DISTRICT_CONFIG)))
CONFIG = DISTRICT.section("escalation", EscalationConfig)
RULES = domain.Rules(
    policies=seed_policies(DISTRICT, CONFIG),
    calendars=calendars_of(DISTRICT, CONFIG),
    district=DISTRICT,
)
START = datetime(2025, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 31, tzinfo=UTC)
HOUR = timedelta(hours=1)
BATCH = 2_000
TEMPLATES = 2_000  # clocks driven through the domain; the others are copies moved in time
TEMPLATE_SPAN = timedelta(days=60)
CATEGORIES = [c.id for c in DISTRICT.categories]
SCHOOLS = [s.id for s in DISTRICT.schools] + [None]


def concern(n: int, rng: random.Random) -> dict[str, Any]:
    """One concern's clock document (submitted in the first two months), as the repository
    would have stored it two months later."""
    submitted = START + TEMPLATE_SPAN * rng.random()
    clock = domain.start(
        f"bench-{n:07d}",
        category=rng.choice(CATEGORIES),
        school_id=rng.choice(SCHOOLS),
        priority=None,
        channel="web",
        started_at=submitted,
        rules=RULES,
    )
    cycles: list[dict[str, Any]] = []
    at = submitted + HOUR * rng.uniform(0.5, 30)
    clock, _ = domain.status_changed(clock, to_status="acknowledged", at=at, rules=RULES)
    if rng.random() < 0.2:  # waits for the parent a while
        at += HOUR * rng.uniform(1, 20)
        clock, _ = domain.status_changed(clock, to_status="awaiting_requester", at=at, rules=RULES)
        at += HOUR * rng.uniform(1, 48)
        clock, _ = domain.status_changed(clock, to_status="acknowledged", at=at, rules=RULES)
    if rng.random() < 0.95:  # most are resolved, a few stay open
        at += HOUR * rng.expovariate(1 / 40)
        if at < START + 2 * TEMPLATE_SPAN:
            before = clock
            clock, _ = domain.stop(clock, at=at, rules=RULES)
            if (summary := finished_cycle(before, clock)) is not None:
                cycles.append(summary)
            if rng.random() < 0.3:
                clock = domain.surveyed(clock, score=rng.randint(1, 5), at=at + 24 * HOUR)
            if rng.random() < 0.05:  # reopened, resolved again
                clock = domain.reopen(clock, at=at + 48 * HOUR, rules=RULES)
                before = clock
                clock, _ = domain.stop(clock, at=at + 72 * HOUR, rules=RULES)
                if (summary := finished_cycle(before, clock)) is not None:
                    cycles.append(summary)
    return {**to_document(clock), VERSION: 1, LEASE_UNTIL: FREE, "report_cycles": cycles}


def moved(value: Any, by: timedelta) -> Any:
    """A document with every instant in it moved by `by`."""
    if isinstance(value, datetime):
        return value + by
    if isinstance(value, dict):
        return {k: moved(v, by) for k, v in value.items()}
    if isinstance(value, list):
        return [moved(v, by) for v in value]
    return value


async def seed(mongo_url: str, db_name: str, concerns: int) -> float:
    """Concerns spread over the 24 months to NOW: each a template clock moved in time."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_url, tz_aware=True)
    rng = random.Random(24)
    started = time.perf_counter()
    templates = [concern(n, rng) for n in range(min(TEMPLATES, concerns))]
    span = NOW - START - 2 * TEMPLATE_SPAN
    batch: list[dict[str, Any]] = []
    for n in range(concerns):
        doc = moved(templates[n % len(templates)], span * rng.random())
        doc["_id"] = f"bench-{n:07d}"
        batch.append(doc)
        if len(batch) == BATCH:
            await client[db_name][CLOCKS].insert_many(batch, ordered=False)
            batch = []
    if batch:
        await client[db_name][CLOCKS].insert_many(batch, ordered=False)
    await client.close()
    return time.perf_counter() - started


async def timed(http: httpx.AsyncClient, path: str, params: dict[str, str], runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        begun = time.perf_counter()
        answer = await http.get(path, params=params)
        if answer.status_code != 200:
            raise SystemExit(f"{path}: {answer.status_code} {answer.text[:300]}")
        best = min(best, time.perf_counter() - begun)
    return best


async def measure(mongo_url: str, concerns: int, old_report: bool) -> dict[str, Any]:
    db_name = f"bench_board_{concerns}_{int(time.time())}"
    settings = EscalationSettings(
        mongo_url=mongo_url,
        mongo_db=db_name,
        queue_prefix=f"bench.{db_name}.",
        scheduler_tick_s=3600,
    )
    app = create_app(settings, clock=FakeClock(NOW))
    token = mint_token(
        subject="board-bench",
        roles=["board", "auditor"],
        signing_key=DEVELOPMENT_SIGNING_KEY,
        issuer="bureau-dev",
        audience="bureau",
    )
    row: dict[str, Any] = {"concerns": concerns}
    async with app.router.lifespan_context(app):
        # seeded once the service made its indexes, as its writes would have filled them
        row["seed_s"] = round(await seed(mongo_url, db_name, concerns), 1)
        # what a first start on these clocks does once: count them into the monthly summaries
        ctx = app.state.ctx
        await ctx.repo.collection.database["board_meta"].delete_many({})
        begun = time.perf_counter()
        await board_store.BoardSummaries(
            ctx.repo.collection,
            timezone=ZoneInfo(DISTRICT.district.timezone),
            guarantee=timedelta(hours=DISTRICT.district.guarantee_hours),
        ).backfill()
        row["backfill_s"] = round(time.perf_counter() - begun, 1)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://escalation",
            timeout=600,
            headers={"Authorization": f"Bearer {token}"},
        ) as http:
            row["month_s"] = round(
                await timed(http, "/v1/board/report", {"from": "2026-06", "to": "2026-06"}), 3
            )
            row["year_s"] = round(
                await timed(http, "/v1/board/report", {"from": "2025-07", "to": "2026-06"}, runs=1),
                3,
            )
            if old_report:
                row["old_month_s"] = round(
                    await timed(
                        http,
                        "/v1/reports/board",
                        {"from": "2026-06-01", "to": "2026-07-01"},
                        runs=1,
                    ),
                    3,
                )
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_url)
    await client.drop_database(db_name)
    await client.close()
    return row


async def main(concerns: list[int], old_report: bool) -> None:
    print(
        f"{'concerns':>9} {'seed s':>8} {'backfill s':>10} {'1 month s':>10} {'12 months s':>12} "
        f"{'old 1 month s':>14}",
        flush=True,
    )
    rows = []

    async def run(url: str) -> None:
        for n in concerns:
            r = await measure(url, n, old_report)
            rows.append(r)
            print(
                f"{r['concerns']:>9} {r['seed_s']:>8} {r['backfill_s']:>10} {r['month_s']:>10} "
                f"{r['year_s']:>12} "
                f"{r.get('old_month_s', '-'):>14}",
                flush=True,
            )

    if os.environ.get("MONGO_URL"):
        await run(os.environ["MONGO_URL"])
    else:
        with store_url(prefix="bench-board-") as url:
            await run(url)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"board_report-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(rows, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concerns", type=int, nargs="+", default=[100_000])
    parser.add_argument(
        "--old-report",
        action="store_true",
        help="also time the older report, which reads its period's clocks (slower)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.concerns, args.old_report))
