"""deploy/rabbitmq/definitions.json: one user per service, a subscriber kept to bureau.events."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from devtools import rabbitmq_definitions
from shared.events import CATALOGUE, DUAL_EVENTS, Exchange
from shared.messaging.topology import subscriptions
from shared.settings import REPO_ROOT

pytestmark = pytest.mark.unit

DEFINITIONS = json.loads((REPO_ROOT / "deploy" / "rabbitmq" / "definitions.json").read_text())
SERVICES = sorted(subscriptions())


def permission(user: str) -> dict[str, str]:
    [found] = [p for p in DEFINITIONS["permissions"] if p["user"] == user]
    assert found["vhost"] == "/"
    return dict(found)


def topic(user: str, exchange: str) -> dict[str, Any] | None:
    found = [
        t
        for t in DEFINITIONS["topic_permissions"]
        if t["user"] == user and t["exchange"] == exchange
    ]
    return found[0] if found else None


def matches(pattern: str, name: str) -> bool:
    return re.search(pattern, name) is not None


def test_one_user_per_service_and_a_subscriber_without_passwords() -> None:
    assert [v["name"] for v in DEFINITIONS["vhosts"]] == ["/"]
    users = {u["name"]: u for u in DEFINITIONS["users"]}
    assert set(users) == {*SERVICES, "subscriber"}
    assert all(u["password_hash"] == "" and u["tags"] == [] for u in users.values())
    assert {e["name"] for e in DEFINITIONS["exchanges"]} == {"bureau.events", "bureau.private"}
    assert all(e["type"] == "topic" and e["durable"] for e in DEFINITIONS["exchanges"])


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_reads_only_its_own_queues(service: str) -> None:
    rights = permission(service)
    for exchange in ("bureau.events", "bureau.private"):
        assert all(matches(rights[k], exchange) for k in ("configure", "write", "read"))
        assert topic(service, exchange) is not None
    for suffix in ("events", "retry.0", "dlq"):
        assert matches(rights["read"], f"{service}.{suffix}")
    assert matches(rights["write"], "amq.default")
    for other in set(SERVICES) - {service}:
        assert matches(rights["configure"], f"{other}.events")  # declared for the others
        for suffix in ("events", "retry.0", "dlq"):
            assert not matches(rights["read"], f"{other}.{suffix}")
        assert not matches(rights["configure"], f"{other}.dlq")


def test_the_subscriber_cannot_reach_the_private_exchange() -> None:
    rights = permission("subscriber")
    assert matches(rights["read"], "bureau.events")
    assert matches(rights["configure"], "subscriber.district-sis")
    assert matches(rights["write"], "subscriber.district-sis")  # binding writes its queue
    for kind in ("configure", "write", "read"):
        assert not matches(rights[kind], "bureau.private")
        for service in SERVICES:
            assert not matches(rights[kind], f"{service}.events")
    assert not matches(rights["write"], "bureau.events")  # it never publishes
    private = topic("subscriber", "bureau.private")
    assert private is not None
    assert not matches(private["read"], "concern.contact_shared")
    assert matches(topic("subscriber", "bureau.events")["read"], "concern.submitted")  # type: ignore[index]


# What each service publishes: the catalogue's producer, and intake's merges (Security, low).
PUBLISHES = {
    service: {n for n, spec in CATALOGUE.items() if spec.producer == service}
    for service in SERVICES
}
PUBLISHES["intake"].add("concern.merged")


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_publishes_only_its_own_events(service: str) -> None:
    """Security (low): every service's user could publish any event on either exchange."""
    for name, spec in CATALOGUE.items():
        on_private = spec.exchange is Exchange.PRIVATE or name in DUAL_EVENTS
        on_public = spec.exchange is Exchange.PUBLIC
        mine = name in PUBLISHES[service]
        public, private = topic(service, "bureau.events"), topic(service, "bureau.private")
        assert public is not None and private is not None
        assert matches(public["write"], name) == (mine and on_public), (service, name)
        assert matches(private["write"], name) == (mine and on_private), (service, name)
    # it binds what the bureau binds (each service declares every bureau queue), no more
    bound = set().union(*subscriptions().values())
    assert not matches(
        topic(service, "bureau.private")["read"],  # type: ignore[index]
        "concern.anything_else",
    )
    assert all(
        matches(topic(service, "bureau.private")["read"], n)  # type: ignore[index]
        for n in bound
        if CATALOGUE[n].exchange is Exchange.PRIVATE
    )


def test_the_topic_permissions_are_what_the_catalogue_renders() -> None:
    """A new event needs `python -m devtools.rabbitmq_definitions`, or its publisher is
    refused by the broker."""
    assert rabbitmq_definitions.render(DEFINITIONS) == DEFINITIONS
