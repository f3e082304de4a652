"""The call flow's decisions, pure: no I/O, no framework, time passed in.

A call is a series of webhooks; what the caller chose so far travels in the next webhook's
URL (language, tries, the tracking number being checked), never the PIN. These functions say
what each key press means, who answers "speak to someone" at a given moment, and what an SMS
keyword asks for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from frontends.phone.config import PhoneConfig
from shared.district import DistrictConfigError
from shared.holidays import dates as holiday_dates
from shared.opening_hours import OpeningHours, weekly_hours

Language = Literal["en", "es"]
LANGUAGES: tuple[Language, ...] = ("en", "es")
TRACKING = re.compile(r"^CS-(\d{4})-(\d{6})$")


def language(value: str | None) -> Language:
    """The call's language from a URL parameter; English unless Spanish is named."""
    return "es" if value == "es" else "en"


def language_choice(digits: str | None) -> Language | None:
    """1 for English, 2 for Spanish; None for anything else."""
    return {"1": "en", "2": "es"}.get(digits or "")  # type: ignore[return-value]


class Choice(StrEnum):
    STATUS = "status"
    REPORT = "report"
    SPEAK = "speak"


def menu_choice(digits: str | None) -> Choice | None:
    """1 check a concern, 2 report a new concern, 3 speak to someone."""
    return {"1": Choice.STATUS, "2": Choice.REPORT, "3": Choice.SPEAK}.get(digits or "")


def tracking_number(digits: str | None, *, today: date) -> str | None:
    """A tracking number from its keyed digits: the year and six digits (10 digits), or the
    six digits alone for this year. None when the digits cannot be one."""
    digits = (digits or "").strip().rstrip("#")
    if re.fullmatch(r"\d{10}", digits):
        return f"CS-{digits[:4]}-{digits[4:]}"
    if re.fullmatch(r"\d{6}", digits):
        return f"CS-{today.year}-{digits}"
    return None


def valid_tracking(value: str | None) -> str | None:
    """A tracking number carried in a URL, checked."""
    return value if value and TRACKING.match(value) else None


def pin(digits: str | None) -> str | None:
    """The six-digit PIN given at intake, as keyed (without the closing #)."""
    digits = (digits or "").strip().rstrip("#")
    return digits if re.fullmatch(r"\d{6}", digits) else None


def spoken_digits(value: str) -> str:
    """Digits one by one, grouped as written, so that a voice reads "0 0 0 0 4 2" and not
    "forty-two": `CS-2026-000042` -> "2 0 2 6, 0 0 0 0 4 2"."""
    groups = re.findall(r"\d+", value)
    return ", ".join(" ".join(group) for group in groups)


SURVEY_SCORES = range(1, 6)
SURVEYED_STATUSES = frozenset({"resolved", "closed"})


def surveyed(status: str) -> bool:
    """Whether a concern in `status` may have its satisfaction survey open (notify decides:
    it opens one at each resolution, once per concern)."""
    return status in SURVEYED_STATUSES


def survey_score(digits: str | None) -> int | None:
    """The keyed satisfaction score, 1 (very dissatisfied) to 5 (very satisfied)."""
    return int(digits) if digits and digits.isdigit() and int(digits) in SURVEY_SCORES else None


def category_choice(digits: str | None, category_ids: list[str]) -> str | None:
    """The category at the keyed position (1-based) of the menu."""
    if digits and digits.isdigit() and 1 <= int(digits) <= len(category_ids):
        return category_ids[int(digits) - 1]
    return None


# --- who answers --------------------------------------------------------------------------


class DeskKind(StrEnum):
    SERVICE_DESK = "service_desk"
    SECURITY_DESK = "security_desk"


@dataclass(frozen=True)
class Desk:
    kind: DeskKind
    name: str
    number: str


def service_desk_hours(config: PhoneConfig, timezone: str, around: datetime) -> OpeningHours:
    """The Service Desk's opening hours in the district's zone, with its holidays near
    `around` (the days its opening check reads)."""
    day = around.astimezone(ZoneInfo(timezone)).date()
    holidays = holiday_dates(config.service_desk_holidays, day - timedelta(days=1), day)
    return weekly_hours("service-desk", timezone, config.service_desk.hours, holidays)


def desk_for(now: datetime, config: PhoneConfig, timezone: str) -> Desk:
    """Who answers "speak to someone" at `now`: the Service Desk in its hours, else the safety
    desk shift on duty (the district's roster, which notify tells of critical concerns)."""
    if service_desk_hours(config, timezone, now).is_open(now):
        return Desk(DeskKind.SERVICE_DESK, "Service Desk", config.service_desk.number)
    shift = config.safety_desk.on_duty(now) if config.safety_desk else None
    if shift is None:  # `phone_config` refuses a district without a roster covering the week
        raise DistrictConfigError("no safety desk shift is on duty: check `safety_desk:`")
    return Desk(DeskKind.SECURITY_DESK, shift.name, shift.phone)


def callback_due(now: datetime, config: PhoneConfig) -> datetime:
    """When a voicemail must be called back: the district's callback standard."""
    return now + timedelta(seconds=config.callback_within_s)


def answered_at(now: datetime, dial_duration_s: int | None) -> datetime:
    """When a dialled desk picked up: the Dial ends now, after `dial_duration_s` of talk."""
    return now - timedelta(seconds=max(dial_duration_s or 0, 0))


# --- SMS ----------------------------------------------------------------------------------


class Keyword(StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"
    STATUS = "status"
    SURVEY = "survey"
    MESSAGE = "message"


# Carriers' (CTIA) and Twilio's standard keywords, with their Spanish counterparts.
KEYWORDS: dict[str, tuple[Keyword, Language]] = {
    **{
        w: (Keyword.STOP, "en")
        for w in ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE")
    },
    **{w: (Keyword.STOP, "es") for w in ("PARAR", "ALTO", "CANCELAR", "BAJA")},
    **{w: (Keyword.START, "en") for w in ("START", "YES", "UNSTOP", "OPTIN")},
    **{w: (Keyword.START, "es") for w in ("INICIAR", "SI", "SÍ", "ALTA")},
    **{w: (Keyword.HELP, "en") for w in ("HELP", "INFO")},
    **{w: (Keyword.HELP, "es") for w in ("AYUDA",)},
    **{w: (Keyword.STATUS, "en") for w in ("STATUS",)},
    **{w: (Keyword.STATUS, "es") for w in ("ESTADO",)},
    **{w: (Keyword.SURVEY, "en") for w in ("SURVEY",)},
    **{w: (Keyword.SURVEY, "es") for w in ("ENCUESTA",)},
}


# Opt-in keywords that are also a plain answer to a question of the bureau ("Sí", "Yes"):
# they subscribe a number again only when it had said STOP; otherwise they are a message.
ALSO_AN_ANSWER = frozenset({"YES", "SI", "SÍ"})


@dataclass(frozen=True)
class Text:
    keyword: Keyword
    language: Language | None  # the keyword's language; None for a free message
    tracking_number: str | None = None
    also_an_answer: bool = False  # an opt-in keyword that may answer the bureau instead
    # a satisfaction score: `SURVEY 4`, or a message of one digit 1-5 (a score only for a
    # number whose concerns are all done; else a message like any other)
    score: int | None = None


def classify_text(body: str | None) -> Text:
    """What an incoming SMS asks: a keyword alone (any case, surrounding spaces and
    punctuation ignored; STATUS may name a tracking number, SURVEY a score) or a message to
    thread (which may be a bare score)."""
    words = re.sub(r"[^\w\s-]", " ", body or "").upper().split()
    if words and words[0] in KEYWORDS:
        keyword, lang = KEYWORDS[words[0]]
        rest = words[1:]
        if keyword is Keyword.STATUS and len(rest) <= 1:
            number = rest[0] if rest and TRACKING.match(rest[0]) else None
            if not rest or number:
                return Text(keyword, lang, number)
        elif keyword is Keyword.SURVEY and len(rest) <= 1:
            score = survey_score(rest[0]) if rest else None
            if not rest or score:
                return Text(keyword, lang, score=score)
        elif not rest:
            return Text(keyword, lang, also_an_answer=words[0] in ALSO_AN_ANSWER)
    if len(words) == 1 and survey_score(words[0]):
        return Text(Keyword.MESSAGE, None, score=survey_score(words[0]))
    return Text(Keyword.MESSAGE, None)


def local_time(moment: datetime, timezone: str) -> datetime:
    """A moment on the district's wall clock (for reading due times aloud)."""
    return moment.astimezone(ZoneInfo(timezone))
