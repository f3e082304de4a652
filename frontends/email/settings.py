"""The email front door's settings, from the environment (12-factor)."""

from __future__ import annotations

from email.utils import parseaddr
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from frontends.common.settings import FrontendSettings


class EmailSettings(FrontendSettings):
    """Where mail arrives (an SMTP/LMTP listener, an IMAP mailbox, or both), whose it is, and
    the limits that keep noise out."""

    frontend_name: str = "email-frontend"
    port: int = 8005

    bureau_address: str = Field(
        default="Customer Service Bureau <bureau@district.example>",
        description="the bureau's address (notify's MAIL_FROM): its domain marks the bureau's "
        "own Message-IDs; mail from it is a loop",
    )
    bureau_aliases: list[str] = Field(default=[], description="more addresses of the bureau")
    default_language: Literal["en", "es"] = "en"

    email_listen_host: str = "127.0.0.1"
    email_listen_port: int = Field(
        default=0, ge=0, le=65535, description="the SMTP/LMTP listener's port; 0: no listener"
    )
    email_listen_protocol: Literal["lmtp", "smtp"] = "lmtp"

    email_authserv_id: str = Field(
        default="",
        description="the authserv-id(s) of the district's mail server, comma-separated (e.g. "
        "mx1.district.example,mx2.district.example): only its Authentication-Results are "
        "believed; unset in development: every one, and a mail without one passes",
    )

    imap_host: str | None = Field(
        default=None, description="poll this IMAP server; unset: no polling"
    )
    imap_port: int = 993
    imap_ssl: bool = True
    imap_starttls: bool = False
    imap_user: str | None = None
    imap_password: SecretStr | None = None
    imap_oauth2_token: SecretStr | None = Field(
        default=None,
        description="an OAuth2 access token (XOAUTH2: Google Workspace, "
        "Microsoft 365) instead of the password",
    )
    imap_oauth2_token_file: Path | None = Field(
        default=None,
        description="a file holding the current OAuth2 access token, read at each poll: "
        "a job or sidecar that refreshes it needs no restart",
    )
    imap_folder: str = "INBOX"
    imap_done_folder: str | None = Field(
        default=None, description="move taken mail here; unset: flag it `$BureauTaken`"
    )
    imap_poll_s: float = Field(default=30.0, gt=0)

    smtp_host: str = Field(
        default="127.0.0.1", description="the relay for the front door's own answers (as notify's)"
    )
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_tls: bool = False

    max_message_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    mails_per_sender_per_hour: int = Field(default=20, ge=1)

    @model_validator(mode="after")
    def _bureau_address_has_a_domain(self) -> EmailSettings:
        if "@" not in parseaddr(self.bureau_address)[1]:
            raise ValueError("BUREAU_ADDRESS needs an address with a domain")
        if self.imap_host and not self.imap_user:
            raise ValueError("IMAP_USER is needed with IMAP_HOST")
        reads_mail = bool(self.email_listen_port or self.imap_host)
        if reads_mail and self.environment != "development" and not self.trusted_authserv_ids:
            raise ValueError(
                "set EMAIL_AUTHSERV_ID outside development: the authserv-id of the district's "
                "mail server, whose Authentication-Results say whether a sender is forged"
            )
        if self.imap_oauth2_token is not None and self.imap_oauth2_token_file is not None:
            raise ValueError("set IMAP_OAUTH2_TOKEN or IMAP_OAUTH2_TOKEN_FILE, not both")
        return self

    def oauth2_token(self) -> str | None:
        """The OAuth2 access token to log in with now (the file's, as refreshed), if any."""
        if self.imap_oauth2_token_file is not None:
            return self.imap_oauth2_token_file.read_text(encoding="utf-8").strip()
        if self.imap_oauth2_token is not None:
            return self.imap_oauth2_token.get_secret_value()
        return None

    @property
    def trusted_authserv_ids(self) -> frozenset[str] | None:
        """Whose Authentication-Results to believe; None (development, none set): any."""
        ids = frozenset(i.strip().lower() for i in self.email_authserv_id.split(",") if i.strip())
        return None if not ids and self.environment == "development" else ids

    @property
    def own_addresses(self) -> frozenset[str]:
        return frozenset(
            parseaddr(a)[1].lower() for a in [self.bureau_address, *self.bureau_aliases]
        )

    @property
    def bureau_domain(self) -> str:
        return parseaddr(self.bureau_address)[1].rpartition("@")[2].lower()
