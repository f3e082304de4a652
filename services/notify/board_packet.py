"""The Board's monthly packet by mail: `board.packet_ready` (escalation, once per closed month)
becomes one mail to each address of `board.packet_recipients` in the district file, a
plain-text and HTML summary of the month's standards and figures with the CSV attached and a
link to the full printable packet (calls, training and pledge coverage) on the web.

Aggregates only, as the event: never a case, a name or a student. Each mail is a delivery
whose id names the month and the recipient (a hash of the address, which stays out of ids and
logs), so a redelivered event mails nobody twice; it is sent, retried and recorded as every
delivery is, and publishes no `notification.*` event (it belongs to no concern).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import date
from html import escape

from services.notify.channels import Attachment
from services.notify.domain import ChannelName, DeliveryStatus, Kind, delivery_id
from services.notify.repository import NewDelivery
from shared.board import BoardConfig
from shared.disclosure import fewer_than, hidden
from shared.district import DistrictConfig
from shared.events import BoardPacketReady, BoardShortfall, BoardStandardResult, CloudEvent

SATISFACTION = "satisfaction_mean"
BACKLOG = {
    "under_24h": "under 24 hours",
    "24h_to_72h": "24 to 72 hours",
    "72h_to_7d": "72 hours to 7 days",
    "over_7d": "over 7 days",
}
SCOPES = {"school": "School", "team": "Team", "category": "Category"}


def month_name(month: str) -> str:
    """`2026-03` -> `March 2026`."""
    return date.fromisoformat(f"{month}-01").strftime("%B %Y")


def shown(value: float | None, measure: str) -> str:
    """A clock measure's value as people read it: a share in percent, or a score of 5."""
    if value is None:
        return "no data"
    if measure == SATISFACTION:
        return f"{value:.1f} of 5"
    return f"{value * 100:.0f}%"


def _kept(item: BoardStandardResult) -> str:
    return {True: "kept", False: "not kept", None: "no data"}[item.met]


def _names(district: DistrictConfig) -> dict[str, dict[str, str]]:
    return {
        "school": {
            "none": "No school (district-wide)",
            **{s.id: s.name.en for s in district.schools},
        },
        "team": {"none": "Not yet routed", **{t.id: t.name for t in district.teams}},
        "category": {"none": "No category", **{c.id: c.name.en for c in district.categories}},
    }


def _counts(counts: Mapping[str, int], words: Mapping[str, str], below: int) -> str:
    return ", ".join(f"{words.get(k, k)}: {_count(counts.get(k, 0), below)}" for k in words)


def _count(value: int, below: int) -> str:
    """A count as the mail says it: "fewer than N" for a small one (shared/disclosure.py)."""
    return fewer_than(below) if hidden(value, below) else str(value)


def summary_lines(
    data: BoardPacketReady, district: DistrictConfig, *, below: int = 0
) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """What the mail says, as (label, value) rows: the standards, then the figures; and the
    groups where a standard was not kept, in plain words. With `below` (the district's
    `board.suppress_below`), a count under it reads "fewer than N", and a share, mean or time
    from fewer cases is not shown, as on the Board's pages: the mail goes out of the bureau."""
    fig = data.figures
    few = f"not shown: {fewer_than(below)} cases"
    few_resolved, few_received = hidden(fig.resolved, below), hidden(fig.received, below)
    measures = {s.standard: s for s in data.standards}
    standards = [
        (
            s.title,
            f"{few if few_received else shown(s.value, s.measure)} "
            f"(target {shown(s.target, s.measure)}): {'not shown' if few_received else _kept(s)}",
        )
        for s in data.standards
    ]
    figures = [
        f"Concerns received: {_count(fig.received, below)}; "
        f"resolved: {_count(fig.resolved, below)}",
        f"Resolved within the {data.guarantee_hours}-hour guarantee: "
        f"{few if few_resolved else shown(fig.resolved_within_guarantee, 'share')}",
        f"Median time to resolve: {few if few_resolved else _hours(fig.median_hours_to_resolve)}"
        f"; nine in ten within {few if few_resolved else _hours(fig.p90_hours_to_resolve)}",
        "Targets missed: first response "
        f"{_count(fig.breaches.get('first_response', 0), below)}, "
        f"resolution {_count(fig.breaches.get('resolution', 0), below)}",
        "Escalations: "
        + _counts(fig.escalations, {"1": "level 1", "2": "level 2", "3": "level 3"}, below),
        "Satisfaction: "
        + (
            few
            if hidden(fig.satisfaction_responses, below)
            else shown(fig.satisfaction_mean, SATISFACTION)
        )
        + f" ({_count(fig.satisfaction_responses, below)} answers)",
        "Open at the month's end: " + _counts(fig.backlog, BACKLOG, below),
    ]
    names = _names(district)
    short = [_shortfall(s, names, measures) for s in data.shortfalls]
    return standards, figures, short


def _hours(value: float | None) -> str:
    return "no data" if value is None else f"{value:.1f} hours"


def _shortfall(
    item: BoardShortfall,
    names: Mapping[str, Mapping[str, str]],
    standards: Mapping[str, BoardStandardResult],
) -> str:
    standard = standards.get(item.standard)
    measure = standard.measure if standard else "share"
    what = standard.title if standard else item.standard
    where = names[item.scope].get(item.key, item.key)
    return (
        f"{SCOPES[item.scope]} {where}: {what}: {shown(item.value, measure)} "
        f"(target {shown(item.target, measure)})"
    )


def render(
    data: BoardPacketReady, district: DistrictConfig, link: str, *, below: int = 0
) -> tuple[str, str, str]:
    """The mail's subject, plain text and HTML (small counts suppressed under `below`)."""
    period = month_name(data.month)
    subject = f"{district.district.name}: the Board's customer-service packet for {period}"
    standards, figures, short = summary_lines(data, district, below=below)
    csv_name = attachment_name(data.month)
    note = (
        "Resolution times are counted time: on the policy's calendar, with time waiting for "
        "the family left out."
    )
    text = "\n".join(
        [
            f"Customer-service standards and figures for {period}.",
            "",
            "Standards:",
            *(f"- {name}: {value}" for name, value in standards),
            "",
            *figures,
            "",
            *(["Where a standard was not kept:", *(f"- {s}" for s in short), ""] if short else []),
            note,
            f"The full packet (with calls and training): {link}",
            f"The figures are attached as CSV ({csv_name}).",
        ]
    )
    html = "".join(
        [
            f'<!doctype html><html lang="en"><body><h1>{escape(subject)}</h1>',
            "<table><caption>Standards</caption>",
            '<tr><th scope="col">Standard</th><th scope="col">This month</th></tr>',
            *(f"<tr><td>{escape(n)}</td><td>{escape(v)}</td></tr>" for n, v in standards),
            "</table>",
            _list("Figures", figures),
            _list("Where a standard was not kept", short) if short else "",
            f"<p>{escape(note)}</p>",
            f'<p><a href="{escape(link)}">The full packet</a> (with calls and training). ',
            f"The figures are attached as CSV ({escape(csv_name)}).</p>",
            "</body></html>",
        ]
    )
    return subject, text, html


def _list(title: str, items: Iterable[str]) -> str:
    rows = "".join(f"<li>{escape(i)}</li>" for i in items)
    return f"<h2>{escape(title)}</h2><ul>{rows}</ul>"


def attachment_name(month: str) -> str:
    return f"board-packet-{month}.csv"


def recipient_key(address: str) -> str:
    """A recipient's part of a delivery id: a hash, so no address shows in ids or logs."""
    return "board-" + hashlib.sha256(address.strip().lower().encode()).hexdigest()[:16]


def deliveries(
    event: CloudEvent, data: BoardPacketReady, *, config: BoardConfig, district: DistrictConfig
) -> list[NewDelivery]:
    """One mail per configured recipient (none when the list is empty)."""
    subject, text, html = render(
        data, district, config.link(data.month), below=config.suppress_below
    )
    about = f"board-packet-{data.month}"
    attachment = Attachment(
        filename=attachment_name(data.month), content_type="text/csv", content=data.csv
    )
    return [
        NewDelivery(
            id=delivery_id(
                about, Kind.BOARD_PACKET, ChannelName.EMAIL, recipient=recipient_key(address)
            ),
            concern_id=about,
            kind=Kind.BOARD_PACKET,
            channel=ChannelName.EMAIL,
            address=str(address),
            language="en",
            recipient=recipient_key(address),
            subject=subject,
            text=text,
            html=html,
            attachments=(attachment,),
            status=DeliveryStatus.QUEUED,
            publishes=False,
            event_id=event.id,
        )
        for address in config.packet_recipients
    ]
