"""A caller follows the phone front door's TwiML through every path, in English and Spanish,
in and after Service Desk hours (a fake clock), with signed webhooks; services are faked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from frontends.common.intake import IntakeUnavailable
from frontends.phone.app import create_app
from frontends.phone.client import CallOutcome, Survey
from frontends.phone.config import PhoneConfig, phone_config
from frontends.phone.domain import Keyword, classify_text, language
from frontends.phone.settings import PhoneSettings
from services.intake.domain import Status
from shared.clock import FakeClock
from shared.district import DistrictConfig, load_district
from shared.settings import DEFAULT_DISTRICT_CONFIG
from tests.phone.fakes import FakeBureau
from tests.phone.simulator import Answer, Caller, Input, Recording, sign

pytestmark = pytest.mark.unit

TOKEN = "twilio-test-auth-token"
BASE = "https://phone.district.example"
CALLER = "+15555550142"
# Tuesday 1 December 2026 in Chicago: 09:00 (desk open), 21:00 (weeknight), and a Saturday.
IN_HOURS = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
WEEKNIGHT = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
WEEKEND = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)
CHRISTMAS_NOON = datetime(2026, 12, 25, 18, 0, tzinfo=UTC)
SERVICE_DESK, NIGHT_DESK, WEEKEND_DESK = "+15555550100", "+15555550191", "+15555550192"

Phone = Callable[..., AbstractAsyncContextManager[tuple[Caller, FakeBureau]]]


@cache
def shipped_district() -> DistrictConfig:
    """The shipped district file, read once for the module (the model is frozen)."""
    return load_district(DEFAULT_DISTRICT_CONFIG)


@pytest.fixture
def phone() -> Phone:
    """The phone front door in-process at a moment, with a fake bureau, and a caller."""

    @asynccontextmanager
    async def start(
        at: datetime = IN_HOURS, *, caller: str = CALLER, settings: PhoneSettings | None = None
    ) -> AsyncIterator[tuple[Caller, FakeBureau]]:
        clock = FakeClock(at)
        bureau = FakeBureau(shipped_district(), clock)
        settings = settings or PhoneSettings(
            twilio_auth_token=SecretStr(TOKEN), phone_public_url=BASE
        )
        app = create_app(settings, bureau=bureau, clock=clock)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http,
        ):
            yield Caller(http, base_url=BASE, auth_token=TOKEN, from_number=caller), bureau

    return start


LANGUAGE_KEY = {"en": "1", "es": "2"}
SAID = {
    "en": {
        "emergency": "hang up and dial 9 1 1",
        "menu": "To speak to someone, press 3",
        "status": "Your concern 2 0 2 6, 0 0 0 0 4 2 is being worked on.",
        "team": "The Transportation Department team is handling it.",
        "due": "It is due to be resolved by Friday, December 4, at 3:00 PM.",
        "tracking": "Your tracking number is 2 0 2 6, 0 0 0 0 0 1.",
        "pin": "Your PIN is 3 1 4 1 5 9.",
        "no_match": "do not match",
        "locked": "status by phone is paused",
        "nobody": "Nobody could answer",
        "closed": "The Service Desk is closed",
        "callback": "We will call you back by Wednesday, December 2",
        "say_number": "say a phone number where we can call you back",
        "callback_said": "at the number you gave in your message",
        "sms_pin": "with its PIN",
        "how_to_answer": "answer our message, or press 3 to speak to someone",
    },
    "es": {
        "emergency": "cuelgue y marque el 9 1 1",
        "menu": "Para hablar con una persona",
        "status": "Su caso 2 0 2 6, 0 0 0 0 4 2 está en trámite.",
        "team": "A cargo de: Departamento de Transporte.",  # the name in the family's language
        "due": "Debe resolverse a más tardar el viernes 4 de diciembre, a las 15:00.",
        "tracking": "Su número de seguimiento es 2 0 2 6, 0 0 0 0 0 1.",
        "pin": "Su PIN es 3 1 4 1 5 9.",
        "no_match": "no coinciden",
        "locked": "la consulta por teléfono de este caso está en pausa",
        "nobody": "Nadie pudo contestar",
        "closed": "El Centro de Servicio está cerrado",
        "callback": "Le llamaremos a más tardar el miércoles 2 de diciembre",
        "say_number": "diga un número de teléfono donde podamos llamarle",
        "callback_said": "al número que nos dejó en su mensaje",
        "sms_pin": "con su PIN",
        "how_to_answer": "responda a nuestro mensaje u oprima 3 para hablar con una persona",
    },
}
BOTH = pytest.mark.parametrize("lang", ["en", "es"])


@BOTH
async def test_the_caller_chooses_a_language_and_hears_the_emergency_notice_before_the_menu(
    phone: Phone, lang: str
) -> None:
    async with phone() as (caller, bureau):
        call = await caller.call([LANGUAGE_KEY[lang], None, None, None])
    assert call.heard[:2] == ["For English, press 1.", "Para español, oprima 2."]
    assert call.languages[:2] == ["en-US", "es-MX"]
    text = call.text
    assert text.index(SAID[lang]["emergency"]) < text.index(SAID[lang]["menu"])
    assert set(call.languages[2:]) == {"en-US" if lang == "en" else "es-MX"}
    # each in a voice that speaks it (Twilio's default voice fails a <Say> in es-MX)
    assert call.voices[:2] == ["Polly.Joanna", "Polly.Mia"]
    assert set(call.voices[2:]) == {"Polly.Joanna" if lang == "en" else "Polly.Mia"}
    assert call.hung_up  # after three silent prompts: goodbye
    assert bureau.ended == {caller.params["CallSid"]: 90}


@BOTH
async def test_a_known_caller_is_offered_their_concern_and_hears_status_team_and_due_time(
    phone: Phone, lang: str
) -> None:
    async with phone() as (caller, bureau):
        bureau.add(phone=CALLER)
        call = await caller.call([LANGUAGE_KEY[lang], "1", "1", "271828"])
    said = SAID[lang]
    assert said["status"] in call.heard[-2] or said["status"] in call.text
    assert said["team"] in call.text and said["due"] in call.text
    assert bureau.outcomes == [CallOutcome.STATUS_HEARD]


@BOTH
async def test_a_caller_whose_concern_waits_on_them_hears_how_to_answer(
    phone: Phone, lang: str
) -> None:
    async with phone() as (caller, bureau):
        bureau.add(phone=CALLER, status=Status.AWAITING_REQUESTER)
        call = await caller.call([LANGUAGE_KEY[lang], "1", "1", "271828"])
    assert SAID[lang]["how_to_answer"] in call.text


@BOTH
async def test_a_caller_keys_the_tracking_digits_and_pin_for_another_concern(
    phone: Phone, lang: str
) -> None:
    async with phone(caller="+15555550777") as (caller, bureau):
        bureau.add()
        call = await caller.call([LANGUAGE_KEY[lang], "1", "000042", "271828"])
    assert SAID[lang]["status"] in call.text
    assert "Jo" not in call.text and "@" not in call.text
    assert bureau.outcomes == [CallOutcome.STATUS_HEARD]


@BOTH
async def test_wrong_pins_are_limited_per_call_then_locked_out_by_intake(
    phone: Phone, lang: str
) -> None:
    async with phone(caller="+15555550777") as (caller, bureau):
        bureau.add()
        call = await caller.call(
            [
                LANGUAGE_KEY[lang],
                "1",
                "000042",
                "111111",
                "000042",
                "222222",
                "000042",
                "333333",
                None,
                None,
                None,
            ]
        )
        assert call.text.count(SAID[lang]["no_match"]) == 2
        assert SAID[lang]["locked"] in call.text  # the third wrong try ends status by phone
        assert bureau.outcomes == []
        # intake's own lockout: even the right PIN is refused on the next call
        bureau.wrong_pins = 5
        again = await caller.call([LANGUAGE_KEY[lang], "1", "000042", "271828"])
    assert SAID[lang]["locked"] in again.text
    assert bureau.outcomes == []


@BOTH
async def test_a_voicemail_becomes_a_phone_concern_with_a_callback_and_the_caller_hears_number_and_pin(  # noqa: E501
    phone: Phone, lang: str
) -> None:
    async with phone() as (caller, bureau):
        call = await caller.call([LANGUAGE_KEY[lang], "2", "1", Recording(seconds=31)])
    concern = bureau.concerns["CS-2026-000001"]
    body = concern["body"]
    assert body["channel"] == "phone"
    assert body["category"] == bureau.district.categories[0].id
    assert Recording().url in body["description"]
    assert body["requester"] == {"phone": CALLER, "language": lang, "preferred_contact": "phone"}
    said = SAID[lang]
    assert call.text.count(said["tracking"]) == 2 and call.text.count(said["pin"]) == 2
    assert said["callback"] in call.text
    assert bureau.callbacks == [
        (caller.params["CallSid"], "id-CS-2026-000001", IN_HOURS + timedelta(days=1))
    ]
    assert call.hung_up


@BOTH
async def test_a_withheld_number_is_asked_for_a_number_to_call_back(
    phone: Phone, lang: str
) -> None:
    async with phone(caller="+266696687") as (caller, bureau):
        call = await caller.call([LANGUAGE_KEY[lang], "2", "3", Recording()])
    assert bureau.concerns["CS-2026-000001"]["body"]["requester"]["phone"] is None
    # we cannot see the number: the caller is asked to say one, and the callback promised
    # is to the number they said
    said = SAID[lang]
    assert said["say_number"] in call.text
    assert said["callback_said"] in call.text and said["tracking"] in call.text


@BOTH
async def test_a_shown_number_is_called_back_without_being_asked_for(
    phone: Phone, lang: str
) -> None:
    async with phone() as (caller, _bureau):
        call = await caller.call([LANGUAGE_KEY[lang], "2", "3", Recording()])
    said = SAID[lang]
    assert said["say_number"] not in call.text and said["callback_said"] not in call.text


@BOTH
async def test_speak_to_someone_reaches_the_service_desk_in_its_hours(
    phone: Phone, lang: str
) -> None:
    async with phone(IN_HOURS) as (caller, bureau):
        call = await caller.call([LANGUAGE_KEY[lang], "3", Answer("completed", talk_s=120)])
    assert call.dialled == [SERVICE_DESK]
    assert SAID[lang]["closed"] not in call.text
    assert bureau.outcomes == [CallOutcome.CONNECTED]


@BOTH
@pytest.mark.parametrize(
    ("at", "desk"),
    [(WEEKNIGHT, NIGHT_DESK), (WEEKEND, WEEKEND_DESK), (CHRISTMAS_NOON, WEEKEND_DESK)],
    ids=["weeknight", "weekend", "holiday"],
)
async def test_after_hours_the_on_duty_security_desk_of_the_roster_answers(
    phone: Phone, lang: str, at: datetime, desk: str
) -> None:
    async with phone(at) as (caller, bureau):
        call = await caller.call([LANGUAGE_KEY[lang], "3", Answer()])
    assert call.dialled == [desk]
    assert SAID[lang]["closed"] in call.text
    assert bureau.outcomes == [CallOutcome.CONNECTED]


@BOTH
async def test_when_nobody_answers_the_caller_leaves_a_voicemail(phone: Phone, lang: str) -> None:
    async with phone(WEEKNIGHT) as (caller, bureau):
        call = await caller.call([LANGUAGE_KEY[lang], "3", Answer("no-answer"), "2", Recording()])
    assert call.dialled == [NIGHT_DESK]
    assert SAID[lang]["nobody"] in call.text
    assert SAID[lang]["tracking"] in call.text
    assert bureau.concerns["CS-2026-000001"]["body"]["category"] == bureau.district.categories[1].id
    assert len(bureau.callbacks) == 1


@pytest.mark.parametrize(
    ("script", "known"),
    [
        (["1", "1"], True),  # offered their concern, says nothing
        (["1", "2"], False),  # asked for a category, says nothing
        (["1", "2", "9", "9", "9"], False),  # keys a category that is not on the list
    ],
    ids=["recent-concern", "category", "no-such-category"],
)
async def test_a_caller_who_does_not_answer_a_prompt_is_asked_at_most_three_times(
    phone: Phone, script: list[str | None], known: bool
) -> None:
    async with phone() as (caller, bureau):
        if known:
            bureau.add(phone=CALLER)
        call = await caller.call(script)
    assert call.hung_up and "Goodbye" in call.text
    asked = [r for r in call.requests if r.startswith(("/voice/status/recent", "/voice/report"))]
    assert len(asked) <= 6  # each prompt and the answer to it, three times at most


async def test_the_phone_is_alive_but_not_ready_while_intake_is_away(phone: Phone) -> None:
    async with phone() as (caller, bureau):
        assert (await caller.http.get("/readyz")).status_code == 200

        async def away() -> bool:
            return False

        bureau.ready = away  # type: ignore[method-assign]
        assert (await caller.http.get("/healthz")).status_code == 200
        assert (await caller.http.get("/readyz")).status_code == 503


async def test_silence_at_the_recording_files_nothing(phone: Phone) -> None:
    async with phone() as (caller, bureau):
        call = await caller.call(["1", "2", "1", None])
    assert bureau.concerns == {}
    assert "We did not hear a message." in call.text


async def test_unsigned_and_wrongly_signed_webhooks_are_refused(phone: Phone) -> None:
    production = PhoneSettings(
        environment="production",
        twilio_auth_token=SecretStr(TOKEN),
        phone_public_url=BASE,
        bureau_client_token=SecretStr("a-token-from-the-idp"),
    )
    async with phone(settings=production) as (caller, bureau):
        params = {**caller.params, "Digits": "1"}
        url = f"{BASE}/voice/language"
        unsigned = await caller.http.post(url, data=params)
        forged = await caller.http.post(
            url,
            data=params,
            headers={"X-Twilio-Signature": sign("someone-elses-token", url, params)},
        )
        tampered = await caller.http.post(
            url,
            data={**params, "Digits": "2"},
            headers={"X-Twilio-Signature": sign(TOKEN, url, params)},
        )
        other_url = await caller.http.post(
            f"{BASE}/voice/menu?lang=en",
            data=params,
            headers={"X-Twilio-Signature": sign(TOKEN, url, params)},
        )
        text = await caller.http.post(f"{BASE}/sms", data=params)
        signed = await caller.post("voice/language", {"Digits": "1"})
    for refused in (unsigned, forged, tampered, other_url, text):
        assert refused.status_code == 403
        assert "<Response" not in refused.text
    assert signed.status_code == 200
    assert bureau.steps == [(caller.params["CallSid"], "language", None)]


def test_outside_development_the_auth_token_is_required() -> None:
    with pytest.raises(ValueError, match="TWILIO_AUTH_TOKEN"):
        PhoneSettings(
            environment="production", bureau_client_token=SecretStr("a-token-from-the-idp")
        )


async def test_in_development_without_a_token_webhooks_are_accepted_unsigned(phone: Phone) -> None:
    async with phone(settings=PhoneSettings()) as (caller, _bureau):
        answer = await caller.http.post(f"{BASE}/voice/incoming", data=caller.params)
    assert answer.status_code == 200 and "<Gather" in answer.text


# --- SMS ----------------------------------------------------------------------------------


async def text(caller: Caller, body: str) -> str:
    answer = await caller.post("sms", {"Body": body, "MessageSid": "SM" + "3" * 32})
    assert answer.status_code == 200
    return answer.text


async def test_stop_and_start_opt_the_number_out_and_in_with_the_carriers_replies(
    phone: Phone,
) -> None:
    async with phone() as (caller, bureau):
        stopped = await text(caller, " stop ")
        assert bureau.opted_out == {CALLER}
        assert "unsubscribed" in stopped and "START" in stopped
        started = await text(caller, "START")
        assert bureau.opted_out == set()
        assert "STOP" in started
        parar = await text(caller, "Parar")
        assert bureau.opted_out == {CALLER} and "INICIAR" in parar
        helped = await text(caller, "HELP")
    assert "+15555550100" in helped and "STOP" in helped and "rates may apply" in helped
    assert bureau.texts == []


async def test_status_by_text_answers_the_senders_open_concern_in_its_language(
    phone: Phone,
) -> None:
    async with phone() as (caller, bureau):
        nothing = await text(caller, "STATUS")
        bureau.add(phone=CALLER, language="es")
        found = await text(caller, "status")
    assert "no open concern" in nothing
    assert "Caso CS-2026-000042: en trámite." in found
    assert "Plazo: viernes 4 de diciembre, a las 15:00." in found


@BOTH
async def test_status_of_another_concern_by_text_is_not_answered_with_the_latest(
    phone: Phone, lang: str
) -> None:
    async with phone() as (caller, bureau):
        for number in ("CS-2026-000041", "CS-2026-000042"):
            bureau.add(tracking_number=number, pin="271828", phone=CALLER, language=lang)
        found = await text(caller, f"{'STATUS' if lang == 'en' else 'ESTADO'} CS-2026-000041")
    # the latest open concern is 000042: its status is not passed off as 000041's, and the
    # way to hear 000041's (a call, with its PIN) is said
    assert "CS-2026-000041" in found and "+15555550100" in found
    assert SAID[lang]["sms_pin"] in found


async def test_other_texts_are_threaded_into_the_senders_open_concern(phone: Phone) -> None:
    async with phone() as (caller, bureau):
        bureau.add(phone=CALLER, status=Status.ACKNOWLEDGED)
        answer = await text(caller, "The bus came late again today.")
    assert bureau.texts == [(CALLER, "The bus came late again today.", "CS-2026-000042")]
    assert "added to concern CS-2026-000042" in answer


async def test_yes_or_si_answering_the_bureau_is_threaded_unless_the_number_opted_out(
    phone: Phone,
) -> None:
    # "Sí" and "YES" are opt-in keywords too: they answer a question of the bureau unless the
    # number said STOP, and only then subscribe it again
    async with phone() as (caller, bureau):
        bureau.add(phone=CALLER, language="es", status=Status.AWAITING_REQUESTER)
        answered = await text(caller, "Sí")
        assert bureau.texts == [(CALLER, "Sí", "CS-2026-000042")]
        assert "se añadió al caso CS-2026-000042" in answered
        await text(caller, "STOP")
        started = await text(caller, "yes")
        assert bureau.opted_out == set() and "STOP" in started
    assert len(bureau.texts) == 1


async def test_a_photo_sent_by_text_reaches_the_concern_as_a_link(phone: Phone) -> None:
    photo = "https://api.twilio.example/2010-04-01/Accounts/AC/Messages/MM1/Media/ME1"
    async with phone() as (caller, bureau):
        bureau.add(phone=CALLER)
        answer = await caller.post(
            "sms",
            {
                "Body": "",
                "NumMedia": "1",
                "MediaUrl0": photo,
                "MediaContentType0": "image/jpeg",
                "MessageSid": "MM" + "3" * 32,
            },
        )
    [(_, body, tracking)] = bureau.texts
    assert photo in body and tracking == "CS-2026-000042"
    assert "added to concern CS-2026-000042" in answer.text


def test_a_voice_that_does_not_speak_its_language_is_refused_by_the_config_check() -> None:
    shipped = phone_config(load_district(DEFAULT_DISTRICT_CONFIG)).model_dump()
    with pytest.raises(ValidationError, match="does not speak 'es-MX'"):
        PhoneConfig.model_validate({**shipped, "speakers": {"en": "Polly.Joanna", "es": "woman"}})
    # the basic voices speak plain Spanish
    plain = {"voices": {"en": "en-US", "es": "es"}, "speakers": {"en": "man", "es": "woman"}}
    assert PhoneConfig.model_validate({**shipped, **plain}).say("es") == {
        "language": "es",
        "voice": "woman",
    }


# --- the satisfaction survey of a resolved concern -----------------------------------------

SURVEY = {
    "en": {
        "question": "how satisfied are you with how we handled it? Press 1 for very dissatisfied",
        "five": "or 5 for very satisfied",
        "thanks": "Thank you for your answer.",
        "goodbye": "Thank you for calling. Goodbye.",
        "resolved": "Your concern 2 0 2 6, 0 0 0 0 4 2 is resolved.",
    },
    "es": {
        "question": "¿qué tan satisfecho está con la forma en que lo atendimos? Oprima 1 si está "
        "muy insatisfecho",
        "five": "o 5 si está muy satisfecho",
        "thanks": "Gracias por su respuesta.",
        "goodbye": "Gracias por llamar. Adiós.",
        "resolved": "Su caso 2 0 2 6, 0 0 0 0 4 2 está resuelto.",
    },
}
RESOLVED = "CS-2026-000042"


def resolved_concern(bureau: FakeBureau, survey: str | None = "open") -> None:
    bureau.add(tracking_number=RESOLVED, status=Status.RESOLVED)
    if survey is not None:
        bureau.surveys[RESOLVED] = survey


def survey_steps(bureau: FakeBureau) -> list[str]:
    return [step for _, step, _ in bureau.steps if step.startswith("survey")]


@BOTH
async def test_after_a_resolved_concerns_status_the_caller_answers_the_survey_and_hears_thanks(
    phone: Phone, lang: str
) -> None:
    async with phone() as (caller, bureau):
        resolved_concern(bureau)
        call = await caller.call([LANGUAGE_KEY[lang], "1", "000042", "271828", "4"])
        said = SURVEY[lang]
        text = call.text
        assert text.index(said["resolved"]) < text.index(said["question"])
        assert said["five"] in text and said["thanks"] in text and call.hung_up
        [asked] = [g for g in call.gathers if g["action"].startswith("/voice/survey")]
        assert asked["numDigits"] == "1" and asked["timeout"] == "6"  # one key, not forever
        assert bureau.survey_answers == [(RESOLVED, 4)]
        # the answer is a step on the call's path, not a second outcome: the call counts once
        assert survey_steps(bureau) == ["survey:answered"]
        assert bureau.outcomes == [CallOutcome.STATUS_HEARD]

        # the next call about the same concern is not asked again
        again = await caller.call([LANGUAGE_KEY[lang], "1", "000042", "271828", None, None, None])
    assert said["resolved"] in again.text
    assert said["question"] not in again.text
    assert bureau.survey_answers == [(RESOLVED, 4)]


@BOTH
@pytest.mark.parametrize(
    ("keys", "score"),
    [([None, None], None), (["9", None], None), (["0", "2"], 2), ([None, "5"], 5)],
    ids=["silence", "wrong-key-then-silence", "wrong-key-then-score", "silence-then-score"],
)
async def test_the_survey_question_is_repeated_once_then_the_call_ends_politely(
    phone: Phone, lang: str, keys: list[str | None], score: int | None
) -> None:
    async with phone() as (caller, bureau):
        resolved_concern(bureau)
        call = await caller.call([LANGUAGE_KEY[lang], "1", "000042", "271828", *keys, "1"])
    said = SURVEY[lang]
    assert call.text.count(said["question"]) == 2  # asked, and repeated once
    assert [r for r in call.requests if r.startswith("/voice/survey")] == [
        f"/voice/survey?lang={lang}&tn={RESOLVED}&prompt={n}" for n in (1, 2)
    ]
    assert call.hung_up and call.heard[-1] == said["goodbye"]
    if score is None:  # the extra "1" in the script is never asked for
        assert bureau.survey_answers == [] and said["thanks"] not in call.text
        assert survey_steps(bureau) == []
    else:
        assert bureau.survey_answers == [(RESOLVED, score)] and said["thanks"] in call.text


@BOTH
@pytest.mark.parametrize("survey", ["answered", "expired", "unreachable", None])
async def test_a_survey_answered_expired_not_open_or_unreachable_is_skipped_without_a_word(
    phone: Phone, lang: str, survey: str | None
) -> None:
    async with phone() as (caller, bureau):
        resolved_concern(bureau, survey)
        call = await caller.call([LANGUAGE_KEY[lang], "1", "000042", "271828", None, None, None])
    said = SURVEY[lang]
    assert said["resolved"] in call.text and SAID[lang]["menu"] in call.text  # as before
    assert said["question"] not in call.text
    for error in ("Sorry", "sorry", "Perdone", "Lo sentimos"):
        assert error not in call.text.split(said["resolved"])[1].split(SAID[lang]["menu"])[0]
    assert bureau.survey_answers == []


async def test_a_survey_notify_is_slow_to_tell_of_is_skipped(
    phone: Phone, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("frontends.phone.app.SURVEY_CHECK_S", 0.05)
    async with phone() as (caller, bureau):
        resolved_concern(bureau)
        never = asyncio.Event()

        async def hangs(tracking_number: str) -> Survey:
            await never.wait()
            raise AssertionError("notify never answers")

        bureau.concern_survey = hangs  # type: ignore[method-assign]
        call = await caller.call(["1", "1", "000042", "271828", None, None, None])
    assert SURVEY["en"]["resolved"] in call.text and SAID["en"]["menu"] in call.text
    assert SURVEY["en"]["question"] not in call.text


@BOTH
async def test_a_survey_answered_meanwhile_by_another_door_ends_the_call_without_an_error(
    phone: Phone, lang: str
) -> None:
    async with phone() as (caller, bureau):
        resolved_concern(bureau)
        answer = bureau.answer_concern_survey

        async def web_first(tracking_number: str, score: int) -> None:
            bureau.surveys[tracking_number] = "answered"  # the status page was quicker
            await answer(tracking_number, score)

        bureau.answer_concern_survey = web_first  # type: ignore[method-assign]
        call = await caller.call([LANGUAGE_KEY[lang], "1", "000042", "271828", "3"])
    said = SURVEY[lang]
    assert said["question"] in call.text and said["thanks"] not in call.text
    assert call.hung_up and call.heard[-1] == said["goodbye"]
    assert bureau.survey_answers == [] and survey_steps(bureau) == []


async def test_a_concern_not_resolved_is_not_surveyed(phone: Phone) -> None:
    async with phone() as (caller, bureau):
        bureau.add(tracking_number=RESOLVED, status=Status.REOPENED)
        bureau.surveys[RESOLVED] = "open"  # the survey of its first resolution, still open
        call = await caller.call(["1", "1", "000042", "271828", None, None, None])
    assert SURVEY["en"]["question"] not in call.text
    assert bureau.survey_answers == []


# --- every spoken line in the caller's language and a voice that speaks it --------------

PATHS: dict[str, tuple[datetime, str, list[Input], str | None]] = {
    # name: (when, caller's number, script after the language key, what the bureau holds)
    "status-offered": (IN_HOURS, CALLER, ["1", "1", "271828", None, None, None], "mine"),
    "status-wrong-then-locked": (
        IN_HOURS,
        CALLER,
        ["1", "2", "000042", "111111", "000042", "111111", "000042", "111111", None, None, None],
        "theirs",
    ),
    "status-awaiting-me": (IN_HOURS, CALLER, ["1", "1", "271828", None, None, None], "waiting"),
    "survey-answered": (IN_HOURS, CALLER, ["1", "000042", "271828", "4"], "resolved"),
    "survey-ignored": (IN_HOURS, CALLER, ["1", "000042", "271828", "9", None], "resolved"),
    "voicemail": (IN_HOURS, CALLER, ["2", "1", Recording()], None),
    "voicemail-withheld": (IN_HOURS, "+266696687", ["2", "2", Recording()], None),
    "voicemail-silent": (IN_HOURS, CALLER, ["2", "1", None], None),
    "category-never-chosen": (IN_HOURS, CALLER, ["2", "0", None, None], None),
    "service-desk": (IN_HOURS, CALLER, ["3", Answer()], None),
    "security-desk": (WEEKNIGHT, CALLER, ["3", Answer()], None),
    "nobody-answers": (WEEKEND, CALLER, ["3", Answer("no-answer"), "1", Recording()], None),
    "silence": (IN_HOURS, CALLER, [None, None, None], None),
    "bureau-away": (IN_HOURS, CALLER, ["2", "1", Recording()], "away"),
}


def holding(bureau: FakeBureau, what: str | None) -> None:
    """What the bureau holds before the call, for one path."""
    if what == "mine":
        bureau.add(phone=CALLER)
    elif what == "theirs":
        bureau.add(phone=CALLER)
        bureau.wrong_pins = 2  # intake locks the PIN on the fifth wrong one
    elif what == "waiting":
        bureau.add(phone=CALLER, status=Status.AWAITING_REQUESTER)
    elif what == "resolved":
        resolved_concern(bureau)
    elif what == "away":

        async def unavailable(body: dict[str, Any], *, idempotency_key: str) -> Any:
            raise IntakeUnavailable(503, "Service Unavailable")

        bureau.create_concern = unavailable  # type: ignore[method-assign]


@BOTH
@pytest.mark.parametrize("path", list(PATHS))
async def test_every_line_of_every_path_is_said_in_the_callers_language_by_a_voice_that_speaks_it(
    phone: Phone, lang: str, path: str
) -> None:
    # Twilio fails a <Say> whose voice does not speak its language (its default voice speaks
    # no es-MX): a Spanish caller must hear every line in es-MX by Polly.Mia, on every path
    at, number, script, what = PATHS[path]
    async with phone(at, caller=number) as (caller, bureau):
        holding(bureau, what)
        call = await caller.call([LANGUAGE_KEY[lang], *script])
    said_as = phone_config(shipped_district()).say(language(lang))
    expected = (said_as["language"], said_as["voice"])
    assert expected == (("en-US", "Polly.Joanna") if lang == "en" else ("es-MX", "Polly.Mia"))
    spoken = list(zip(call.heard[2:], call.languages[2:], call.voices[2:], strict=True))
    assert len(spoken) >= 2, spoken  # more than the offer of each language
    assert [line for line in spoken if line[1:] != expected] == []
    assert call.hung_up or call.dialled


# --- the survey of a resolved concern, by text -----------------------------------------------

TEXTED = {
    "en": {
        "status": "STATUS",
        "survey": "SURVEY",
        "resolved": "Concern CS-2026-000042: resolved.",
        "question": "How did we do? Reply with a number from 1 (very dissatisfied) to 5",
        "thanks": "Thank you: your answer about concern CS-2026-000042 was recorded.",
        "already": "We already have your answer about concern CS-2026-000042.",
        "none": "There is no survey open for concern CS-2026-000042.",
    },
    "es": {
        "status": "ESTADO",
        "survey": "ENCUESTA",
        "resolved": "Caso CS-2026-000042: resuelto.",
        "question": "¿Cómo lo hicimos? Responda con un número del 1 (muy insatisfecho) al 5",
        "thanks": "Gracias: registramos su respuesta sobre el caso CS-2026-000042.",
        "already": "Ya tenemos su respuesta sobre el caso CS-2026-000042.",
        "none": "No hay ninguna encuesta abierta para el caso CS-2026-000042.",
    },
}


def texting_family_resolved(bureau: FakeBureau, lang: str, survey: str | None = "open") -> None:
    bureau.add(phone=CALLER, language=lang, status=Status.RESOLVED)
    if survey is not None:
        bureau.surveys[RESOLVED] = survey


@BOTH
async def test_a_family_who_only_texts_hears_its_concern_resolved_and_answers_the_survey_by_text(
    phone: Phone, lang: str
) -> None:
    said = TEXTED[lang]
    async with phone() as (caller, bureau):
        texting_family_resolved(bureau, lang)
        status = await text(caller, said["status"])
        thanked = await text(caller, "4")
        again = await text(caller, "5")  # a second answer (or the provider's retry)
    assert said["resolved"] in status and said["question"] in status
    assert said["thanks"] in thanked
    assert said["already"] in again
    assert bureau.survey_answers == [(RESOLVED, 4)]  # one answer per concern, whichever door
    assert bureau.texts == []  # a score is not a message on the resolved concern


@BOTH
async def test_survey_keyword_asks_the_question_or_takes_its_score(phone: Phone, lang: str) -> None:
    said = TEXTED[lang]
    async with phone() as (caller, bureau):
        texting_family_resolved(bureau, lang)
        asked = await text(caller, said["survey"])
        answered = await text(caller, f"{said['survey'].lower()} 2")
    assert said["question"] in asked
    assert said["thanks"] in answered and bureau.survey_answers == [(RESOLVED, 2)]


@pytest.mark.parametrize("survey", [None, "answered", "expired"], ids=str)
async def test_status_of_a_resolved_concern_whose_survey_is_not_open_asks_nothing(
    phone: Phone, survey: str | None
) -> None:
    async with phone() as (caller, bureau):
        texting_family_resolved(bureau, "en", survey)
        status = await text(caller, "STATUS")
        score = await text(caller, "3")
    assert TEXTED["en"]["resolved"] in status and "How did we do" not in status
    assert ("already have" if survey == "answered" else "no survey open") in score
    assert bureau.survey_answers == []


async def test_a_digit_texted_while_a_concern_is_open_is_a_message_for_it(phone: Phone) -> None:
    # "2" may answer the bureau's question ("how many children ride the bus?"): while a
    # concern is open, a digit is a message like any other, never a score of an older one
    async with phone() as (caller, bureau):
        texting_family_resolved(bureau, "en")
        bureau.add(tracking_number="CS-2026-000043", phone=CALLER)
        answer = await text(caller, "2")
        survey = await text(caller, "SURVEY 5")
    assert bureau.texts == [(CALLER, "2", "CS-2026-000043")]
    assert "added to concern CS-2026-000043" in answer
    assert "There is no survey open for concern CS-2026-000043." in survey
    assert bureau.survey_answers == []


async def test_a_texted_score_notify_cannot_take_now_is_answered_try_later(phone: Phone) -> None:
    async with phone() as (caller, bureau):
        texting_family_resolved(bureau, "en", "unreachable")
        answer = await text(caller, "5")
    assert "try again later" in answer and bureau.survey_answers == []


@pytest.mark.parametrize(
    ("body", "keyword", "score"),
    [
        ("5", Keyword.MESSAGE, 5),
        (" 1. ", Keyword.MESSAGE, 1),
        ("6", Keyword.MESSAGE, None),
        ("5 kids", Keyword.MESSAGE, None),
        ("Survey", Keyword.SURVEY, None),
        ("encuesta 3", Keyword.SURVEY, 3),
        ("SURVEY 9", Keyword.MESSAGE, None),
    ],
)
def test_a_texted_score_is_one_digit_from_1_to_5_alone_or_after_survey(
    body: str, keyword: Keyword, score: int | None
) -> None:
    text = classify_text(body)
    assert (text.keyword, text.score) == (keyword, score)
