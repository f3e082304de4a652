"""The phone front door's webhooks: voice (`/voice/...`) and messaging (`/sms`), TwiML out.

Every webhook is form-encoded and signed by the provider (`X-Twilio-Signature` over the URL
and the parameters); a request whose signature is missing or wrong is refused with 403
whenever an auth token is configured, which it must be outside development. Routes are thin:
the call's state is in the URL, the decisions in `domain`, the words and TwiML in `voice` and
`sms`, the services behind `client.Bureau`. A failure of a service is said to the caller
("please try again"), never a 500.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from twilio.request_validator import RequestValidator
from twilio.twiml import TwiML

from frontends.common.app import health_router
from frontends.common.intake import IntakeError, IntakeNotFound, IntakeUnavailable, RequesterView
from frontends.phone import domain, sms
from frontends.phone.client import (
    Bureau,
    CallOutcome,
    CallStepCreate,
    HttpBureau,
    InboundMessageCreate,
)
from frontends.phone.config import PhoneConfig, phone_config
from frontends.phone.settings import PhoneSettings
from frontends.phone.voice import MAX_PROMPTS, SURVEY_PROMPTS, Speaker, choose_language
from shared.clock import Clock, SystemClock
from shared.district import DistrictConfig, load_district

log = logging.getLogger(__name__)

# Numbers a provider sends for a caller who withheld theirs (Twilio's markers).
WITHHELD = frozenset({"+266696687", "+7378742833", "+2562533", "+86282452253", "+8656696"})
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# How long a caller who heard a resolved concern's status waits on notify for its survey,
# at most: a survey notify cannot tell of in that time is not asked.
SURVEY_CHECK_S = 3.0


@dataclass
class Phone:
    """What the routes share: wired once in `create_app`."""

    settings: PhoneSettings
    district: DistrictConfig
    config: PhoneConfig
    bureau: Bureau
    clock: Clock
    validator: RequestValidator | None

    def speaker(self, language: domain.Language) -> Speaker:
        return Speaker(
            language=language,
            config=self.config,
            district=self.district.district.name,
            timezone=self.district.district.timezone,
        )


def caller_number(value: str | None) -> str | None:
    """The caller's number when it is a real, shown E.164 number."""
    return value if value and E164.match(value) and value not in WITHHELD else None


def twiml(response: TwiML) -> Response:
    return Response(content=str(response), media_type="application/xml")


def signed_url(request: Request, public_url: str | None) -> str:
    """The URL the provider signed: the public address when set (behind a proxy)."""
    if not public_url:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{public_url.rstrip('/')}{request.url.path}{query}"


def phone_of(request: Request) -> Phone:
    phone: Phone = request.app.state.phone
    return phone


async def signed_form(request: Request) -> dict[str, str]:
    """The webhook's parameters, once its signature is checked."""
    phone = phone_of(request)
    form = await request.form()
    params = {key: value for key, value in form.items() if isinstance(value, str)}
    if phone.validator is None:
        return params
    signature = request.headers.get("X-Twilio-Signature", "")
    url = signed_url(request, phone.settings.phone_public_url)
    if not signature or not phone.validator.validate(url, params, signature):
        log.warning("webhook refused: missing or wrong signature", extra={"path": request.url.path})
        raise HTTPException(403, "Forbidden: this webhook must be signed by the provider.")
    return params


Form = Annotated[dict[str, str], Depends(signed_form)]
Ctx = Annotated[Phone, Depends(phone_of)]


def create_app(
    settings: PhoneSettings, *, bureau: Bureau | None = None, clock: Clock | None = None
) -> FastAPI:
    """The phone frontend; `bureau` and `clock` are replaced by fakes in tests."""
    district = load_district(settings.district_config)
    config = phone_config(district)
    token = settings.twilio_auth_token
    if not token:
        log.warning("TWILIO_AUTH_TOKEN is unset: webhooks are not checked (development only)")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = None if bureau is not None else HttpBureau(settings)
        app.state.phone = Phone(
            settings=settings,
            district=district,
            config=config,
            bureau=bureau or own,  # type: ignore[arg-type]
            clock=clock or SystemClock(),
            validator=RequestValidator(token.get_secret_value()) if token else None,
        )
        app.state.intake = app.state.phone.bureau
        try:
            yield
        finally:
            if own is not None:
                await own.aclose()

    app = FastAPI(title="Bureau phone front door", lifespan=lifespan, openapi_url=None)
    app.include_router(health_router())
    app.add_api_route("/voice/incoming", incoming, methods=["POST"])
    app.add_api_route("/voice/language", chose_language, methods=["POST"])
    app.add_api_route("/voice/menu", menu, methods=["POST"])
    app.add_api_route("/voice/status/recent", status_recent, methods=["POST"])
    app.add_api_route("/voice/status/number", status_number, methods=["POST"])
    app.add_api_route("/voice/status/pin", status_pin, methods=["POST"])
    app.add_api_route("/voice/survey", survey, methods=["POST"])
    app.add_api_route("/voice/report/category", report_category, methods=["POST"])
    app.add_api_route("/voice/report/recorded", report_recorded, methods=["POST"])
    app.add_api_route("/voice/dial/done", dial_done, methods=["POST"])
    app.add_api_route("/voice/call-status", call_status, methods=["POST"])
    app.add_api_route("/sms", sms_incoming, methods=["POST"])

    @app.exception_handler(HTTPException)
    async def refused(request: Request, exc: HTTPException) -> Response:
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> Response:
        # Said to the caller rather than a 500: the provider would play its own error.
        log.error("webhook failed", extra={"path": request.url.path, "error": type(exc).__name__})
        if request.url.path.startswith("/sms"):
            return twiml(sms.reply(None))
        lang = domain.language(request.query_params.get("lang"))
        return twiml(phone_of(request).speaker(lang).unavailable())

    return app


# --- call records: best effort, a call is served even when they fail --------------------


async def record(phone: Phone, form: dict[str, str], step: str, **fields: Any) -> None:
    sid = form.get("CallSid")
    if not sid:
        return
    try:
        await phone.bureau.call_step(sid, CallStepCreate(step=step, **fields))
    except (IntakeError, ValidationError) as exc:
        # ValidationError: a step named from the URL intake would refuse as well
        log.warning("call step not recorded", extra={"step": step, "error": str(exc)})


def state(request: Request) -> tuple[domain.Language, int, bool]:
    """The call's language, the prompt count, and whether to ask again (from the URL)."""
    query = request.query_params
    prompt = query.get("prompt", "1")
    return (
        domain.language(query.get("lang")),
        int(prompt) if prompt.isdigit() else 1,
        query.get("ask") == "1",
    )


def tries_of(request: Request) -> int:
    tries = request.query_params.get("tries", "0")
    return int(tries) if tries.isdigit() else 0


# --- the call -----------------------------------------------------------------------------


async def incoming(form: Form, phone: Ctx) -> Response:
    """A call arrives: language first."""
    sid = form.get("CallSid")
    if sid:
        try:
            await phone.bureau.start_call(sid)
        except IntakeError as exc:
            log.warning("call record not started", extra={"error": str(exc)})
    return twiml(choose_language(phone.config))


async def chose_language(form: Form, phone: Ctx) -> Response:
    lang = domain.language_choice(form.get("Digits")) or "en"
    await record(phone, form, "language", language=lang)
    return twiml(phone.speaker(lang).menu())


async def menu(request: Request, form: Form, phone: Ctx) -> Response:
    lang, prompt, ask = state(request)
    speaker = phone.speaker(lang)
    if ask:
        return twiml(speaker.menu(prompt=prompt, greet=False))
    choice = domain.menu_choice(form.get("Digits"))
    if choice is None:
        return twiml(speaker.again("/voice/menu", prompt))
    await record(phone, form, f"menu:{choice.value}")
    if choice is domain.Choice.STATUS:
        caller = caller_number(form.get("From"))
        recent = await phone.bureau.recent_concern(caller) if caller else None
        if recent is not None:
            return twiml(speaker.offer_recent(recent.view.tracking_number))
        return twiml(speaker.ask_tracking(0))
    if choice is domain.Choice.REPORT:
        return twiml(speaker.ask_category(await _category_names(phone, lang)))
    desk = domain.desk_for(phone.clock.now(), phone.config, phone.district.district.timezone)
    await record(phone, form, f"dial:{desk.kind.value}")
    return twiml(speaker.connect(desk))


async def _category_names(phone: Phone, lang: domain.Language) -> list[str]:
    return [name for _, name in await phone.bureau.category_names(lang)]


async def status_recent(request: Request, form: Form, phone: Ctx) -> Response:
    lang, prompt, _ask = state(request)
    speaker = phone.speaker(lang)
    tracking = domain.valid_tracking(request.query_params.get("tn"))
    digits = form.get("Digits")
    if digits == "1" and tracking:
        return twiml(speaker.ask_pin(tracking, 0))
    if digits == "2" or not tracking:
        return twiml(speaker.ask_tracking(0))
    if prompt >= MAX_PROMPTS:
        return twiml(speaker.goodbye(speaker._("Sorry, I did not get that.")))
    return twiml(speaker.offer_recent(tracking, prompt + 1))


async def status_number(request: Request, form: Form, phone: Ctx) -> Response:
    lang, _prompt, _ask = state(request)
    speaker = phone.speaker(lang)
    tries = tries_of(request)
    today = domain.local_time(phone.clock.now(), phone.district.district.timezone).date()
    tracking = domain.tracking_number(form.get("Digits"), today=today)
    if tracking is None:
        return twiml(_wrong(speaker, tries + 1, phone))
    return twiml(speaker.ask_pin(tracking, tries))


def _wrong(speaker: Speaker, tries: int, phone: Phone) -> Any:
    if tries >= phone.config.status_attempts:
        return speaker.locked()
    return speaker.ask_tracking(tries, before=speaker.no_match())


async def status_pin(request: Request, form: Form, phone: Ctx) -> Response:
    lang, _prompt, _ask = state(request)
    speaker = phone.speaker(lang)
    tries = tries_of(request)
    tracking = domain.valid_tracking(request.query_params.get("tn"))
    pin = domain.pin(form.get("Digits"))
    if tracking is None or pin is None:
        return twiml(_wrong(speaker, tries + 1, phone))
    try:
        view = await phone.bureau.status_by_pin(tracking, pin)
    except IntakeNotFound:
        await record(phone, form, "status:no-match")
        return twiml(_wrong(speaker, tries + 1, phone))
    except IntakeUnavailable:
        return twiml(speaker.unavailable())
    except IntakeError:  # locked out (too many wrong PINs) or rate limited
        await record(phone, form, "status:locked")
        return twiml(speaker.locked())
    await record(  # tied to the concern heard: the call counts in its school on the Board
        phone,
        form,
        "status:heard",
        outcome=CallOutcome.STATUS_HEARD,
        served_at=phone.clock.now(),
        tracking_number=view.tracking_number,
    )
    return twiml(
        speaker.status(
            view.tracking_number,
            view.status.value,
            phone.district.team_name_in(view.team_name, speaker.language),
            view.resolution_due_at,
            survey=await _survey_open(phone, view.tracking_number, view.status.value),
        )
    )


async def _survey_open(phone: Phone, tracking_number: str, status: str) -> bool:
    """Whether to ask the satisfaction survey of the concern the caller just heard: resolved,
    and notify holds its survey open. Not yet open, answered by any door, expired, or notify
    slow or away: not asked, and nothing said about it."""
    if not domain.surveyed(status):
        return False
    try:
        async with asyncio.timeout(SURVEY_CHECK_S):
            found = await phone.bureau.concern_survey(tracking_number)
    except (IntakeError, TimeoutError) as exc:
        if not isinstance(exc, IntakeError) or exc.status not in (404, 410):
            log.warning(
                "survey state unavailable",
                extra={"tracking_number": tracking_number, "error": str(exc) or "timeout"},
            )
        return False
    return found.status == "open"


async def survey(request: Request, form: Form, phone: Ctx) -> Response:
    """The caller's key for the survey question: a score 1-5 goes to notify, and the caller
    hears thanks; another key or silence asks once more, then goodbye."""
    lang, prompt, _ask = state(request)
    speaker = phone.speaker(lang)
    tracking = domain.valid_tracking(request.query_params.get("tn"))
    if tracking is None:
        return twiml(speaker.goodbye())
    score = domain.survey_score(form.get("Digits"))
    if score is None:
        if prompt >= SURVEY_PROMPTS:
            return twiml(speaker.goodbye())
        return twiml(speaker.ask_survey(tracking, prompt=prompt + 1))
    try:
        await phone.bureau.answer_concern_survey(tracking, score)
    except IntakeError as exc:
        # answered meanwhile (another door, or the provider's retry), expired, or notify
        # away: not the caller's to hear about
        (log.info if exc.status in (409, 410) else log.warning)(
            "survey answer not taken", extra={"tracking_number": tracking, "status": exc.status}
        )
        return twiml(speaker.goodbye())
    # a step on the call's path, no outcome: the call still counts once (status heard) and
    # the answer once, as notify's `survey.answered`
    await record(phone, form, "survey:answered")
    return twiml(speaker.survey_thanks())


async def report_category(request: Request, form: Form, phone: Ctx) -> Response:
    lang, prompt, ask = state(request)
    speaker = phone.speaker(lang)
    via = request.query_params.get("via", "menu")
    categories = await phone.bureau.category_names(lang)
    if ask:
        return twiml(speaker.ask_category([n for _, n in categories], via=via, prompt=prompt))
    category = domain.category_choice(form.get("Digits"), [c for c, _ in categories][:9])
    if category is None:
        return twiml(speaker.again("/voice/report/category", prompt, via=via))
    await record(phone, form, "report:category")
    withheld = caller_number(form.get("From")) is None
    return twiml(speaker.record(category, via, withheld=withheld))


async def report_recorded(request: Request, form: Form, phone: Ctx) -> Response:
    """The voicemail becomes a concern with a callback; the caller hears number and PIN."""
    lang, _prompt, _ask = state(request)
    speaker = phone.speaker(lang)
    category = request.query_params.get("category", "")
    recording = form.get("RecordingUrl")
    seconds = form.get("RecordingDuration", "0")
    if request.query_params.get("empty") or not recording or seconds in ("", "0"):
        await record(phone, form, "report:no-recording")
        return twiml(speaker.goodbye(speaker._("We did not hear a message.")))
    caller = caller_number(form.get("From"))
    body: dict[str, Any] = {
        "channel": "phone",
        "category": category,
        "description": f"Voicemail left by phone ({seconds} s), to be listened to and "
        f"called back: {recording}",
        "requester": {
            "phone": caller,
            "language": lang,
            "preferred_contact": "phone" if caller else None,
        },
    }
    key = f"voicemail-{form.get('CallSid', '')}-{form.get('RecordingSid', recording)}"[:255]
    try:
        receipt = await phone.bureau.create_concern(body, idempotency_key=key)
    except IntakeError as exc:
        log.error(
            "voicemail not filed",
            extra={"error": str(exc), "recording_sid": form.get("RecordingSid")},
        )
        return twiml(
            speaker.goodbye(
                speaker._("We are sorry: we could not save your message. Please call again later.")
            )
        )
    due = domain.callback_due(phone.clock.now(), phone.config)
    sid = form.get("CallSid")
    if sid:
        try:
            await phone.bureau.voicemail_callback(sid, receipt.id, due)
        except IntakeError as exc:
            log.error("callback not scheduled", extra={"concern_id": receipt.id, "error": str(exc)})
    return twiml(
        speaker.received(
            receipt.tracking_number, getattr(receipt, "pin", None), due, withheld=caller is None
        )
    )


async def dial_done(request: Request, form: Form, phone: Ctx) -> Response:
    """After the Dial: connected, or voicemail when nobody answered."""
    lang, _prompt, _ask = state(request)
    speaker = phone.speaker(lang)
    desk = request.query_params.get("desk", "")
    status = form.get("DialCallStatus", "")
    if status in ("completed", "answered"):
        duration = form.get("DialCallDuration", "0")
        served = domain.answered_at(phone.clock.now(), int(duration) if duration.isdigit() else 0)
        await record(
            phone, form, f"connected:{desk}"[:40], outcome=CallOutcome.CONNECTED, served_at=served
        )
        return twiml(speaker.goodbye())
    await record(phone, form, f"unanswered:{desk}"[:40])
    names = await _category_names(phone, lang)
    return twiml(speaker.ask_category(names, via="dial", before=speaker.nobody_answered()))


async def call_status(form: Form, phone: Ctx) -> Response:
    """The provider's status callback: a finished call ends its record (abandoned if it
    reached no outcome)."""
    sid = form.get("CallSid")
    if sid and form.get("CallStatus") in ("completed", "busy", "failed", "no-answer", "canceled"):
        duration = form.get("CallDuration", "")
        try:
            await phone.bureau.end_call(sid, int(duration) if duration.isdigit() else None)
        except IntakeError as exc:
            log.warning("call end not recorded", extra={"error": str(exc)})
    return Response(status_code=204)


# --- SMS ----------------------------------------------------------------------------------


async def _opted_out(phone: Phone, number: str) -> bool:
    """Whether the number said STOP; when notify cannot tell, as if it had (an opt-in
    keyword then subscribes it again, as carriers require)."""
    try:
        return await phone.bureau.sms_opted_out(number)
    except IntakeError as exc:
        log.warning("opt-out not known", extra={"error": str(exc)})
        return True


async def _texted_survey(
    phone: Phone, words: sms.Words, lang: domain.Language, view: RequesterView, score: int | None
) -> str:
    """The answer to a texted score (`SURVEY 4`, or `4` alone once the number's concerns are
    all done) or to `SURVEY` alone (the question) for the number's latest concern: one answer
    per concern, whichever door, kept by notify."""
    tracking = view.tracking_number
    if score is None:
        open_ = await _survey_open(phone, tracking, view.status.value)
        return words.survey_question(lang) if open_ else words.no_survey(lang, tracking)
    if not domain.surveyed(view.status.value):
        return words.no_survey(lang, tracking)
    try:
        await phone.bureau.answer_concern_survey(tracking, score)
    except IntakeError as exc:
        if exc.status == 409:  # answered by another door, or the provider's retry
            return words.survey_already(lang, tracking)
        if exc.status in (404, 410):  # not open yet, or expired
            return words.no_survey(lang, tracking)
        log.warning("texted survey answer not taken", extra={"status": exc.status})
        return words.unavailable(lang)
    return words.survey_thanks(lang, tracking)


async def sms_incoming(form: Form, phone: Ctx) -> Response:
    """A text: STOP/START/HELP as carriers require, STATUS, or a message for the concern."""
    sender = caller_number(form.get("From"))
    text = domain.classify_text(form.get("Body"))
    words = sms.Words(
        district=phone.district.district.name,
        desk_number=phone.config.service_desk.number,
        timezone=phone.district.district.timezone,
    )
    if sender is None:
        return twiml(sms.reply(None))
    if text.also_an_answer and not await _opted_out(phone, sender):
        text = domain.Text(domain.Keyword.MESSAGE, text.language)  # "Sí": an answer
    if text.keyword in (domain.Keyword.STOP, domain.Keyword.START):
        opted_out = text.keyword is domain.Keyword.STOP
        try:
            await phone.bureau.sms_opt_out(sender, opted_out)
        except IntakeError as exc:
            log.error("opt-out not recorded", extra={"error": str(exc)})
        return twiml(
            sms.reply(
                words.stopped(text.language or "en")
                if opted_out
                else words.started(text.language or "en")
            )
        )
    if text.keyword is domain.Keyword.HELP:
        return twiml(sms.reply(words.help(text.language or "en")))
    # STATUS and a survey's answer may be about a concern already resolved (when none is open)
    done = text.keyword in (domain.Keyword.STATUS, domain.Keyword.SURVEY) or text.score is not None
    try:
        recent = await phone.bureau.recent_concern(sender, done=done)
    except IntakeError:
        return twiml(sms.reply(words.unavailable(text.language or "en")))
    lang = domain.language(recent.language if recent else text.language)
    if recent is None:
        return twiml(sms.reply(words.no_concern(lang)))
    view = recent.view
    resolved = domain.surveyed(view.status.value)
    if text.keyword is domain.Keyword.SURVEY or (text.score is not None and resolved):
        return twiml(sms.reply(await _texted_survey(phone, words, lang, view, text.score)))
    if text.keyword is domain.Keyword.STATUS:
        status = words.status(
            lang,
            view.tracking_number,
            view.status.value,
            phone.district.team_name_in(view.team_name, lang),
            view.resolution_due_at,
        )
        if text.tracking_number and text.tracking_number != view.tracking_number:
            status = f"{words.other_concern(lang, text.tracking_number)} {status}"
        if await _survey_open(phone, view.tracking_number, view.status.value):
            status = f"{status} {words.survey_question(lang)}"  # asked: the family texted
        return twiml(sms.reply(status))
    try:
        await phone.bureau.inbound_text(
            InboundMessageCreate(
                channel="sms",
                from_address=sender,
                body=sms.message_text(form),
                tracking_number=recent.view.tracking_number,
                external_id=form.get("MessageSid"),
            )
        )
    except IntakeNotFound:
        return twiml(sms.reply(words.no_concern(lang)))
    except (IntakeError, ValidationError) as exc:  # ValidationError: intake would refuse it
        log.warning("text not threaded", extra={"error": str(exc)})
        return twiml(sms.reply(words.unavailable(lang)))
    return twiml(sms.reply(words.threaded(lang, recent.view.tracking_number)))
