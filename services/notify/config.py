"""Notify's section of the district configuration (`notify:` in deploy/district.yaml)."""

from __future__ import annotations

from datetime import time
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.safety_desk import MOVED

PUBLIC_BASE_URL = "{public_base_url}"
"""In a link of the district file: the web frontend's address (setting PUBLIC_BASE_URL)."""


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class QuietHours(_Config):
    """Local wall-clock times in the district's zone; non-urgent SMS wait until `end`."""

    start: time = time(21, 0)
    end: time = time(8, 0)


class NotifyConfig(_Config):
    quiet_hours: QuietHours = QuietHours()
    sms_max_segments: int = Field(default=3, ge=1, le=10)
    status_url: str | None = Field(
        default=f"{PUBLIC_BASE_URL}/status/{{tracking}}",
        description="where a requester checks a concern; `{tracking}` is replaced, and "
        f"`{PUBLIC_BASE_URL}` by the PUBLIC_BASE_URL setting (the web frontend)",
    )
    case_url: str = Field(
        default="https://bureau.district.example/staff/concerns/{concern_id}",
        description="the staff view of a case; `{concern_id}` is replaced",
    )
    survey_base_url: str = Field(
        default=f"{PUBLIC_BASE_URL}/survey",
        description="the survey link is this URL, `/`, the token (the web frontend's survey page)",
    )
    critical_sms: bool = Field(
        default=True, description="also text a team lead (who has a phone) about a critical concern"
    )

    @model_validator(mode="before")
    @classmethod
    def _safety_desk_moved(cls, data: Any) -> Any:
        # the on-duty safety desk is district data shared with the phone (shared/safety_desk.py)
        if isinstance(data, dict) and "safety_desk" in data:
            raise ValueError(MOVED.format(old="notify.safety_desk"))
        return data

    @model_validator(mode="after")
    def _urls(self) -> NotifyConfig:
        for name in ("status_url", "case_url", "survey_base_url"):
            value = getattr(self, name)
            if value is not None and not value.startswith(("http://", "https://", PUBLIC_BASE_URL)):
                raise ValueError(f"{name} must be an http(s) URL")
        return self

    def at(self, public_base_url: str) -> NotifyConfig:
        """This configuration with `{public_base_url}` in its links replaced."""
        base = public_base_url.rstrip("/")
        return self.model_copy(
            update={
                name: getattr(self, name).replace(PUBLIC_BASE_URL, base)
                for name in ("status_url", "case_url", "survey_base_url")
                if getattr(self, name) is not None
            }
        )

    def status_link(self, tracking: str | None, *, token: str | None = None) -> str:
        """The requester's status page, or empty when the district has none; with the
        requester's token, the personal link that opens it without typing anything."""
        if not self.status_url or not tracking:
            return ""
        link = self.status_url.replace("{tracking}", tracking)
        if token:
            link += ("&" if "?" in link else "?") + urlencode({"token": token})
        return link

    @staticmethod
    def in_language(link: str, language: str) -> str:
        """A status link that opens the page in the language its message is written in (the
        family's), whatever the browser's; unchanged when empty or already chosen."""
        if not link or "lang=" in link:
            return link
        return link + ("&" if "?" in link else "?") + urlencode({"lang": language})

    def case_link(self, concern_id: str) -> str:
        """The staff view of a case."""
        return self.case_url.replace("{concern_id}", concern_id)
