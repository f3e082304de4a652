"""Surge headroom as ratios measured in one run (issue 23): the store's own ceiling beside what
the whole bureau accepts and finishes, its acknowledgement time at half its own capacity, and
intake's answer time while the rest of the bureau is saturated against intake alone.

    .venv/bin/python -m bench.surge                       # about 3 minutes
    .venv/bin/python -m bench.surge --retry-writes on     # the services' retryable writes on

Starts its own SecantusDB (one server for the four databases, or one per service with
`--store-per-service`), SMTP sink and services, with the local RabbitMQ (`AMQP_URL`), in this
order:

1. the store's ceiling: single-document inserts/s, 16 at a time (before any service runs);
2. intake alone, at a fixed rate (`--probe-rate`): its answer p50/p99 with nothing else
   running (what it posts waits in the queues);
3. the whole bureau saturated: the rest started, the backlog drained, then a surge
   (`--surge` concerns, 16 clients at once) and, once intake took it, while the rest of the
   bureau works through it, intake again at the probe rate: intake's p99 now (the probe ends
   before the rest is done: `rest_busy_after_probe_s` says for how long it still was); the
   surge's concerns accepted and finished (acknowledgement mail received) per second of the
   whole run, and the whole bureau's CPU seconds per concern;
4. half of that capacity offered at a fixed rate: acknowledgement (POST to mail) p50/p99.

Prints the ceilings, the figures and their ratios (targets of issue 23 beside them) and
writes bench/results/surge.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from bench.ceilings import store_inserts_per_s
from bench.load import SERVICES, Run, bench_bureau, post_concerns
from bench.profile import cpu_seconds
from bench.run_all import IDLE_GUESS_PER_S, acknowledged_at, acknowledgement_latencies, ms
from bench.store_ops import idle_rates, settle

RESULTS = Path(__file__).resolve().parent / "results"
CEILING_INSERTS = 2000
TARGETS = {
    "finished_per_store_insert": (">=", 0.08),
    "ack_p99_s_at_half_capacity": ("<", 1.0),
    "intake_p99_saturated_over_alone": ("<=", 3.0),
}


def _intake_figures(run: Run) -> dict[str, Any]:
    return {
        "accepted": len(run.sent_at),
        "errors": run.errors,
        "p50_ms": run.latency_ms(0.5),
        "p99_ms": run.latency_ms(0.99),
    }


async def _surge_then_probe(
    url: str, surge: int, probe_rate: float, probe_s: float
) -> tuple[Run, Run]:
    """The surge (16 clients at once) and, once intake has taken it, intake at the probe
    rate while the rest of the bureau works through the surge: what a family meets then."""
    burst = await post_concerns(url, surge, concurrency=16)
    probed = await post_concerns(url, int(probe_rate * probe_s), rate=probe_rate)
    return burst, probed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--surge", type=int, default=400, help="concerns posted at once")
    parser.add_argument("--probe-rate", type=float, default=5.0, help="intake probe, per s")
    parser.add_argument("--probe-seconds", type=float, default=8.0)
    parser.add_argument("--half-seconds", type=float, default=10.0, help="the half-capacity run")
    parser.add_argument("--retry-writes", choices=("on", "off"), default="off")
    parser.add_argument(
        "--store-per-service",
        action="store_true",
        help="each service on its own SecantusDB server (the ceiling: one such server)",
    )
    parser.add_argument(
        "--intake-prefetch",
        type=int,
        default=0,
        help="intake's PREFETCH (events it handles at once), instead of its default",
    )
    parser.add_argument(
        "--consumer-prefetch",
        type=int,
        default=0,
        help="PREFETCH of triage, escalation and notify, instead of their default",
    )
    args = parser.parse_args()
    amqp_url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    figures: dict[str, Any] = {
        "machine_cores": os.cpu_count(),
        "retry_writes": args.retry_writes,
        "stores": "one per service" if args.store_per_service else "one",
        "intake_prefetch": args.intake_prefetch or "default",
        "consumer_prefetch": args.consumer_prefetch or "default",
    }
    with bench_bureau(amqp_url, "surge") as (bureau, tag):
        mongo_url = bureau.start_store()
        print("store ceiling ...", flush=True)
        store_pid = bureau.store.pid  # type: ignore[union-attr]
        cpu_at = cpu_seconds(store_pid)
        figures["ceiling_store_inserts_per_s"] = round(
            asyncio.run(store_inserts_per_s(mongo_url, n=CEILING_INSERTS)), 1
        )
        # the store's CPU per insert at its ceiling: what "insert-equivalents" weigh
        store_cpu_per_insert = (cpu_seconds(store_pid) - cpu_at) / CEILING_INSERTS
        figures["ceiling_store_journaled_inserts_per_s"] = round(
            asyncio.run(store_inserts_per_s(mongo_url, n=CEILING_INSERTS, journal=True)), 1
        )
        smtp = bureau.start_smtp()
        suffix = "&retryWrites=false" if args.retry_writes == "off" else ""
        urls = (
            bureau.start_store_per_service(SERVICES)
            if args.store_per_service
            else dict.fromkeys(SERVICES, mongo_url)
        )
        stores = sorted(set(urls.values()))
        prefetch = {
            name: {"PREFETCH": str(n)}
            for name in SERVICES
            if (n := args.intake_prefetch if name == "intake" else args.consumer_prefetch)
        }

        def start(names: tuple[str, ...]) -> None:
            bureau.start_services(
                names,
                per_service_env={
                    name: {
                        "MONGO_DB": f"bench_{tag}_{name}",
                        "MONGO_URL": urls[name] + suffix,
                        **prefetch.get(name, {}),
                    }
                    for name in names
                },
            )

        def drained(idle: dict[str, float]) -> None:
            for url in stores:
                settle(url, idle.get(url, IDLE_GUESS_PER_S))

        start(("intake",))
        print("intake alone at the probe rate ...", flush=True)
        alone = asyncio.run(
            post_concerns(
                bureau.url("intake"),
                int(args.probe_rate * args.probe_seconds),
                rate=args.probe_rate,
            )
        )
        figures["intake_alone"] = _intake_figures(alone)
        rest = tuple(name for name in SERVICES if name != "intake")
        start(rest)
        drained({})  # intake-alone's concerns worked through
        idle = {url: sum(idle_rates(url).values()) for url in stores}
        pids = {name: bureau.services[name].process.pid for name in SERVICES}  # type: ignore[union-attr]
        store_pids = [p.pid for p in bureau.own_stores] or [bureau.store.pid]  # type: ignore[union-attr]

        print(f"surge of {args.surge}, intake probed meanwhile ...", flush=True)
        smtp.mails.clear()
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        store_before = sum(cpu_seconds(pid) for pid in store_pids)
        started = time.time()
        burst, probed = asyncio.run(
            _surge_then_probe(bureau.url("intake"), args.surge, args.probe_rate, args.probe_seconds)
        )
        both = Run(sent_at={**burst.sent_at, **probed.sent_at})
        done = acknowledged_at(smtp, both, timeout_s=600)
        acks = [at - both.sent_at[key] for key, at in done.items()]
        elapsed = max(done.values(), default=time.time()) - started
        drained(idle)
        store_used = sum(cpu_seconds(pid) for pid in store_pids) - store_before
        cpu_used = store_used + sum(cpu_seconds(pid) - cpu_before[n] for n, pid in pids.items())
        finished = len(done)
        figures["surge"] = {
            "posted": args.surge + int(args.probe_rate * args.probe_seconds),
            "accepted": len(both.sent_at),
            "errors": burst.errors + probed.errors,
            "acknowledged": finished,
            "seconds": round(elapsed, 1),
            "finished_per_s": round(finished / elapsed, 2) if elapsed else 0.0,
            "accepted_per_s_at_intake": round(burst.accepted_per_s, 1),
            "ack_p99_ms": ms(acks, 0.99),
            "bureau_cpu_s_per_concern": round(cpu_used / max(finished, 1), 3),
            "store_cpu_share": round(store_used / max(cpu_used, 1e-9), 2),
            "store_cpu_ms_per_concern": round(store_used / max(finished, 1) * 1000, 1),
            "services_cpu_s_per_concern": round((cpu_used - store_used) / max(finished, 1), 3),
        }
        figures["intake_while_saturated"] = _intake_figures(probed)
        probe_end = started + burst.elapsed + probed.elapsed
        figures["intake_while_saturated"]["rest_busy_after_probe_s"] = round(
            max((done[k] for k in burst.sent_at if k in done), default=probe_end) - probe_end, 1
        )

        capacity = figures["surge"]["finished_per_s"]
        half = max(capacity / 2, 0.5)
        drained(idle)
        print(f"half capacity: {half:.1f}/s ...", flush=True)
        smtp.mails.clear()
        steady = asyncio.run(
            post_concerns(bureau.url("intake"), int(half * args.half_seconds), rate=half)
        )
        steady_acks = acknowledgement_latencies(smtp, steady, timeout_s=180)
        figures["half_capacity"] = {
            "offered_per_s": round(half, 2),
            "accepted": len(steady.sent_at),
            "errors": steady.errors,
            "acknowledged": len(steady_acks),
            "intake_p99_ms": steady.latency_ms(0.99),
            "ack_p50_ms": ms(steady_acks, 0.5),
            "ack_p99_ms": ms(steady_acks, 0.99),
        }

    cores = os.cpu_count() or 1
    services_cpu = figures["surge"]["services_cpu_s_per_concern"]
    figures["bounds"] = {
        # what the machine's cores allow with the store's work taken away entirely: no
        # change of the store's work per concern lifts the capacity past this
        "services_only_concerns_per_s": round(cores / services_cpu, 1) if services_cpu else None,
        "store_cpu_ms_per_ceiling_insert": round(store_cpu_per_insert * 1000, 3),
    }
    figures["ratios"] = {
        "finished_per_store_insert": round(capacity / figures["ceiling_store_inserts_per_s"], 4),
        "store_inserts_per_finished_concern": round(
            figures["ceiling_store_inserts_per_s"] / capacity, 1
        )
        if capacity
        else None,
        "finished_per_journaled_insert": round(
            capacity / figures["ceiling_store_journaled_inserts_per_s"], 4
        ),
        # the store's CPU per concern in ceiling inserts' CPU: its work per concern, whatever
        # else shares the cores
        "store_cpu_in_inserts_per_concern": round(
            figures["surge"]["store_cpu_ms_per_concern"] / 1000 / store_cpu_per_insert, 1
        )
        if store_cpu_per_insert
        else None,
        "services_only_bound_per_store_insert": round(
            figures["bounds"]["services_only_concerns_per_s"]
            / figures["ceiling_store_inserts_per_s"],
            4,
        )
        if figures["bounds"]["services_only_concerns_per_s"]
        else None,
        "ack_p99_s_at_half_capacity": round(figures["half_capacity"]["ack_p99_ms"] / 1000, 2),
        "intake_p99_saturated_over_alone": round(
            figures["intake_while_saturated"]["p99_ms"] / figures["intake_alone"]["p99_ms"], 2
        ),
    }
    report(figures)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "surge.json").write_text(json.dumps(figures, indent=2))
    print(f"\nwritten to {RESULTS / 'surge.json'}")


def report(figures: dict[str, Any]) -> None:
    surge, alone, busy = (
        figures["surge"],
        figures["intake_alone"],
        figures["intake_while_saturated"],
    )
    half = figures["half_capacity"]
    ratios = figures["ratios"]
    print(
        f"\nsurge headroom (SecantusDB servers: {figures['stores']}; "
        f"retryWrites {figures['retry_writes']}; PREFETCH intake {figures['intake_prefetch']}, "
        f"others {figures['consumer_prefetch']})"
    )
    bounds = figures["bounds"]
    print(
        f"  store ceiling              {figures['ceiling_store_inserts_per_s']:>9} inserts/s "
        f"({figures['ceiling_store_journaled_inserts_per_s']}/s each in the journal, as the "
        f"bureau writes; {bounds['store_cpu_ms_per_ceiling_insert']} ms of store CPU each)"
    )
    print(
        f"  bureau capacity            {surge['finished_per_s']:>9} concerns/s accepted and "
        f"finished ({surge['acknowledged']}/{surge['posted']} in {surge['seconds']} s; intake "
        f"took the surge at {surge['accepted_per_s_at_intake']}/s)"
    )
    print(
        f"  whole bureau               {surge['bureau_cpu_s_per_concern']:>9} CPU s per concern "
        f"(store {surge['store_cpu_share']:.0%} of it: {surge['store_cpu_ms_per_concern']} ms; "
        f"the services {surge['services_cpu_s_per_concern']} s)"
    )
    print(
        f"  services-only bound        {bounds['services_only_concerns_per_s']!s:>9} concerns/s "
        f"(the machine's {figures['machine_cores']} cores over the services' CPU per concern: "
        "the capacity if the store cost nothing)"
    )
    print(
        f"  intake p99 alone           {alone['p99_ms']:>9} ms; with the bureau saturated "
        f"{busy['p99_ms']} ms (p50 {alone['p50_ms']} / {busy['p50_ms']}; the rest still "
        f"busy {busy['rest_busy_after_probe_s']} s after the probe)"
    )
    print(
        f"  at half capacity           {half['offered_per_s']:>9}/s offered: acknowledgement "
        f"p50 {half['ack_p50_ms']} ms, p99 {half['ack_p99_ms']} ms "
        f"({half['acknowledged']}/{half['accepted']})"
    )
    print("\n  ratio                              measured   target")
    for name, value in ratios.items():
        target = TARGETS.get(name)
        mark = ""
        if target is not None and value is not None:
            op, bound = target
            met = {">=": value >= bound, "<": value < bound, "<=": value <= bound}[op]
            mark = f"{op} {bound}  {'met' if met else 'NOT met'}"
        print(f"  {name:<34} {value!s:>8}   {mark}")


if __name__ == "__main__":
    main()
