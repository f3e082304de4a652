"""Notify's section of the district configuration (`notify:` in deploy/district.yaml)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

PUBLIC_BASE_URL = "{public_base_url}"
"""In a link of the district file: the web frontend's address (setting PUBLIC_BASE_URL)."""


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class QuietHours(_Config):
    """Local wall-clock times in the district's zone; non-urgent SMS wait until `end`."""

    start: time = time(21, 0)
    end: time = time(8, 0)


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class SafetyDeskShift(_Config):
    """Who answers for safety at a time of the week: told of every critical concern at once.
    `start` after `end` runs past midnight (the shift belongs to the day it starts)."""

    name: str = Field(min_length=1)
    email: EmailStr | None = None
    phone: str | None = Field(default=None, pattern=r"^\+[1-9]\d{6,14}$")
    days: tuple[Weekday, ...] = WEEKDAYS
    start: time = time(0, 0)
    end: time = time(0, 0)  # with start 00:00: the whole day

    @model_validator(mode="after")
    def _reachable(self) -> SafetyDeskShift:
        if self.email is None and self.phone is None:
            raise ValueError(f"safety desk {self.name!r} needs an email or a phone")
        return self

    def on_duty(self, local: datetime) -> bool:
        """Whether this shift covers a local wall-clock moment."""
        day, now = WEEKDAYS[local.weekday()], local.time()
        if self.start < self.end:
            return day in self.days and self.start <= now < self.end
        if self.start == self.end:
            return day in self.days
        yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
        return (day in self.days and now >= self.start) or (
            yesterday in self.days and now < self.end
        )


class NotifyConfig(_Config):
    quiet_hours: QuietHours = QuietHours()
    safety_desk: tuple[SafetyDeskShift, ...] = Field(
        default=(),
        description="the on-duty safety desk, by shift: every shift covering the "
        "moment a concern is triaged critical hears of it at once",
    )
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

    def safety_desk_on_duty(self, moment: datetime, timezone: str) -> list[SafetyDeskShift]:
        """The safety desk shifts covering `moment`, in the district's time zone."""
        local = moment.astimezone(ZoneInfo(timezone))
        return [shift for shift in self.safety_desk if shift.on_duty(local)]

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
