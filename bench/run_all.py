"""The benchmark: the machine's raw ceilings beside the bureau's own figures, in one run.

    .venv/bin/python -m bench.run_all            # about 3 minutes
    .venv/bin/python -m bench.run_all --quick    # smaller runs, about 1 minute

Starts its own SecantusDB, SMTP sink and the four services (queue and exchange names of its
own), uses the local RabbitMQ (`AMQP_URL`). Prints a table and writes
bench/results/run_all.json. Figures are ratios to the ceilings where that makes sense:
- ceilings: store inserts/s (16 concurrent), confirmed publishes/s (64 in flight), FastAPI with
  intake's validation alone, and FastAPI + one confirmed publish per request;
- intake: accepted concerns/s and answer latency p50/p99, closed loop (16 clients), first with
  intake alone running (its own capacity), then with the whole bureau;
- submit-to-acknowledgement (POST sent -> mail received by SMTP) p50/p99 at fixed rates, each
  run started once the store shows the previous one's work done;
- resident memory of each service after the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import time
from pathlib import Path
from typing import Any

from bench.ceilings import confirmed_publishes_per_s, http_ceiling, store_inserts_per_s
from bench.load import (
    SERVICES,
    Run,
    bench_bureau,
    percentile,
    post_concerns,
    rss_mib,
    start_services,
)
from bench.store_ops import idle_rates, settle
from devtools.smtp_sink import SmtpSink

TRACKING = re.compile(r"CS-\d{4}-\d{6,}")
RESULTS = Path(__file__).resolve().parent / "results"
IDLE_GUESS_PER_S = 20.0  # an idle bureau's polling, generously (measured: 13-15 operations/s)


def acknowledged_at(smtp: SmtpSink, run: Run, timeout_s: float) -> dict[str, float]:
    """When each accepted concern's acknowledgement mail arrived (epoch seconds, by tracking
    number); waits for the mails."""
    deadline = time.time() + timeout_s
    found: dict[str, float] = {}
    seen = 0
    while time.time() < deadline and len(found) < len(run.sent_at):
        mails = smtp.mails[seen:]
        seen += len(mails)
        for mail in mails:
            match = TRACKING.search(mail.text)
            key = match.group(0) if match else ""
            if key in run.sent_at and key not in found:
                found[key] = mail.received_at
        time.sleep(0.2)
    return found


def acknowledgement_latencies(smtp: SmtpSink, run: Run, timeout_s: float) -> list[float]:
    """Seconds from each accepted POST to its acknowledgement mail; waits for the mails."""
    found = acknowledged_at(smtp, run, timeout_s)
    return [at - run.sent_at[key] for key, at in found.items()]


def ms(values: list[float], q: float) -> float:
    return round(percentile(values, q) * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rates", default="50,100,200", help="fixed rates, concerns/s")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each rate run")
    parser.add_argument(
        "--store-per-service",
        action="store_true",
        help="give each service its own SecantusDB server (separate deployments"
        " of the store), instead of one server for the four databases",
    )
    args = parser.parse_args()
    amqp_url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    closed_n = 300 if args.quick else 800
    rates = [float(r) for r in args.rates.split(",")]
    seconds = 4.0 if args.quick else args.seconds
    figures: dict[str, Any] = {
        "machine_cores": os.cpu_count(),
        "stores": "one per service" if args.store_per_service else "one",
    }

    print("measuring ceilings ...", flush=True)
    figures["ceiling_fastapi_validate"] = http_ceiling("validate", amqp_url, closed_n, 16)
    figures["ceiling_fastapi_publish"] = http_ceiling("publish", amqp_url, closed_n, 16)
    figures["ceiling_confirmed_publishes_per_s"] = round(
        asyncio.run(confirmed_publishes_per_s(amqp_url)), 1
    )

    with bench_bureau(amqp_url, "bench") as (bureau, tag):
        mongo_url = bureau.start_store()
        figures["ceiling_store_inserts_per_s"] = round(
            asyncio.run(store_inserts_per_s(mongo_url)), 1
        )
        smtp = bureau.start_smtp()
        # intake alone first: what it accepts while nothing else competes for the machine
        # (a surge: intake answers, the rest of the bureau catches up from its queues)
        urls = start_services(
            bureau, tag, mongo_url, names=("intake",), store_per_service=args.store_per_service
        )
        print("closed loop at the intake alone ...", flush=True)
        alone = asyncio.run(post_concerns(bureau.url("intake"), closed_n, concurrency=16))
        figures["intake_alone_closed_loop"] = {
            "accepted": len(alone.sent_at),
            "errors": alone.errors,
            "per_s": round(alone.accepted_per_s, 1),
            "p50_ms": alone.latency_ms(0.5),
            "p99_ms": alone.latency_ms(0.99),
        }
        rest = tuple(name for name in SERVICES if name != "intake")
        urls |= start_services(
            bureau, tag, mongo_url, names=rest, store_per_service=args.store_per_service
        )
        for url in set(urls.values()):  # the backlog of the intake-alone run, then idle
            settle(url, IDLE_GUESS_PER_S)
        idle_per_s = {url: sum(idle_rates(url).values()) for url in set(urls.values())}
        print("closed loop at the intake, whole bureau ...", flush=True)
        closed = asyncio.run(post_concerns(bureau.url("intake"), closed_n, concurrency=16))
        acks = acknowledgement_latencies(smtp, closed, timeout_s=180)
        figures["intake_closed_loop"] = {
            "accepted": len(closed.sent_at),
            "errors": closed.errors,
            "per_s": round(closed.accepted_per_s, 1),
            "p50_ms": closed.latency_ms(0.5),
            "p99_ms": closed.latency_ms(0.99),
            "acknowledged": len(acks),
            "ack_p50_ms": ms(acks, 0.5),
            "ack_p99_ms": ms(acks, 0.99),
        }
        for rate in rates:
            # every phase starts on an idle bureau: the last one's work all done
            for url, idle in idle_per_s.items():
                settle(url, idle)
            print(f"fixed rate {rate:g}/s ...", flush=True)
            smtp.mails.clear()
            run = asyncio.run(post_concerns(bureau.url("intake"), int(rate * seconds), rate=rate))
            acks = acknowledgement_latencies(smtp, run, timeout_s=180)
            figures[f"rate_{rate:g}"] = {
                "offered_per_s": rate,
                "achieved_per_s": round(run.accepted_per_s, 1),
                "accepted": len(run.sent_at),
                "errors": run.errors,
                "intake_p50_ms": run.latency_ms(0.5),
                "intake_p99_ms": run.latency_ms(0.99),
                "acknowledged": len(acks),
                "ack_p50_ms": ms(acks, 0.5),
                "ack_p99_ms": ms(acks, 0.99),
            }
        figures["rss_mib"] = {
            name: rss_mib(bureau.services[name].process.pid)  # type: ignore[union-attr]
            for name in SERVICES
        }

    intake = figures["intake_closed_loop"]
    figures["ratios"] = {
        "intake_alone_over_fastapi_publish": round(
            figures["intake_alone_closed_loop"]["per_s"]
            / figures["ceiling_fastapi_publish"]["per_s"],
            3,
        ),
        "intake_over_fastapi_publish": round(
            intake["per_s"] / figures["ceiling_fastapi_publish"]["per_s"], 3
        ),
        "intake_over_fastapi_validate": round(
            intake["per_s"] / figures["ceiling_fastapi_validate"]["per_s"], 3
        ),
        "intake_over_store_inserts": round(
            intake["per_s"] / figures["ceiling_store_inserts_per_s"], 3
        ),
    }
    print_table(figures)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "run_all.json").write_text(json.dumps(figures, indent=2))
    print(f"\nwritten to {RESULTS / 'run_all.json'}")


def print_table(figures: dict[str, Any]) -> None:
    print()
    for key, value in figures.items():
        if isinstance(value, dict):
            print(f"{key}")
            for sub, number in value.items():
                print(f"    {sub:<28} {number}")
        else:
            print(f"{key:<32} {value}")


if __name__ == "__main__":
    main()
