"""Fault suite: under a steady stream of concerns, kill each service, stop the broker and
restart the store; then every concern that got a 201 exists, was triaged, has one SLA clock,
and its requester got exactly one acknowledgement.

Bounded: about 10 concerns/s for the length of the fault sequence (about a minute).
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import httpx
import pytest

from devtools.bureau import LocalBureau
from devtools.launcher import start_secantus, stop_process, wait_for_port
from devtools.smtp_sink import ReceivedMail
from tests.conftest import Isolation
from tests.e2e.conftest import FRONTEND, STAFF, concern_body

pytestmark = pytest.mark.faults

RATE_PER_S = 10
OUTAGE_S = 2.0
RABBITMQCTL = "/usr/sbin/rabbitmqctl"


@dataclass
class Stream:
    """Concerns posted while faults happen: what was accepted and what was refused."""

    accepted: dict[str, str] = field(default_factory=dict)  # concern id -> tracking number
    refused: Counter[str] = field(default_factory=Counter)
    running: bool = True

    async def run(self, intake: str) -> None:
        i = 0
        async with httpx.AsyncClient(timeout=15.0) as client:
            while self.running:
                started = time.monotonic()
                body = concern_body(requester={"name": f"Parent {i}", "language": "en",
                                               "email": f"fault-parent-{i}@example.org"})
                try:
                    answer = await client.post(f"{intake}/v1/concerns", json=body, headers=FRONTEND)
                    if answer.status_code == 201:
                        created = answer.json()
                        self.accepted[created["id"]] = created["tracking_number"]
                    else:
                        self.refused[str(answer.status_code)] += 1
                except httpx.HTTPError as exc:
                    self.refused[type(exc).__name__] += 1
                i += 1
                await asyncio.sleep(max(0.0, 1 / RATE_PER_S - (time.monotonic() - started)))


def rabbitmqctl(*args: str) -> None:
    subprocess.run([RABBITMQCTL, *args], check=True, capture_output=True, timeout=120)


@pytest.fixture
def bureau(tmp_path: Path, isolation: Isolation, amqp_url: str,
           amqp: aio_pika.abc.AbstractRobustConnection) -> Iterator[LocalBureau]:
    """A bureau with a store of its own, so that the test can restart it."""
    local = LocalBureau(workdir=tmp_path, env={
        "AMQP_URL": amqp_url, "QUEUE_PREFIX": isolation.queue_prefix,
        "EVENTS_EXCHANGE": isolation.events_exchange,
        "PRIVATE_EXCHANGE": isolation.private_exchange,
        "RETRY_DELAYS_MS": "[300, 1000, 3000]", "OUTBOX_POLL_S": "0.2",
        "IO_TIMEOUT_S": "3", "DELIVERY_LEASE_S": "10", "RECONNECT_INTERVAL_S": "0.5",
    })
    try:
        local.start_store()
        local.start_smtp()
        local.start_services(per_service_env={name: {"MONGO_DB": isolation.db(name)}
                                              for name in ("intake", "triage", "escalation",
                                                           "notify")})
        yield local
    finally:
        try:
            rabbitmqctl("start_app")  # whatever happened, leave the broker running
        finally:
            local.stop()


def restart_store(bureau: LocalBureau) -> None:
    """Stop the store (SIGTERM), wait, start it again on the same port and data."""
    assert bureau.store is not None
    port = int(bureau.env["MONGO_URL"].rsplit(":", 1)[1].split("/")[0])
    stop_process(bureau.store)
    time.sleep(OUTAGE_S)
    bureau.store = start_secantus(port=port, storage_path=str(bureau.workdir / "store"),
                                  log_path=str(bureau.workdir / "store.log"))
    wait_for_port(port)


def stop_and_start_broker() -> None:
    rabbitmqctl("stop_app")
    time.sleep(OUTAGE_S)
    rabbitmqctl("start_app")
    rabbitmqctl("await_online_nodes", "1")


async def test_no_concern_is_lost_or_acknowledged_twice_through_faults(
        bureau: LocalBureau) -> None:
    stream = Stream()
    posting = asyncio.create_task(stream.run(bureau.url("intake")))
    await asyncio.sleep(2)
    for victim in ("triage", "escalation", "notify", "intake"):
        bureau.services[victim].kill()  # SIGKILL mid-stream
        await asyncio.sleep(OUTAGE_S)
        await asyncio.to_thread(bureau.restart, victim)
        await asyncio.sleep(1)
    await asyncio.to_thread(stop_and_start_broker)
    await asyncio.sleep(3)
    await asyncio.to_thread(restart_store, bureau)
    await asyncio.sleep(3)
    stream.running = False
    await posting

    accepted = stream.accepted
    assert len(accepted) >= 100, f"the stream was too thin to prove anything: {stream}"
    lost, duplicated = await converge(bureau, accepted, timeout_s=90)
    print(f"\nfault suite: accepted={len(accepted)} lost={len(lost)} "
          f"duplicated={len(duplicated)} refused={dict(stream.refused)}")
    assert not lost, f"lost: {lost}"
    assert not duplicated, f"acknowledged more than once: {duplicated}"


def is_to_requester(mail: ReceivedMail) -> bool:
    """Requesters of this suite write from fault-parent-N@; staff hear of assignments too."""
    return mail.recipients[0].startswith("fault-parent-")


async def converge(bureau: LocalBureau, accepted: dict[str, str],
                   timeout_s: float) -> tuple[dict[str, str], dict[str, int]]:
    """Wait until every accepted concern is triaged, clocked and acknowledged, or time runs
    out; returns what is still missing (by concern) and the tracking numbers mailed twice."""
    assert bureau.smtp is not None
    deadline = time.monotonic() + timeout_s
    missing: dict[str, str] = {}
    async with httpx.AsyncClient(timeout=10.0) as client:
        pending = set(accepted)
        while pending and time.monotonic() < deadline:
            for concern_id in list(pending):
                problem = await check(client, bureau, concern_id, accepted[concern_id])
                if problem is None:
                    pending.discard(concern_id)
                else:
                    missing[concern_id] = problem
            missing = {c: missing[c] for c in pending}
            if pending:
                await asyncio.sleep(1)
    await asyncio.sleep(2)  # room for a late duplicate to arrive
    sent = Counter(t for mail in bureau.smtp.mails if is_to_requester(mail)
                   for t in accepted.values() if t in mail.text)
    duplicated = {t: n for t, n in sent.items() if n > 1}
    return missing, duplicated


async def check(client: httpx.AsyncClient, bureau: LocalBureau, concern_id: str,
                tracking: str) -> str | None:
    """What is still missing for one concern, or None when it went all the way."""
    case = await client.get(f"{bureau.url('intake')}/v1/concerns/{concern_id}", headers=STAFF)
    if case.status_code != 200:
        return f"not in intake ({case.status_code})"
    if not case.json().get("team"):
        return "not triaged"
    clock = await client.get(f"{bureau.url('escalation')}/v1/clocks/{concern_id}", headers=STAFF)
    if clock.status_code != 200:
        return "no SLA clock"
    if not any(tracking in mail.text and is_to_requester(mail)
               for mail in bureau.smtp.mails):  # type: ignore[union-attr]
        return "no acknowledgement"
    return None
