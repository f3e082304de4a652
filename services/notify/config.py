"""Notify's section of the district configuration (`notify:` in deploy/district.yaml)."""

from __future__ import annotations

from datetime import time

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
        default="https://bureau.district.example/status/{tracking}",
        description="where a requester checks a concern; `{tracking}` is replaced")
    case_url: str = Field(default="https://bureau.district.example/staff/concerns/{concern_id}",
                          description="the staff view of a case; `{concern_id}` is replaced")
    survey_base_url: str = Field(default="https://bureau.district.example/survey",
                                 description="the survey link is this URL, `/`, the token")
    critical_sms: bool = Field(default=True, description="also text a team lead (who has a "
                                                        "phone) about a critical concern")

    @model_validator(mode="after")
    def _urls(self) -> NotifyConfig:
        for name in ("status_url", "case_url", "survey_base_url"):
            value = getattr(self, name)
            if value is not None and not value.startswith(("http://", "https://")):
                raise ValueError(f"{name} must be an http(s) URL")
        return self

    def status_link(self, tracking: str | None) -> str:
        """The requester's status page, or empty when the district has none."""
        if not self.status_url or not tracking:
            return ""
        return self.status_url.replace("{tracking}", tracking)

    def case_link(self, concern_id: str) -> str:
        """The staff view of a case."""
        return self.case_url.replace("{concern_id}", concern_id)
