"""A local SMTP server that keeps every mail it receives, as `.eml` files and in memory.

Run alone: `python -m devtools.smtp_sink --port 1025 --dir var/mail`.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import threading
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class ReceivedMail:
    sender: str
    recipients: tuple[str, ...]
    message: EmailMessage
    received_at: float

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = (
            envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        )
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self._sink.store(
            ReceivedMail(envelope.mail_from, tuple(envelope.rcpt_tos), message, time.time()), raw
        )
        return "250 Message accepted for delivery"


class SmtpSink:
    """A real SMTP server on 127.0.0.1 that records what it receives."""

    def __init__(self, port: int = 0, directory: Path | None = None) -> None:
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=port)
        self.directory = directory
        self.mails: list[ReceivedMail] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def start(self) -> SmtpSink:
        if self._controller.port == 0:
            from devtools.launcher import free_port

            self._controller.port = free_port()
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def store(self, mail: ReceivedMail, raw: bytes) -> None:
        if self.directory is not None:
            name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
            (self.directory / name).write_bytes(raw)
        with self._arrived:
            self.mails.append(mail)
            self._arrived.notify_all()

    def wait_for(self, predicate: Any, timeout_s: float = 30.0) -> list[ReceivedMail]:
        """Block until some received mails satisfy `predicate(mail)`; returns them."""
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while True:
                found = [m for m in self.mails if predicate(m)]
                if found:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("no matching mail arrived")
                self._arrived.wait(remaining)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", type=Path, default=Path("var/mail"))
    args = parser.parse_args()
    sink = SmtpSink(args.port, args.dir).start()
    print(f"SMTP sink on 127.0.0.1:{sink.port}, mails stored in {args.dir}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        sink.stop()


if __name__ == "__main__":
    main()
