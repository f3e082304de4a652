"""The `phone:` section of `deploy/district.yaml`: who answers when, and the callback standard.

Service Desk hours are opening hours in the district's time zone (`shared/opening_hours.py`, the
shape of escalation's calendars), closed on the holidays of the escalation calendar it names;
after hours a call to "speak to someone" goes to the safety desk shift on duty: the district's
`safety_desk:` roster (`shared/safety_desk.py`), the one notify tells of every critical concern.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.district import DistrictConfig, DistrictConfigError
from shared.holidays import Holiday
from shared.opening_hours import calendar_holidays, parse_hours
from shared.safety_desk import E164, MOVED, SafetyDesk, safety_desk


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServiceDeskConfig(_Config):
    number: str = Field(pattern=E164, description="the Service Desk's line (E.164)")
    hours: dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], str] = Field(
        min_length=1, description='opening hours per weekday, "08:00-17:00", district time'
    )
    holidays_calendar: str = Field(
        description="the escalation calendar (`escalation.calendars[].id`) whose holidays "
        "the desk is closed on"
    )

    @model_validator(mode="before")
    @classmethod
    def _one_holiday_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and "holidays" in data:
            raise ValueError(
                "holidays: the Service Desk is closed on the holidays of an escalation calendar "
                "(the district's one list): name it in `holidays_calendar` instead"
            )
        return data

    @field_validator("hours")
    @classmethod
    def _hours_parse(cls, hours: dict[str, str]) -> dict[str, str]:
        for spec in hours.values():
            parse_hours(spec)
        return hours


# What Twilio's basic voices (man, woman) speak; any other locale needs a Polly or Google voice.
BASIC_VOICE_LOCALES = frozenset({"en", "en-US", "en-GB", "es", "fr", "de"})


class PhoneConfig(_Config):
    """What the phone front door needs from the district."""

    service_desk: ServiceDeskConfig
    # set by `phone_config` from the district file, never written under `phone:`: the
    # `safety_desk:` section, and the holidays of the Service Desk's calendar
    safety_desk: SafetyDesk | None = Field(default=None, exclude=True)
    service_desk_holidays: tuple[Holiday, ...] = Field(default=(), exclude=True)
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

    @model_validator(mode="before")
    @classmethod
    def _desk_roster_moved(cls, data: Any) -> Any:
        for old in ("security_desk", "safety_desk"):
            if isinstance(data, dict) and old in data:
                raise ValueError(MOVED.format(old=f"phone.{old}"))
        if isinstance(data, dict) and "service_desk_holidays" in data:
            raise ValueError("service_desk_holidays: name `service_desk.holidays_calendar`")
        return data

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
    """The district's `phone:` section with its safety desk roster, validated: the phone front
    door at start and `bureau config check` both call it (`DistrictConfigError` names what is
    wrong)."""
    config = district.section("phone", PhoneConfig)
    holidays = calendar_holidays(
        district,
        config.service_desk.holidays_calendar,
        named_by="phone.service_desk.holidays_calendar",
    )
    desk = safety_desk(district)
    if desk is None:
        raise DistrictConfigError(
            "phone: after hours, calls go to the safety desk on duty, and this district file "
            "has no `safety_desk:` roster"
        )
    return config.model_copy(update={"safety_desk": desk, "service_desk_holidays": holidays})
