"""The Board's monthly packet: which month is due when (fake clock), each month once; the
event made of a month's Board report; the mail made of the event (aggregates only, CSV
attached); the `board:` section as `bureau config check` reads it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from devtools import cli
from services.escalation.board_mail import due_month, label, packet_of
from services.notify import board_packet
from services.notify.channels import Attachment, OutgoingMessage, SmtpEmailChannel
from services.notify.domain import Kind
from shared.board import BoardConfig
from shared.clock import FakeClock
from shared.district import load_district
from shared.events import BoardPacketReady, new_event
from shared.settings import DEFAULT_DISTRICT_CONFIG

pytestmark = pytest.mark.unit

CHICAGO = ZoneInfo("America/Chicago")
DISTRICT = load_district(DEFAULT_DISTRICT_CONFIG)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHICAGO)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (local(2026, 12, 1, 5, 59), date(2026, 10, 1)),  # November's is not due before 06:00
        (local(2026, 12, 1, 6, 0), date(2026, 11, 1)),
        (local(2026, 12, 17, 15, 0), date(2026, 11, 1)),
        (local(2027, 1, 1, 6, 0), date(2026, 12, 1)),  # across the year's end
        (local(2026, 3, 1, 6, 0), date(2026, 2, 1)),
    ],
)
def test_the_month_due_is_the_last_one_whose_first_of_the_following_month_6am_has_passed(
    now: datetime, due: date
) -> None:
    assert due_month(now, CHICAGO) == due
    assert due_month(now.astimezone(UTC), CHICAGO) == due  # the district's time, not UTC's


def test_each_month_falls_due_once_at_6am_district_time_on_the_first() -> None:
    """Hour by hour over a quarter, with each month prepared the first time it is due (as the
    job's insert keyed by the month does): each month once, in order, at 06:00 local."""
    clock = FakeClock(local(2026, 10, 15, 0, 0))
    prepared: dict[str, datetime] = {}
    while clock.now() < local(2027, 1, 20):
        month = label(due_month(clock.now(), CHICAGO))
        prepared.setdefault(month, clock.now())
        clock.advance(timedelta(minutes=30))
    assert list(prepared) == ["2026-09", "2026-10", "2026-11", "2026-12"]
    assert prepared["2026-10"] == local(2026, 11, 1, 6, 0)  # across the end of daylight time
    assert prepared["2026-11"] == local(2026, 12, 1, 6, 0)
    assert prepared["2026-12"] == local(2027, 1, 1, 6, 0)


def standard(id_: str, measure: str, target: float, value: float | None) -> dict[str, Any]:
    met = None if value is None else value >= target
    return {
        "standard": id_,
        "name": f"The {id_} standard",
        "measure": measure,
        "target": target,
        "value": value,
        "met": met,
    }


FIGURES: dict[str, Any] = {
    "received": 41,
    "resolved": 37,
    "resolved_within_guarantee": 0.8649,
    "resolved_within_target": 0.9,
    "first_response_within_target": 0.97,
    "median_hours_to_resolve": 20.5,
    "p90_hours_to_resolve": 70.0,
    "breaches": {"first_response": 1, "resolution": 5},
    "escalations": {"1": 4, "2": 1, "3": 0},
    "satisfaction_responses": 12,
    "satisfaction_mean": 4.25,
    "backlog": {"under_24h": 2, "24h_to_72h": 1, "72h_to_7d": 0, "over_7d": 1},
}


def a_report() -> dict[str, Any]:
    """What `board.board_figures` answers for one month (the shape the Board report has)."""
    month_standards = [
        standard("resolve-72h", "resolved_within_guarantee", 0.9, 0.8649),
        standard("satisfaction", "satisfaction_mean", 4.0, 4.25),
    ]

    def group(key: str, resolve: float) -> dict[str, Any]:
        return {
            "key": key,
            **FIGURES,
            "standards": [standard("resolve-72h", "resolved_within_guarantee", 0.9, resolve)],
        }

    return {
        "from": "2026-11",
        "to": "2026-11",
        "period_start": local(2026, 11, 1),
        "period_end": local(2026, 12, 1),
        "as_of": local(2026, 12, 1),
        "guarantee_hours": 72,
        "counted_time": "...",
        "standards": [
            {"id": "resolve-72h", "measure": "resolved_within_guarantee"},
            {"id": "satisfaction", "measure": "satisfaction_mean"},
            {"id": "answer-calls", "measure": "calls_answered"},
        ],
        "adopted_on": None,
        "milestones": [],
        "months": [{"month": "2026-11", **FIGURES, "backlog": {}, "standards": month_standards}],
        "total": {**FIGURES, "standards": month_standards},
        "breakdown": {
            "school": [group("lincoln-es", 0.95), group("none", 0.5)],
            "team": [group("transportation", 0.7)],
            "category": [group("enrollment", 0.92)],
        },
    }


def test_the_packet_event_carries_the_month_figures_standards_shortfalls_and_csv() -> None:
    packet = packet_of(a_report(), month="2026-11", prepared_at=local(2026, 12, 1, 6))

    assert (packet.month, packet.figures.received, packet.figures.backlog["over_7d"]) == (
        "2026-11",
        41,
        1,
    )
    assert [(s.standard, s.met) for s in packet.standards] == [
        ("resolve-72h", False),
        ("satisfaction", True),
    ]
    assert [(s.scope, s.key) for s in packet.shortfalls] == [
        ("school", "none"),
        ("team", "transportation"),
    ]
    rows = packet.csv.splitlines()
    assert rows[0].startswith("scope,key,received")
    assert "resolve-72h" in rows[0] and "answer-calls" not in rows[0]  # clock standards only
    assert [r.split(",")[0] for r in rows[1:]] == [
        "month",
        "school",
        "school",
        "team",
        "category",
        "total",
    ]
    # the contract accepts it on the public exchange
    event = new_event(packet, source="/bureau/escalation", subject="board-packet-2026-11")
    assert BoardPacketReady.model_validate(event.data) == packet


RECIPIENTS = BoardConfig(
    packet_recipients=("board.clerk@district.example", "chair@district.example")
).at("https://bureau.district.example")


def test_each_recipient_gets_one_mail_with_the_summary_the_csv_and_the_packet_link() -> None:
    packet = packet_of(a_report(), month="2026-11", prepared_at=local(2026, 12, 1, 6))
    event = new_event(packet, source="/bureau/escalation", subject="board-packet-2026-11")

    mails = board_packet.deliveries(event, packet, config=RECIPIENTS, district=DISTRICT)

    assert [m.address for m in mails] == list(RECIPIENTS.packet_recipients)
    assert len({m.id for m in mails}) == 2
    assert all("@" not in m.id and m.kind is Kind.BOARD_PACKET for m in mails)
    assert not any(m.publishes for m in mails)  # no concern to tell of a notification
    mail = mails[0]
    assert "November 2026" in mail.subject
    assert "The resolve-72h standard: 86% (target 90%): not kept" in mail.text
    assert "Concerns received: 41; resolved: 37" in mail.text
    assert "Team Transportation" in mail.text  # a shortfall named as the Board reads it
    link = "https://bureau.district.example/staff/board/packet?month=2026-11"
    assert link in mail.text and f'href="{link}"' in (mail.html or "")
    assert "<td>The resolve-72h standard</td>" in (mail.html or "")
    assert mail.attachments == (
        Attachment(
            filename="board-packet-2026-11.csv", content_type="text/csv", content=packet.csv
        ),
    )
    # a redelivered event plans the same deliveries: recorded once, mailed once
    again = board_packet.deliveries(event, packet, config=RECIPIENTS, district=DISTRICT)
    assert [m.id for m in again] == [m.id for m in mails]


def test_the_mail_says_no_small_count_nor_a_share_of_fewer_cases() -> None:
    packet = packet_of(a_report(), month="2026-11", prepared_at=local(2026, 12, 1, 6))
    small = packet.model_copy(
        update={
            "figures": packet.figures.model_copy(
                update={"resolved": 4, "satisfaction_responses": 2, "satisfaction_mean": 5.0}
            )
        }
    )
    event = new_event(small, source="/bureau/escalation", subject="board-packet-2026-11")

    [mail, _] = board_packet.deliveries(event, small, config=RECIPIENTS, district=DISTRICT)

    assert "Concerns received: 41; resolved: fewer than 5" in mail.text
    assert "guarantee: not shown: fewer than 5 cases" in mail.text
    assert "Satisfaction: not shown: fewer than 5 cases (fewer than 5 answers)" in mail.text
    assert "5.0 of 5" not in mail.text
    exact = RECIPIENTS.model_copy(update={"suppress_below": 0})  # the district turned it off
    [mail, _] = board_packet.deliveries(event, small, config=exact, district=DISTRICT)
    assert "resolved: 4" in mail.text and "5.0 of 5 (2 answers)" in mail.text


def test_nobody_is_mailed_when_the_list_is_empty() -> None:
    packet = packet_of(a_report(), month="2026-11", prepared_at=local(2026, 12, 1, 6))
    event = new_event(packet, source="/bureau/escalation", subject="board-packet-2026-11")
    assert board_packet.deliveries(event, packet, config=BoardConfig(), district=DISTRICT) == []


def test_the_mail_has_text_html_and_the_csv_attached() -> None:
    channel = SmtpEmailChannel(
        host="127.0.0.1", port=25, mail_from="Bureau <bureau@district.example>", timeout_s=1.0
    )
    mail: EmailMessage = channel.build(
        OutgoingMessage(
            delivery_id="board-packet-2026-11:board_packet:email:board-0123",
            to="chair@district.example",
            to_name=None,
            subject="Packet",
            text="Plain summary",
            html="<p>HTML summary</p>",
            attachments=(Attachment("board-packet-2026-11.csv", "text/csv", "scope,key\r\n"),),
            language="en",
            created_at=datetime(2026, 12, 1, 12, tzinfo=UTC),
        )
    )
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content().strip() == "Plain summary"
    assert "HTML summary" in html.get_content()
    [attached] = list(mail.iter_attachments())
    assert attached.get_filename() == "board-packet-2026-11.csv"
    assert attached.get_content_type() == "text/csv"
    assert attached.get_content().splitlines() == ["scope,key"]


@pytest.mark.parametrize(
    "recipients",
    [["not-an-address"], ["chair@district.example", "Chair@district.example"]],
)
def test_config_check_refuses_a_bad_board_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], recipients: list[str]
) -> None:
    raw = yaml.safe_load(DEFAULT_DISTRICT_CONFIG.read_text())
    raw["board"] = {"packet_recipients": recipients}
    broken = tmp_path / "district.yaml"
    broken.write_text(yaml.safe_dump(raw))

    assert cli.main(["config", "check", str(broken)]) == 1
    assert "board" in capsys.readouterr().err


def test_the_example_district_mails_the_packet_to_nobody() -> None:
    assert DISTRICT.section("board", BoardConfig).packet_recipients == ()
