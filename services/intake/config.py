"""Intake's section of the district configuration (`intake:` in deploy/district.yaml)."""

from __future__ import annotations

import hashlib
import hmac

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Open311Client(_Config):
    """An Open311 client allowed to file requests. Only the key's SHA-256 is configured, so
    the district file can be committed without secrets."""

    client: str = Field(description="who holds the key, e.g. `city-311-app`")
    key_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


# The key deploy/district.yaml ships for development ("development-open311-key"): public, so
# never accepted outside development (Security #6).
EXAMPLE_KEY_SHA256 = hashlib.sha256(b"development-open311-key").hexdigest()


class Open311Config(_Config):
    jurisdiction_id: str | None = None
    clients: list[Open311Client] = Field(default_factory=list)
    unlisted_categories: list[str] = Field(
        default_factory=list,
        description="categories whose requests the public Open311 views never show",
    )

    def without_example_keys(self) -> Open311Config:
        """The clients, less any holding the published example key (outside development)."""
        return self.model_copy(
            update={"clients": [c for c in self.clients if c.key_sha256 != EXAMPLE_KEY_SHA256]}
        )

    def client_for(self, api_key: str) -> str | None:
        """The client that holds `api_key`, if any (constant-time per configured key)."""
        presented = hashlib.sha256(api_key.encode()).hexdigest()
        found = None
        for client in self.clients:
            if hmac.compare_digest(presented, client.key_sha256):
                found = client.client
        return found


class AwaitingRequester(_Config):
    """A concern waiting on the requester's answer: reminded, then closed with notice."""

    remind_after_days: int = Field(
        default=5, gt=0, le=365, description="ask again after this many days of silence"
    )
    close_after_days: int = Field(
        default=10, gt=0, le=365, description="close after this many days of silence"
    )
    close_notice: dict[str, str] = Field(
        default_factory=lambda: {
            "en": "We closed this concern because we did not hear back "
            "from you. Reply within 14 days to reopen it."
        },
        description="what the family reads when it closes, per language (en at least)",
    )
    sweep_s: float = Field(default=300.0, gt=0, description="how often intake looks")

    @model_validator(mode="after")
    def _ordered(self) -> AwaitingRequester:
        if self.close_after_days <= self.remind_after_days:
            raise ValueError("close_after_days must come after remind_after_days")
        if "en" not in self.close_notice:
            raise ValueError("close_notice needs an English (en) text")
        return self

    def notice(self, language: str) -> str:
        """The closing notice in the family's language (English when none is written)."""
        return self.close_notice.get(language.split("-")[0]) or self.close_notice["en"]


class CannedReply(_Config):
    """A reply staff often send, offered in the console's reply form in the family's language."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    title: str = Field(min_length=1, max_length=100, description="what staff see in the list")
    text: dict[str, str] = Field(description="the reply per language (en at least)")

    @model_validator(mode="after")
    def _english(self) -> CannedReply:
        if not self.text.get("en"):
            raise ValueError(f"canned reply {self.id!r} needs an English (en) text")
        return self

    def in_language(self, language: str) -> str:
        """The text in the family's language (English when none is written)."""
        return self.text.get(language.split("-")[0]) or self.text["en"]


class IntakeConfig(_Config):
    canned_replies: list[CannedReply] = Field(
        default_factory=list, description="replies the staff console offers, per language"
    )
    awaiting_requester: AwaitingRequester = Field(default_factory=AwaitingRequester)
    public_staff_names: bool = Field(
        default=False,
        description="whether requesters see the name of the staff member who replied",
    )
    open311: Open311Config = Field(default_factory=Open311Config)
