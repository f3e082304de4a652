"""Renders the topic permissions of deploy/rabbitmq/definitions.json from the event catalogue:
`python -m devtools.rabbitmq_definitions` rewrites them (Security, low: least privilege).

Each service's user publishes only the events it produces (on the exchange each travels on;
routing events also on the private one), and binds only the routing keys the bureau binds:
every service declares every bureau queue with its bindings at start (shared/runtime.py), so
each needs the union of them. The subscriber's permissions are kept as written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from shared.events import CATALOGUE, DUAL_EVENTS, Exchange
from shared.messaging.topology import subscriptions
from shared.settings import REPO_ROOT

PATH = REPO_ROOT / "deploy" / "rabbitmq" / "definitions.json"
SERVICES = ("intake", "triage", "escalation", "notify")
# Events a service publishes besides those the catalogue names it the producer of.
ALSO_PUBLISHES = {"intake": {"concern.merged"}}  # a merge made in intake


def publishes(service: str) -> set[str]:
    """The events a service's user may publish."""
    return {n for n, s in CATALOGUE.items() if s.producer == service} | ALSO_PUBLISHES.get(
        service, set()
    )


def _keys(names: Iterable[str]) -> str:
    names = sorted(names)
    return "^(" + "|".join(re.escape(n) for n in names) + ")$" if names else "^$"


def _private(name: str) -> bool:
    return CATALOGUE[name].exchange is Exchange.PRIVATE or name in DUAL_EVENTS


def _public(name: str) -> bool:
    return CATALOGUE[name].exchange is Exchange.PUBLIC


def topic_permissions(subscriber: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The topic permissions of the four services, then the subscriber's."""
    bound = set().union(*subscriptions().values())
    rendered = []
    for service in SERVICES:
        mine = publishes(service)
        for exchange, on in (("bureau.events", _public), ("bureau.private", _private)):
            rendered.append(
                {
                    "user": service,
                    "vhost": "/",
                    "exchange": exchange,
                    "write": _keys(n for n in mine if on(n)),
                    "read": _keys(n for n in bound if on(n) or n in DUAL_EVENTS),
                }
            )
    return rendered + subscriber


def render(definitions: dict[str, Any]) -> dict[str, Any]:
    """The definitions with their services' topic permissions rendered afresh."""
    subscriber = [t for t in definitions["topic_permissions"] if t["user"] == "subscriber"]
    return {**definitions, "topic_permissions": topic_permissions(subscriber)}


def main() -> int:
    """Rewrite deploy/rabbitmq/definitions.json."""
    definitions = json.loads(PATH.read_text())
    PATH.write_text(json.dumps(render(definitions), indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
