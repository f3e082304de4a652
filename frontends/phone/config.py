"""The `phone:` section of `deploy/district.yaml`: who answers when, and the callback standard.

Service Desk hours are a calendar in the district's time zone (the same shape as escalation's
calendars); after hours a call to "speak to someone" goes to the on-duty security desk named by
the roster (the first shift that covers the moment), else to the security desk's own line.
"""

from __future__ import annotations

from datetime import date, time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.escalation.calendar import parse_hours
from shared.district import DistrictConfig

E164 = r"^\+[1-9]\d{6,14}$"
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun", "holiday"]


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServiceDeskConfig(_Config):
    number: str = Field(pattern=E164, description="the Service Desk's line (E.164)")
    hours: dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], str] = Field(
        min_length=1, description='opening hours per weekday, "08:00-17:00", district time'
    )
    holidays: list[date] = Field(default_factory=list, description="days the desk is closed")

    @field_validator("hours")
    @classmethod
    def _hours_parse(cls, hours: dict[str, str]) -> dict[str, str]:
        for spec in hours.values():
            parse_hours(spec)
        return hours


class Shift(_Config):
    """One line of the on-duty roster: a desk (or officer) and the hours it covers."""

    name: str
    number: str = Field(pattern=E164)
    days: list[Day] = Field(
        min_length=1,
        description="weekdays the shift starts on; `holiday` for Service Desk holidays",
    )
    hours: str = Field(
        default="00:00-00:00",
        description='"17:00-08:00" runs past midnight; "00:00-00:00" is the whole day',
    )

    @field_validator("hours")
    @classmethod
    def _span(cls, spec: str) -> str:
        span(spec)
        return spec


def span(spec: str) -> tuple[time, time]:
    """`"17:00-08:00"` as start and end times (an end at or before the start is the next day)."""
    try:
        start, end = (time.fromisoformat(part.strip()) for part in spec.split("-", 1))
    except ValueError as exc:
        raise ValueError(f"shift hours {spec!r} are not like 17:00-08:00") from exc
    return start, end


class SecurityDeskConfig(_Config):
    number: str = Field(
        pattern=E164,
        description="the security desk's line when no shift of the roster covers the moment",
    )
    roster: list[Shift] = Field(default_factory=list)


# What Twilio's basic voices (man, woman) speak; any other locale needs a Polly or Google voice.
BASIC_VOICE_LOCALES = frozenset({"en", "en-US", "en-GB", "es", "fr", "de"})


class PhoneConfig(_Config):
    """What the phone front door needs from the district."""

    service_desk: ServiceDeskConfig
    security_desk: SecurityDeskConfig
    callback_within_s: int = Field(
        default=86_400,
        gt=0,
        description="the callback standard: a voicemail is called back within this time",
    )
    dial_timeout_s: int = Field(default=25, ge=5, le=120)
    recording_max_s: int = Field(default=180, ge=10, le=600)
    status_attempts: int = Field(
        default=3, ge=1, le=10, description="tracking number + PIN tries per call"
    )
    emergency_number: str = "911"
    voices: dict[Literal["en", "es"], str] = Field(
        default={"en": "en-US", "es": "es-MX"}, description="the `language` of spoken text"
    )
    speakers: dict[Literal["en", "es"], str] = Field(
        # Twilio's default voice speaks `es` but not `es-MX`: an invalid pair fails the <Say>
        default={"en": "Polly.Joanna", "es": "Polly.Mia"},
        description="the `voice` of spoken text, one that speaks its `voices` language "
        "(Twilio's Polly or Google voices, or man/woman for en-US, en-GB, es, fr, de)",
    )

    @model_validator(mode="after")
    def _voices_speak_their_language(self) -> PhoneConfig:
        for language, voice in self.speakers.items():
            locale = self.voices.get(language, "")
            if voice in ("man", "woman") and locale not in BASIC_VOICE_LOCALES:
                raise ValueError(
                    f"speakers.{language}: Twilio's {voice!r} voice does not speak {locale!r} "
                    f"(only {', '.join(sorted(BASIC_VOICE_LOCALES))}); name a Polly or Google "
                    "voice that does"
                )
        return self

    def say(self, language: Literal["en", "es"]) -> dict[str, str]:
        """The `<Say>` attributes of one language: its locale and a voice that speaks it."""
        return {"language": self.voices[language], "voice": self.speakers[language]}


def phone_config(district: DistrictConfig) -> PhoneConfig:
    """The district's `phone:` section, validated: the phone front door at start and
    `bureau config check` both call it (`DistrictConfigError` names what is wrong)."""
    return district.section("phone", PhoneConfig)
