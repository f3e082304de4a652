"""What the email tests share: a real Dovecot IMAP server, started with a throwaway
configuration, and mail delivered into its mailbox as the district's mail server would."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from imap_tools import AND, MailBoxUnencrypted

from devtools.launcher import free_port, wait_for_port
from frontends.email.mailbox import TAKEN

IMAP_USER, IMAP_PASSWORD = "bureau", "secret"


@dataclass
class Introspection:
    """An OAuth2 token introspection endpoint (RFC 7662), as Google's or Microsoft's would
    answer Dovecot: the tokens in `valid` are active, for the mailbox `bureau`."""

    url: str
    valid: set[str] = field(default_factory=set)


@pytest.fixture
def introspection() -> Iterator[Introspection]:
    endpoint = Introspection("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            form = parse_qs(self.rfile.read(int(self.headers["Content-Length"] or 0)).decode())
            active = form.get("token", [""])[0] in endpoint.valid
            body = json.dumps({"active": active, "username": IMAP_USER}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/introspect"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def dovecot(introspection: Introspection) -> Iterator[tuple[int, Path]]:
    """A throwaway Dovecot IMAP server: one user `bureau` (password `secret`, or XOAUTH2 with a
    token `introspection` finds active), a maildir in a temporary directory, a free port.
    Answers the port and the maildir."""
    root = Path(tempfile.mkdtemp(prefix="bureau-dovecot-"))
    root.chmod(0o755)  # the mail processes run as the `dovecot` user
    port = free_port()
    maildir = root / "home" / "bureau" / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (root / "passwd").write_text("bureau:{PLAIN}secret\n")
    (root / "oauth2.conf").write_text(
        f"introspection_mode = post\nintrospection_url = {introspection.url}\n"
        "username_attribute = username\nactive_attribute = active\nactive_value = true\n"
    )
    (root / "dovecot.conf").write_text(f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain xoauth2
first_valid_uid = 1
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
  mechanisms = plain
}}
passdb {{
  driver = oauth2
  args = {root}/oauth2.conf
  mechanisms = xoauth2
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""")
    shutil.chown(root / "home", "dovecot", "dovecot")
    for path in (root / "home").rglob("*"):
        shutil.chown(path, "dovecot", "dovecot")
    subprocess.run(["dovecot", "-c", str(root / "dovecot.conf")], check=True)
    try:
        wait_for_port(port, what="dovecot")
        yield port, maildir
    finally:
        subprocess.run(["dovecot", "-c", str(root / "dovecot.conf"), "stop"], check=False)
        shutil.rmtree(root, ignore_errors=True)


def deliver(maildir: Path, name: str, raw: bytes) -> None:
    """A mail arriving in the mailbox, as the district's mail server delivers it."""
    (maildir / "tmp" / name).write_bytes(raw)
    shutil.chown(maildir / "tmp" / name, "dovecot", "dovecot")
    (maildir / "tmp" / name).rename(maildir / "new" / name)


def untaken(port: int) -> list[str]:
    """The UIDs of the mails the front door has not marked taken."""
    with MailBoxUnencrypted("127.0.0.1", port).login(IMAP_USER, IMAP_PASSWORD) as box:
        return list(box.uids(AND(no_keyword=TAKEN)))
