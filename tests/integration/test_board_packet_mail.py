"""The Board's monthly packet by mail, across services: two escalation replicas and notify on
the real broker and store, one fake time. Past the 1st at 06:00 (district time) each address
of `board.packet_recipients` receives one mail at the SMTP sink with the closed month's
figures and no case content; the packet is prepared once, whatever the replicas or a restart.
"""

from __future__ import annotations

import csv
import io
import uuid
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aio_pika
import pytest
import yaml
from pymongo import AsyncMongoClient

from devtools.smtp_sink import ReceivedMail, SmtpSink
from services.escalation.board_mail import PACKETS, BoardPacketJob
from services.escalation.context import EscalationContext
from services.escalation.main import create_app as escalation_app
from services.escalation.settings import EscalationSettings
from services.notify.main import create_app as notify_app
from services.notify.settings import NotifySettings
from shared.clock import FakeClock
from shared.events import (
    Channel,
    ConcernResolved,
    ConcernSubmitted,
    EventData,
    decode,
    encode,
    new_event,
)
from shared.messaging.publisher import event_message
from shared.outbox import FIELD as OUTBOX
from shared.settings import DEFAULT_DISTRICT_CONFIG
from tests.conftest import Isolation, eventually

pytestmark = pytest.mark.integration

CHICAGO = ZoneInfo("America/Chicago")
T0 = datetime(2026, 3, 10, 9, 0, tzinfo=CHICAGO)
RECIPIENTS = ("board.clerk@district.example", "chair@district.example")


def district_with_recipients(path: Path) -> Path:
    raw = yaml.safe_load(DEFAULT_DISTRICT_CONFIG.read_text())
    raw["board"] = {"packet_recipients": list(RECIPIENTS)}
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    return path


async def publish(exchange: aio_pika.abc.AbstractExchange, data: EventData, name: str) -> None:
    concern_id = getattr(data, "concern_id", None)
    event = new_event(data, source="/bureau/intake", subject=concern_id, time=T0)
    await exchange.publish(
        event_message(encode(event), event_id=event.id, event_type=event.type), routing_key=name
    )


def board_mails(sink: SmtpSink) -> list[ReceivedMail]:
    return [m for m in sink.mails if set(m.recipients) & set(RECIPIENTS)]


async def test_each_recipient_gets_one_mail_of_the_closed_month_prepared_once(
    tmp_path: Path,
    mongo_url: str,
    amqp_url: str,
    isolation: Isolation,
    mongo: AsyncMongoClient[Any],
    amqp: aio_pika.abc.AbstractRobustConnection,
    sink: SmtpSink,
) -> None:
    clock = FakeClock(T0)
    common: dict[str, Any] = {
        "mongo_url": mongo_url,
        "amqp_url": amqp_url,
        "queue_prefix": isolation.queue_prefix,
        "events_exchange": isolation.events_exchange,
        "private_exchange": isolation.private_exchange,
        "district_config": district_with_recipients(tmp_path / "district.yaml"),
        "outbox_poll_s": 0.05,
        # in the fake time: long, so that a jump of it hands no relay's batch to the other
        "outbox_lease_s": 30 * 24 * 3600,
    }
    escalation = EscalationSettings(
        **common, mongo_db=isolation.db("escalation"), scheduler_tick_s=0.02
    )
    notify = NotifySettings(
        **common, mongo_db=isolation.db("notify"), smtp_host="127.0.0.1", smtp_port=sink.port
    )
    apps = [escalation_app(escalation, clock=clock) for _ in range(2)]
    apps.append(notify_app(notify, clock=clock))
    channel = await amqp.channel()
    exchange = await channel.declare_exchange(
        isolation.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    probe = await channel.declare_queue(f"{isolation.queue_prefix}probe.board", durable=True)
    await probe.bind(exchange, routing_key="board.packet_ready")
    packets = mongo[isolation.db("escalation")][PACKETS]

    async with AsyncExitStack() as stack:
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
        contexts: list[EscalationContext] = [app.state.ctx for app in apps[:2]]

        # The first look of a new install: February, closed before it, is not mailed.
        async def february_recorded() -> dict[str, Any] | None:
            return await packets.find_one({"_id": "2026-02"})

        february = await eventually(february_recorded, what="the first look's record")
        assert february.get("skipped") is True and OUTBOX not in february

        # March: three concerns, each resolved within hours (tracking numbers and ids are
        # case content that must not reach the Board's mail).
        concerns = [str(uuid.uuid4()) for _ in range(3)]
        for i, concern_id in enumerate(concerns):
            submitted = T0 + timedelta(days=i)
            await publish(
                exchange,
                ConcernSubmitted(
                    concern_id=concern_id,
                    tracking_number=f"CS-2026-{900 + i:06d}",
                    channel=Channel.WEB,
                    category="transportation",
                    school_id="lincoln-es",
                    submitted_at=submitted,
                    resolution_due_at=submitted + timedelta(hours=72),
                ),
                "concern.submitted",
            )

        async def clocks_started() -> bool:
            return all([await contexts[0].repo.get(c) for c in concerns])

        await eventually(clocks_started, what="a clock for every concern")
        for i, concern_id in enumerate(concerns):
            resolved = ConcernResolved(
                concern_id=concern_id, resolved_at=T0 + timedelta(days=i, hours=5)
            )
            await publish(exchange, resolved, "concern.resolved")

        summaries = mongo[isolation.db("escalation")]["board_months"]

        async def resolutions_counted() -> bool:
            # counted into March's summaries after each clock's write: the month's end comes
            # hours later in life, at once here
            march = await summaries.find({"month": "2026-03", "dim": "category"}).to_list()
            return sum(d.get("resolved", 0) for d in march) == len(concerns)

        await eventually(resolutions_counted, what="March's resolutions counted")
        assert not board_mails(sink)

        # Past April 1st, 06:00 in Chicago: both replicas look at once.
        clock.advance(datetime(2026, 4, 1, 6, 0, 1, tzinfo=CHICAGO) - clock.now())

        async def one_mail_each() -> list[ReceivedMail] | None:
            mails = board_mails(sink)
            return mails if len(mails) >= len(RECIPIENTS) else None

        mails = await eventually(one_mail_each, what="the Board packet at every address")

        async def published() -> bool:
            return await packets.count_documents({f"{OUTBOX}.id": {"$exists": True}}) == 0

        await eventually(published, what="the packet's event published")
        sent = mongo[isolation.db("notify")]["deliveries"]

        async def settled() -> bool:
            kinds = await sent.find({"kind": "board_packet"}).to_list()
            return len(kinds) == len(RECIPIENTS) and all(d["status"] == "sent" for d in kinds)

        await eventually(settled, what="both deliveries settled")

        # A restart (a replica starting afresh) finds March prepared and prepares nothing.
        restarted = BoardPacketJob(ctx=contexts[1], tick_s=1.0)
        assert await restarted.run_once() is None

    events = []
    while (message := await probe.get(no_ack=True, fail=False)) is not None:
        events.append(decode(message.body))
    assert {e.data["month"] for e in events} == {"2026-03"}
    assert len({e.id for e in events}) == 1  # prepared once by the two replicas
    assert await packets.count_documents({"_id": "2026-03", "skipped": {"$ne": True}}) == 1

    mails = board_mails(sink)
    assert sorted(r for m in mails for r in m.recipients) == sorted(RECIPIENTS)  # one each
    for mail in mails:
        assert "March 2026" in mail.subject
        # three concerns: the mail leaves the bureau, so it says no count under five
        assert "Concerns received: fewer than 5; resolved: fewer than 5" in mail.text
        assert "not shown: fewer than 5 cases" in mail.text
        html = mail.message.get_body(("html",))
        assert html is not None and "March 2026" in html.get_content()
        [attached] = list(mail.message.iter_attachments())
        assert attached.get_filename() == "board-packet-2026-03.csv"
        csv_text = attached.get_content()
        csv_text = csv_text.decode() if isinstance(csv_text, bytes) else csv_text
        # the mailed CSV goes to a public meeting: 3 concerns are fewer than the district's
        # 5, so its counts are empty cells, named in its `suppressed` column
        [month_row] = [r for r in csv.DictReader(io.StringIO(csv_text)) if r["scope"] == "month"]
        assert (month_row["key"], month_row["received"], month_row["resolved"]) == (
            "2026-03",
            "",
            "",
        )
        assert "received" in month_row["suppressed"].split(";")
        whole = mail.message.as_string()
        for concern_id in concerns:
            assert concern_id not in whole
        assert "CS-2026-" not in whole
