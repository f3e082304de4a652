"""The Board's pages: the dashboard, the printable monthly packet and its CSV. A Board member
signs in through the staff console's sign-in (its session), and every figure comes from the
services' aggregate routes called with their own token. Thin: read, build the view, render."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from frontends.common.intake import IntakeError, IntakeUnavailable
from frontends.web.board import views
from frontends.web.board.client import BoardClient
from frontends.web.staff.signin import SignIn
from frontends.web.staff.views import Pages, StaffUser
from shared import disclosure
from shared.authz import TABLE, Permission
from shared.board import BoardConfig
from shared.standards import Measure, Milestone, Standard, StandardsConfig

TREND_MONTHS = 12
log = logging.getLogger(__name__)


def install(app: FastAPI) -> None:
    """Mount the Board's pages (under /staff/board, where the staff session reaches; /board
    leads there). The web's lifespan opens `app.state.board_client`."""
    app.include_router(_router())


def _client(request: Request) -> BoardClient:
    client: BoardClient = request.app.state.board_client  # opened in the web's lifespan
    return client


def _month(value: str | None, today: date) -> date:
    try:
        return date.fromisoformat(f"{value}-01") if value else today.replace(day=1)
    except ValueError:
        return today.replace(day=1)


def _shift(month: date, by: int) -> date:
    index = month.year * 12 + month.month - 1 + by
    return date(index // 12, index % 12 + 1, 1)


def _router() -> APIRouter:
    router = APIRouter()

    def signed_in(request: Request) -> StaffUser:
        signin: SignIn = request.app.state.staff_signin
        return signin.user(request)

    def page(
        request: Request, template: str, user: StaffUser, *, status: int = 200, **ctx: Any
    ) -> HTMLResponse:
        response: HTMLResponse = request.app.state.web.render(
            request,
            template,
            status=status,
            language="en",
            user=user,
            pages=Pages.of(user),
            may_manage=user.may(Permission.MEMBERS_MANAGE),
            nav="training" if ctx.get("page_kind") == "training" else "board",
            **ctx,
        )
        return response

    def names(request: Request) -> dict[str, dict[str, str]]:
        district = request.app.state.web.district
        return {
            "school": {
                "none": "No school (district-wide)",
                "unknown": "Unknown school (a call about no concern)",
                **{s.id: s.name.en for s in district.schools},
            },
            "team": {
                "none": "Not yet routed",
                "unknown": "No team (a call about no concern)",
                **{t.id: t.name for t in district.teams},
            },
            "category": {
                "none": "No category",
                "unknown": "No category (a call about no concern)",
                **{c.id: c.name.en for c in district.categories},
            },
            "department": {t.id: t.name for t in district.teams},
        }

    async def figures(
        request: Request, user: StaffUser, first: date, last: date, *, public: bool = False
    ) -> dict[str, Any]:
        """Everything one page shows, from the three services' aggregates. Small counts are
        suppressed (`board.suppress_below`) for a Board member, and in the packet (`public`:
        printed and mailed for a public meeting) whoever reads it."""
        web = request.app.state.web
        exact = not public and disclosure.sees_exact(
            user.principal(), TABLE[Permission.REPORTS_READ]
        )
        below = 0 if exact else web.district.section("board", BoardConfig).suppress_below
        timezone = ZoneInfo(web.district.district.timezone)
        signin: SignIn = request.app.state.staff_signin
        token = signin.token(user)
        client = _client(request)
        report = await client.report(
            token, first.strftime("%Y-%m"), last.strftime("%Y-%m"), public=public
        )
        # calls month by month for the trend (twelve months whatever the page), and by group
        # over the page's months, from intake's monthly summaries (never a call record)
        trend_first = _shift(last, 1 - TREND_MONTHS).strftime("%Y-%m")
        last_label, first_label = last.strftime("%Y-%m"), first.strftime("%Y-%m")
        call_trend = await client.call_months(token, trend_first, last_label, public=public)
        call_span = (
            call_trend
            if first_label == trend_first
            else await client.call_months(token, first_label, last_label, public=public)
        )
        calls = call_trend["months"][-1] if call_trend else None
        if "suppression" in report:  # as the service applied it
            below = report["suppression"]["below"]
        coverage = await client.coverage(token)
        if coverage and below:  # staff counts of a small department, as the other tables
            coverage = disclosure.suppress_coverage(coverage, below)
        standards = [Standard.model_validate(s) for s in report["standards"]]
        latest = report["months"][-1]
        others = views.other_values(calls, coverage)
        items = views.all_compliance(standards, latest["standards"], others)
        resolve = next(
            (s.target for s in standards if s.measure is Measure.RESOLVED_WITHIN_GUARANTEE), None
        )
        information = next(
            (s for s in standards if s.measure is Measure.INFORMATION_ANSWERED), None
        )
        callbacks = next((s for s in standards if s.measure is Measure.CALLBACKS_ON_TIME), None)
        answered = next((s for s in standards if s.measure is Measure.CALLS_ANSWERED), None)
        hours = report["guarantee_hours"]
        label = views.month_label(latest["month"])
        all_names = names(request)
        groups = [
            views.group_chart(
                kind,
                report["breakdown"][kind],
                all_names[kind],
                hours,
                resolve,
                information,
                callbacks,
                below,
            )
            for kind in ("school", "team", "category")
        ]
        span = views.span_label(first_label, last_label)
        call_groups = (
            [
                views.call_chart(
                    kind,
                    call_span.get(f"by_{kind}") or [],
                    all_names[kind],
                    span,
                    answered.target if answered else None,
                    below,
                )
                for kind in ("school", "team", "category")
            ]
            if call_span
            else []
        )
        calls_trend = (
            views.calls_trend_chart(
                call_trend["months"], answered.target if answered else None, below
            )
            if call_trend
            else None
        )
        total = report["total"]
        counts = [
            views.count_chart(
                "backlog", "Open concerns by age", total["backlog"], views.BACKLOG, below
            ),
            views.count_chart(
                "escalations", "Escalations by level", total["escalations"], views.LEVELS, below
            ),
        ]
        training = (
            [
                views.coverage_chart(kind, coverage[kind], all_names[kind], below)
                for kind in ("school", "department")
            ]
            if coverage
            else []
        )
        values = {**others, **{c.measure: c.value for c in items}}
        # the standards computed from fewer than `below` cases: not shown, and said why
        hidden_standards = [
            name.removeprefix("standards.")
            for name in latest.get(disclosure.SUPPRESSED, ())
            if name.startswith("standards.")
        ] + [
            s.id
            for s in standards
            if calls
            and (
                (s.measure is Measure.CALLS_ANSWERED and views.hidden(calls, "answered_share"))
                or (s.measure is Measure.CALL_ANSWER_P90_S and views.hidden(calls, "p90_answer_s"))
            )
        ]
        today = datetime.now(timezone).date()
        return {
            "report": report,
            "period": label,
            "month": latest["month"],
            "first": first.strftime("%Y-%m"),
            "last": last.strftime("%Y-%m"),
            "items": items,
            "standards_chart": views.compliance_chart(items, label, hidden_standards, below),
            "hidden_standards": hidden_standards,
            "trend": views.trend_chart(report["months"], hours, resolve, below),
            "standards_months": views.standards_by_month(
                standards, report["months"], call_trend["months"] if call_trend else (), below
            ),
            "below": below,
            "suppression_note": (
                f'Counts under {below} read "fewer than {below}", and shares or means from '
                f"fewer than {below} cases are not shown, so that no figure points at one "
                "family or student."
                if below
                else ""
            ),
            "count": lambda row, name: views.count(row, name, below),
            "figure": lambda row, name, measure: views.figure(row, name, measure, below),
            "calls_trend": calls_trend,
            "span": span,
            "groups": groups,
            "call_groups": call_groups,
            "counts": counts,
            "training": training,
            "coverage": coverage,
            "calls": calls,
            "total": total,
            "latest": latest,
            "milestones": views.milestones(
                [Milestone.model_validate(m) for m in report["milestones"]], values, today
            ),
            "adopted_on": report.get("adopted_on"),
            "shown": views.shown,
            "met_word": views.met_word,
            "previous": _shift(last, -1).strftime("%Y-%m"),
            "following": _shift(last, 1).strftime("%Y-%m") if _shift(last, 1) <= today else None,
        }

    async def allowed_figures(
        request: Request, user: StaffUser, month: str | None, months: int, public: bool = False
    ) -> dict[str, Any] | None:
        """The figures of `months` months to `month`, or None when the services refuse the
        person (the page then says there is nothing for their role, as without the right)."""
        timezone = ZoneInfo(request.app.state.web.district.district.timezone)
        last = _month(month, datetime.now(timezone).date())
        try:
            return await figures(request, user, _shift(last, 1 - months), last, public=public)
        except IntakeError as exc:
            if exc.status in (401, 403):
                log.warning(
                    "board figures refused", extra={"status": exc.status, "title": exc.title}
                )
                return None
            raise

    async def board_page(
        request: Request, template: str, month: str | None, months: int, public: bool = False
    ) -> Response:
        user = signed_in(request)
        if not user.may(Permission.REPORTS_READ):
            return page(request, "staff/nothing.html", user, status=403)
        found = await allowed_figures(request, user, month, months, public)
        if found is None:
            return page(request, "staff/nothing.html", user, status=403)
        return page(request, template, user, **found)

    @router.get("/board")
    async def board_root() -> Response:
        return RedirectResponse("/staff/board", 303)

    @router.get("/staff/board", response_class=HTMLResponse)
    async def dashboard(request: Request, month: str | None = None) -> Response:
        """One page: are the standards kept, where not, how far training has come."""
        return await board_page(request, "board/dashboard.html", month, TREND_MONTHS)

    @router.get("/staff/board/packet", response_class=HTMLResponse)
    async def packet(request: Request, month: str | None = None) -> Response:
        """The monthly report for the Board's packet, laid out for print."""
        return await board_page(request, "board/packet.html", month, 1, public=True)

    @router.get("/staff/board/packet.csv")
    async def packet_csv(request: Request, month: str | None = None) -> Response:
        """The same figures as the printed packet, as CSV."""
        user = signed_in(request)
        if not user.may(Permission.REPORTS_READ):
            return page(request, "staff/nothing.html", user, status=403)
        found = await allowed_figures(request, user, month, 1, public=True)
        if found is None:
            return page(request, "staff/nothing.html", user, status=403)
        charts = [
            found["standards_chart"],
            found["trend"],
            *([found["calls_trend"]] if found["calls_trend"] else []),
            *found["groups"],
            *found["call_groups"],
            *found["counts"],
            *found["training"],
        ]
        text = views.packet_csv(
            found["period"], found["items"], charts, found["calls"], found["below"]
        )
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={
                "content-disposition": f'attachment; filename="board-packet-{found["month"]}.csv"',
                "cache-control": "no-store",
            },
        )

    # --- training and pledge records (staff who manage members) -------------------------

    def staff_token(request: Request, user: StaffUser) -> str:
        signin: SignIn = request.app.state.staff_signin
        return signin.token(user)

    @router.get("/staff/board/training", response_class=HTMLResponse)
    async def training(request: Request, done: str | None = None) -> Response:
        """Who still needs the required course or the current pledge; record either, or
        import HR's CSV."""
        user = signed_in(request)
        if not user.may(Permission.MEMBERS_MANAGE):
            return page(request, "staff/nothing.html", user, status=403)
        district = request.app.state.web.district
        config = district.section("standards", StandardsConfig)
        needed = await _client(request).training_needed(staff_token(request, user))
        return page(
            request,
            "board/training.html",
            user,
            needed=needed,
            config=config,
            may_import=user.may(Permission.CONFIG_WRITE),
            done=done,
            refused=[],
            page_kind="training",
            month=None,
        )

    @router.post("/staff/board/training/record")
    async def training_record(request: Request) -> Response:
        user = signed_in(request)
        form = await request.app.state.web.posted(request)
        if not user.may(Permission.MEMBERS_MANAGE):
            return page(request, "staff/nothing.html", user, status=403)
        config = request.app.state.web.district.section("standards", StandardsConfig)
        staff_id = str(form.get("staff_id") or "")
        when = str(form.get("on") or "")
        token = staff_token(request, user)
        try:
            date.fromisoformat(when)
            what = str(form.get("what") or "")
            if what == "pledge":
                await _client(request).record_pledge(token, staff_id, config.pledge_version, when)
            else:
                course = what.removeprefix("course:")
                await _client(request).record_course(token, staff_id, course, when)
        except (ValueError, IntakeError):
            return RedirectResponse("/staff/board/training?done=refused", 303)
        return RedirectResponse("/staff/board/training?done=recorded", 303)

    @router.post("/staff/board/training/import", response_class=HTMLResponse)
    async def training_import(request: Request) -> Response:
        user = signed_in(request)
        form = await request.app.state.web.posted(request)
        if not user.may(Permission.CONFIG_WRITE):
            return page(request, "staff/nothing.html", user, status=403)
        upload = form.get("file")
        text = await upload.read() if upload is not None and hasattr(upload, "read") else b""
        token = staff_token(request, user)
        try:
            result = await _client(request).import_training(token, text)
        except IntakeUnavailable:
            raise
        except IntakeError as exc:  # the file itself: too large, not UTF-8 (triage says)
            result = {"refused": [], "file_refused": exc.detail or exc.title}
        district = request.app.state.web.district
        needed = await _client(request).training_needed(token)
        return page(
            request,
            "board/training.html",
            user,
            status=422 if "file_refused" in result else 200,
            needed=needed,
            config=district.section("standards", StandardsConfig),
            may_import=True,
            done=None if "file_refused" in result else f"imported {result['imported']}",
            file_refused=result.get("file_refused"),
            refused=result["refused"],
            page_kind="training",
            month=None,
        )

    return router
