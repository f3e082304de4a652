"""The `board:` section of the district file: who receives the Board's monthly packet by mail.

Read by escalation (a packet is prepared each month only when someone is to receive it) and by
notify (whom it mails, and the link to the printable packet on the web)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

PUBLIC_BASE_URL = "{public_base_url}"
"""In the link: the web frontend's address (notify's PUBLIC_BASE_URL setting), as in notify's."""


class BoardConfig(BaseModel):
    """`board:` in deploy/district.yaml."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    packet_recipients: tuple[EmailStr, ...] = Field(
        default=(),
        description="addresses mailed the Board's packet of each closed month (none: no mail)",
    )
    packet_url: str = Field(
        default=f"{PUBLIC_BASE_URL}/staff/board/packet?month={{month}}",
        description="the printable packet on the web; `{month}` is replaced, and "
        f"`{PUBLIC_BASE_URL}` by notify's PUBLIC_BASE_URL setting",
    )

    suppress_below: int = Field(
        default=5,
        ge=0,
        description="the Board's group figures (by school, team, category, month) show no "
        "count under this number and no share or mean from fewer cases (0: off)",
    )

    @field_validator("packet_recipients")
    @classmethod
    def _unique(cls, addresses: tuple[str, ...]) -> tuple[str, ...]:
        lowered = [a.lower() for a in addresses]
        if len(set(lowered)) != len(lowered):
            raise ValueError("an address is listed twice")
        return addresses

    @field_validator("packet_url")
    @classmethod
    def _http(cls, url: str) -> str:
        if not url.startswith(("http://", "https://", PUBLIC_BASE_URL)):
            raise ValueError("packet_url must be an http(s) URL")
        return url

    def at(self, public_base_url: str) -> BoardConfig:
        """This section with `{public_base_url}` in its link replaced."""
        url = self.packet_url.replace(PUBLIC_BASE_URL, public_base_url.rstrip("/"))
        return self.model_copy(update={"packet_url": url})

    def link(self, month: str) -> str:
        """The printable packet of a month (`2026-03`)."""
        return self.packet_url.replace("{month}", month)
