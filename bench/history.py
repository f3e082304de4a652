"""Store cost per concern as a district's history grows (issue 23).

    .venv/bin/python -m bench.history --sizes 0,10000,100000 --rate 5 --seconds 30

Starts its own bureau on one SecantusDB server, posts a few concerns to have documents shaped
exactly as the repositories write them, then, for each size, seeds that many stored concerns
(cloned from those: intake's concern, triage's decision, escalation's clock, notify's facts and
deliveries, each with its own ids; most of them closed months or years ago, one in fifty still
open, submitted 15 to 45 days ago) by bulk inserts straight into each service's database, and
measures at a steady
rate:

- store operations and store time per accepted concern by collection (the store's own `top`),
- store CPU seconds per concern (the SecantusDB process, from /proc) and the whole bureau's,
- idle polling: operations/s and store CPU while nothing is posted,
- the query shapes slower than `--slow-ms` (the store's profiler), by total time, in a
  separate window after the measured one (`--profile-seconds`): the stand-in's profiler
  writes each slow operation to a capped collection and trims it by scanning, which took
  40 % of its CPU under load, growing as the profile fills, so it is never on while cost is
  measured.

Idle polling is subtracted from the load figures. Ratios are to the first size measured.
The services and the seeding write with `retryWrites=false` unless `--retry-writes on`:
the stand-in walks every retryable-write record it keeps (up to 10,000, for 30 minutes) on
each write, so with them on a later size pays for the writes of the earlier ones.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo import MongoClient

from bench.load import SERVICES, bench_bureau, post_concerns, start_services
from bench.profile import cpu_seconds
from bench.store_ops import settle, store_top

RESULTS = Path(__file__).resolve().parent / "results"
OPEN_SHARE = 0.02  # of the seeded history: still open, submitted lately
Doc = dict[str, Any]


def _db(tag: str, service: str) -> str:
    return f"bench_{tag}_{service}"


def templates(client: MongoClient[Doc], tag: str) -> list[list[tuple[str, str, Doc]]]:
    """Per concern posted so far: every (service, collection, document) that names it."""
    concerns = list(client[_db(tag, "intake")]["concerns"].find())
    ids = {c["_id"]: c["tracking_number"] for c in concerns}
    groups: dict[str, list[tuple[str, str, Doc]]] = {i: [] for i in ids}
    for service in SERVICES:
        db = client[_db(tag, service)]
        for name in db.list_collection_names():
            if name.startswith("system."):
                continue
            for doc in db[name].find():
                # its own concern (a concern names others too: possible duplicates)
                own = next((doc[f] for f in ("_id", "concern_id") if doc.get(f) in ids), None)
                if own is None and isinstance(doc["_id"], str) and doc["_id"][:36] in ids:
                    own = doc["_id"][:36]
                if own is not None:
                    groups[own].append((service, name, doc))
    return [
        [(s, n, {**d, "__id": i, "__tn": ids[i]}) for s, n, d in group]
        for i, group in groups.items()
    ]


def _rewrite(value: Any, old: tuple[str, str], new: tuple[str, str], shift: timedelta) -> Any:
    if isinstance(value, str):
        return value.replace(old[0], new[0]).replace(old[1], new[1])
    if isinstance(value, datetime):
        return value - shift
    if isinstance(value, dict):
        return {k: _rewrite(v, old, new, shift) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, old, new, shift) for v in value]
    return value


CLOSED = {  # how a concern closed long ago reads in each collection
    ("intake", "concerns"): {"status": "closed"},
    ("triage", "decisions"): {"status": "closed"},
    ("escalation", "clocks"): {"status": "stopped", "next_due_at": None},
}


def clones(
    groups: list[list[tuple[str, str, Doc]]],
    first: int,
    count: int,
    rng: random.Random,
    open_count: int | None = None,
) -> Iterator[tuple[str, str, Doc]]:
    """`count` more stored concerns, numbered from `first`, each a copy of a posted one with
    ids of its own; closed 30 days to 3 years ago, or (one in fifty, or the first `open_count`)
    open, submitted 15 to 45 days ago, its next timer ahead."""
    for k in range(first, first + count):
        group = groups[k % len(groups)]
        old = (group[0][2]["__id"], group[0][2]["__tn"])
        new = (str(uuid.UUID(int=rng.getrandbits(128), version=4)), f"CS-2025-{k + 1:07d}")
        still_open = rng.random() < OPEN_SHARE if open_count is None else k < open_count
        # the open ones were submitted over the last weeks, before the duplicate window
        shift = timedelta(
            days=15 + rng.random() * 30 if still_open else 30 + rng.random() * 3 * 365
        )
        for service, name, template in group:
            doc = _rewrite(
                {k2: v for k2, v in template.items() if not k2.startswith("__")}, old, new, shift
            )
            if isinstance(doc["_id"], ObjectId):
                doc["_id"] = ObjectId()
            doc.pop("outbox_claim_by", None)
            doc.pop("outbox_claim_until", None)
            if "outbox" in doc:
                doc["outbox"] = []
            if "requester_slot" in doc:  # each stored concern a family of its own (unique slot)
                family = f"r:{rng.getrandbits(64):016x}"
                doc["requester_slot"] = f"{family}#1"
                doc["requester_seq"] = 1
                if "match_keys" in doc:
                    doc["match_keys"] = [
                        family if key.startswith("r:") else key for key in doc["match_keys"]
                    ]
            if still_open and "match_keys" in doc:  # another family's words
                doc["match_keys"] = [f"{rng.getrandbits(48):012x}" for _ in doc["match_keys"]]
                doc["fingerprint"] = doc["match_keys"][:]
            if not still_open:
                doc.update(CLOSED.get((service, name), {}))
            elif (service, name) == ("escalation", "clocks"):  # its next timer is ahead
                doc["next_due_at"] = datetime.now(UTC) + timedelta(hours=1 + rng.random() * 720)
            yield service, name, doc


def seed(
    client: MongoClient[Doc],
    tag: str,
    groups: list[list[tuple[str, str, Doc]]],
    first: int,
    count: int,
    rng: random.Random,
    batch: int = 2000,
    open_count: int | None = None,
) -> int:
    """Bulk-insert `count` stored concerns; answers the documents written."""
    pending: dict[tuple[str, str], list[Doc]] = collections.defaultdict(list)
    written = 0

    def flush(key: tuple[str, str]) -> None:
        nonlocal written
        client[_db(tag, key[0])][key[1]].insert_many(pending[key], ordered=False)
        written += len(pending[key])
        pending[key] = []

    assigned: dict[str, list[str]] = collections.defaultdict(list)
    for service, name, doc in clones(groups, first, count, rng, open_count):
        pending[(service, name)].append(doc)
        if (
            (service, name) == ("triage", "decisions")
            and doc["status"] == "open"
            and doc.get("assignee_id")
        ):
            assigned[doc["assignee_id"]].append(doc["_id"])
        if len(pending[(service, name)]) >= batch:
            flush((service, name))
    for key in list(pending):
        if pending[key]:
            flush(key)
    # the open ones are on their assignees' lists, as triage keeps them
    members = client[_db(tag, "triage")]["members"]
    for member, concern_ids in assigned.items():
        members.update_one(
            {"_id": member},
            {"$push": {"open": {"$each": concern_ids}}, "$inc": {"load": len(concern_ids)}},
        )
    return written


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value and isinstance(value[0], dict) else "[..]"
    return "?"


def query_shape(entry: Doc) -> str:
    """`op collection {filter with values elided} sort` of a profiler entry."""
    command = entry.get("command", {})
    op = entry.get("op", "?")
    ns = entry.get("ns", "?").split("_", 2)[-1]
    if "find" in command:
        query, extra = command.get("filter", {}), {"sort": command.get("sort")}
    elif "findAndModify" in command or "findandmodify" in command:
        query, extra = command.get("query", {}), {"sort": command.get("sort")}
    elif "updates" in command:
        query, extra = command["updates"][0].get("q", {}), {}
    elif "deletes" in command:
        query, extra = command["deletes"][0].get("q", {}), {}
    elif "pipeline" in command:
        query, extra = {"pipeline": [next(iter(stage)) for stage in command["pipeline"]]}, {}
        first = command["pipeline"][0] if command["pipeline"] else {}
        if "$match" in first:
            query["$match"] = first["$match"]
    elif "count" in command:
        query, extra = command.get("query", {}), {}
    else:
        query, extra = {}, {}
    tail = f" sort {json.dumps(extra['sort'])}" if extra.get("sort") else ""
    return f"{op} {ns} {json.dumps(_shape(query), default=str)}{tail}"


def profile_on(client: MongoClient[Doc], tag: str, slow_ms: int) -> None:
    for service in SERVICES:
        db = client[_db(tag, service)]
        db.command("profile", 0)
        if "system.profile" in db.list_collection_names():
            db["system.profile"].drop()
        db.command("profile", 1, slowms=slow_ms)


def slow_shapes(client: MongoClient[Doc], tag: str) -> dict[str, tuple[int, int]]:
    """query shape -> (count, total ms) of the operations slower than the threshold."""
    shapes: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for service in SERVICES:
        db = client[_db(tag, service)]
        db.command("profile", 0)
        for entry in db["system.profile"].find():
            shape = shapes[f"{service}: {query_shape(entry)}"]
            shape[0] += 1
            shape[1] += int(entry.get("millis", 0))
    return {k: (v[0], v[1]) for k, v in shapes.items()}


def store_quiet(pid: int, limit_s: float = 300.0) -> None:
    """Wait until the store uses under a tenth of a core for 4 s (or `limit_s`)."""
    deadline, calm = time.time() + limit_s, 0
    while time.time() < deadline and calm < 2:
        used = cpu_seconds(pid)
        time.sleep(2)
        calm = calm + 1 if cpu_seconds(pid) - used < 0.2 else 0


def measure(
    mongo_url: str,
    intake_url: str,
    pids: dict[str, int],
    tag: str,
    *,
    rate: float,
    seconds: float,
    idle_s: float,
    mails: Callable[[], int],
    mails_per_concern: float,
) -> dict[str, Any]:
    """Idle polling, then a steady load: store operations, time and CPU per concern."""
    top0, cpu0, t0 = store_top(mongo_url), cpu_seconds(pids["store"]), time.time()
    time.sleep(idle_s)
    top1, cpu1, t1 = store_top(mongo_url), cpu_seconds(pids["store"]), time.time()
    idle_wall = t1 - t0
    mine = [ns for ns in top1 if f"_{tag}_" in ns]
    idle_ops = {ns: (top1[ns][0] - top0.get(ns, (0, 0))[0]) / idle_wall for ns in mine}
    idle_us = {ns: (top1[ns][1] - top0.get(ns, (0, 0))[1]) / idle_wall for ns in mine}
    idle_cpu = (cpu1 - cpu0) / idle_wall
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    started, mailed = time.time(), mails()
    run = asyncio.run(post_concerns(intake_url, int(rate * seconds), rate=rate))
    # drained: every mail the first size sent per concern arrived (a slow store can look
    # quiet to `settle` while it still works), then only idle polling is left
    while (
        mails_per_concern
        and time.time() - started < 600
        and mails() - mailed < int(mails_per_concern * len(run.sent_at))
    ):
        time.sleep(1)
    settle(mongo_url, sum(idle_ops.values()))
    wall = time.time() - started
    after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    top2 = store_top(mongo_url)
    accepted = max(len(run.sent_at), 1)
    by_collection = {}
    for ns in top2:
        if f"_{tag}_" not in ns:
            continue
        ops = top2[ns][0] - top1.get(ns, (0, 0))[0] - idle_ops.get(ns, 0.0) * wall
        micros = top2[ns][1] - top1.get(ns, (0, 0))[1] - idle_us.get(ns, 0.0) * wall
        by_collection[ns.split(f"_{tag}_", 1)[1]] = (ops / accepted, micros / 1000 / accepted)
    store_cpu = (after["store"] - before["store"] - idle_cpu * wall) / accepted
    return {
        "accepted": len(run.sent_at),
        "mails_per_concern": round((mails() - mailed) / accepted, 2),
        "errors": run.errors,
        "wall_s": round(wall, 1),
        "ack_p50_ms": run.latency_ms(0.5),
        "ack_p99_ms": run.latency_ms(0.99),
        "idle_ops_per_s": round(sum(idle_ops.values()), 2),
        "idle_store_cpu": round(idle_cpu, 4),
        "store_cpu_ms_per_concern": round(store_cpu * 1000, 1),
        "bureau_cpu_s_per_concern": round(sum(after[n] - before[n] for n in pids) / accepted, 3),
        "store_ops_per_concern": round(sum(o for o, _ in by_collection.values()), 1),
        "store_ms_per_concern": round(sum(m for _, m in by_collection.values()), 2),
        "by_collection": {k: (round(o, 2), round(m, 2)) for k, (o, m) in by_collection.items()},
        "idle_by_collection": {
            ns.split(f"_{tag}_", 1)[1]: round(v, 2) for ns, v in idle_ops.items() if v > 0.01
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        default="0,10000,100000",
        help="stored concerns to measure at, ascending (default %(default)s)",
    )
    parser.add_argument("--rate", type=float, default=5.0, help="concerns/s offered")
    parser.add_argument("--seconds", type=float, default=30.0, help="of load at each size")
    parser.add_argument("--idle", type=float, default=8.0, help="seconds of idle measured")
    parser.add_argument(
        "--templates",
        type=int,
        default=40,
        help="concerns posted first, whose documents are cloned",
    )
    parser.add_argument(
        "--slow-ms", type=int, default=5, help="the profiler records operations at least this slow"
    )
    parser.add_argument("--shapes", type=int, default=12, help="slow query shapes printed")
    parser.add_argument(
        "--profile-seconds",
        type=float,
        default=10.0,
        help="of load at each size with the profiler on, after the measured load (0: none)",
    )
    parser.add_argument(
        "--open",
        type=int,
        default=None,
        metavar="N",
        help="of the seeded concerns, the first N open (the open backlog the same at every "
        "size), instead of one in fifty",
    )
    parser.add_argument(
        "--retry-writes",
        choices=("on", "off"),
        default="off",
        help="the services' and the seeding's retryWrites against the store",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    amqp_url = "amqp://guest:guest@127.0.0.1:5672/"
    rng = random.Random(23)
    results: list[dict[str, Any]] = []
    with bench_bureau(amqp_url, "history") as (bureau, tag):
        mongo_url = bureau.start_store()
        sink = bureau.start_smtp()
        service_url = mongo_url + ("&retryWrites=false" if args.retry_writes == "off" else "")
        start_services(bureau, tag, service_url, store_per_service=False)
        pids = {
            name: bureau.services[name].process.pid  # type: ignore[union-attr]
            for name in SERVICES
        }
        pids["store"] = bureau.store.pid  # type: ignore[union-attr]
        client: MongoClient[Doc] = MongoClient(service_url, tz_aware=True)
        warm = asyncio.run(post_concerns(bureau.url("intake"), args.templates, rate=5))
        settle(mongo_url, 20)
        groups = templates(client, tag)
        print(
            f"{len(warm.sent_at)} concerns posted as templates; "
            f"{sum(len(g) for g in groups) / max(len(groups), 1):.1f} documents each"
        )
        stored = 0
        for size in sizes:
            if size > stored:
                started = time.time()
                written = seed(
                    client, tag, groups, stored, size - stored, rng, open_count=args.open
                )
                print(
                    f"seeded {size - stored} concerns ({written} documents) in "
                    f"{time.time() - started:.0f} s"
                )
                stored = size
            # the seeding's own after-work is not the bureau's: its pages written out by a
            # checkpoint now (`fsync`), not by the first one inside the measured window
            client.admin.command("fsync")
            store_quiet(pids["store"])
            result = measure(
                mongo_url,
                bureau.url("intake"),
                pids,
                tag,
                rate=args.rate,
                seconds=args.seconds,
                idle_s=args.idle,
                mails=lambda: len(sink.mails),
                mails_per_concern=results[0]["mails_per_concern"] if results else 0.0,
            )
            result["stored"] = size
            result["slow"] = {}
            if args.profile_seconds > 0:
                profile_on(client, tag, args.slow_ms)
                asyncio.run(
                    post_concerns(
                        bureau.url("intake"),
                        int(args.rate * args.profile_seconds),
                        rate=args.rate,
                    )
                )
                settle(mongo_url, result["idle_ops_per_s"])
                result["slow"] = slow_shapes(client, tag)
            results.append(result)
            brief = {k: v for k, v in result.items() if not isinstance(v, dict)}
            print(f"  at {size}: {json.dumps(brief)}")
        client.close()
    report(results, args)


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    base = results[0]

    def ratio(key: str, r: dict[str, Any]) -> str:
        return f"{r[key] / base[key]:.2f}x" if base[key] else "-"

    print(
        f"\nstore cost per concern as history grows ({args.rate:g}/s offered for "
        f"{args.seconds:g} s; retryWrites {args.retry_writes}; ratios to {base['stored']} stored)"
    )
    print(
        f"{'stored':>8} {'store CPU ms':>13} {'ratio':>6} {'store ms':>9} {'ratio':>6} "
        f"{'ops':>6} {'bureau CPU s':>13} {'idle ops/s':>11} {'idle CPU':>9} {'ack p99 ms':>11}"
    )
    for r in results:
        print(
            f"{r['stored']:>8} {r['store_cpu_ms_per_concern']:>13} "
            f"{ratio('store_cpu_ms_per_concern', r):>6} {r['store_ms_per_concern']:>9} "
            f"{ratio('store_ms_per_concern', r):>6} {r['store_ops_per_concern']:>6} "
            f"{r['bureau_cpu_s_per_concern']:>13} {r['idle_ops_per_s']:>11} "
            f"{r['idle_store_cpu']:>9.1%} {r['ack_p99_ms']:>11}"
        )
    collections_ = sorted({c for r in results for c in r["by_collection"]})
    print("\nstore ms per concern by collection (ops in brackets):")
    for c in collections_:
        cells = [r["by_collection"].get(c, (0, 0)) for r in results]
        print(f"   {c:<28} " + "  ".join(f"{m:7.2f} ({o:4.1f})" for o, m in cells))
    print("\nidle polling, operations/s by collection:")
    for r in results:
        print(f"   at {r['stored']}: {r['idle_by_collection']}")
    print(
        f"\noperations slower than {args.slow_ms} ms (count, total ms), at each size, in "
        f"{args.profile_seconds:g} s of load with the profiler on (not in the figures above):"
    )
    for r in results:
        print(f"   at {r['stored']}:")
        for shape, (n, ms) in sorted(r["slow"].items(), key=lambda x: -x[1][1])[: args.shapes]:
            print(f"   {n:6d} {ms:7d}  {shape[:160]}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"history-{int(time.time())}.json"
    path.write_text(json.dumps({"args": vars(args), "results": results}, indent=1, default=str))
    print(f"\n(written to {path})")


if __name__ == "__main__":
    main()
