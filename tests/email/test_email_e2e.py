"""The email front door against the running bureau: real LMTP sessions to its listener, a real
Dovecot IMAP server it polls, the acknowledgement caught by the test's SMTP server."""

# ruff: noqa: F811  (fixtures imported from tests.e2e.conftest are parameters here)

from __future__ import annotations

import asyncio
import re
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import httpx
import pytest
from imap_tools import MailBoxUnencrypted

from devtools.bureau import LocalBureau
from devtools.launcher import free_port
from devtools.smtp_sink import ReceivedMail
from frontends.email.mailbox import TAKEN
from tests.e2e.conftest import STAFF, bureau, eventually, http  # noqa: F401
from tests.email.conftest import deliver, untaken

pytestmark = pytest.mark.e2e

CORPUS = Path(__file__).parent / "corpus"
BUREAU = "bureau@district.example"


def lmtp_send(port: int, raw: bytes, sender: str, recipient: str = BUREAU) -> None:
    """One LMTP session delivering one mail; raises unless every recipient got a 250."""
    crlf = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")  # as mail servers send it
    with smtplib.LMTP("127.0.0.1", port) as session:
        refused = session.sendmail(sender, [recipient], crlf)
        assert not refused


async def concerns(bureau: LocalBureau, client: httpx.AsyncClient) -> list[dict[str, Any]]:
    answer = await client.get(
        f"{bureau.url('intake')}/v1/concerns",
        params={"channel": "email", "limit": 100},
        headers=STAFF,
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


async def metric(bureau: LocalBureau, client: httpx.AsyncClient, name: str) -> float:
    text = (await client.get(f"{bureau.url('email')}/metrics")).text
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def mail_to(bureau: LocalBureau, address: str, what: str) -> ReceivedMail:
    assert bureau.smtp is not None
    found = await asyncio.to_thread(
        bureau.smtp.wait_for, lambda m: m.recipients == (address,) and what in m.subject, 30
    )
    return found[0]


def reply_to(mail: ReceivedMail, text: str, *, sender: str, auto: bool = False) -> bytes:
    """What a mail client sends when its user answers `mail` (quoting it)."""
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = BUREAU
    reply["Subject"] = f"Re: {mail.subject}"
    reply["Message-ID"] = make_msgid(domain="example.org")
    reply["In-Reply-To"] = mail.message["Message-ID"]
    reply["References"] = f"{mail.message['References']} {mail.message['Message-ID']}"
    if auto:
        reply["Auto-Submitted"] = "auto-replied"
    quoted = "\n".join(f"> {line}" for line in mail.text.splitlines())
    reply.set_content(
        f"{text}\n\nOn Tue, Dec 1, 2026 at 8:03 AM Bureau <{BUREAU}> wrote:\n{quoted}\n"
    )
    return reply.as_bytes()


async def test_mail_becomes_a_concern_acknowledged_in_its_thread_with_reply_bounce_and_files(
    bureau: LocalBureau, http: httpx.AsyncClient
) -> None:
    port = free_port()
    bureau.start_frontends(
        ("email",), env={"EMAIL_LISTEN_PORT": str(port), "BUREAU_ADDRESS": f"Bureau <{BUREAU}>"}
    )
    maria = "maria.gonzalez@example.org"
    await asyncio.to_thread(lmtp_send, port, (CORPUS / "new_plain_en.eml").read_bytes(), maria)

    [case] = await concerns(bureau, http)
    assert case["channel"] == "email" and case["category"] == "uncategorized"
    ack = await mail_to(bureau, maria, case["tracking_number"])
    # it answers Maria's own mail, in its thread, and names the concern's thread too
    parent = "<CAF7k2x9Q@mail.example.org>"
    root = f"<concern.{case['id']}@district.example>"
    assert ack.message["In-Reply-To"] == parent
    assert ack.message["References"].split() == [root, parent]
    assert ack.message["Reply-To"] is not None
    assert "do not reply" not in ack.text

    async def routed() -> dict[str, Any] | None:
        full = (
            await http.get(f"{bureau.url('intake')}/v1/concerns/{case['id']}", headers=STAFF)
        ).json()
        return full if full.get("team") else None

    full = await eventually(routed, what="triage of an uncategorized concern")
    assert full["team"]["id"] == "service-desk"  # the district's fallback team
    assert "skipped our stop" in full["description"]
    assert "555-0123" not in full["description"]  # the signature stays out

    reply = reply_to(ack, "The bus came today, but 25 minutes late.", sender=maria)
    await asyncio.to_thread(lmtp_send, port, reply, maria)
    full = (
        await http.get(f"{bureau.url('intake')}/v1/concerns/{case['id']}", headers=STAFF)
    ).json()
    assert [(m["author"], m["text"]) for m in full["messages"]] == [
        ("requester", "The bus came today, but 25 minutes late.")
    ]

    out_of_office = reply_to(ack, "I am away until Monday.", sender=maria, auto=True)
    await asyncio.to_thread(lmtp_send, port, out_of_office, maria)
    # the listener answered 250 only after deciding: the decision is already counted
    assert await metric(bureau, http, 'bureau_email_ignored_total{reason="auto_reply"}') == 1
    assert len(await concerns(bureau, http)) == 1
    full = (
        await http.get(f"{bureau.url('intake')}/v1/concerns/{case['id']}", headers=STAFF)
    ).json()
    assert len(full["messages"]) == 1
    assert await metric(bureau, http, "bureau_email_created_total") == 1
    assert await metric(bureau, http, 'bureau_email_threaded_total{outcome="threaded"}') == 1

    # staff ask a question: the request lands in Maria's thread too, and her answer to it
    # lands in the concern and ends the wait
    asked = await http.post(
        f"{bureau.url('intake')}/v1/concerns/{case['id']}/request-information",
        headers=STAFF,
        json={"message": "Which stop does your child take?"},
    )
    assert asked.status_code == 200, asked.text
    assert asked.json()["status"] == "awaiting_requester"
    request = await mail_to(bureau, maria, "more information")
    assert case["tracking_number"] in request.subject
    assert request.message["In-Reply-To"] == parent
    assert request.message["References"].split() == [root, parent]
    assert request.message["Message-ID"] != ack.message["Message-ID"]
    assert "Which stop does your child take?" in request.text
    assert "You can reply to this message" in request.text

    her_answer = reply_to(request, "The stop at Oak and 5th.", sender=maria)
    await asyncio.to_thread(lmtp_send, port, her_answer, maria)
    full = (
        await http.get(f"{bureau.url('intake')}/v1/concerns/{case['id']}", headers=STAFF)
    ).json()
    assert [(m["author"], m["text"]) for m in full["messages"]][-2:] == [
        ("staff", "Which stop does your child take?"),
        ("requester", "The stop at Oak and 5th."),
    ]
    assert full["status"] == "acknowledged"  # no longer waiting on Maria
    assert await metric(bureau, http, 'bureau_email_threaded_total{outcome="threaded"}') == 2

    # the acknowledgement bounced: the case shows it, without the address
    bounce = (
        (CORPUS / "bounce_dsn.eml")
        .read_bytes()
        .replace(
            b"<0b8d7c36-8a6e-4d3e-9f5a-2c1e0d9b7a11.bb2c1e0d9b7a4f5e8d3c2b1a0f9e8d7c@district.example>",
            str(ack.message["Message-ID"]).encode(),
        )
    )
    await asyncio.to_thread(lmtp_send, port, bounce, "")
    timeline = (
        await http.get(f"{bureau.url('intake')}/v1/concerns/{case['id']}/timeline", headers=STAFF)
    ).json()
    assert [e["status"] for e in timeline if e["kind"] == "delivery_bounced"] == ["5.1.1"]

    # ... and notify's delivery of it is failed, as staff see on the case's deliveries
    async def ack_failed() -> dict[str, Any] | None:
        deliveries = (
            await http.get(
                f"{bureau.url('notify')}/v1/concerns/{case['id']}/deliveries", headers=STAFF
            )
        ).json()
        [delivery] = [d for d in deliveries if d["kind"] == "acknowledgement"]
        return delivery if delivery["status"] == "failed" else None

    failed = await eventually(ack_failed, what="the bounced acknowledgement marked failed")
    assert failed["failed_at"] and failed["sent_at"]
    assert failed["last_error"] == "bounced (status 5.1.1)"

    # a second mail, with files: kept with its concern; the refused one is answered
    first = case
    raw = (CORPUS / "new_with_attachments.eml").read_bytes()
    await asyncio.to_thread(lmtp_send, port, raw, maria)
    await asyncio.to_thread(lmtp_send, port, raw, maria)  # the server delivered it twice

    [case] = [c for c in await concerns(bureau, http) if c["id"] != first["id"]]
    listed = (
        await http.get(
            f"{bureau.url('intake')}/v1/concerns/{case['id']}/attachments", headers=STAFF
        )
    ).json()
    assert [(a["filename"], a["content_type"]) for a in listed] == [
        ("letter.pdf", "application/pdf"),
        ("notice.png", "image/png"),
    ]
    pdf = await http.get(
        f"{bureau.url('intake')}/v1/concerns/{case['id']}/attachments/{listed[0]['id']}",
        headers=STAFF,
    )
    assert pdf.content.startswith(b"%PDF-1.4")
    answer = await mail_to(bureau, maria, "not accepted")
    assert "run.exe" in answer.text and case["tracking_number"] in answer.subject
    assert answer.message["In-Reply-To"] == "<att-001@mail.example.org>"
    assert answer.message["Auto-Submitted"] == "auto-replied"


def parent_mail(n: int) -> bytes:
    raw = (CORPUS / "new_plain_en.eml").read_bytes()
    raw = raw.replace(b"Maria.Gonzalez@example.org", f"parent{n}@example.org".encode())
    return raw.replace(b"<CAF7k2x9Q@mail.example.org>", f"<parent-{n}@example.org>".encode())


async def test_mailbox_polling_takes_each_mail_once_across_a_restart_mid_poll(
    bureau: LocalBureau, http: httpx.AsyncClient, dovecot: tuple[int, Path]
) -> None:
    port, maildir = dovecot
    parents = 6
    for n in range(parents):
        deliver(maildir, f"{n}.eml", parent_mail(n))
    deliver(maildir, "ooo.eml", (CORPUS / "out_of_office_outlook.eml").read_bytes())
    bureau.start_frontends(
        ("email",),
        env={
            "IMAP_HOST": "127.0.0.1",
            "IMAP_PORT": str(port),
            "IMAP_SSL": "false",
            "IMAP_USER": "bureau",
            "IMAP_PASSWORD": "secret",
            "IMAP_POLL_S": "0.3",
            "BUREAU_ADDRESS": f"Bureau <{BUREAU}>",
        },
    )

    async def some_taken() -> list[dict[str, Any]] | None:
        return await concerns(bureau, http) or None

    await eventually(some_taken, what="a first concern from the mailbox")
    bureau.services["email"].kill()  # in the middle of the poll
    await asyncio.to_thread(bureau.restart, "email")

    async def all_taken() -> bool:
        return not await asyncio.to_thread(untaken, port)

    await eventually(all_taken, what="every mail taken")
    # a mail taken but not yet marked when the process died is taken again: unmark one
    with MailBoxUnencrypted("127.0.0.1", port).login("bureau", "secret") as box:
        box.flag(box.uids("ALL")[0], TAKEN, False)
    await eventually(all_taken, what="the unmarked mail taken again")

    found = await concerns(bureau, http)
    assert len(found) == parents
    assert len({c["tracking_number"] for c in found}) == parents
    assert bureau.smtp is not None
    for n in range(parents):
        acks = await asyncio.to_thread(
            bureau.smtp.wait_for, lambda m, n=n: m.recipients == (f"parent{n}@example.org",), 30
        )
        assert len(acks) == 1
