"""Routes of the staff console. Thin: who is signed in, call a service with their token,
render a page (or redirect after a post)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from authlib.integrations.starlette_client import OAuthError
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.middleware.sessions import SessionMiddleware

from frontends.common.intake import (
    IntakeConflict,
    IntakeError,
    IntakeInvalid,
    IntakeNotFound,
)
from frontends.common.staff import (
    CALLBACK_ACTION,
    PUBLIC_EVENTS,
    ClockRead,
    ConcernCounts,
    ConcernPage,
    ConcernRead,
    ContactRevealRead,
    DecisionRead,
    DisclosureRecord,
    SafetyWordsRead,
    StaffClient,
    StaleCase,
    SubscriptionRead,
    TemplatePreviewRead,
    TemplateRead,
)
from frontends.phone.config import phone_config
from frontends.phone.domain import DeskKind, desk_for
from frontends.web.settings import WebSettings
from frontends.web.staff import views
from frontends.web.staff.config import StaffSettings, StaffSignInConfig
from frontends.web.staff.signin import (
    SESSION_COOKIE,
    SESSION_MAX_AGE_S,
    SignIn,
    SignInNeeded,
)
from frontends.web.staff.views import Pages, StaffUser
from services.escalation.calendar import AROUND_THE_CLOCK
from services.escalation.config import EscalationConfig
from services.escalation.policies import LadderStep, Policy, PolicySettings
from services.intake.config import IntakeConfig
from services.triage.schemas import DuplicateRead
from shared.auth import Role
from shared.authz import Permission
from shared.district import DistrictConfig

log = logging.getLogger(__name__)
T = TypeVar("T")
TEXT_MAX = 5000
SAFETY_TEXT_MAX = 20_000  # triage takes 300 words of 60 characters at most
# The reason a call-center agent's lookup records unless they write another.
CALLER_LOOKUP_REASON = "The caller on the phone asks about their concerns."


@dataclass(frozen=True)
class Kept:
    """What intake keeps apart on a case and shows only with a reason: who may ask (by the
    pages their roles give), what others are told, the form's field."""

    allowed: Callable[[Pages], bool]
    forbidden: str
    field: str


STUDENT = Kept(lambda pages: pages.reveal, "You may not see this student's information.", "reveal")
CONTACT = Kept(lambda pages: pages.act, "You may not see this family's contact.", "contact")


def install(app: FastAPI, settings: WebSettings, district: DistrictConfig) -> None:
    """Mount the console on the family web: its session cookie, its routes, its sign-in
    redirect. The StaffClient is opened in the web's lifespan as `app.state.staff`."""
    config = district.section("staff_sign_in", StaffSignInConfig)
    staff_settings = StaffSettings()
    signin = SignIn(settings, staff_settings, config)
    app.state.staff_signin = signin
    app.add_middleware(
        SessionMiddleware,
        secret_key="staff-session:"
        + (staff_settings.staff_session_secret or settings.form_secret).get_secret_value(),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE_S,
        path="/staff",
        same_site="lax",
        https_only=settings.secure_cookies,
    )

    @app.exception_handler(SignInNeeded)
    async def sign_in_needed(request: Request, exc: SignInNeeded) -> Response:
        target = "/staff"
        if request.method == "GET":  # back to the same page, its filters included
            query = request.url.query
            target = request.url.path + (f"?{query}" if query else "")
        return RedirectResponse("/staff/sign-in?" + urlencode({"next": target}), 303)

    app.include_router(_router())


def _signin(request: Request) -> SignIn:
    signin: SignIn = request.app.state.staff_signin
    return signin


async def _previews(
    client: StaffClient, bearer: str, key: tuple[str, str, str], texts: list[views.TemplateText]
) -> list[tuple[str, TemplatePreviewRead | None, str | None]]:
    """Each language's wording as notify writes it with sample values, or why it does not
    render (or why notify could not say)."""

    async def one(text: views.TemplateText) -> tuple[str, TemplatePreviewRead | None, str | None]:
        try:
            rendered = await client.preview_template(
                bearer, (key[0], key[1], text.language), subject=text.subject, body=text.body
            )
        except IntakeError as exc:
            return text.language, None, exc.detail or exc.title
        return text.language, rendered, None

    return list(await asyncio.gather(*(one(t) for t in texts)))


def _client(request: Request) -> StaffClient:
    client: StaffClient = request.app.state.staff
    return client


async def _clock(client: StaffClient, bearer: str, concern_id: str) -> ClockRead | None:
    """The case's SLA clock (None before it starts, or while escalation is down: the page
    shows intake's due time then)."""
    try:
        return await client.clock(bearer, concern_id)
    except IntakeError:
        return None


async def _routing(
    client: StaffClient, bearer: str, concern_id: str, *, limit: int = 5
) -> tuple[DecisionRead | None, list[tuple[ConcernRead, str]]]:
    """Triage's decision (its version for `If-Match` on a re-triage, its history for *How
    it was routed*; None when there is none to read), and the concerns triage flagged as
    possible duplicates of this one (only those the person may read, as triage and intake
    decide), each with why: what the merge form asks for."""
    try:
        decision = await client.decision(bearer, concern_id)
    except IntakeError:
        return None, []  # not triaged yet, not theirs to read, or triage is down

    async def one(flagged: DuplicateRead) -> tuple[ConcernRead, str] | None:
        try:
            return await client.concern(bearer, flagged.concern_id), flagged.reason
        except IntakeError:
            return None

    found = await asyncio.gather(*(one(d) for d in decision.possible_duplicates[:limit]))
    return decision, [f for f in found if f is not None]


async def _unless_down(call: Awaitable[T], default: T) -> T:
    """A service's answer, or `default` when it cannot say (the page is shown without)."""
    try:
        return await call
    except IntakeError:
        return default


def _web(request: Request) -> Any:
    return request.app.state.web


async def _posted_values(request: Request) -> dict[str, str]:
    """The posted form's text fields, trimmed and cut to `TEXT_MAX`."""
    form = await _web(request).posted(request)
    return {k: str(v).strip()[:TEXT_MAX] for k, v in form.items() if isinstance(v, str)}


def _choices(request: Request) -> dict[str, Any]:
    """What a form of concerns offers: the district's categories and schools, the channels."""
    district = _web(request).district
    return {
        "categories": district.categories,
        "schools": district.schools,
        "channels": views.CHANNELS,
    }


def _safe_next(target: str | None) -> str:
    """Only a path of the console (never another site) after signing in."""
    if target and target.startswith("/staff") and "//" not in target and "\\" not in target:
        return target
    return ""


def _router() -> APIRouter:
    router = APIRouter(prefix="/staff")

    def page(
        request: Request, template: str, user: StaffUser | None, *, status: int = 200, **ctx: Any
    ) -> HTMLResponse:
        web = _web(request)
        district = web.district
        schools = {s.id: s.name.en for s in district.schools}
        categories = {c.id: c.name.en for c in district.categories}
        teams = {t.id: t.name for t in district.teams}
        staff_names = {s.id: s.name for s in district.staff}
        response: HTMLResponse = web.render(
            request,
            template,
            status=status,
            language="en",
            user=user,
            pages=Pages.of(user) if user else None,
            school_names=schools,
            category_names=categories,
            team_names=teams,
            staff_names=staff_names,
            labels=views.STATUS_LABELS,
            language_names=views.LANGUAGES,
            **ctx,
        )
        return response

    def signed_in(request: Request) -> StaffUser:
        return _signin(request).user(request)

    def token(request: Request, user: StaffUser) -> str:
        return _signin(request).token(user)

    # --- sign-in -----------------------------------------------------------------------

    @router.get("", response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        user = signed_in(request)
        return RedirectResponse(Pages.of(user).home(), 303)

    @router.get("/sign-in", response_class=HTMLResponse)
    async def sign_in(
        request: Request, next: str | None = None, problem: str | None = None
    ) -> Response:
        signin = _signin(request)
        request.session["next"] = _safe_next(next)
        return page(
            request,
            "staff/sign_in.html",
            None,
            provider=signin.provider,
            development=signin.development,
            roles=[r.value for r in Role if r is not Role.FRONTEND],
            problem=problem,
            schools=request.app.state.web.district.schools,
            teams=request.app.state.web.district.teams,
        )

    @router.get("/sign-in/provider")
    async def sign_in_provider(request: Request) -> Response:
        signin = _signin(request)
        if not signin.provider:
            return RedirectResponse("/staff/sign-in", 303)
        try:
            response: Response = await signin.redirect(request)
        except Exception:
            log.warning("identity provider unreachable")
            return RedirectResponse("/staff/sign-in?problem=provider", 303)
        return response

    @router.get("/sign-in/callback", name="staff_callback")
    async def sign_in_callback(request: Request) -> Response:
        signin = _signin(request)
        if not signin.provider:
            return RedirectResponse("/staff/sign-in", 303)
        next_page = _safe_next(request.session.get("next"))
        try:
            user = await signin.finish(request)
        except (OAuthError, KeyError, ValueError) as exc:
            log.warning("staff sign-in refused", extra={"error": type(exc).__name__})
            return RedirectResponse("/staff/sign-in?problem=refused", 303)
        except Exception:
            log.warning("identity provider unreachable")
            return RedirectResponse("/staff/sign-in?problem=provider", 303)
        if not user.roles:
            return RedirectResponse("/staff/sign-in?problem=no-role", 303)
        signin.open(request, user)
        log.info("staff signed in", extra={"staff": user.sub, "via": "oidc"})
        return RedirectResponse(next_page or Pages.of(user).home(), 303)

    @router.post("/sign-in/development")
    async def sign_in_development(request: Request) -> Response:
        """A local sign-in that picks a role: development only."""
        signin = _signin(request)
        if not signin.development:
            return page(
                request,
                "staff/sign_in.html",
                None,
                status=403,
                refused=True,
                provider=signin.provider,
                development=False,
                roles=[],
                problem=None,
                schools=[],
                teams=[],
            )
        form = await _web(request).posted(request)
        role = str(form.get("role") or "")
        sub = str(form.get("sub") or "").strip()[:64]
        if role not in {r.value for r in Role} or role == Role.FRONTEND.value or not sub:
            return RedirectResponse("/staff/sign-in?problem=development", 303)
        school = str(form.get("school") or "")
        team = str(form.get("team") or "")
        known = {s.id: s.name for s in _web(request).district.staff}
        user = StaffUser(
            sub=sub,
            name=known.get(sub, sub),
            roles=(role,),
            schools=(school,) if school else (),
            teams=(team,) if team else (),
            via="development",
        )
        next_page = _safe_next(request.session.get("next"))  # read before the session is new
        signin.open(request, user)
        return RedirectResponse(next_page or Pages.of(user).home(), 303)

    @router.post("/sign-out")
    async def sign_out(request: Request) -> Response:
        await _web(request).posted(request)
        request.session.clear()
        return RedirectResponse("/staff/sign-in?problem=signed-out", 303)

    @router.get("/nothing", response_class=HTMLResponse)
    async def nothing(request: Request) -> Response:
        user = signed_in(request)
        return page(request, "staff/nothing.html", user)

    # --- work queue ----------------------------------------------------------------------

    async def queue_page(
        request: Request,
        user: StaffUser,
        *,
        family: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Response:
        """The queue in the chosen view, or (after a search by the family's contact, posted)
        that family's concerns."""
        district = _web(request).district
        member_of = tuple(t.id for t in district.teams if user.sub in (*t.members, t.lead))
        available = views.queue_views(user, member_of)
        filters, shown = views.queue_filters(
            dict(request.query_params), timezone=district.district.timezone
        )
        chosen = next((v for v in available if v.key == shown["view"]), None)
        chosen = chosen or views.default_view(user, available)
        shown["view"] = chosen.key
        client, bearer = _client(request), token(request, user)
        found = None
        if family is not None and not errors:
            try:
                found = await client.requester_search(
                    bearer,
                    family["reason"],
                    requester=family.get("requester"),
                    concern_id=family.get("concern_id"),
                )
            except IntakeInvalid as exc:
                message = "; ".join(e.message for e in exc.errors) or exc.detail or exc.title
                errors, status = {"requester": message}, 400
        asked = {**filters, **chosen.filters}
        counts = None

        async def read(asked: dict[str, Any]) -> tuple[ConcernPage, ConcernCounts | None]:
            """The page of the queue asked for, and the view's counts (None: not now)."""
            return await asyncio.gather(
                client.concerns(bearer, asked),
                _unless_down(client.counts(bearer, views.count_filters(asked)), None),
            )

        if found is None:
            try:
                result, counts = await read(asked)
            except IntakeInvalid:  # a page address intake does not take: the first page
                if "cursor" not in asked:
                    raise
                filters.pop("cursor", None)
                asked.pop("cursor")
                result, counts = await read(asked)
        else:
            result = found
        fragment = request.query_params.get("fragment") == "1"
        people = {s.id: s.name for s in district.staff}
        return page(
            request,
            "staff/queue_rows.html" if fragment else "staff/queue.html",
            user,
            status=status,
            items=result.items,
            views=available,
            chosen=chosen,
            shown=shown,
            family=family or {},
            found=found is not None,
            errors=errors or {},
            may_search_family=Pages.of(user).find_family,
            priorities=views.PRIORITIES,
            queue_channels=views.QUEUE_CHANNELS,
            sorts=views.SORTS,
            assignees=sorted(people.items(), key=lambda p: p[1]),
            counts=views.queue_counts(counts) if counts is not None else None,
            later=views.queue_link(shown, cursor=result.next_cursor or "")
            if found is None and result.next_cursor
            else None,
            paged=found is None and "cursor" in filters,
            first_page=views.queue_link(shown),
            refreshed=datetime.now(ZoneInfo(district.district.timezone)),
        )

    @router.get("/queue", response_class=HTMLResponse)
    async def queue(request: Request) -> Response:
        user = signed_in(request)
        if not Pages.of(user).queue:
            return page(request, "staff/nothing.html", user, status=403)
        return await queue_page(request, user)

    @router.post("/queue/family", response_class=HTMLResponse)
    async def family_concerns(request: Request) -> Response:
        """A family's concerns by their email or phone: posted, so the contact stays out of
        the address bar, history and logs; intake records each search."""
        user = signed_in(request)
        if not Pages.of(user).find_family:
            return page(request, "staff/nothing.html", user, status=403)
        values = await _posted_values(request)
        family, errors = views.family_search(values)
        if errors and family.get("concern_id"):
            return await case_page(
                request,
                user,
                family["concern_id"],
                status=400,
                values={"family_reason": family["reason"]},
                errors={"family-reason": errors["reason"]},
            )
        try:
            return await queue_page(
                request, user, family=family, errors=errors, status=400 if errors else 200
            )
        except IntakeError as exc:  # the case is not theirs, or gone
            if exc.status not in (403, 404):
                raise
            return page(request, "staff/not_found.html", user, status=404)

    # --- the case ------------------------------------------------------------------------

    async def case_page(
        request: Request,
        user: StaffUser,
        concern_id: str,
        *,
        status: int = 200,
        problem: str | None = None,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        revealed: Any = None,
        contact: ContactRevealRead | None = None,
        stale: bool = False,
    ) -> Response:
        client = _client(request)
        bearer = token(request, user)
        try:
            case = await client.concern(bearer, concern_id)
        except IntakeNotFound:
            return page(request, "staff/not_found.html", user, status=404)
        except IntakeError as exc:
            if exc.status == 403:
                return page(request, "staff/not_found.html", user, status=404)
            raise
        audit = user.may(Permission.AUDIT_READ)
        clock, routing, deliveries, attachments, accesses = await asyncio.gather(
            _clock(client, bearer, case.id),
            _routing(client, bearer, case.id),
            _unless_down(client.deliveries(bearer, case.id), []),
            _unless_down(client.attachments(bearer, case.id), None),
            _unless_down(client.contact_accesses(bearer, case.id), None)
            if audit
            else asyncio.sleep(0),
        )
        decision, duplicates = routing
        pages = Pages.of(user)
        done = request.query_params.get("done", "")
        district = _web(request).district
        names = {
            "staff": {s.id: s.name for s in district.staff},
            "teams": {t.id: t.name for t in district.teams},
            "categories": {c.id: c.name.en for c in district.categories},
        }
        return page(
            request,
            "staff/case.html",
            user,
            status=status,
            case=case,
            seen=views.fingerprint(case),
            triage_version=decision.version if decision else None,
            routed=[
                (entry.at, views.routing_line(entry, **names))
                for entry in (decision.history if decision else [])
            ],
            clock_line=views.clock_line,
            revealed=revealed,
            reveal=pages.reveal and case.has_student_information,
            contact=contact,
            reveal_contact=pages.act and not case.anonymous,
            duplicates=duplicates,
            duplicate_reasons=views.DUPLICATE_REASONS,
            audit=audit,
            accesses=accesses,
            deliveries=deliveries,
            attachments=attachments,
            kept_aside=[e for e in case.timeline if e.kind == "unverified_message"],
            clock=clock,
            actions=views.allowed_actions(case.status.value, act=pages.act),
            retriage=pages.triage and case.status.value not in ("closed",),
            done=views.DONE.get(done),
            problem=problem,
            stale=stale,
            values=values or {},
            errors=errors or {},
            priorities=views.PRIORITIES,
            categories=district.categories,
            teams=district.teams,
            members=district.staff,
            reminders=views.REMINDERS,
            canned=canned_replies(district, case.requester_language),
            timezone=district.district.timezone,
        )

    @router.get("/concerns/{concern_id}", response_class=HTMLResponse)
    async def case(request: Request, concern_id: str) -> Response:
        user = signed_in(request)
        return await case_page(request, user, concern_id)

    @router.get("/concerns/{concern_id}/attachments/{attachment_id}")
    async def attachment(request: Request, concern_id: str, attachment_id: str) -> Response:
        """A file the family sent, downloaded with the staff member's own token (intake
        decides whether the case is within their reach)."""
        user = signed_in(request)
        try:
            data, content_type, disposition = await _client(request).attachment(
                token(request, user), concern_id, attachment_id
            )
        except IntakeError as exc:
            if exc.status not in (403, 404):
                raise
            return page(request, "staff/not_found.html", user, status=404)
        return Response(
            data,
            media_type=content_type,
            headers={
                "Content-Disposition": disposition,
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def act_unless_changed(
        request: Request,
        user: StaffUser,
        concern_id: str,
        action: str,
        body: Any,
        version: int,
        seen: str,
    ) -> None:
        """The action on the version the page showed; if only the bureau's own bookkeeping
        (a delivery, the clock) moved the case on since, once more on the current version.
        `StaleCase` when a person changed what the page showed."""
        client = _client(request)
        bearer = token(request, user)
        try:
            await client.act(bearer, concern_id, action, body, version=version)
        except StaleCase:
            current = await client.concern(bearer, concern_id)
            if not seen or views.fingerprint(current) != seen:
                raise
            await client.act(bearer, concern_id, action, body, version=current.version)

    @router.post("/concerns/{concern_id}/act/{action}", response_class=HTMLResponse)
    async def act(request: Request, concern_id: str, action: str) -> Response:
        user = signed_in(request)
        form = await _web(request).posted(request)
        values = {k: str(v)[:TEXT_MAX] for k, v in form.items() if isinstance(v, str)}
        if action not in views.ACTION_STATUSES or not Pages.of(user).act:
            return await case_page(
                request, user, concern_id, status=403, problem="You may not do this on this case."
            )
        version = values.get("version", "")
        if not version.isdigit():
            return await case_page(
                request,
                user,
                concern_id,
                status=400,
                problem="This page is out of date. Reload and try again.",
            )
        if action in ("complete-callback", "cancel-callback") and not CALLBACK_ACTION.fullmatch(
            views.service_action(action, values)
        ):
            return await case_page(
                request, user, concern_id, status=400, problem="No such callback on this case."
            )
        callback_at = None
        if action == "callbacks":
            callback_at = _local_time(values.get("due_at", ""), _web(request).district)
            if callback_at is None:
                return await case_page(
                    request,
                    user,
                    concern_id,
                    status=400,
                    values={**values, "action": action},
                    errors={"callbacks-due_at": "Enter when to call back."},
                )
        body = views.action_body(action, values, callback_at=callback_at)
        try:
            await act_unless_changed(
                request,
                user,
                concern_id,
                views.service_action(action, values),
                body,
                int(version),
                values.get("seen", ""),
            )
        except StaleCase:
            return await case_page(
                request,
                user,
                concern_id,
                status=409,
                values={**values, "action": action},
                stale=True,
                problem="Someone else changed this case while you had it open. Your text is "
                "kept below: read the case again, then send it if it still fits.",
            )
        except IntakeConflict as exc:
            return await case_page(
                request,
                user,
                concern_id,
                status=409,
                values={**values, "action": action},  # the text back in its own form only
                problem=f"Not possible now: {exc.detail or exc.title}",
            )
        except IntakeInvalid as exc:
            message = "; ".join(e.message for e in exc.errors) or exc.detail or exc.title
            return await case_page(
                request,
                user,
                concern_id,
                status=400,
                values={**values, "action": action},
                errors={f"{action}-text": message},
                problem=f"Please check what you entered: {message}",
            )
        except IntakeError as exc:
            if exc.status != 403:
                raise
            return await case_page(
                request, user, concern_id, status=403, problem="You may not do this on this case."
            )
        return RedirectResponse(f"/staff/concerns/{quote(concern_id)}?done={action}", 303)

    @router.post("/concerns/{concern_id}/canned", response_class=HTMLResponse)
    async def insert_canned(request: Request, concern_id: str) -> Response:
        """The reply form again with the chosen canned reply added to its text (what the
        select does at once with JavaScript), in the family's language; nothing is sent."""
        user = signed_in(request)
        values = await _posted_values(request)
        if not Pages.of(user).act:
            return await case_page(
                request, user, concern_id, status=403, problem="You may not do this on this case."
            )
        try:
            case = await _client(request).concern(token(request, user), concern_id)
        except IntakeError:
            return await case_page(request, user, concern_id)  # not found, or not theirs
        texts = {
            r["id"]: r["text"]
            for r in canned_replies(_web(request).district, case.requester_language)
        }
        typed = values.get("message", "")
        chosen = texts.get(values.get("canned", ""), "")
        message = "\n\n".join(t for t in (typed, chosen) if t)
        return await case_page(
            request, user, concern_id, values={"message": message, "action": "replies"}
        )

    @router.post("/concerns/{concern_id}/retriage", response_class=HTMLResponse)
    async def retriage(request: Request, concern_id: str) -> Response:
        user = signed_in(request)
        form = await _web(request).posted(request)
        values = {k: str(v)[:1000] for k, v in form.items() if isinstance(v, str)}
        if not Pages.of(user).triage:
            return await case_page(
                request, user, concern_id, status=403, problem="You may not re-triage this case."
            )
        body: dict[str, Any] = {"reason": values.get("reason", "").strip()}
        for key in ("category", "team_id", "priority", "assignee_id"):
            if values.get(key):
                body[key] = values[key]
        client, bearer = _client(request), token(request, user)
        seen = values.get("triage_version", "")
        try:
            await client.retriage(
                bearer, concern_id, body, version=int(seen) if seen.isdigit() else None
            )
        except StaleCase:  # a colleague re-routed it since the page was shown: theirs stays
            return await case_page(
                request,
                user,
                concern_id,
                status=409,
                values={**values, "action": "retriage"},
                stale=True,
                problem="Someone else changed how this case is routed (category, team, "
                "priority, assignee), or resolved or merged it, while you had it open. Your "
                "choices are kept below: read the case again, then re-triage if it still fits.",
            )
        except (IntakeInvalid, IntakeConflict) as exc:
            message = "; ".join(e.message for e in exc.errors) or exc.detail or exc.title
            return await case_page(
                request,
                user,
                concern_id,
                status=400,
                values={**values, "action": "retriage"},  # kept in the re-triage form only
                errors={"retriage-reason": message},
                problem=f"Re-triage refused: {message}",
            )
        return RedirectResponse(f"/staff/concerns/{quote(concern_id)}?done=retriage", 303)

    async def reason_to_reveal(
        request: Request, concern_id: str, kept: Kept
    ) -> tuple[StaffUser, str] | Response:
        """Who asks to see what intake keeps apart (the student's record, the family's
        contact) and their posted reason; or the case page refusing it: not theirs to see, or
        no reason given (intake records it)."""
        user = signed_in(request)
        reason = (await _posted_values(request)).get("reason", "")[:1000]
        if not kept.allowed(Pages.of(user)):
            return await case_page(request, user, concern_id, status=403, problem=kept.forbidden)
        if len(reason) < 10:
            return await case_page(
                request,
                user,
                concern_id,
                status=400,
                values={f"{kept.field}_reason": reason},
                errors={f"{kept.field}-reason": "Say why you need it (at least 10 characters)."},
            )
        return user, reason

    @router.post("/concerns/{concern_id}/reveal", response_class=HTMLResponse)
    async def reveal(request: Request, concern_id: str) -> Response:
        """The student's information, shown on this answer only (never kept in a URL or
        cookie); intake records the reveal with its reason."""
        asked = await reason_to_reveal(request, concern_id, STUDENT)
        if isinstance(asked, Response):
            return asked
        user, reason = asked
        try:
            revealed = await _client(request).reveal_student(
                token(request, user), concern_id, reason
            )
        except (IntakeInvalid, IntakeConflict) as exc:
            return await case_page(
                request,
                user,
                concern_id,
                status=400,
                errors={"reveal-reason": exc.detail or exc.title},
            )
        log.info(
            "student information revealed", extra={"staff": user.sub, "concern_id": concern_id}
        )
        return await case_page(request, user, concern_id, revealed=revealed.student)

    @router.post("/concerns/{concern_id}/contact", response_class=HTMLResponse)
    async def contact(request: Request, concern_id: str) -> Response:
        """The family's name, phone and email, to call them back: shown on this answer only
        (never kept in a URL or cookie); intake records the access with its reason."""
        asked = await reason_to_reveal(request, concern_id, CONTACT)
        if isinstance(asked, Response):
            return asked
        user, reason = asked
        try:
            found = await _client(request).reveal_contact(token(request, user), concern_id, reason)
        except IntakeNotFound:  # the family left no contact (an unknown case: the 404 page)
            return await case_page(
                request,
                user,
                concern_id,
                status=404,
                values={"contact_reason": reason},
                errors={"contact-reason": "The family left no name, phone or email."},
            )
        except IntakeError as exc:
            if exc.status not in (400, 403, 409, 422):
                raise
            return await case_page(
                request,
                user,
                concern_id,
                status=403 if exc.status == 403 else 400,
                values={"contact_reason": reason},
                errors={"contact-reason": exc.detail or exc.title},
            )
        log.info("requester contact revealed", extra={"staff": user.sub, "concern_id": concern_id})
        return await case_page(request, user, concern_id, contact=found)

    # --- team lead: members, away with backup, handover ---------------------------------

    async def team_page(
        request: Request, user: StaffUser, *, problem: str | None = None, status: int = 200
    ) -> Response:
        if not Pages.of(user).team:
            return page(request, "staff/nothing.html", user, status=403)
        bearer = token(request, user)
        client = _client(request)
        teams, members = await client.teams(bearer), await client.members(bearer)
        mine = [t for t in teams if user.sub == t.lead or user.sub in t.members]
        if not mine and user.reaches_all(Permission.MEMBERS_MANAGE):
            mine = teams
        by_id = {m.id: m for m in members}
        everything = user.reaches_all(Permission.MEMBERS_MANAGE)
        return page(
            request,
            "staff/team.html",
            user,
            teams=mine,
            members=by_id,
            may_manage=lambda member_id: everything or member_id == user.sub,
            done=None
            if problem
            else views.team_done(
                dict(request.query_params),
                {s.id: s.name for s in _web(request).district.staff},
            ),
            problem=problem,
            status=status,
            timezone=_web(request).district.district.timezone,
        )

    @router.get("/team", response_class=HTMLResponse)
    async def team(request: Request) -> Response:
        return await team_page(request, signed_in(request))

    async def refused_on_team(
        request: Request, user: StaffUser, exc: IntakeError, what: str
    ) -> Response:
        """Triage's refusal of a change on the team page (no backup to hand over to, one's
        own backup, someone else's settings), in its words; an outage stays an outage."""
        if exc.status not in (400, 403, 404, 409, 422):
            raise exc
        message = "; ".join(e.message for e in exc.errors) or exc.detail or exc.title
        status = 403 if exc.status == 403 else 400
        return await team_page(request, user, problem=f"{what}: {message}", status=status)

    @router.post("/team/{member_id}/away", response_class=HTMLResponse)
    async def away(request: Request, member_id: str) -> Response:
        user = signed_in(request)
        form = await _web(request).posted(request)
        if not Pages.of(user).team:
            return page(request, "staff/nothing.html", user, status=403)
        going = form.get("away") == "1"
        until = _local_time(f"{form.get('until') or ''}T23:59", _web(request).district)
        backup = str(form.get("backup_id") or "") or None
        try:
            await _client(request).set_away(
                token(request, user),
                member_id,
                away=going,
                backup_id=backup if going else None,
                until=until.isoformat() if going and until else None,
            )
        except IntakeError as exc:
            said = "Not marked away" if going else "Not marked back"
            return await refused_on_team(request, user, exc, said)
        return RedirectResponse(f"/staff/team?done={'away' if going else 'back'}", 303)

    @router.post("/team/{member_id}/handover", response_class=HTMLResponse)
    async def handover(request: Request, member_id: str) -> Response:
        user = signed_in(request)
        form = await _web(request).posted(request)
        if not Pages.of(user).team:
            return page(request, "staff/nothing.html", user, status=403)
        to = str(form.get("to") or "") or None
        reason = str(form.get("reason") or "").strip()[:1000] or None
        try:
            handed = await _client(request).handover(
                token(request, user), member_id, to=to, reason=reason
            )
        except IntakeError as exc:
            return await refused_on_team(request, user, exc, "Nothing was handed over")
        said = urlencode({"done": "handover", "moved": len(handed.moved), "to": handed.to})
        return RedirectResponse(f"/staff/team?{said}", 303)

    # --- administration: routing rules with dry-run, SLA policies ------------------------

    async def admin_page(
        request: Request,
        user: StaffUser,
        *,
        trial: Any = None,
        values: dict[str, str] | None = None,
        problem: str | None = None,
        status: int = 200,
        editing: str | None = None,
        rule: dict[str, Any] | None = None,
        hook: dict[str, Any] | None = None,
        template: str | None = None,
        wording: dict[str, str] | None = None,
        policy: str | None = None,
        policy_values: dict[str, str] | None = None,
        policy_errors: dict[str, str] | None = None,
        safety_text: str | None = None,
        anchor: str | None = None,
    ) -> Response:
        if not Pages.of(user).admin:
            return page(request, "staff/nothing.html", user, status=403)
        bearer = token(request, user)
        client = _client(request)
        rules = await client.rules(bearer)
        if rule is None and Pages.of(user).configure:
            current = next((r for r in rules if r.id == editing), None)
            editing = current.id if current else None
            rule = views.rule_form(current)
        subscriptions: list[SubscriptionRead] | None = None
        templates: list[TemplateRead] | None = None
        try:
            subscriptions = await client.subscriptions(bearer)
            templates = await client.templates(bearer)
        except IntakeError:
            pass  # notify is down: the rest of the page still works
        key = views.template_key(template)
        chosen = next(
            (t for t in templates or () if (t.kind.value, t.channel.value, t.language) == key),
            None,
        )
        if chosen is not None and wording is None:
            wording = {"subject": chosen.subject or "", "body": chosen.body}
        texts = views.template_texts(templates or [], key, wording) if chosen and key else []
        previews = await _previews(client, bearer, key, texts) if key and texts else []
        safety: SafetyWordsRead = await client.safety_words(bearer)
        policies = await client.policies(bearer)
        tuned = next((p for p in policies if p.id == policy), None)
        if tuned is not None and policy_values is None:
            policy_values = views.policy_form(tuned)
        return page(
            request,
            "staff/admin.html",
            user,
            status=status,
            rules=rules,
            safety=safety,
            safety_text="\n".join(safety.words) if safety_text is None else safety_text,
            anchor=anchor if problem else None,
            tuned=tuned if Pages.of(user).configure else None,
            policy_values=policy_values or {},
            policy_errors=policy_errors or {},
            calendars=_calendars(_web(request).district),
            subscriptions=subscriptions,
            hook=hook or {"event_types": []},
            public_events=sorted(PUBLIC_EVENTS),
            templates=templates,
            message_template=chosen,
            template_id=template if chosen else None,
            wording=wording or {},
            previews=previews,
            policies=policies,
            trial=trial,
            values=values or {},
            problem=problem,
            duration=views.duration,
            editing=editing,
            rule=rule,
            done=views.DONE.get(request.query_params.get("done", "")),
            priorities=views.PRIORITIES,
            teams=_web(request).district.teams,
            rule_channels=views.QUEUE_CHANNELS,
            relationships=views.RELATIONSHIPS,
            **_choices(request),
        )

    @router.get("/admin", response_class=HTMLResponse)
    async def admin(
        request: Request,
        rule: str | None = None,
        template: str | None = None,
        policy: str | None = None,
    ) -> Response:
        return await admin_page(
            request, signed_in(request), editing=rule, template=template, policy=policy
        )

    @router.post("/admin/policies/{policy_id}", response_class=HTMLResponse)
    async def save_policy(request: Request, policy_id: str) -> Response:
        """An SLA policy's targets, calendar and ladder delays (in hours); all else kept."""
        user = signed_in(request)
        if not Pages.of(user).configure:
            return page(request, "staff/nothing.html", user, status=403)
        values = await _posted_values(request)
        client, bearer = _client(request), token(request, user)
        policies = await client.policies(bearer)
        current = next((p for p in policies if p.id == policy_id), None)
        if current is None:
            return await admin_page(request, user, status=404, problem="No such policy.")
        district = _web(request).district
        changed, errors = views.policy_body(
            values,
            current,
            policies=policies,
            categories={c.id for c in district.categories},
        )
        if changed is not None:
            try:
                await client.save_policy(bearer, changed)
            except (IntakeInvalid, IntakeConflict, IntakeNotFound) as exc:
                errors = views.policy_refusal(exc)
        if errors:
            return await admin_page(
                request,
                user,
                status=400,
                policy=policy_id,
                policy_values=values,
                policy_errors=errors,
                problem="The policy was not saved: " + " ".join(errors.values()),
                anchor="policy-form-title",
            )
        return RedirectResponse(
            f"/staff/admin?done=policy&policy={quote(policy_id)}#policy-form-title", 303
        )

    def new_policy_page(
        request: Request,
        user: StaffUser,
        *,
        policies: list[Policy],
        values: dict[str, str],
        errors: dict[str, str],
        status: int = 200,
    ) -> Response:
        district = _web(request).district
        ladder = _policy_defaults(district).ladder or ()
        return page(
            request,
            "staff/policy_new.html",
            user,
            status=status,
            policies=policies,
            values=values,
            errors=errors,
            # where the summary's link of an error about more than one field leads
            anchors={
                "policy": "policy-first_response_h",
                "ladder": f"policy-after_h_{ladder[0].level}" if ladder else "policy-calendar",
            },
            calendars=_calendars(district),
            ladder=ladder,
            categories=district.categories,
            priorities=views.PRIORITIES,
            duration=views.duration,
        )

    @router.get("/admin/policies/new", response_class=HTMLResponse)
    async def new_policy(request: Request) -> Response:
        """The form of a new SLA policy, with the district's defaults and a suggested place."""
        user = signed_in(request)
        if not Pages.of(user).configure:
            return page(request, "staff/nothing.html", user, status=403)
        policies = await _client(request).policies(token(request, user))
        defaults = _policy_defaults(_web(request).district)
        values = views.new_policy_form(defaults, policies)
        return new_policy_page(request, user, policies=policies, values=values, errors={})

    @router.post("/admin/policies", response_class=HTMLResponse)
    async def add_policy(request: Request) -> Response:
        """Add an SLA policy: checked here first (names, hours, order), then by escalation
        (the district's categories and calendars); what is refused is said by field."""
        user = signed_in(request)
        values = await _posted_values(request)
        if not Pages.of(user).configure:
            return page(request, "staff/nothing.html", user, status=403)
        district = _web(request).district
        client, bearer = _client(request), token(request, user)
        policies = await client.policies(bearer)
        policy, errors = views.new_policy_body(
            values,
            defaults=_policy_defaults(district),
            policies=policies,
            categories={c.id for c in district.categories},
        )
        if policy is not None:
            try:
                await client.add_policy(bearer, policy)
            except (IntakeInvalid, IntakeConflict, IntakeNotFound) as exc:
                errors = views.policy_refusal(exc)
        if errors or policy is None:
            return new_policy_page(
                request, user, policies=policies, values=values, errors=errors, status=400
            )
        return RedirectResponse(
            f"/staff/admin?done=policy-added#policy-row-{quote(policy.id)}", 303
        )

    def delete_policy_page(
        request: Request, user: StaffUser, policy: Policy, *, refused: str | None = None
    ) -> Response:
        """What deleting a policy means, and, after escalation refused it, why."""
        return page(
            request,
            "staff/policy_delete.html",
            user,
            status=409 if refused else 200,
            policy=policy,
            duration=views.duration,
            refused=refused,
        )

    @router.get("/admin/policies/{policy_id}/delete", response_class=HTMLResponse)
    async def confirm_delete_policy(request: Request, policy_id: str) -> Response:
        """What deleting a policy means, before it is deleted."""
        user = signed_in(request)
        if not Pages.of(user).configure:
            return page(request, "staff/nothing.html", user, status=403)
        policies = await _client(request).policies(token(request, user))
        policy = next((p for p in policies if p.id == policy_id), None)
        if policy is None:
            return await admin_page(request, user, status=404, problem="No such policy.")
        return delete_policy_page(request, user, policy)

    @router.post("/admin/policies/{policy_id}/delete", response_class=HTMLResponse)
    async def delete_policy(request: Request, policy_id: str) -> Response:
        """Delete a policy; escalation refuses the last catch-all one, and the page says why."""
        user = signed_in(request)
        await _web(request).posted(request)
        if not Pages.of(user).configure:
            return page(request, "staff/nothing.html", user, status=403)
        client, bearer = _client(request), token(request, user)
        try:
            await client.delete_policy(bearer, policy_id)
        except IntakeNotFound:
            pass  # already gone: what was asked for
        except IntakeConflict as exc:
            policy = next((p for p in await client.policies(bearer) if p.id == policy_id), None)
            if policy is not None:
                refused = views.policy_refusal(exc, deleting=True).get("policy", exc.title)
                return delete_policy_page(request, user, policy, refused=refused)
        return RedirectResponse("/staff/admin?done=policy-deleted#policies-title", 303)

    @router.post("/admin/templates", response_class=HTMLResponse)
    async def save_template(request: Request) -> Response:
        """A message template's new wording: previewed in each language (nothing stored), or
        saved (notify renders it with sample values first and says what fails)."""
        user = signed_in(request)
        if not Pages.of(user).configure:
            return page(request, "staff/nothing.html", user, status=403)
        values = await _posted_values(request)
        template_id = values.get("template", "")
        key = views.template_key(template_id)
        wording = {"subject": values.get("subject", ""), "body": values.get("body", "")}
        if key is None:
            return await admin_page(request, user, status=400, problem="No such template.")
        if values.get("preview"):
            return await admin_page(request, user, template=template_id, wording=wording)
        try:
            await _client(request).save_template(
                token(request, user),
                key,
                subject=wording["subject"] or None,
                body=wording["body"],
            )
        except (IntakeInvalid, IntakeConflict, IntakeNotFound) as exc:
            message = "; ".join(e.message for e in exc.errors) or exc.detail or exc.title
            return await admin_page(
                request,
                user,
                status=400,
                template=template_id,
                wording=wording,
                problem=f"The template was not saved: {message}",
                anchor="template-form-title",
            )
        return RedirectResponse(
            f"/staff/admin?done=template&template={quote(template_id)}#template-form-title", 303
        )

    @router.post("/admin/safety-words", response_class=HTMLResponse)
    async def save_safety_words(request: Request) -> Response:
        """The words that make a concern critical, one per line; triage checks each."""
        user = signed_in(request)
        form = await _web(request).posted(request)
        if not Pages.of(user).configure:
            return page(request, "staff/nothing.html", user, status=403)
        text = str(form.get("words") or "")[:SAFETY_TEXT_MAX]
        try:
            await _client(request).save_safety_words(token(request, user), views.safety_words(text))
        except (IntakeInvalid, IntakeConflict) as exc:
            message = "; ".join(e.message for e in exc.errors) or exc.detail or exc.title
            return await admin_page(
                request,
                user,
                status=400,
                safety_text=text,
                problem=f"The safety words were not saved: {message}",
                anchor="safety-title",
            )
        return RedirectResponse("/staff/admin?done=safety-words#safety-title", 303)

    @router.post("/admin/rules", response_class=HTMLResponse)
    async def save_rule(request: Request) -> Response:
        """Add a routing rule (tried last), or change one (`editing` names it): the form's
        fields over the rule as it was. Triage checks it against the district."""
        user = signed_in(request)
        if not Pages.of(user).configure:
            return page(request, "staff/nothing.html", user, status=403)
        form = await _web(request).posted(request)
        values = {k: str(v).strip()[:TEXT_MAX] for k, v in form.items() if isinstance(v, str)}
        categories = [str(c) for c in form.getlist("categories")][:50]
        lists = {name: [str(v)[:64] for v in form.getlist(name)][:200] for name in views.RULE_LISTS}
        editing = values.get("editing") or None
        client, bearer = _client(request), token(request, user)
        existing = next((r for r in await client.rules(bearer) if r.id == editing), None)
        body, shown = views.rule_body(values, categories, existing, lists)
        rule_id = editing or shown["id"]
        try:
            await client.save_rule(bearer, rule_id, body, new=editing is None)
        except (IntakeInvalid, IntakeConflict, IntakeNotFound) as exc:
            message = "; ".join(e.message for e in exc.errors) or exc.detail or exc.title
            return await admin_page(
                request,
                user,
                status=400,
                editing=editing,
                rule=shown,
                problem=f"The rule was not saved: {message}",
                anchor="rule-form-title",
            )
        return RedirectResponse(f"/staff/admin?done=rule#rule-row-{quote(rule_id)}", 303)

    @router.get("/admin/rules/{rule_id}/delete", response_class=HTMLResponse)
    async def confirm_delete_rule(request: Request, rule_id: str) -> Response:
        """What deleting a routing rule means, before it is deleted."""
        user = signed_in(request)
        if not Pages.of(user).configure:
            return page(request, "staff/nothing.html", user, status=403)
        rules = await _client(request).rules(token(request, user))
        found = next((r for r in rules if r.id == rule_id), None)
        if found is None:
            return await admin_page(request, user, status=404, problem="No such rule.")
        return page(request, "staff/rule_delete.html", user, rule=found)

    @router.post("/admin/rules/{rule_id}/delete", response_class=HTMLResponse)
    async def delete_rule(request: Request, rule_id: str) -> Response:
        """Delete a routing rule; the concerns it routed keep their decisions."""
        return await admin_delete(
            request,
            lambda client, bearer: client.delete_rule(bearer, rule_id),
            done="rule-deleted#rules-title",
        )

    @router.post("/admin/rules/{rule_id}/move", response_class=HTMLResponse)
    async def move_rule(request: Request, rule_id: str) -> Response:
        """Try a rule one place earlier or later: triage's order with those two swapped."""
        user = signed_in(request)
        values = await _posted_values(request)
        if not Pages.of(user).configure:
            return page(request, "staff/nothing.html", user, status=403)
        client, bearer = _client(request), token(request, user)
        rules = sorted(await client.rules(bearer), key=lambda r: r.position)
        order = views.moved([r.id for r in rules], rule_id, values.get("direction", ""))
        if order is None:
            return await admin_page(
                request,
                user,
                status=400,
                problem="The rule cannot move that way; the order is unchanged.",
            )
        try:
            await client.reorder_rules(bearer, order)
        except (IntakeInvalid, IntakeConflict) as exc:  # a rule added or deleted meanwhile
            message = "; ".join(e.message for e in exc.errors) or exc.detail or exc.title
            return await admin_page(
                request,
                user,
                status=400,
                problem=f"The order was not saved: {message}. Try again on this page.",
            )
        return RedirectResponse(f"/staff/admin?done=rule-moved#rule-row-{quote(rule_id)}", 303)

    @router.post("/admin/subscriptions", response_class=HTMLResponse)
    async def add_subscription(request: Request) -> Response:
        """A district system's webhook: its URL, the public events it hears, its secret."""
        user = signed_in(request)
        if not Pages.of(user).configure:
            return page(request, "staff/nothing.html", user, status=403)
        form = await _web(request).posted(request)
        url = str(form.get("url") or "").strip()[:2000]
        events = [str(e) for e in form.getlist("event_types")][:50]
        secret = str(form.get("secret") or "")[:256]
        try:
            await _client(request).add_subscription(
                token(request, user), {"url": url, "event_types": events, "secret": secret}
            )
        except (IntakeInvalid, IntakeConflict) as exc:
            message = "; ".join(e.message for e in exc.errors) or exc.detail or exc.title
            return await admin_page(
                request,
                user,
                status=400,
                hook={"url": url, "event_types": events},  # never the secret back
                problem=f"The subscription was not added: {message}",
                anchor="hook-form-title",
            )
        return RedirectResponse("/staff/admin?done=subscription#hooks-title", 303)

    @router.post("/admin/subscriptions/{subscription_id}/delete", response_class=HTMLResponse)
    async def delete_subscription(request: Request, subscription_id: str) -> Response:
        return await admin_delete(
            request,
            lambda client, bearer: client.delete_subscription(bearer, subscription_id),
            done="unsubscribed#hooks-title",
        )

    async def admin_delete(
        request: Request,
        remove: Callable[[StaffClient, str], Awaitable[None]],
        *,
        done: str,
    ) -> Response:
        """Delete something an administrator configured (after the form's check); one
        already gone is what was asked for."""
        user = signed_in(request)
        await _web(request).posted(request)
        if not Pages.of(user).configure:
            return page(request, "staff/nothing.html", user, status=403)
        try:
            await remove(_client(request), token(request, user))
        except IntakeNotFound:
            pass
        return RedirectResponse(f"/staff/admin?done={done}", 303)

    @router.post("/admin/dry-run", response_class=HTMLResponse)
    async def dry_run(request: Request) -> Response:
        user = signed_in(request)
        values = await _posted_values(request)
        if not Pages.of(user).admin:
            return page(request, "staff/nothing.html", user, status=403)
        body: dict[str, Any] = {
            "category": values.get("category", ""),
            "description": values.get("description", ""),
        }
        if values.get("school_id"):
            body["school_id"] = values["school_id"]
        if values.get("channel") in ("web", "phone", "email", "walk_in"):
            body["channel"] = values["channel"]
        try:
            trial = await _client(request).dry_run(token(request, user), body)
        except (IntakeInvalid, IntakeConflict) as exc:
            message = "; ".join(e.message for e in exc.errors) or exc.detail or exc.title
            return await admin_page(
                request, user, values=values, status=400, problem=f"Dry run refused: {message}"
            )
        return await admin_page(request, user, trial=trial, values=values)

    # --- call-center entry ----------------------------------------------------------------

    def on_duty(request: Request) -> Any:
        """The security desk on duty when the Service Desk is closed (None in its hours or
        without a `phone:` section): who takes critical concerns now."""
        district = _web(request).district
        if not (district.model_extra or {}).get("phone"):
            return None
        desk = desk_for(datetime.now(UTC), phone_config(district), district.district.timezone)
        return desk if desk.kind is DeskKind.SECURITY_DESK else None

    def call_form(
        request: Request,
        user: StaffUser,
        *,
        values: dict[str, str],
        errors: dict[str, str],
        status: int = 200,
        lookup: dict[str, str] | None = None,
        lookup_errors: dict[str, str] | None = None,
        callers: ConcernPage | None = None,
    ) -> Response:
        return page(
            request,
            "staff/call.html",
            user,
            on_duty=on_duty(request),
            status=status,
            values=values,
            errors=errors,
            lookup=lookup or {"reason": CALLER_LOOKUP_REASON},
            lookup_errors=lookup_errors or {},
            callers=callers,
            key=values.get("idempotency_key") or str(uuid.uuid4()),
            reply_languages=views.LANGUAGES,
            contacts=views.CONTACTS,
            relationships=views.RELATIONSHIPS,
            **_choices(request),
        )

    @router.get("/call", response_class=HTMLResponse)
    async def call(request: Request) -> Response:
        user = signed_in(request)
        if not Pages.of(user).call:
            return page(request, "staff/nothing.html", user, status=403)
        return call_form(request, user, values={"channel": "phone", "language": "en"}, errors={})

    @router.post("/call/find", response_class=HTMLResponse)
    async def find_caller(request: Request) -> Response:
        """The caller's concerns by the phone or email they give: posted, so the contact
        stays out of the address bar and logs; intake records the search on each concern
        found. The contact is carried into the form below, for a new concern."""
        user = signed_in(request)
        pages = Pages.of(user)
        if not (pages.call and pages.find_family):
            return page(request, "staff/nothing.html", user, status=403)
        posted = await _posted_values(request)
        posted.pop("concern_id", None)  # only by contact here
        lookup, errors = views.family_search(posted)
        values = {"channel": "phone", "language": "en"}
        if not errors.get("requester"):
            values["email" if "@" in lookup["requester"] else "phone"] = lookup["requester"]
        callers = None
        if not errors:
            try:
                callers = await _client(request).requester_search(
                    token(request, user), lookup["reason"], requester=lookup["requester"]
                )
            except IntakeInvalid as exc:
                message = "; ".join(e.message for e in exc.errors) or exc.detail or exc.title
                errors = {"requester": message}
        lookup["requester"] = posted.get("requester", "")[:200]  # as typed, to correct it
        return call_form(
            request,
            user,
            values=values,
            errors={},
            status=400 if errors else 200,
            lookup=lookup,
            lookup_errors=errors,
            callers=callers,
        )

    @router.post("/call", response_class=HTMLResponse)
    async def take_call(request: Request) -> Response:
        user = signed_in(request)
        if not Pages.of(user).call:
            return page(request, "staff/nothing.html", user, status=403)
        values = await _posted_values(request)
        errors: dict[str, str] = {}
        if values.get("channel") not in views.CHANNELS:
            errors["channel"] = "Choose how the concern reached you."
        if len(values.get("description", "")) < 10:
            errors["description"] = "Write down the concern (at least 10 characters)."
        key = values.get("idempotency_key", "")
        if len(key) != 36:
            key = values["idempotency_key"] = str(uuid.uuid4())
        if errors:
            return call_form(request, user, values=values, errors=errors, status=400)
        requester = {
            k: values[f]
            for k, f in (
                ("name", "name"),
                ("email", "email"),
                ("phone", "phone"),
                ("relationship", "relationship"),
                ("preferred_contact", "contact"),
            )
            if values.get(f)
        }
        language = values.get("language", "")
        requester["language"] = language if language in views.LANGUAGES else "en"
        body: dict[str, Any] = {
            "channel": values["channel"],
            "description": values["description"],
            "requester": requester,
        }
        if values.get("category"):
            body["category"] = values["category"]
        if values.get("school_id"):
            body["school_id"] = values["school_id"]
        try:
            receipt = await _client(request).take_concern(
                token(request, user), body, idempotency_key=key
            )
        except IntakeInvalid as exc:
            for e in exc.errors:
                name = e.field.removeprefix("requester.").replace("preferred_contact", "contact")
                errors[name if name in values or name in ("phone", "email") else "description"] = (
                    e.message
                )
            return call_form(
                request,
                user,
                values=values,
                errors=errors or {"description": exc.detail or exc.title},
                status=400,
            )
        log.info(
            "concern taken by staff", extra={"staff": user.sub, "tracking": receipt.tracking_number}
        )
        return page(
            request,
            "staff/call_done.html",
            user,
            receipt=receipt,
            pin=" ".join(receipt.pin) if receipt.pin else None,
            tracking_spoken=views.spoken(receipt.tracking_number),
        )

    # --- a student's record of access and disclosures (FERPA) ------------------------------

    def students_page(
        request: Request,
        user: StaffUser,
        *,
        student_id: str = "",
        record: DisclosureRecord | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        return page(
            request,
            "staff/students.html",
            user,
            status=status,
            student_id=student_id,
            record=record,
            error=error,
            kinds=views.DISCLOSURES,
        )

    @router.get("/students", response_class=HTMLResponse)
    async def students(request: Request) -> Response:
        user = signed_in(request)
        if not Pages.of(user).audit:
            return page(request, "staff/nothing.html", user, status=403)
        return students_page(request, user)

    @router.post("/students", response_class=HTMLResponse)
    async def student_record(request: Request) -> Response:
        """One student's record, asked by their district id: posted, so the id stays out of
        the address bar, history and logs."""
        user = signed_in(request)
        values = await _posted_values(request)
        if not Pages.of(user).audit:
            return page(request, "staff/nothing.html", user, status=403)
        student_id = values.get("student_id", "")[:64]
        if not views.STUDENT_ID.fullmatch(student_id):
            return students_page(
                request,
                user,
                student_id=student_id,
                error="Enter the student's district id: letters, digits and -, e.g. S-204518.",
                status=400,
            )
        record = await _client(request).student_record(token(request, user), student_id)
        return students_page(request, user, student_id=student_id, record=record)

    # --- Ombudsperson ------------------------------------------------------------------------

    @router.get("/ombudsperson", response_class=HTMLResponse)
    async def ombudsperson(request: Request) -> Response:
        user = signed_in(request)
        if not Pages.of(user).ombudsperson:
            return page(request, "staff/nothing.html", user, status=403)
        cases = await _client(request).ombudsperson(token(request, user))
        return page(
            request,
            "staff/ombudsperson.html",
            user,
            cases=cases,
            clock_line=views.clock_line,
            reasons={
                "level_3": "Escalated to the Ombudsperson",
                "long_overdue": "Long overdue",
                "merged": "Merged lately",
            },
        )

    return router


def _calendars(district: DistrictConfig) -> list[str]:
    """The calendars a policy may count time on: around the clock, or the district's own."""
    config = district.section("escalation", EscalationConfig)
    return [AROUND_THE_CLOCK, *(c.id for c in config.calendars)]


def _policy_defaults(district: DistrictConfig) -> PolicySettings:
    """What a new policy starts from, as a district-file policy would: escalation's defaults,
    with the district's escalation ladder unless the defaults name their own."""
    defaults = district.section("escalation", EscalationConfig).defaults
    if defaults.ladder:
        return defaults
    ladder = tuple(
        LadderStep(level=s.level, role=s.role, after_s=s.after_s)
        for s in sorted(district.sla.ladder, key=lambda s: s.level)
    )
    return defaults.model_copy(update={"ladder": ladder})


def canned_replies(district: DistrictConfig, language: str) -> list[dict[str, str]]:
    """The district's canned replies (intake's section) in the family's language."""
    replies = district.section("intake", IntakeConfig).canned_replies
    return [{"id": r.id, "title": r.title, "text": r.in_language(language)} for r in replies]


def _local_time(value: str, district: DistrictConfig) -> datetime | None:
    """A datetime-local field's value in the district's time zone."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(district.district.timezone))
    return moment
