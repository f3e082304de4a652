"""Local stand-ins for what lies outside the bureau: an SMS provider and a webhook receiver.

Real HTTP servers on 127.0.0.1 (a thread each), for tests and for trying notify on one
machine. The SMS stand-in speaks Twilio's REST shape; the webhook receiver verifies each
signature the way a district system would.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlparse

from services.notify import signing


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


class _Server:
    """A threaded HTTP server whose requests go to `handle(method, path, headers, body)`."""

    def __init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                answer = owner.handle(self.path, dict(self.headers.items()), body)
                data = json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: tests read what was recorded

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self.lock = threading.Lock()
        self._answers: list[Answer] = []

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def answer_next(
        self, status: int, body: dict[str, Any] | None = None, *, times: int = 1
    ) -> None:
        """The next `times` requests get this answer instead of a success."""
        with self.lock:
            self._answers += [Answer(status, body or {})] * times

    def _planned(self) -> Answer | None:
        with self.lock:
            return self._answers.pop(0) if self._answers else None

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        raise NotImplementedError


@dataclass(frozen=True)
class Sms:
    account_sid: str
    to: str
    sender: str
    body: str
    authorized: bool


class SmsProviderStandIn(_Server):
    """`POST /2010-04-01/Accounts/{sid}/Messages.json` with basic auth, like Twilio."""

    def __init__(self, *, account_sid: str = "AC" + "0" * 32, auth_token: str = "secret") -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[Sms] = []
        self.refused: list[Sms] = []

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        parts = urlparse(path).path.strip("/").split("/")
        lowered = {k.lower(): v for k, v in headers.items()}
        expected = (
            "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        )
        authorized = lowered.get("authorization") == expected
        if (
            len(parts) != 4
            or parts[:2] != ["2010-04-01", "Accounts"]
            or parts[3] != "Messages.json"
        ):
            return Answer(404, {"code": 20404, "message": "not found", "status": 404})
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        sms = Sms(
            account_sid=parts[2],
            to=form.get("To", ""),
            sender=form.get("From", ""),
            body=form.get("Body", ""),
            authorized=authorized,
        )
        if not authorized or parts[2] != self.account_sid:
            with self.lock:
                self.refused.append(sms)
            return Answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
        planned = self._planned()
        if planned is not None:
            with self.lock:
                self.refused.append(sms)
            return planned
        with self.lock:
            self.messages.append(sms)
        return Answer(
            201,
            {"sid": "SM" + uuid.uuid4().hex, "status": "queued", "to": sms.to, "body": sms.body},
        )


@dataclass(frozen=True)
class Webhook:
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


class WebhookReceiver(_Server):
    """A district system: keeps every POST and whether its signature verified."""

    def __init__(self, secret: str, *, now: Callable[[], datetime] | None = None) -> None:
        super().__init__()
        self.secret = secret
        self._now = now or (lambda: datetime.now(UTC))
        self.received: list[Webhook] = []

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        lowered = {k.lower(): v for k, v in headers.items()}
        verified = signing.verify(
            self.secret,
            body,
            timestamp=lowered.get(signing.TIMESTAMP_HEADER.lower()),
            signature=lowered.get(signing.SIGNATURE_HEADER.lower()),
            now=self._now(),
        )
        with self.lock:
            self.received.append(Webhook(lowered, body, verified))
        planned = self._planned()
        if planned is not None:
            return planned
        return Answer(200 if verified else 401, {"ok": verified})
