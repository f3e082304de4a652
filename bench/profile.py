"""Where the bureau spends its time under a steady load: CPU per process and the hottest
functions of each, sampled with py-spy.

    .venv/bin/python -m bench.profile --rate 20 --seconds 20

Starts its own bureau (as bench.run_all does), posts concerns at a fixed rate while py-spy
samples the store and the four services, then prints, per process, the CPU seconds it used and
its top functions by own time and by total time. The raw collapsed stacks are kept under
bench/results/profile/ for a flame graph (e.g. speedscope).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.load import SERVICES, bench_bureau, post_concerns, start_services
from bench.store_ops import idle_rates, settle, store_top

RESULTS = Path(__file__).resolve().parent / "results" / "profile"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def top_functions(collapsed: Path, n: int) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(own, total) sample counts per function from py-spy's collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [
            f.split(" (")[0] + " " + f.split("(")[-1].rstrip(")").split(":")[0]
            for f in stack.split(";")
            if f
        ]
        if frames:
            own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    return own.most_common(n), total.most_common(n)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument(
        "--closed",
        type=int,
        default=0,
        metavar="CLIENTS",
        help="a closed loop of this many clients instead of a fixed rate",
    )
    parser.add_argument(
        "--store-per-service",
        action="store_true",
        help="one SecantusDB server per service (sampled: intake's)",
    )
    args = parser.parse_args()
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    amqp_url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    RESULTS.mkdir(parents=True, exist_ok=True)
    with bench_bureau(amqp_url, "prof") as (bureau, tag):
        mongo_url = bureau.start_store()
        bureau.start_smtp()
        urls = start_services(bureau, tag, mongo_url, store_per_service=args.store_per_service)
        if args.store_per_service:
            mongo_url = urls["intake"]
        pids = {
            name: bureau.services[name].process.pid  # type: ignore[union-attr]
            for name in SERVICES
        }
        pids["store"] = bureau.own_stores[0].pid if args.store_per_service else bureau.store.pid  # type: ignore[union-attr]
        idle = idle_rates(mongo_url)
        top_before = store_top(mongo_url)
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        duration = int(args.seconds) + 2
        samplers = {
            name: subprocess.Popen(
                [
                    pyspy,
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(duration),
                    "--rate",
                    "200",
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--output",
                    str(RESULTS / f"{name}.txt"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name, pid in pids.items()
        }
        started = time.time()
        run = asyncio.run(
            post_concerns(
                bureau.url("intake"),
                int(args.rate * args.seconds),
                rate=None if args.closed else args.rate,
                concurrency=args.closed or 16,
            )
        )
        for sampler in samplers.values():
            sampler.wait()
        settle(mongo_url, sum(idle.values()))
        wall = time.time() - started
        after = {name: cpu_seconds(pid) for name, pid in pids.items()}
        top = store_top(mongo_url)
    print(
        f"\n{len(run.sent_at)} accepted at {args.rate:g}/s offered "
        f"({run.accepted_per_s:.1f}/s achieved), {wall:.1f} s sampled"
    )
    accepted = max(len(run.sent_at), 1)
    print(
        "\nstore operations per accepted concern, by collection (from the store's `top`; "
        "idle polling subtracted):"
    )
    print(f"   idle: {sum(idle.values()):.1f} operations/s")
    rows = sorted(
        (
            (
                t - top_before.get(ns, (0, 0))[1],
                n - top_before.get(ns, (0, 0))[0] - idle.get(ns, 0.0) * wall,
                ns,
            )
            for ns, (n, t) in top.items()
            if f"_{tag}_" in ns
        ),
        reverse=True,
    )
    print(f"   {'ops':>7} {'ms':>8}  collection")
    for micros, count, namespace in rows:
        print(
            f"   {count / accepted:7.1f} {micros / 1000 / accepted:8.2f}  "
            f"{namespace.split(f'_{tag}_', 1)[1]}"
        )
    print(
        f"   {sum(r[1] for r in rows) / accepted:7.1f} "
        f"{sum(r[0] for r in rows) / 1000 / accepted:8.2f}  all"
    )
    for name in ("store", *SERVICES):
        used = after[name] - before[name]
        print(f"\n== {name}: {used:.1f} CPU s ({used / wall:.0%} of a core)")
        path = RESULTS / f"{name}.txt"
        if not path.exists():
            print("   (no samples)")
            continue
        own, total = top_functions(path, args.top)
        print("   own time:")
        for function, count in own:
            print(f"   {count:7d}  {function}")
        print("   total time:")
        for function, count in total:
            print(f"   {count:7d}  {function}")


if __name__ == "__main__":
    main()
