"""Receiving by polling an IMAP mailbox (imap-tools): what is taken is marked in the mailbox
itself (the keyword `$BureauTaken`, or a move to IMAP_DONE_FOLDER), after it is taken, so a
restart takes nothing twice: a mail taken but not yet marked when the process died is taken
again, and intake answers the concern or message it already made (the same Idempotency-Key,
the same Message-ID). A mail that cannot be taken (a 5xx of intake for it alone, a bug) stays
unmarked and is tried after the others at each poll: it never holds up the mail behind it.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

from imap_tools import AND, BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted
from prometheus_client import Counter, Gauge

from frontends.common.intake import IntakeUnavailable
from frontends.email.handlers import MailDesk
from frontends.email.settings import EmailSettings

log = logging.getLogger(__name__)

TAKEN = "$BureauTaken"

POLLS = Counter(
    "bureau_email_mailbox_polls_total",
    "Polls of the mailbox; failed: the server away, a login or token refused",
    ["result"],
)
LAST_READ = Gauge(
    "bureau_email_mailbox_last_read_timestamp_seconds",
    "When the mailbox was last read to the end (alert when it falls behind)",
)


def _connect(settings: EmailSettings) -> BaseMailBox:
    host, port, timeout = settings.imap_host or "", settings.imap_port, settings.io_timeout_s
    box: BaseMailBox
    if settings.imap_ssl:
        box = MailBox(host, port, timeout=timeout, ssl_context=ssl.create_default_context())
    elif settings.imap_starttls:
        box = MailBoxStartTls(host, port, timeout=timeout, ssl_context=ssl.create_default_context())
    else:
        box = MailBoxUnencrypted(host, port, timeout=timeout)
    user = settings.imap_user or ""
    token = settings.oauth2_token()  # read at each poll: a refreshed token is used at once
    if token is not None:
        return box.xoauth2(user, token, initial_folder=settings.imap_folder)
    password = settings.imap_password.get_secret_value() if settings.imap_password else ""
    return box.login(user, password, initial_folder=settings.imap_folder)


def _fetch_raw(box: BaseMailBox, uid: str) -> bytes | None:
    _status, data = box.client.uid("fetch", uid, "(BODY.PEEK[])")
    for item in data or []:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return None


def _mark(box: BaseMailBox, uid: str, settings: EmailSettings) -> None:
    if settings.imap_done_folder:
        box.move(uid, settings.imap_done_folder)
    else:
        box.flag(uid, TAKEN, True)


class MailboxPoller:
    """Polls the mailbox every IMAP_POLL_S seconds (and on `poke`)."""

    def __init__(self, desk: MailDesk, settings: EmailSettings) -> None:
        self._desk = desk
        self._settings = settings
        self._wake = asyncio.Event()
        self.polls = 0
        self.last_error: str | None = None
        self._failing: set[str] = set()  # UIDs whose taking failed: tried after the others

    def poke(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                await self.poll_once()
                self.last_error = None
                POLLS.labels("ok").inc()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the server away, a login refused: try again later
                self.last_error = type(exc).__name__
                POLLS.labels("failed").inc()
                log.warning("mailbox poll failed", extra={"error": type(exc).__name__})
            self.polls += 1
            try:
                await asyncio.wait_for(self._wake.wait(), self._settings.imap_poll_s)
            except TimeoutError:
                pass
            self._wake.clear()

    async def poll_once(self) -> int:
        """Take every mail not yet taken; answers how many were taken."""
        box = await asyncio.to_thread(_connect, self._settings)
        taken = 0
        try:
            criteria = "ALL" if self._settings.imap_done_folder else AND(no_keyword=TAKEN)
            uids = await asyncio.to_thread(box.uids, criteria)
            self._failing &= set(uids)
            # a mail that failed before goes last: it never holds up the mail behind it
            for uid in sorted(uids, key=lambda u: u in self._failing):
                raw = await asyncio.to_thread(_fetch_raw, box, uid)
                if raw is None:
                    continue
                try:
                    await self._desk.take(raw)
                except IntakeUnavailable:
                    self._failing.add(uid)
                    log.warning("intake unavailable; the mail stays for the next poll")
                    break
                except Exception as exc:  # this mail only: the others are taken
                    self._failing.add(uid)
                    log.error(
                        "mail not taken; it stays for the next poll",
                        extra={"error": type(exc).__name__},
                    )
                    continue
                self._failing.discard(uid)
                await asyncio.to_thread(_mark, box, uid, self._settings)
                taken += 1
        finally:
            await asyncio.to_thread(_logout, box)
        if not self._failing:
            LAST_READ.set_to_current_time()
        return taken


def _logout(box: BaseMailBox) -> None:
    try:
        box.logout()
    except Exception:  # the connection is gone already
        pass
