"""`bureau`: the operator's command line.

    bureau up                         start the whole bureau locally (as `./dev run`)
    bureau config check [FILE]        validate the district configuration, every section
    bureau health [--json]            each service's readiness, queue depth, dead letters, outbox
    bureau dlq list|show|replay|purge SERVICE ...   dead letters (see `bureau dlq -h`)
    bureau token --sub ID --role R    mint a development token (JWT_SIGNING_KEY)
    bureau asyncapi                   print the AsyncAPI document of the events

Settings come from the environment like the services' (AMQP_URL, QUEUE_PREFIX, ...);
`health` reaches the services at INTAKE_URL, TRIAGE_URL, ESCALATION_URL, NOTIFY_URL
(default http://127.0.0.1:8001 ... 8004).
"""

from __future__ import annotations

# Each subcommand imports what it needs when it runs: `bureau --help` or `bureau token`
# must not wait for pydantic models, the event catalogue or an HTTP client they never use.
import argparse
import os
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from devtools.launcher import DEFAULT_PORTS, SERVICES

METRIC_LINE = r"^(bureau_[a-z_]+)\{([^}]*)\} ([0-9.eE+-]+)$"


def service_url(name: str) -> str:
    return os.environ.get(f"{name.upper()}_URL", f"http://127.0.0.1:{DEFAULT_PORTS[name]}")


def check_config(path: Path | None) -> int:
    """Validate the common directory and each service's own section."""
    from shared.district import DistrictConfigError, load_district
    from shared.settings import DEFAULT_DISTRICT_CONFIG

    path = path or Path(os.environ.get("DISTRICT_CONFIG", DEFAULT_DISTRICT_CONFIG))
    try:
        district = load_district(path)
    except DistrictConfigError as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return 1
    problems = []
    for service, check in section_checks().items():
        try:
            check(district)
        except Exception as exc:
            problems.append(f"{service}: {exc}")
    for problem in problems:
        print(f"invalid: {problem}", file=sys.stderr)
    if problems:
        return 1
    for warning in holiday_warnings(district):
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"{path}: valid ({len(district.schools)} schools, {len(district.teams)} teams, "
        f"{len(district.categories)} categories, {len(district.staff)} staff)"
    )
    return 0


def holiday_warnings(district: Any, today: date | None = None) -> list[str]:
    """Calendars naming no holiday in the coming 12 months: every holiday would silently count
    as a working day (a list written for one year, never extended)."""
    from services.escalation.config import EscalationConfig

    today = today or datetime.now(ZoneInfo(district.district.timezone)).date()
    return [
        f"calendar {c.id} has no holidays between {today} and {today + timedelta(days=365)}"
        " (add this year's, or rules such as `every: 01-01`)"
        for c in district.section("escalation", EscalationConfig).calendars
        if c.lacks_holidays(today)
    ]


def section_checks() -> dict[str, Any]:
    """Each service's validation of its own section: the `<Service>Config` model of its
    `services/<service>/config.py`, where the service has one; and the front doors'."""
    import importlib

    checks: dict[str, Any] = {}
    for service in SERVICES:
        try:
            module = importlib.import_module(f"services.{service}.config")
        except ImportError:
            continue
        model = getattr(module, f"{service.capitalize()}Config", None)
        if model is not None:
            checks[service] = lambda district, s=service, m=model: district.section(s, m)
    from services.escalation.standards import StandardsConfig  # the Board's standards

    checks["standards"] = lambda district: district.section("standards", StandardsConfig)
    from shared.board import BoardConfig  # who gets the Board's packet

    checks["board"] = lambda district: district.section("board", BoardConfig)
    from shared.safety_desk import safety_desk  # read by notify and the phone front door

    checks["safety_desk"] = safety_desk
    from frontends.phone.config import phone_config  # the phone front door's, as at its start

    checks["phone"] = phone_config
    return checks


def _get(url: str, timeout_s: float = 3.0) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except OSError as exc:
        return 0, str(exc)


HEALTH_QUEUES = {"events": "queue_depth", "retry": "retrying", "dlq": "dead_letters"}
"""`bureau_queue_messages` by its queue label, as `bureau health` names the column."""


def service_health(name: str) -> dict[str, Any]:
    """Readiness and the gauges the service exposes on /metrics."""
    base = service_url(name)
    status, body = _get(f"{base}/readyz")
    health: dict[str, Any] = {
        "service": name,
        "url": base,
        "ready": status == 200,
        "detail": "ok" if status == 200 else (body[:200] or "no answer"),
    }
    status, metrics = _get(f"{base}/metrics")
    if status == 200:
        import re

        for line in metrics.splitlines():
            match = re.match(METRIC_LINE, line)
            if not match:
                continue
            metric, labels, value = match.groups()
            if metric == "bureau_queue_messages":
                queue = re.search(r'queue="([^"]+)"', labels)
                column = HEALTH_QUEUES.get(queue.group(1) if queue else "", "queue_depth")
                health[column] = int(float(value))
            elif metric == "bureau_outbox_backlog":
                health["outbox_backlog"] = int(float(value))
    return health


def health(as_json: bool) -> int:
    rows = [service_health(name) for name in SERVICES]
    if as_json:
        import json

        print(json.dumps(rows, indent=2))
    else:
        print(
            f"{'service':<11} {'ready':<6} {'queue':>6} {'retry':>6} {'dlq':>5} {'outbox':>7}"
            "  detail"
        )
        for row in rows:
            print(
                f"{row['service']:<11} {('yes' if row['ready'] else 'NO'):<6} "
                f"{row.get('queue_depth', '-'):>6} {row.get('retrying', '-'):>6} "
                f"{row.get('dead_letters', '-'):>5} "
                f"{row.get('outbox_backlog', '-'):>7}  {row['detail']}"
            )
    unhealthy = [r for r in rows if not r["ready"] or r.get("dead_letters")]
    return 1 if unhealthy else 0


def mint(args: argparse.Namespace) -> int:
    """Print a development token; refused where the settings hold no signing key."""
    from shared.auth import mint_token
    from shared.settings import ServiceSettings

    settings = ServiceSettings()
    if settings.jwt_signing_key is None or settings.jwt_jwks_url:
        print("tokens come from the identity provider here (JWT_JWKS_URL is set)", file=sys.stderr)
        return 1
    try:
        print(
            mint_token(
                subject=args.sub,
                roles=args.roles,
                schools=args.schools,
                teams=args.teams,
                ttl_s=args.ttl,
                signing_key=settings.jwt_signing_key.get_secret_value(),
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
            )
        )
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["dlq"]:
        from devtools import dlq

        return dlq.main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="bureau", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start the whole bureau locally")
    config = commands.add_parser("config", help="the district configuration")
    config.add_argument("action", choices=["check"])
    config.add_argument(
        "file",
        nargs="?",
        type=Path,
        default=None,
        help="default: DISTRICT_CONFIG, else deploy/district.yaml",
    )
    health_parser = commands.add_parser("health", help="readiness, queues, outbox")
    health_parser.add_argument("--json", action="store_true")
    commands.add_parser("dlq", help="dead letters: list, show, replay, purge")
    token = commands.add_parser("token", help="mint a development token (JWT_SIGNING_KEY)")
    token.add_argument("--sub", required=True, help="staff id, or the frontend's name")
    token.add_argument(
        "--role", action="append", required=True, dest="roles", help="a role (repeat for several)"
    )
    token.add_argument("--school", action="append", dest="schools", default=[])
    token.add_argument("--team", action="append", dest="teams", default=[])
    token.add_argument("--ttl", type=int, default=8 * 3600, help="seconds (default 8 h)")
    commands.add_parser("asyncapi", help="print the AsyncAPI document")
    args = parser.parse_args(argv)
    if args.command == "up":
        from devtools import run_local

        return run_local.main()
    if args.command == "config":
        return check_config(args.file)
    if args.command == "health":
        return health(args.json)
    if args.command == "token":
        return mint(args)
    if args.command == "asyncapi":
        from shared.asyncapi import render

        sys.stdout.write(render())
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
