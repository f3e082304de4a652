"""Replies to texts, in the sender's language, as carriers require for STOP, START and HELP; and
what a text adds to its concern."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from twilio.twiml.messaging_response import MessagingResponse

from frontends.phone.domain import Language
from frontends.phone.speech import spoken_time, status_words, translator

MAX_MEDIA = 10  # what a provider sends with one MMS


def message_text(form: Mapping[str, str]) -> str:
    """What a text adds to its concern: its words, and a link to each photo or file sent
    with it (MMS: `NumMedia`, `MediaUrl0`...), as a voicemail's recording is linked."""
    count = form.get("NumMedia", "0")
    links = [
        form[f"MediaUrl{i}"]
        for i in range(min(int(count) if count.isdigit() else 0, MAX_MEDIA))
        if form.get(f"MediaUrl{i}")
    ]
    words = (form.get("Body") or "").strip()
    return "\n".join([words, *(f"Sent with this text: {link}" for link in links)]).strip()


def reply(text: str | None) -> MessagingResponse:
    """TwiML answering a text with `text`, or with nothing."""
    response = MessagingResponse()
    if text:
        response.message(text)
    return response


@dataclass(frozen=True)
class Words:
    district: str
    desk_number: str
    timezone: str

    def stopped(self, lang: Language) -> str:
        _ = translator(lang)
        return _(
            "%(district)s: you are unsubscribed and will receive no more "
            "messages from us. Reply START to subscribe again."
        ) % {"district": self.district}

    def started(self, lang: Language) -> str:
        _ = translator(lang)
        return _(
            "%(district)s: you are subscribed again to messages about your "
            "concerns. Reply STOP to unsubscribe."
        ) % {"district": self.district}

    def help(self, lang: Language) -> str:
        _ = translator(lang)
        return _(
            "%(district)s Customer Service Bureau: reply to add a message to "
            "your concern, or STATUS for its status. Help: %(number)s. Reply "
            "STOP to unsubscribe. Msg&data rates may apply."
        ) % {"district": self.district, "number": self.desk_number}

    def status(
        self, lang: Language, tracking_number: str, status: str, team: str | None, due: datetime
    ) -> str:
        _ = translator(lang)
        text = _("Concern %(tracking)s: %(status)s.") % {
            "tracking": tracking_number,
            "status": status_words(status, lang),
        }
        if team:
            text += " " + _("Team: %(team)s.") % {"team": team}
        if status not in ("resolved", "closed"):
            text += " " + _("Due by %(due)s.") % {"due": spoken_time(due, self.timezone, lang)}
        return text

    def other_concern(self, lang: Language, tracking_number: str) -> str:
        """A concern named by text that is not the number's latest open one: by text we cannot
        tell whose it is."""
        _ = translator(lang)
        return _(
            "For the status of %(tracking)s, call %(number)s with its PIN. By text we give "
            "the status of the latest open concern from this number:"
        ) % {"tracking": tracking_number, "number": self.desk_number}

    def no_concern(self, lang: Language) -> str:
        _ = translator(lang)
        return _("We found no open concern from this number. To raise one, call %(number)s.") % {
            "number": self.desk_number
        }

    def threaded(self, lang: Language, tracking_number: str) -> str:
        _ = translator(lang)
        return _("Thank you: your message was added to concern %(tracking)s.") % {
            "tracking": tracking_number
        }

    # --- the satisfaction survey of a resolved concern, by text ----------------------

    def survey_question(self, lang: Language) -> str:
        _ = translator(lang)
        return _(
            "How did we do? Reply with a number from 1 (very dissatisfied) to 5 (very satisfied)."
        )

    def survey_thanks(self, lang: Language, tracking_number: str) -> str:
        _ = translator(lang)
        return _("Thank you: your answer about concern %(tracking)s was recorded.") % {
            "tracking": tracking_number
        }

    def survey_already(self, lang: Language, tracking_number: str) -> str:
        _ = translator(lang)
        return _("We already have your answer about concern %(tracking)s. Thank you.") % {
            "tracking": tracking_number
        }

    def no_survey(self, lang: Language, tracking_number: str) -> str:
        _ = translator(lang)
        return _("There is no survey open for concern %(tracking)s.") % {
            "tracking": tracking_number
        }

    def unavailable(self, lang: Language) -> str:
        _ = translator(lang)
        return _("We could not take your message right now. Please try again later.")
