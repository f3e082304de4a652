"""Wiring and routes of the family web. Routes are thin: read the form, call a service,
render a template or redirect (Post/Redirect/Get)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import BytecodeCache, Environment, FileSystemLoader, select_autoescape
from jinja2.bccache import Bucket
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frontends.common.app import health_router
from frontends.common.intake import (
    IntakeConflict,
    IntakeError,
    IntakeInvalid,
    IntakeNotFound,
    IntakePinLocked,
    IntakeRateLimited,
    IntakeUnavailable,
    RequesterView,
)
from frontends.common.staff import StaffClient
from frontends.web import board, forms, pages, staff
from frontends.web.board.client import BoardClient
from frontends.web.client import IntakeClient, NotifyClient
from frontends.web.i18n import N_, NATIVE_NAMES, RIGHT_TO_LEFT, Translations
from frontends.web.security import (
    ACCESS_COOKIE,
    ACCESS_MAX_AGE_S,
    CSRF_COOKIE,
    DONE_COOKIE,
    LANGUAGE_COOKIE,
    RECEIPT_COOKIE,
    RECEIPT_MAX_AGE_S,
    ContentSecurityPolicy,
    Csrf,
    SignedCookies,
)
from frontends.web.settings import WebConfig, WebSettings
from frontends.web.uploads import PendingFile, PendingFiles
from services.intake.attachment_schemas import AttachmentLimits, AttachmentSettings, limits_of
from shared.district import DistrictConfig, load_district
from shared.logs import configure_logging
from shared.ratelimit import RateLimiter
from shared.security_headers import SecurityHeaders

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
HONEYPOT = "website"  # hidden from people; a bot that fills it is refused
FORM_FIELDS_BYTES = 1024 * 1024  # a form's answers beside its files, at most
TRACKING_MAX = 32
TOKEN_MAX = 128
MESSAGE_REFUSED = N_("Your message could not be added to this concern now. Please call us.")
PIN_LOCKED = N_(
    "This PIN is locked after too many wrong tries. Try it again later, or use your access code "
    "or the personal link in our email or text message."
)
# What a change did in place of the one asked (the status page says it once).
DONE_INSTEAD = ("message_files",)
# Why check-your-answers came back instead of the confirmation, and what to do.
UNSENT_UNAVAILABLE = {
    "send": N_("We could not send your concern just now."),
    "send_hint": N_(
        "Your answers are kept below. Wait a minute, then send your concern again: if it did "
        "reach us, sending it again does not make a second one."
    ),
}
UNSENT_LIMITED = {
    "send": N_("We received many concerns from your connection in the last hour."),
    "send_hint": N_(
        "Your answers are kept below. Send your concern again later, or call us: the number is "
        "at the bottom of this page."
    ),
}


class HeadAsGet:
    """A HEAD request (a monitor's, a link checker's) answered as its GET, without the body:
    FastAPI's routes answer GET alone."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)


class FormRefused(Exception):
    """A post without a valid CSRF token, or with the honeypot filled."""


class CompiledTemplates(BytecodeCache):
    """The templates compiled once per process, kept in memory whichever `Web` renders them
    (the unit tests start one app per test); a template whose source changed is compiled
    again (Jinja checks each one's checksum)."""

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self.code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = CompiledTemplates()


class Web:
    """What the routes share: settings, district, clients, catalogs, templates."""

    def __init__(
        self,
        settings: WebSettings,
        district: DistrictConfig,
        config: WebConfig,
        intake: IntakeClient,
        notify: NotifyClient,
    ) -> None:
        self.settings = settings
        self.district = district
        self.config = config
        self.intake = intake
        self.notify = notify
        self.i18n = Translations()
        secret = settings.form_secret.get_secret_value()
        self.csrf = Csrf(secret)
        self.cookies = SignedCookies(secret)
        self.submissions = RateLimiter(settings.submissions_per_hour, 3600.0)
        self.pending = PendingFiles(intake, secret=secret)
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            bytecode_cache=COMPILED_TEMPLATES,
            autoescape=select_autoescape(),
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.install_gettext_callables(  # type: ignore[attr-defined]
            self.i18n.gettext, self.i18n.ngettext, newstyle=True
        )
        self.env.globals.update(
            status_labels=pages.STATUS_LABELS,
            status_hints=pages.STATUS_HINTS,
            contact_labels=pages.CONTACT_LABELS,
            relationship_labels=pages.RELATIONSHIP_LABELS,
            survey_scale=pages.SURVEY_SCALE,
            grades=forms.GRADES,
            native_names=NATIVE_NAMES,
        )

    # --- per request ----------------------------------------------------------------------

    def language(self, request: Request) -> str:
        """The language switched to in this request, else the family's choice, else the
        browser's."""
        switched: str | None = getattr(request.state, "language", None)
        return switched or self.i18n.negotiate(
            request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
        )

    def switch_language(self, request: Request, data: FormData) -> str | None:
        """The language a posted switch chose (the form's `lang` button), for this page and
        kept with `keep_language`; None when the post chose none."""
        chosen = data.get("lang")
        if not isinstance(chosen, str) or chosen not in self.i18n.languages:
            return None
        request.state.language = chosen
        return chosen

    def keep_language(self, response: Response, language: str) -> None:
        response.set_cookie(
            LANGUAGE_COOKIE,
            language,
            max_age=365 * 24 * 3600,
            samesite="lax",
            secure=self.settings.secure_cookies,
        )

    def render(
        self,
        request: Request,
        template: str,
        *,
        status: int = 200,
        switch_path: str | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """A page in the family's language, with a CSRF token for its forms."""
        language = context.pop("language", None) or self.language(request)
        self.i18n.use(language)
        csrf_cookie = request.cookies.get(CSRF_COOKIE) or Csrf.new_cookie()
        timezone = self.district.district.timezone
        form = context.get("form")
        errors_present = bool(context.get("errors")) or bool(getattr(form, "errors", None))
        html = self.env.get_template(template).render(
            request=request,
            lang=language,
            dir="rtl" if language in RIGHT_TO_LEFT else "ltr",
            languages=self.i18n.languages,
            switch_path=switch_path or request.url.path,
            district=self.district.district,
            web=self.config,
            contact_line=self.config.contact_line.get(language),
            guarantee_hours=self.district.district.guarantee_hours,
            csrf_token=self.csrf.token_for(csrf_cookie),
            honeypot=HONEYPOT,
            errors_present=errors_present,
            when=lambda moment: pages.when(moment, language=language, timezone=timezone),
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        response.headers["Cache-Control"] = "no-store"
        if request.cookies.get(CSRF_COOKIE) != csrf_cookie:
            self._cookie(response, CSRF_COOKIE, csrf_cookie, max_age=None)
        return response

    def _cookie(self, response: Response, name: str, value: str, *, max_age: int | None) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            httponly=True,
            samesite="lax",
            secure=self.settings.secure_cookies,
            path="/",
        )

    async def posted(self, request: Request) -> FormData:
        """The form of a POST, after its CSRF token and honeypot are checked. A form with
        files is read only up to what a concern takes (intake's limits) and a little more."""
        if request.headers.get("content-type", "").startswith("multipart/"):
            limits = await self.limits()
            length = request.headers.get("content-length", "")
            if not length.isdigit() or int(length) > (
                limits.per_concern * limits.max_bytes + FORM_FIELDS_BYTES
            ):
                raise StarletteHTTPException(413)
        form = await request.form()
        token = form.get("csrf_token")
        if not self.csrf.valid(
            request.cookies.get(CSRF_COOKIE), token if isinstance(token, str) else None
        ):
            raise FormRefused
        if form.get(HONEYPOT):
            raise FormRefused
        return form

    @staticmethod
    def family_address(request: Request) -> str:
        """The family's address (uvicorn takes it from the district's proxy when trusted)."""
        return request.client.host if request.client else "unknown"

    def access(self, request: Request) -> dict[str, str]:
        return self.cookies.load_access(request.cookies.get(ACCESS_COOKIE))

    def remember(self, request: Request, response: Response, tracking: str, token: str) -> None:
        cases = {k: v for k, v in self.access(request).items() if k != tracking}
        cases[tracking] = token
        self._cookie(
            response, ACCESS_COOKIE, self.cookies.dump_access(cases), max_age=ACCESS_MAX_AGE_S
        )

    async def catalog(self, language: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(id, name) of categories and schools, named in `language`."""
        categories = await self.intake.categories()
        schools = await self.intake.schools()

        def name(n: Any) -> str:
            return str(getattr(n, language, None) or n.en)

        return ([(c.id, name(c.name)) for c in categories], [(s.id, name(s.name)) for s in schools])

    async def limits(self) -> AttachmentLimits:
        """The files a concern takes, as intake says (kept for a minute); intake's defaults
        while it does not say (it checks each file again when it is sent)."""
        try:
            return await self.intake.attachment_limits()
        except IntakeError:
            return limits_of(AttachmentSettings())

    async def chosen_files(
        self, request: Request, data: FormData, *, already: int = 0
    ) -> tuple[list[forms.ChosenFile], list[forms.Said]]:
        """The files posted in the form's `files` input, checked as intake will check them:
        those to keep and why the others are refused (`already`: files the form holds)."""
        limits = await self.limits()
        size_text = pages.file_size(limits.max_bytes, language=self.language(request))
        chosen: list[forms.ChosenFile] = []
        refused: list[forms.Said] = []
        for upload in data.getlist("files"):
            if not isinstance(upload, UploadFile) or not upload.filename:
                continue  # the input left empty
            content = await upload.read(limits.max_bytes + 1)
            name = upload.filename
            if already + len(chosen) >= limits.per_concern:
                refused.append(
                    forms.refused_file(name, 409, size_text=size_text, count=limits.per_concern)
                )
                continue
            kept, why = forms.check_file(
                name, upload.content_type or "", content, limits, size_text=size_text
            )
            if kept is not None:
                chosen.append(kept)
            elif why is not None:
                refused.append(why)
        return chosen, refused

    async def keep_files(
        self, request: Request, data: FormData, key: str
    ) -> tuple[list[PendingFile], list[forms.Said]]:
        """The files of the form with idempotency key `key`: those posted now are kept by
        intake with the ones kept before (bound to this browser); why a file was not kept."""
        owner = request.cookies.get(CSRF_COOKIE, "")
        kept = await self.pending.files(key, owner)
        chosen, refused = await self.chosen_files(request, data, already=len(kept))
        for file in chosen:
            try:
                kept.append(
                    await self.pending.add(
                        key,
                        owner,
                        file.filename,
                        file.content_type,
                        file.data,
                        client_address=self.family_address(request),
                    )
                )
            except IntakeError as exc:
                refused.append(await self.not_kept(request, file.filename, exc))
        return kept, refused

    async def not_kept(self, request: Request, name: str, exc: IntakeError) -> forms.Said:
        """Why intake did not keep a file, in the family's words: its own refusal of the
        file, else (intake holds enough for now, or does not answer) to add it later."""
        if exc.status not in (409, 415, 422):
            log.warning("file not kept", extra={"status": exc.status})
            return forms.FILES_NOT_KEPT, {"name": name}
        limits = await self.limits()
        size_text = pages.file_size(limits.max_bytes, language=self.language(request))
        return forms.refused_file(name, exc.status, size_text=size_text, count=limits.per_concern)

    def status_link(self, tracking: str, token: str) -> str:
        return f"{self.settings.public_base_url.rstrip('/')}/status/{tracking}?" + urlencode(
            {"token": token}
        )


def create_app(
    settings: WebSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """The family web; its clients open in the lifespan, not at import. `transport` stands
    in for the services in tests."""
    district = load_district(settings.district_config)
    config = district.section("web", WebConfig)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        token = settings.token_source()
        intake = IntakeClient(
            settings.intake_url, token, timeout_s=settings.io_timeout_s, transport=transport
        )
        notify = NotifyClient(
            settings.notify_url, token, timeout_s=settings.io_timeout_s, transport=transport
        )
        app.state.web = Web(settings, district, config, intake, notify)
        app.state.intake = intake
        app.state.staff = StaffClient.from_settings(settings, transport=transport)
        app.state.board_client = BoardClient(settings, transport=transport)
        try:
            yield
        finally:
            await intake.aclose()
            await app.state.staff.aclose()
            await app.state.board_client.aclose()
            await notify.aclose()

    app = FastAPI(
        title="Customer Service Bureau: family web",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_middleware(GZipMiddleware, minimum_size=500)
    app.add_middleware(ContentSecurityPolicy)  # type: ignore[arg-type]
    app.add_middleware(SecurityHeaders)  # type: ignore[arg-type]
    app.add_middleware(HeadAsGet)  # type: ignore[arg-type]
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(health_router())
    _install_language_switch(app)
    _install_error_pages(app)
    _routes(app)
    staff.install(app, settings, district)
    board.install(app)
    return app


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def _install_language_switch(app: FastAPI) -> None:
    @app.middleware("http")
    async def language_switch(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """`?lang=es` on any page: keep the choice in a cookie, show the page without it."""
        chosen = request.query_params.get("lang")
        if request.method != "GET" or chosen is None:
            return await call_next(request)
        web = web_of(request)
        rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "lang"])
        response = RedirectResponse(request.url.path + (f"?{rest}" if rest else ""), 303)
        if chosen in web.i18n.languages:
            web.keep_language(response, chosen)
        return response


def _install_error_pages(app: FastAPI) -> None:
    """Plain pages for people: never a stack trace."""

    @app.exception_handler(FormRefused)
    async def refused(request: Request, exc: FormRefused) -> Response:
        return web_of(request).render(request, "error.html", status=400, kind="expired")

    @app.exception_handler(IntakeRateLimited)
    async def limited(request: Request, exc: IntakeRateLimited) -> Response:
        return web_of(request).render(request, "error.html", status=429, kind="limited")

    @app.exception_handler(IntakeError)
    async def unavailable(request: Request, exc: IntakeError) -> Response:
        log.warning(
            "service refused or unavailable", extra={"status": exc.status, "title": exc.title}
        )
        return web_of(request).render(request, "error.html", status=503, kind="unavailable")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        kind = "not_found" if exc.status_code in (404, 405) else "unavailable"
        if exc.status_code == 405 and request.method == "GET":
            # the address of a form's post, opened: the status page the form is on, or the
            # start page. Another method gets its answer, not a redirect (HEAD, answered as
            # GET by HeadAsGet, was redirected to itself in a loop)
            path = request.url.path
            on_status = path.startswith("/status/") and path.count("/") == 3
            return RedirectResponse(path.rsplit("/", 1)[0] if on_status else "/", 303)
        return web_of(request).render(request, "error.html", status=exc.status_code, kind=kind)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception(
            "unhandled error",
            extra={"path": getattr(request.scope.get("route"), "path", "unmatched")},
        )
        try:
            return web_of(request).render(request, "error.html", status=500, kind="unavailable")
        except Exception:
            return HTMLResponse(
                "<!doctype html><title>Error</title><p>Sorry, there is a "
                "problem. Please try again later.</p>",
                status_code=500,
            )


def _routes(app: FastAPI) -> None:
    @app.get("/", response_class=HTMLResponse)
    async def start(request: Request) -> Response:
        web = web_of(request)
        categories, _ = await web.catalog(web.language(request))
        return web.render(request, "start.html", categories=categories)

    # --- submit: form -> check your answers -> send -> confirmation ------------------------

    async def form_page(
        request: Request,
        form: forms.ConcernForm,
        key: str,
        status: int = 200,
        files: list[PendingFile] | None = None,
    ) -> Response:
        if not form.get("language"):
            form.values["language"] = web_of(request).language(request)
        file_field = await files_input(request)
        return await concern_page(
            request,
            "concern_form.html",
            form,
            key,
            status=status,
            files=files,
            switch_form=("concern-form", "/concern/new"),
            shown=lambda categories, schools: {
                "categories": categories,
                "schools": schools,
                "contacts": forms.CONTACTS,
                "relationships": forms.RELATIONSHIPS,
                **file_field,
            },
        )

    async def concern_page(
        request: Request,
        template: str,
        form: forms.ConcernForm,
        key: str,
        *,
        status: int,
        files: list[PendingFile] | None,
        switch_form: tuple[str, str],
        shown: Callable[[list[tuple[str, str]], list[tuple[str, str]]], dict[str, Any]],
    ) -> Response:
        """A page of the concern's form (the form, check your answers) in the family's
        language: its answers, idempotency key and kept files, and what `shown` adds from the
        catalog's categories and schools."""
        web = web_of(request)
        language = web.language(request)
        categories, schools = await web.catalog(language)
        if files is None:
            files = await web.pending.files(key, request.cookies.get(CSRF_COOKIE, ""))
        page = web.render(
            request,
            template,
            status=status,
            form=form,
            idempotency_key=key,
            files=files,
            file_size=lambda size: pages.file_size(size, language=language),
            switch_path="/concern/new",
            switch_form=switch_form,
            **shown(categories, schools),
        )
        return kept_language(request, page)

    async def files_input(request: Request) -> dict[str, Any]:
        """What a file input says and accepts: intake's limits in the family's words."""
        web = web_of(request)
        limits = await web.limits()
        return {
            "files_hint": {
                "count": limits.per_concern,
                "size": pages.file_size(limits.max_bytes, language=web.language(request)),
                "types": pages.file_types(limits),
            },
            "files_accept": pages.file_accept(limits),
        }

    def kept_language(request: Request, page: Response) -> Response:
        """`page`, keeping the language a posted switch chose."""
        switched = getattr(request.state, "language", None)
        if switched:
            web_of(request).keep_language(page, switched)
        return page

    async def read_concern(request: Request, data: FormData) -> forms.ConcernForm:
        web = web_of(request)
        categories, schools = await web.catalog(web.language(request))
        return forms.read_form(
            data,
            categories={c for c, _ in categories},
            schools={s for s, _ in schools},
            languages=web.i18n.languages,
        )

    def key_of(data: FormData) -> str:
        key = str(data.get("idempotency_key") or "")
        return key if len(key) == 36 and key.replace("-", "").isalnum() else str(uuid.uuid4())

    @app.get("/concern/new", response_class=HTMLResponse)
    async def new_concern(request: Request) -> Response:
        return await form_page(request, forms.ConcernForm(), str(uuid.uuid4()))

    @app.post("/concern/new", response_class=HTMLResponse)
    async def switch_form_language(request: Request) -> Response:
        """The language switch of the form: the same answers, unchecked, in that language."""
        web = web_of(request)
        data = await web.posted(request)
        web.switch_language(request, data)
        form = await read_concern(request, data)
        form.errors = {}
        key = key_of(data)
        files, form.file_errors = await web.keep_files(request, data, key)
        return await form_page(request, form, key, files=files)

    @app.get("/concern/check")
    @app.get("/concern/send")
    async def not_a_page(request: Request) -> Response:
        return RedirectResponse("/concern/new", 303)

    @app.post("/concern/check", response_class=HTMLResponse)
    async def check_answers(request: Request) -> Response:
        web = web_of(request)
        data = await web.posted(request)
        web.switch_language(request, data)
        form = await read_concern(request, data)
        key = key_of(data)
        removed = data.get("remove_file")
        if isinstance(removed, str) and removed:
            await web.pending.remove(key, request.cookies.get(CSRF_COOKIE, ""), removed)
        files, form.file_errors = await web.keep_files(request, data, key)
        if form.errors or form.file_errors or data.get("action") == "change":
            if data.get("action") == "change":
                form.errors = {}
            failed = bool(form.errors or form.file_errors)
            return await form_page(request, form, key, status=400 if failed else 200, files=files)
        return await check_page(request, form, key, files=files)

    async def check_page(
        request: Request,
        form: forms.ConcernForm,
        key: str,
        *,
        status: int = 200,
        errors: dict[str, str] | None = None,
        files: list[PendingFile] | None = None,
    ) -> Response:
        """Check your answers, with the form's idempotency key (sending again is safe)."""
        return await concern_page(
            request,
            "check.html",
            form,
            key,
            status=status,
            files=files,
            switch_form=("send-form", "/concern/check"),
            shown=lambda categories, schools: {
                "errors": errors or {},
                "category_name": dict(categories).get(form.get("category"), ""),
                "school_name": dict(schools).get(form.get("school_id"), ""),
            },
        )

    @app.post("/concern/send")
    async def send(request: Request) -> Response:
        web = web_of(request)
        data = await web.posted(request)
        form = await read_concern(request, data)
        key = key_of(data)
        if form.errors:
            return await form_page(request, form, key, status=400)
        address = web.family_address(request)
        try:
            if not web.submissions.allow(address):
                raise IntakeRateLimited(429, "Too many submissions")
            receipt = await web.intake.create_concern(
                forms.concern_body(form), idempotency_key=key, client_address=address
            )
        except IntakeInvalid as exc:
            form.errors = forms.refused_answers(exc.errors)
            fresh = str(uuid.uuid4())  # the files chosen stay with the answers
            await web.pending.move(key, fresh, request.cookies.get(CSRF_COOKIE, ""))
            return await form_page(request, form, fresh, status=400)
        except (IntakeUnavailable, IntakeRateLimited) as exc:
            # the answers stay, and so does the key: sending again later is safe
            log.warning("concern not sent", extra={"status": exc.status, "title": exc.title})
            limited = isinstance(exc, IntakeRateLimited)
            return await check_page(
                request,
                form,
                key,
                status=429 if limited else 503,
                errors=UNSENT_LIMITED if limited else UNSENT_UNAVAILABLE,
            )
        log.info("concern submitted", extra={"concern_id": receipt.id})
        attached = await attach_kept(request, key, receipt.id)
        response = RedirectResponse("/concern/sent", 303)
        web._cookie(
            response,
            RECEIPT_COOKIE,
            web.cookies.dump_receipt(
                {
                    "tracking_number": receipt.tracking_number,
                    "access_token": receipt.access_token,
                    "resolution_due_at": receipt.resolution_due_at.isoformat(),
                    "updates_promised": receipt.updates_promised,
                    "contact": form.get("contact"),
                    "pin": getattr(receipt, "pin", None),
                    "files": attached,
                }
            ),
            max_age=RECEIPT_MAX_AGE_S,
        )
        web.remember(request, response, receipt.tracking_number, receipt.access_token)
        return response

    async def attach_kept(request: Request, key: str, concern_id: str) -> list[list[Any]]:
        """Attach the form's kept files to the concern just created: [name, added] each. A
        file intake could not take now stays kept: sending the form again (the same concern,
        by its idempotency key) adds it; intake attaches a file sent twice once."""
        web = web_of(request)
        owner = request.cookies.get(CSRF_COOKIE, "")
        sent = await web.pending.send(key, owner, concern_id)
        for outcome in sent:
            if not outcome.attached:
                log.warning(
                    "file not attached", extra={"concern_id": concern_id, "status": outcome.status}
                )
        return [[outcome.filename[:60], outcome.attached] for outcome in sent]

    @app.get("/concern/sent", response_class=HTMLResponse)
    async def confirmation(request: Request) -> Response:
        web = web_of(request)
        receipt = web.cookies.load_receipt(request.cookies.get(RECEIPT_COOKIE))
        if receipt is None:
            return RedirectResponse("/status", 303)
        return web.render(
            request,
            "confirmation.html",
            receipt=receipt,
            due=datetime.fromisoformat(receipt["resolution_due_at"]),
            status_link=web.status_link(receipt["tracking_number"], receipt["access_token"]),
        )

    # --- status: look up, read, write, reopen ----------------------------------------------

    @app.get("/status", response_class=HTMLResponse)
    async def lookup(request: Request) -> Response:
        return web_of(request).render(request, "lookup.html", values={}, errors={})

    async def open_case(request: Request, tracking: str, token: str) -> RequesterView | None:
        web = web_of(request)
        if not tracking or len(tracking) > TRACKING_MAX or not token or len(token) > TOKEN_MAX:
            return None
        if not token.isascii():  # no code or PIN has an accent; a header could not carry it
            return None
        try:
            return await web.intake.tracking(
                tracking, token, client_address=web.family_address(request)
            )
        except IntakeNotFound:
            return None

    @app.post("/status", response_class=HTMLResponse)
    async def lookup_post(request: Request) -> Response:
        web = web_of(request)
        data = await web.posted(request)
        tracking = str(data.get("tracking_number") or "").strip().upper()
        typed = str(data.get("access_token") or "").strip()
        token = forms.read_secret(typed)  # the long access code or the 6-digit PIN
        # a message written while this browser's access ran out, sent once the code is given
        pending = str(data.get("pending_message") or "").strip()[: forms.MESSAGE_MAX]
        errors: dict[str, str] = {}
        if not tracking:
            errors["tracking_number"] = forms.N_("Enter your tracking number.")
        if not token:
            errors["access_token"] = forms.N_("Enter your access code or PIN.")
        locked = False
        try:
            view = None if errors else await open_case(request, tracking, token)
        except IntakePinLocked:  # the address's own limit stays the plain "too many" page
            view, locked = None, True
            errors["access_token"] = PIN_LOCKED
        if not errors and view is None:
            errors["tracking_number"] = forms.N_(
                "No concern matches this tracking number and access code or PIN. Check both and "
                "try again."
            )
        if errors or view is None:
            return web.render(
                request,
                "lookup.html",
                status=429 if locked else 400,
                errors=errors,
                values={
                    "tracking_number": tracking,
                    "access_token": typed[:TOKEN_MAX],
                    "pending_message": pending,
                },
            )
        response = (
            await change_case(
                request,
                view,
                web.intake.add_message(
                    tracking, token, pending, client_address=web.family_address(request)
                ),
                done="message",
                refusal=MESSAGE_REFUSED,
                message=pending,
            )
            if pending
            else RedirectResponse(f"/status/{tracking}", 303)
        )
        web.remember(request, response, tracking, token)
        return response

    @app.get("/status/{tracking}", response_class=HTMLResponse)
    async def status(request: Request, tracking: str, token: str | None = None) -> Response:
        web = web_of(request)
        if token is not None:  # the personal link: keep the token in a cookie, drop it
            view = await open_case(request, tracking, token)
            if view is None:
                return web.render(
                    request,
                    "lookup.html",
                    status=404,
                    values={"tracking_number": tracking},
                    errors={
                        "tracking_number": forms.N_(
                            "This link does not open a concern. Enter your tracking number and "
                            "access code or PIN."
                        )
                    },
                )
            response = RedirectResponse(f"/status/{view.tracking_number}", 303)
            web.remember(request, response, view.tracking_number, token)
            return response
        saved = web.access(request).get(tracking)
        try:
            view = await open_case(request, tracking, saved) if saved else None
        except IntakePinLocked:  # the PIN this browser kept, locked by wrong tries meanwhile
            view, locked = None, {"access_token": PIN_LOCKED}
        else:
            locked = {}
        if view is None:
            return web.render(
                request,
                "lookup.html",
                status=429 if locked else 200,
                values={"tracking_number": tracking},
                errors=locked,
            )
        # what the family just did, said once (a reload or a visit the next day does not)
        done = request.cookies.get(DONE_COOKIE)
        page = await status_page(request, view, done=done)
        if done:
            page.delete_cookie(DONE_COOKIE, path=f"/status/{tracking}")
        return page

    async def status_page(
        request: Request,
        view: RequesterView,
        *,
        done: str | None = None,
        errors: dict[str, str] | None = None,
        message: str = "",
        survey_values: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        web = web_of(request)
        now = datetime.now(UTC)
        language = web.language(request)
        categories, _ = await web.catalog(language)
        return web.render(
            request,
            "status.html",
            status=status_code,
            view=view,
            category_name=dict(categories).get(view.category, view.category_name),
            team_name=web.district.team_name_in(view.team_name, language),
            is_open=pages.is_open(view),
            is_late=pages.is_late(view, now),
            can_reopen=pages.can_reopen(view, now),
            survey=await case_survey(request, view),
            survey_values=survey_values or {},
            switch_path=f"/status/{view.tracking_number}",
            done=done if done in ("message", "reopened", "survey", *DONE_INSTEAD) else None,
            errors=errors or {},
            message=message,
            **(await files_input(request)),
        )

    async def case_survey(request: Request, view: RequesterView) -> str | None:
        """The resolved concern's survey as its status page offers it (`open`, `answered`),
        whatever channel the family gave; None when there is none to offer now (not resolved
        yet, expired, or notify not answering: the page still shows the concern)."""
        if view.resolution is None:
            return None
        try:
            found = await web_of(request).notify.concern_survey(view.tracking_number)
        except IntakeError as exc:
            if exc.status not in (404, 410):
                log.warning(
                    "survey state unavailable",
                    extra={"tracking_number": view.tracking_number, "status": exc.status},
                )
            return None
        return found.status if found.status in ("open", "answered") else None

    async def own_case(
        request: Request, tracking: str
    ) -> tuple[FormData, str, RequesterView] | Response:
        """The posted form, this browser's access token to the concern and the concern; where
        the browser has none, the way back to the status page."""
        web = web_of(request)
        data = await web.posted(request)
        token = web.access(request).get(tracking)
        locked = False
        try:
            view = await open_case(request, tracking, token) if token else None
        except IntakePinLocked:  # the PIN this browser kept, locked by wrong tries meanwhile
            view, locked = None, True
        if token and view:
            return data, token, view
        # this browser's access ran out (a day) while the page was open: the code again, and
        # what the family wrote is kept and sent with it
        pending = ""
        if request.url.path.endswith("/message"):
            pending = str(data.get("message") or "").strip()[: forms.MESSAGE_MAX]
        again = (
            forms.N_(
                "Enter your access code or PIN again to send your message. Your message is "
                "kept below."
            )
            if pending
            else forms.N_("For your security, enter your access code or PIN again.")
        )
        return web.render(
            request,
            "lookup.html",
            status=429 if locked else 403,
            values={"tracking_number": tracking[:TRACKING_MAX], "pending_message": pending},
            errors={"access_token": PIN_LOCKED if locked else again},
        )

    async def change_case(
        request: Request,
        view: RequesterView,
        change: Awaitable[Any],
        *,
        done: str,
        refusal: str,
        message: str = "",
    ) -> Response:
        """Sends the family's change and goes back to the status page, which says it is `done`
        (message, reopened) once, or what `change` answers it did instead (a message whose
        files were not all added); a refusal by intake shows the status page again (409) with
        `refusal` and what they wrote."""
        try:
            outcome = await change
        except (IntakeConflict, IntakeInvalid):
            return await status_page(
                request, view, message=message, status_code=409, errors={"message": refusal}
            )
        page = f"/status/{view.tracking_number}"
        done = outcome if outcome in DONE_INSTEAD else done
        response = RedirectResponse(page + ("#messages" if done != "reopened" else ""), 303)
        response.set_cookie(
            DONE_COOKIE,
            done,
            max_age=300,
            path=page,
            httponly=True,
            samesite="lax",
            secure=web_of(request).settings.secure_cookies,
        )
        return response

    @app.post("/status/{tracking}/message", response_class=HTMLResponse)
    async def add_message(request: Request, tracking: str) -> Response:
        found = await own_case(request, tracking)
        if isinstance(found, Response):
            return found
        data, token, view = found
        web = web_of(request)
        text, error = forms.read_message(data)
        chosen, refused = await web.chosen_files(request, data)
        if error or refused:
            errors: dict[str, Any] = {"message": error} if error else {}
            if refused:
                errors["files"] = refused[0]
            return await status_page(request, view, errors=errors, message=text, status_code=400)
        address = web.family_address(request)

        async def message_then_files() -> str:
            await web.intake.add_message(tracking, token, text, client_address=address)
            added = True
            for file in chosen:
                try:
                    await web.intake.attach_as_requester(
                        tracking,
                        token,
                        file.filename,
                        file.content_type,
                        file.data,
                        client_address=address,
                    )
                except IntakeError as exc:
                    log.warning("file not attached", extra={"status": exc.status})
                    added = False
            return "message" if added else "message_files"

        return await change_case(
            request,
            view,
            message_then_files(),
            done="message",
            refusal=MESSAGE_REFUSED,
            message=text,
        )

    @app.post("/status/{tracking}/reopen", response_class=HTMLResponse)
    async def reopen(request: Request, tracking: str) -> Response:
        found = await own_case(request, tracking)
        if isinstance(found, Response):
            return found
        data, token, view = found
        web = web_of(request)
        reason = str(data.get("reason") or "").strip()[:5000] or None
        return await change_case(
            request,
            view,
            web.intake.reopen(tracking, token, reason, client_address=web.family_address(request)),
            done="reopened",
            refusal=forms.N_(
                "This concern can no longer be reopened. Please submit a new concern."
            ),
        )

    @app.post("/status/{tracking}/survey", response_class=HTMLResponse)
    async def answer_survey_on_status(request: Request, tracking: str) -> Response:
        """The survey answered on the status page: the family proved its access as for a
        message; notify keeps one answer per concern, whichever door it came through."""
        found = await own_case(request, tracking)
        if isinstance(found, Response):
            return found
        data, _, view = found
        score, comment, errors = survey_answer_of(data)
        if errors:
            return await status_page(
                request,
                view,
                errors=errors,
                survey_values={"score": score, "comment": comment},
                status_code=400,
            )
        page = f"/status/{view.tracking_number}"
        try:
            await web_of(request).notify.answer_concern_survey(
                view.tracking_number, int(score), comment
            )
        except IntakeError as exc:
            if exc.status not in (404, 409, 410):
                raise
            # answered by the link meanwhile, or closed: the page says where it stands
            return RedirectResponse(page, 303)
        response = RedirectResponse(page, 303)
        response.set_cookie(
            DONE_COOKIE,
            "survey",
            max_age=300,
            path=page,
            httponly=True,
            samesite="lax",
            secure=web_of(request).settings.secure_cookies,
        )
        return response

    # --- survey ----------------------------------------------------------------------------

    def survey_token_ok(token: str) -> bool:
        return 20 <= len(token) <= 64 and all(c.isalnum() or c in "-_" for c in token)

    def survey_answer_of(data: FormData) -> tuple[str, str, dict[str, str]]:
        """The posted score and comment, and what is wrong with them."""
        score = str(data.get("score") or "")
        comment = str(data.get("comment") or "").strip()
        errors: dict[str, str] = {}
        if score not in {"1", "2", "3", "4", "5"}:
            errors["score"] = forms.N_("Choose how satisfied you are.")
        if len(comment) > 2000:
            errors["comment"] = forms.N_("Your comment must be 2,000 characters or fewer.")
        return score, comment, errors

    @app.get("/survey/{token}", response_class=HTMLResponse)
    async def survey(request: Request, token: str) -> Response:
        web = web_of(request)
        state, language = await survey_state(request, token)
        # a family who has not chosen a language here reads the survey in the one of its mail
        language = None if request.cookies.get(LANGUAGE_COOKIE) else language
        if state in ("answered", "expired", "unknown"):
            return web.render(
                request,
                "survey_done.html",
                state=state,
                status=200 if state == "answered" else 404,
                language=language,
            )
        return web.render(
            request, "survey.html", token=token, errors={}, values={}, language=language
        )

    async def survey_state(request: Request, token: str) -> tuple[str, str | None]:
        """The survey's state (open, answered, expired, unknown) and its language."""
        if not survey_token_ok(token):
            return "unknown", None
        try:
            found = await web_of(request).notify.survey(token)
        except IntakeError as exc:
            if exc.status in (404, 410, 422):
                return ("expired" if exc.status == 410 else "unknown"), None
            raise
        languages = web_of(request).i18n.languages
        return found.status, found.language if found.language in languages else None

    @app.post("/survey/{token}", response_class=HTMLResponse)
    async def survey_answer(request: Request, token: str) -> Response:
        web = web_of(request)
        data = await web.posted(request)
        if not survey_token_ok(token):
            return web.render(request, "survey_done.html", state="unknown", status=404)
        score, comment, errors = survey_answer_of(data)
        if errors:
            return web.render(
                request,
                "survey.html",
                status=400,
                token=token,
                errors=errors,
                values={"score": score, "comment": comment},
            )
        try:
            await web.notify.answer_survey(token, int(score), comment or None)
        except IntakeError as exc:
            if exc.status not in (404, 409, 410):
                raise
            state = {404: "unknown", 409: "answered", 410: "expired"}[exc.status]
            return web.render(request, "survey_done.html", state=state, status=200)
        return web.render(request, "survey_done.html", state="thanks")


def serve(app: FastAPI, settings: WebSettings) -> None:
    """Serve until SIGTERM/SIGINT."""
    configure_logging(settings.frontend_name, settings.log_level)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=10,
    )
