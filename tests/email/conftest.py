"""What the email tests share: a real Dovecot IMAP server, started with a throwaway
configuration, and mail delivered into its mailbox as the district's mail server would."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from imap_tools import AND, MailBoxUnencrypted

from devtools.launcher import free_port, wait_for_port
from frontends.email.mailbox import TAKEN

IMAP_USER, IMAP_PASSWORD = "bureau", "secret"


@pytest.fixture
def dovecot() -> Iterator[tuple[int, Path]]:
    """A throwaway Dovecot IMAP server: one user `bureau` (password `secret`), a maildir in a
    temporary directory, a free port. Answers the port and the maildir."""
    root = Path(tempfile.mkdtemp(prefix="bureau-dovecot-"))
    root.chmod(0o755)  # the mail processes run as the `dovecot` user
    port = free_port()
    maildir = root / "home" / "bureau" / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (root / "passwd").write_text("bureau:{PLAIN}secret\n")
    (root / "dovecot.conf").write_text(f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = 1
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
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
