"""Fault suite: under streams of concerns, kill services, the broker and the store; then every
concern that got a 201 exists, was triaged, has one SLA clock, and its requester got one
acknowledgement (two, with one Message-ID, only in the documented crash window: notify gone
between the mail server's accept and the record). Nothing is parked. Escalation and notify run
two processes each, as in the chaos run of issue 14: one is killed while the other carries on.

Bounded and deterministic: one bureau for the module; mails are parsed once, as they arrive,
into an index by tracking number; the end of the work is read from the broker's queues and
the services' outbox backlogs, not guessed from time. Each test prints
accepted / lost / duplicated / parked.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aio_pika
import httpx
import pytest
from pymongo import AsyncMongoClient

from devtools.broker import delete_prefixed_topology
from devtools.bureau import LocalBureau
from devtools.cli import service_health
from devtools.launcher import SERVICES, kill_process, start_secantus, wait_for_port
from devtools.smtp_sink import ReceivedMail, SmtpSink
from tests.conftest import AMQP_URL
from tests.e2e.conftest import FRONTEND, STAFF, concern_body

pytestmark = pytest.mark.faults

RATE_PER_S = 10
OUTAGE_S = 2.0
DELIVERY_LEASE_S = 6
RETRY_DELAYS_MS = [300, 1000, 3000]
DRAIN_TIMEOUT_S = 90.0
# Seconds of the overload: short in the test command; FAULT_OVERLOAD_S=120 for the two
# minutes of issue 14 (the drain then takes minutes: FAULT_DRAIN_S).
OVERLOAD_S = float(os.environ.get("FAULT_OVERLOAD_S", "6"))
OVERLOAD_DRAIN_S = float(os.environ.get("FAULT_DRAIN_S", str(DRAIN_TIMEOUT_S)))
RABBITMQCTL = "/usr/sbin/rabbitmqctl"
TRACKING = re.compile(r"CS-\d{4}-\d{6}")
PARENT = "fault-parent-"
# Two processes of each: they share the clocks' due steps and the deliveries through leases,
# and one carries on (and must not take over a live claim) while the other is killed.
REPLICATED = ("escalation", "notify")


class KillableSink(SmtpSink):
    """The mail relay; `on_accept` runs once a mail is stored, before the relay answers 250
    (a sender killed there never learns that its mail went: the crash window)."""

    on_accept: Callable[[ReceivedMail], None] | None = None

    def store(self, mail: ReceivedMail, raw: bytes) -> None:
        super().store(mail, raw)
        if self.on_accept is not None:
            self.on_accept(mail)


class MailIndex:
    """Acknowledgements by tracking number; each mail is parsed once."""

    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink
        self._read = 0
        self.message_ids: dict[str, list[str]] = defaultdict(list)

    def update(self) -> MailIndex:
        mails = self._sink.mails[self._read :]
        self._read += len(mails)
        for mail in mails:
            if mail.recipients[0].startswith(PARENT):
                found = TRACKING.findall(mail.subject) or TRACKING.findall(mail.text)
                for tracking in set(found):
                    self.message_ids[tracking].append(str(mail.message["Message-ID"]))
        return self

    def count(self, tracking: str) -> int:
        return len(self.message_ids.get(tracking, ()))


@dataclass
class Stream:
    """Concerns posted while faults happen: what was accepted and what was refused."""

    intake: str
    accepted: dict[str, str] = field(default_factory=dict)  # concern id -> tracking number
    refused: Counter[str] = field(default_factory=Counter)
    running: bool = True

    async def post(self, client: httpx.AsyncClient) -> None:
        n = uuid.uuid4().hex[:12]
        body = concern_body(
            requester={"name": f"Parent {n}", "language": "en", "email": f"{PARENT}{n}@example.org"}
        )
        try:
            answer = await client.post(f"{self.intake}/v1/concerns", json=body, headers=FRONTEND)
        except httpx.HTTPError as exc:
            self.refused[type(exc).__name__] += 1
            return
        if answer.status_code == 201:
            created = answer.json()
            self.accepted[created["id"]] = created["tracking_number"]
        else:
            self.refused[str(answer.status_code)] += 1

    async def run(self, rate_per_s: float = RATE_PER_S) -> None:
        """Post at `rate_per_s` until stopped."""
        async with httpx.AsyncClient(timeout=15.0) as client:
            while self.running:
                started = time.monotonic()
                await self.post(client)
                await asyncio.sleep(max(0.0, 1 / rate_per_s - (time.monotonic() - started)))

    async def burst(self, n: int, clients: int = 16) -> None:
        """Post `n` concerns, `clients` at a time, as fast as intake answers."""
        slots = asyncio.Semaphore(clients)
        async with httpx.AsyncClient(timeout=15.0) as client:

            async def one() -> None:
                async with slots:
                    await self.post(client)

            await asyncio.gather(*(one() for _ in range(n)))

    async def closed_loop(self, seconds: float, clients: int) -> None:
        """`clients` posting back to back for `seconds`: more than the bureau handles."""
        deadline = time.monotonic() + seconds
        async with httpx.AsyncClient(timeout=15.0) as client:

            async def one() -> None:
                while time.monotonic() < deadline:
                    await self.post(client)

            await asyncio.gather(*(one() for _ in range(clients)))


@dataclass
class Faults:
    """The bureau under test, and what the suite reads of its broker and store."""

    bureau: LocalBureau
    sink: KillableSink
    mails: MailIndex
    prefix: str

    def database(self, service: str) -> str:
        return f"t_{self.prefix.split('.')[1]}_{service}"

    def store_port(self) -> int:
        return int(self.bureau.env["MONGO_URL"].rsplit(":", 1)[1].split("/")[0])

    def start_store(self) -> None:
        port = self.store_port()
        self.bureau.store = start_secantus(
            port=port,
            storage_path=str(self.bureau.workdir / "store"),
            log_path=str(self.bureau.workdir / "store.log"),
        )
        wait_for_port(port)

    async def queue_counts(self) -> dict[str, int]:
        """Messages waiting in every queue of the bureau, as the broker counts them now."""
        names = [
            f"{self.prefix}{s}.{q}"
            for s in SERVICES
            for q in ("events", "dlq", *(f"retry.{i}" for i in range(len(RETRY_DELAYS_MS))))
        ]
        connection = await aio_pika.connect(AMQP_URL)
        try:
            channel = await connection.channel()
            raw = await channel.get_underlay_channel()
            counts = {}
            for name in names:
                declared = await raw.queue_declare(name, passive=True)
                counts[name] = int(declared.message_count or 0)
            return counts
        finally:
            await connection.close()

    async def parked(self) -> int:
        return sum(n for name, n in (await self.queue_counts()).items() if name.endswith(".dlq"))

    async def outbox_backlog(self, client: httpx.AsyncClient) -> int:
        total = 0
        for service in SERVICES:
            metrics = (await client.get(f"{self.bureau.url(service)}/metrics")).text
            total += sum(
                int(float(line.rsplit(" ", 1)[1]))
                for line in metrics.splitlines()
                if line.startswith("bureau_outbox_backlog{")
            )
        return total

    async def deliveries_unsettled(self) -> int:
        """Notify's deliveries due and not settled: being sent, or queued and due (a retry,
        a takeover after a lost lease). A duplicate would come from one of these."""
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            self.bureau.env["MONGO_URL"], tz_aware=True
        )
        try:
            deliveries = mongo[self.database("notify")]["deliveries"]
            sending = await deliveries.count_documents({"status": "sending"})
            due = await deliveries.count_documents(
                {"status": "queued", "next_attempt_at": {"$lte": datetime.now(UTC)}}
            )
            return sending + due
        finally:
            await mongo.close()


STARTED = time.monotonic()


def step(what: str) -> None:
    """Progress on the output (`-s`): where a slow run spends its time."""
    print(f"[{time.monotonic() - STARTED:6.1f}s] {what}", flush=True)


def rabbitmqctl(*args: str) -> None:
    subprocess.run([RABBITMQCTL, *args], check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faults]:
    """One bureau for the suite, with a store of its own, so that tests can kill it."""
    tag = uuid.uuid4().hex[:10]
    prefix = f"t.{tag}."
    exchanges = (f"{prefix}bureau.events", f"{prefix}bureau.private")
    workdir = tmp_path_factory.mktemp("faults")
    local = LocalBureau(
        workdir=workdir,
        env={
            "AMQP_URL": AMQP_URL,
            "QUEUE_PREFIX": prefix,
            "EVENTS_EXCHANGE": exchanges[0],
            "PRIVATE_EXCHANGE": exchanges[1],
            "RETRY_DELAYS_MS": str(RETRY_DELAYS_MS),
            "OUTBOX_POLL_S": "0.2",
            "IO_TIMEOUT_S": "3",
            "DELIVERY_LEASE_S": str(DELIVERY_LEASE_S),
            "RECONNECT_INTERVAL_S": "0.5",
            "SHUTDOWN_GRACE_S": "3",
            "LOG_LEVEL": "WARNING",
        },
    )
    sink = KillableSink(0)
    sink.start()
    local.smtp = sink
    local.env.update({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(sink.port)})
    try:
        local.start_store()
        local.start_services(
            per_service_env={name: {"MONGO_DB": f"t_{tag}_{name}"} for name in SERVICES}
        )
        for name in REPLICATED:  # as the chaos run of issue 14 had them
            local.start_replica(name)
        yield Faults(local, sink, MailIndex(sink), prefix)
    finally:
        try:
            rabbitmqctl("start_app")  # whatever happened, leave the broker running
        finally:
            local.stop()
            asyncio.run(delete_prefixed_topology(AMQP_URL, prefix, exchanges))


@dataclass
class Outcome:
    accepted: int
    lost: dict[str, str]  # concern id -> what is missing
    duplicated: dict[str, list[str]]  # tracking number -> Message-IDs of its acknowledgements
    parked: int

    def report(self, name: str, stream: Stream) -> None:
        print(
            f"\n{name}: accepted={self.accepted} lost={len(self.lost)} "
            f"duplicated={len(self.duplicated)} parked={self.parked} "
            f"refused={dict(stream.refused)}"
        )


async def drained(faults: Faults, accepted: dict[str, str], timeout_s: float) -> Outcome:
    """Wait until the bureau's work is done (every accepted concern acknowledged, every queue
    and outbox empty, no delivery being sent or due, twice in a row), then check each
    concern; returns what is wrong."""
    deadline = time.monotonic() + timeout_s
    step(f"draining {len(accepted)} concerns")
    async with httpx.AsyncClient(timeout=10.0) as client:
        quiet = 0
        while time.monotonic() < deadline and quiet < 2:
            faults.mails.update()
            acked = all(faults.mails.count(t) for t in accepted.values())
            busy = sum(
                n for name, n in (await faults.queue_counts()).items() if not name.endswith(".dlq")
            )
            backlog = await faults.outbox_backlog(client) if acked and not busy else -1
            if backlog == 0:  # and nothing notify could still send (again)
                backlog = await faults.deliveries_unsettled()
            quiet = quiet + 1 if acked and busy == 0 and backlog == 0 else 0
            await asyncio.sleep(0.5)
        step(f"checking each concern (drained: {quiet >= 2})")
        lost = await missing(faults, client, accepted, deadline)
    await asyncio.sleep(0.5)  # room for a late duplicate already on its way
    mails = faults.mails.update()
    duplicated = {t: mails.message_ids[t] for t in accepted.values() if mails.count(t) > 1}
    return Outcome(len(accepted), lost, duplicated, await faults.parked())


async def missing(
    faults: Faults, client: httpx.AsyncClient, accepted: dict[str, str], deadline: float
) -> dict[str, str]:
    """What is missing for each concern (checked once each; the few still on their way are
    checked again until the deadline)."""
    slots = asyncio.Semaphore(16)
    intake, escalation = faults.bureau.url("intake"), faults.bureau.url("escalation")

    async def problem(concern_id: str) -> str | None:
        async with slots:
            case = await client.get(f"{intake}/v1/concerns/{concern_id}", headers=STAFF)
            if case.status_code != 200:
                return f"not in intake ({case.status_code})"
            if not case.json().get("team"):
                return "not triaged"
            clock = await client.get(f"{escalation}/v1/clocks/{concern_id}", headers=STAFF)
            if clock.status_code != 200:
                return "no SLA clock"
            if not faults.mails.count(accepted[concern_id]):
                return "no acknowledgement"
            return None

    pending = list(accepted)
    while True:
        faults.mails.update()
        found = await asyncio.gather(*(problem(c) for c in pending))
        lost = {c: p for c, p in zip(pending, found, strict=True) if p is not None}
        if not lost or time.monotonic() > deadline:
            return lost
        pending = list(lost)
        await asyncio.sleep(1.0)


async def recorded_sends(faults: Faults) -> set[str]:
    """The Message-IDs notify has recorded as sent (read as a notify process is killed: what it
    had taken to the relay and not recorded is the crash window; a replica still running
    records its own sends, which only widens the window checked for a second, same mail)."""
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(faults.bureau.env["MONGO_URL"])
    try:
        deliveries = mongo[faults.database("notify")]["deliveries"]
        return {
            str(doc.get("provider_reference"))
            async for doc in deliveries.find({"status": "sent"}, {"provider_reference": 1})
        }
    finally:
        await mongo.close()


def crash_window(sink: SmtpSink, recorded: set[str]) -> set[str]:
    """Tracking numbers of the mails the relay took from notify before its restart that notify
    had not recorded as sent when it was killed: the documented crash window."""
    return {
        t
        for mail in list(sink.mails)
        if mail.message["Message-ID"] not in recorded
        for t in TRACKING.findall(mail.subject) or TRACKING.findall(mail.text)
    }


def assert_nothing_lost(outcome: Outcome, *, crash_window: AbstractSet[str] = frozenset()) -> None:
    assert outcome.accepted >= 20, "the stream was too thin to prove anything"
    assert not outcome.lost, f"lost: {outcome.lost}"
    assert outcome.parked == 0, f"{outcome.parked} messages parked"
    outside = {t: ids for t, ids in outcome.duplicated.items() if t not in crash_window}
    assert not outside, f"acknowledged more than once: {outside}"
    for tracking in crash_window & set(outcome.duplicated):
        ids = outcome.duplicated[tracking]
        assert len(ids) == 2 and len(set(ids)) == 1, f"{tracking}: {ids}"


async def test_no_concern_is_lost_or_acknowledged_twice_through_faults(faults: Faults) -> None:
    bureau = faults.bureau
    stream = Stream(bureau.url("intake"))
    posting = asyncio.create_task(stream.run())
    await asyncio.sleep(1)
    window: set[str] = set()
    recorded: set[str] = set()
    for victim in ("triage", "escalation", "notify", "intake"):
        step(f"kill {victim}")
        bureau.services[victim].kill()  # SIGKILL mid-stream
        if victim == "notify":
            recorded = await recorded_sends(faults)
        await asyncio.sleep(OUTAGE_S)
        if victim == "notify":
            window = crash_window(faults.sink, recorded)
        bureau.services[victim].start()  # its readiness is awaited below, faults go on
    step("stop the broker")
    await asyncio.to_thread(rabbitmqctl, "stop_app")
    await asyncio.sleep(OUTAGE_S)
    await asyncio.to_thread(rabbitmqctl, "start_app")
    await asyncio.to_thread(rabbitmqctl, "await_online_nodes", "1")
    for service in bureau.services.values():
        await asyncio.to_thread(service.wait_ready)
    stream.running = False
    await posting

    # A burst of 201s, then the store SIGKILLed at once: concerns just accepted, clocks and
    # acknowledgements mailed but not yet recorded are all in flight. The store stays away
    # for longer than the delivery lease.
    await stream.burst(40)
    step("kill the store")
    assert bureau.store is not None
    kill_process(bureau.store)
    await asyncio.sleep(2 * DELIVERY_LEASE_S)
    await asyncio.to_thread(faults.start_store)

    outcome = await drained(faults, stream.accepted, DRAIN_TIMEOUT_S)
    outcome.report("services and broker killed; store killed after a burst, away 2 leases", stream)
    assert_nothing_lost(outcome, crash_window=window)


async def test_notify_killed_between_the_mail_servers_accept_and_the_record_mails_once_more(
    faults: Faults,
) -> None:
    bureau = faults.bureau
    stream = Stream(bureau.url("intake"))
    killed = threading.Event()

    def kill_notify(mail: ReceivedMail) -> None:
        if not killed.is_set() and mail.recipients[0].startswith(PARENT):
            for key in bureau.replicas("notify"):  # whichever sent it: before the 250
                bureau.services[key].kill()
            killed.set()

    await stream.burst(10)
    faults.sink.on_accept = kill_notify
    try:
        await stream.burst(10)
        assert await asyncio.to_thread(killed.wait, 10), "no acknowledgement went out"
    finally:
        faults.sink.on_accept = None
    window = crash_window(faults.sink, await recorded_sends(faults))
    assert window, "the mail taken as notify was killed is not recorded as sent"
    for key in bureau.replicas("notify"):
        await asyncio.to_thread(bureau.restart, key)
    await stream.burst(10)

    outcome = await drained(faults, stream.accepted, DRAIN_TIMEOUT_S)
    outcome.report("notify killed before the mail server's answer", stream)
    assert_nothing_lost(outcome, crash_window=window)


async def test_overload_slows_the_bureau_down_and_parks_nothing(faults: Faults) -> None:
    stream = Stream(faults.bureau.url("intake"))
    await stream.closed_loop(seconds=OVERLOAD_S, clients=16)
    faults.mails.update()
    behind = sum(1 for t in stream.accepted.values() if not faults.mails.count(t))
    waiting = sum(n for name, n in (await faults.queue_counts()).items() if ".events" in name)
    step(f"overload over: {behind} concerns not yet acknowledged, {waiting} events queued")
    # more was accepted than the bureau finished: it was past its capacity, and caught up
    assert behind > 0 or waiting > 0, "the load stayed within the bureau's capacity"

    outcome = await drained(faults, stream.accepted, OVERLOAD_DRAIN_S)
    outcome.report("overload", stream)
    assert_nothing_lost(outcome)


async def test_a_parked_message_shows_in_bureau_health_at_once(
    faults: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAGE_URL", faults.bureau.url("triage"))
    before = await asyncio.to_thread(service_health, "triage")
    assert before["dead_letters"] == 0
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        await channel.default_exchange.publish(
            aio_pika.Message(b"{not an event"), routing_key=f"{faults.prefix}triage.events"
        )
        after: dict[str, object] = {}
        for _ in range(50):  # parked at once; the gauge is read from the broker per scrape
            after = await asyncio.to_thread(service_health, "triage")
            if after["dead_letters"] == 1:
                break
            await asyncio.sleep(0.1)
        assert after["dead_letters"] == 1
        await (await channel.declare_queue(f"{faults.prefix}triage.dlq", passive=True)).purge()
    finally:
        await connection.close()
