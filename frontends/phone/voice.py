"""TwiML for each step of a call, built with Twilio's own library, said in the caller's
language. Pure: every answer is a function of its inputs; the routes decide which to send."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from twilio.twiml.voice_response import Gather, VoiceResponse

from frontends.phone.config import PhoneConfig
from frontends.phone.domain import Desk, DeskKind, Language, spoken_digits
from frontends.phone.speech import N_, spoken_time, status_words, translator

GATHER_TIMEOUT_S = 6
MAX_PROMPTS = 3
SURVEY_PROMPTS = 2  # the survey question is asked once and repeated once, never more


def url(path: str, **params: str | int | None) -> str:
    """A webhook path with the call's state in its query (empty values left out)."""
    query = urlencode({k: v for k, v in params.items() if v is not None and v != ""})
    return f"{path}?{query}" if query else path


def choose_language(config: PhoneConfig) -> VoiceResponse:
    """The first thing a caller hears: each language offered in itself."""
    response = VoiceResponse()
    gather = Gather(num_digits=1, action="/voice/language", method="POST", timeout=GATHER_TIMEOUT_S)
    offers: tuple[tuple[Language, str], ...] = (
        ("en", N_("For English, press 1.")),
        ("es", N_("For Spanish, press 2.")),
    )
    for language, offer in offers:
        gather.say(translator(language)(offer), **config.say(language))
    response.append(gather)
    response.redirect("/voice/language", method="POST")  # no key: English
    return response


@dataclass(frozen=True)
class Speaker:
    """Says things to one caller, in their language."""

    language: Language
    config: PhoneConfig
    district: str
    timezone: str

    def _(self, message: str) -> str:
        return translator(self.language)(message)

    def say(self, response: VoiceResponse | Gather, text: str) -> None:
        response.say(text, **self.config.say(self.language))

    def when(self, moment: datetime) -> str:
        return spoken_time(moment, self.timezone, self.language)

    def _gather(
        self, action: str, *, digits: int | None = None, finish_on_key: str | None = None
    ) -> Gather:
        return Gather(
            action=action,
            method="POST",
            timeout=GATHER_TIMEOUT_S,
            num_digits=digits,
            finish_on_key=finish_on_key,
            action_on_empty_result=True,
        )

    # --- the menu -----------------------------------------------------------------------

    def menu(
        self, *, prompt: int = 1, greet: bool = True, before: str | None = None
    ) -> VoiceResponse:
        """Emergency notice first, then the three choices."""
        _ = self._
        response = VoiceResponse()
        if before:
            self.say(response, before)
        if greet:
            self.say(
                response,
                _("Welcome to the Customer Service Bureau of %(district)s.")
                % {"district": self.district},
            )
            self.say(
                response,
                _("If this is an emergency, hang up and dial %(number)s.")
                % {"number": " ".join(self.config.emergency_number)},
            )
        gather = self._gather(url("/voice/menu", lang=self.language, prompt=prompt), digits=1)
        self.say(
            gather,
            _(
                "To check on a concern, press 1. To report a new concern, press 2. "
                "To speak to someone, press 3."
            ),
        )
        response.append(gather)
        return response

    def again(self, path: str, prompt: int, **state: str | int | None) -> VoiceResponse:
        """Did not get that: ask again, or say goodbye after the last try."""
        response = VoiceResponse()
        if prompt >= MAX_PROMPTS:
            return self.goodbye(self._("Sorry, I did not get that."))
        self.say(response, self._("Sorry, I did not get that."))
        response.redirect(
            url(path, lang=self.language, prompt=prompt + 1, ask=1, **state), method="POST"
        )
        return response

    def goodbye(self, before: str | None = None) -> VoiceResponse:
        response = VoiceResponse()
        if before:
            self.say(response, before)
        self.say(response, self._("Thank you for calling. Goodbye."))
        response.hangup()
        return response

    def unavailable(self) -> VoiceResponse:
        return self.goodbye(
            self._("We are sorry: we cannot do this right now. Please try again in a few minutes.")
        )

    # --- status -------------------------------------------------------------------------

    def offer_recent(self, tracking_number: str, prompt: int = 1) -> VoiceResponse:
        response = VoiceResponse()
        gather = self._gather(
            url("/voice/status/recent", lang=self.language, tn=tracking_number, prompt=prompt),
            digits=1,
        )
        self.say(
            gather,
            self._(
                "We found an open concern from this number, tracking number "
                "%(digits)s. To check it, press 1. To check another concern, "
                "press 2."
            )
            % {"digits": spoken_digits(tracking_number)},
        )
        response.append(gather)
        return response

    def ask_tracking(self, tries: int, before: str | None = None) -> VoiceResponse:
        response = VoiceResponse()
        if before:
            self.say(response, before)
        gather = self._gather(
            url("/voice/status/number", lang=self.language, tries=tries), finish_on_key="#"
        )
        self.say(
            gather,
            self._("Please enter the digits of your tracking number, then press the pound key."),
        )
        response.append(gather)
        return response

    def ask_pin(self, tracking_number: str, tries: int) -> VoiceResponse:
        response = VoiceResponse()
        gather = self._gather(
            url("/voice/status/pin", lang=self.language, tn=tracking_number, tries=tries),
            finish_on_key="#",
        )
        self.say(gather, self._("Please enter your six-digit PIN, then press the pound key."))
        response.append(gather)
        return response

    def no_match(self) -> str:
        return self._("That tracking number and PIN do not match.")

    def locked(self) -> VoiceResponse:
        return self.menu(
            greet=False,
            before=self._(
                "Too many tries. For your security, status by phone is paused for this concern. "
                "Please try again later, or choose another option."
            ),
        )

    def status(
        self,
        tracking_number: str,
        status: str,
        team: str | None,
        due: datetime,
        *,
        survey: bool = False,
    ) -> VoiceResponse:
        """The status, owning team and due time; never a name or a student detail. Then the
        menu, or the satisfaction question when the resolved concern's survey is open."""
        _ = self._
        text = _("Your concern %(digits)s is %(status)s.") % {
            "digits": spoken_digits(tracking_number),
            "status": status_words(status, self.language),
        }
        if team:
            text += " " + _("The %(team)s team is handling it.") % {"team": team}
        if status not in ("resolved", "closed"):
            text += " " + _("It is due to be resolved by %(due)s.") % {"due": self.when(due)}
        if status == "awaiting_requester":
            text += " " + _(
                "To give us what we asked for, answer our message, or press 3 to speak to someone."
            )
        if survey:
            return self.ask_survey(tracking_number, before=text)
        return self.menu(greet=False, before=text)

    # --- the satisfaction survey of a resolved concern -----------------------------------

    def ask_survey(
        self, tracking_number: str, *, prompt: int = 1, before: str | None = None
    ) -> VoiceResponse:
        """The survey's one question, a key per score; silence or another key asks it once
        more (`prompt` 2), then the call ends with a goodbye."""
        response = VoiceResponse()
        if before:
            self.say(response, before)
        gather = self._gather(
            url("/voice/survey", lang=self.language, tn=tracking_number, prompt=prompt), digits=1
        )
        self.say(
            gather,
            self._(
                "One question about this concern: how satisfied are you with how we handled "
                "it? Press 1 for very dissatisfied, 2 for dissatisfied, 3 for neutral, 4 for "
                "satisfied, or 5 for very satisfied."
            ),
        )
        response.append(gather)
        return response

    def survey_thanks(self) -> VoiceResponse:
        return self.goodbye(self._("Thank you for your answer."))

    # --- report -------------------------------------------------------------------------

    def ask_category(
        self, names: list[str], *, via: str = "menu", before: str | None = None, prompt: int = 1
    ) -> VoiceResponse:
        """Up to nine categories, one key each."""
        response = VoiceResponse()
        if before:
            self.say(response, before)
        gather = self._gather(
            url("/voice/report/category", lang=self.language, via=via, prompt=prompt), digits=1
        )
        self.say(gather, self._("Please choose the kind of concern."))
        for key, name in enumerate(names[:9], start=1):
            self.say(
                gather, self._("For %(category)s, press %(key)s.") % {"category": name, "key": key}
            )
        response.append(gather)
        return response

    def record(self, category: str, via: str, *, withheld: bool = False) -> VoiceResponse:
        """The prompt and the recording; a caller whose number we cannot see is asked for one."""
        response = VoiceResponse()
        if withheld:
            prompt = self._(
                "After the tone, please describe your concern, say a phone number where we "
                "can call you back, and the best time to call. Press the pound key when you "
                "are done."
            )
        else:
            prompt = self._(
                "After the tone, please describe your concern, and say the "
                "best time to call you back. Press the pound key when you "
                "are done."
            )
        self.say(response, prompt)
        response.record(
            action=url("/voice/report/recorded", lang=self.language, category=category, via=via),
            method="POST",
            max_length=self.config.recording_max_s,
            finish_on_key="#",
            play_beep=True,
            timeout=8,
        )
        # no recording at all: Twilio goes on to the next verb
        response.redirect(
            url("/voice/report/recorded", lang=self.language, category=category, via=via, empty=1),
            method="POST",
        )
        return response

    def received(
        self,
        tracking_number: str,
        pin: str | None,
        callback_by: datetime,
        *,
        withheld: bool = False,
    ) -> VoiceResponse:
        """The tracking number and PIN, twice, and when we call back (at the number the caller
        said, when we cannot see theirs)."""
        _ = self._
        response = VoiceResponse()
        facts = {"digits": spoken_digits(tracking_number), "pin": " ".join(pin) if pin else ""}
        self.say(response, _("Thank you. Your concern has been received."))
        for _repeat in range(2):
            self.say(response, _("Your tracking number is %(digits)s.") % facts)
            if pin:
                self.say(response, _("Your PIN is %(pin)s.") % facts)
        callback = (
            _("We will call you back by %(due)s at the number you gave in your message.")
            if withheld
            else _("We will call you back by %(due)s.")
        )
        self.say(response, callback % {"due": self.when(callback_by)})
        self.say(response, _("Thank you for calling. Goodbye."))
        response.hangup()
        return response

    # --- speak to someone ---------------------------------------------------------------

    def connect(self, desk: Desk, caller_id: str | None = None) -> VoiceResponse:
        response = VoiceResponse()
        if desk.kind is DeskKind.SERVICE_DESK:
            self.say(response, self._("Connecting you to the Service Desk."))
        else:
            self.say(
                response,
                self._(
                    "The Service Desk is closed. Connecting you to the "
                    "district's 24-hour security desk."
                ),
            )
        dial = response.dial(
            action=url("/voice/dial/done", lang=self.language, desk=desk.kind.value),
            method="POST",
            timeout=self.config.dial_timeout_s,
            caller_id=caller_id,
        )
        dial.number(desk.number)
        return response

    def nobody_answered(self) -> str:
        return self._("Nobody could answer. Please leave a message and we will call you back.")
