"""The HTTP shell every service shares: problem details, body limits, health endpoints."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from pymongo.errors import (
    ConnectionFailure,
    ExecutionTimeout,
    PyMongoError,
    WaitQueueTimeoutError,
)
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import AuthError, Principal, TokenVerifier
from shared.authz import Access, Permission, access, roles_for
from shared.clock import Clock
from shared.errors import DomainError
from shared.errors import Problem as Problem
from shared.messaging.consumer import Handler
from shared.metrics import HttpMetrics, fresh_exposition
from shared.runtime import NotReady, Runtime, wait_until_up, waiting_for
from shared.security_headers import SECURITY_HEADERS as SECURITY_HEADERS
from shared.security_headers import SecurityHeaders as SecurityHeaders
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
MAX_BODY_BYTES = 64 * 1024
# File uploads (`POST .../attachments`) have their own limit, which their route enforces.
UPLOAD_PATH_SUFFIX = "/attachments"
UPLOAD_MAX_BYTES = 64 * 1024 * 1024


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    type_: str = "about:blank",
    instance: str | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    """Validation errors as `{field, message}`, never echoing the rejected input back."""
    errors = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        errors.append({"field": ".".join(location) or "body", "message": error.get("msg", "")})
    return errors


def _route_of(request: Request) -> str:
    """The route template (`/v1/students/{student_id}/...`), never the raw path: a raw path
    may carry an identifier that must not reach the logs."""
    return getattr(request.scope.get("route"), "path", None) or "unmatched"


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return problem_response(
                400,
                "Malformed JSON body",
                "The request body is not valid JSON.",
                instance=request.url.path,
            )
        errors = _field_errors(exc)
        fields = ", ".join(sorted({e["field"] for e in errors}))
        return problem_response(
            422,
            "Invalid request",
            f"Check these fields: {fields}.",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(DomainError)
    async def refused(request: Request, exc: DomainError) -> JSONResponse:
        # the one place a refusal of any service's rules becomes problem details
        response = problem_response(
            exc.status,
            exc.title,
            exc.detail,
            type_=exc.type,
            instance=request.url.path,
            **exc.problem_extra(),
        )
        response.headers.update(exc.problem_headers())
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(exc.status_code, str(exc.detail), instance=request.url.path)

    @app.exception_handler(PyMongoError)
    async def store_unavailable(request: Request, exc: PyMongoError) -> JSONResponse:
        # A store outage or failover is temporary: tell the client to retry, not that it failed.
        if not isinstance(exc, ConnectionFailure | ExecutionTimeout | WaitQueueTimeoutError):
            return await unexpected(request, exc)
        log.warning(
            "store unavailable", extra={"path": _route_of(request), "error": type(exc).__name__}
        )
        response = problem_response(
            503,
            "Service temporarily unavailable",
            "The bureau's store cannot be reached; retry shortly.",
            instance=request.url.path,
        )
        response.headers["Retry-After"] = "5"
        return response

    @app.exception_handler(OverflowError)
    async def out_of_range(request: Request, exc: OverflowError) -> JSONResponse:
        # A date or number the store (or datetime arithmetic) cannot hold: the client's
        # value, e.g. year 9999 with a -12:00 offset; never a 500 (Security, low).
        log.info("value out of range", extra={"path": _route_of(request)})
        return problem_response(
            422,
            "Value out of range",
            "A date or number in this request is out of the range the "
            "bureau can store; use one between the years 1970 and 9000.",
            instance=request.url.path,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": _route_of(request)})
        answer = problem_response(
            500, "Internal error", "The bureau could not complete this request; try again."
        )
        # Starlette answers this outside every middleware: the headers come with it here
        answer.headers.update({name.decode(): value.decode() for name, value in SECURITY_HEADERS})
        return answer


class BodyLimit:
    """Refuses request bodies over a size limit with 413 before the app reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = (
            UPLOAD_MAX_BYTES
            if scope.get("method") == "POST"
            and str(scope.get("path", "")).endswith(UPLOAD_PATH_SUFFIX)
            else self.max_bytes
        )
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413, "Request body too large", f"Bodies are limited to {self.max_bytes} bytes."
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
Wiring = Callable[[Runtime], Awaitable[tuple[Any, Mapping[str, Handler]]]]


def runtime_lifespan(
    settings: ServiceSettings, *, clock: Clock, outbox_collections: Sequence[str], wire: Wiring
) -> Lifespan:
    """Open the runtime, let the service wire its context and handlers, close on shutdown.

    `wire(runtime)` returns the service's context (kept in `app.state.ctx` for the routes)
    and its event handlers by event name.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.verifier = settings.token_verifier()
        opened: list[Runtime] = []

        async def start() -> None:
            runtime = await Runtime.open(
                settings, clock=clock, outbox_collections=outbox_collections
            )
            opened.append(runtime)
            # the service's own indexes and seeds are idempotent: retried through a slow store
            ctx, handlers = await wait_until_up("store", lambda: wire(runtime), deadline_s=0)
            await wait_until_up("broker", lambda: runtime.start_consuming(handlers), deadline_s=0)
            app.state.ctx = ctx
            app.state.runtime = runtime

        starting = asyncio.create_task(start(), name="startup")
        # Started in the foreground when store and broker answer (routes work once the app
        # serves); else the app serves meanwhile, `/readyz` saying what the start waits for.
        await asyncio.wait({starting}, timeout=STARTUP_FOREGROUND_S)
        if starting.done():
            starting.result()  # a deterministic fault ends the start (the process exits)
        else:
            log.warning(
                "still starting; serving /readyz meanwhile",
                extra={"waiting_for": dict(waiting_for)},
            )
            starting.add_done_callback(_exit_if_start_failed)
        try:
            yield
        finally:
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            for runtime in opened:
                await runtime.close()

    return lifespan


STARTUP_FOREGROUND_S = 30.0


def _exit_if_start_failed(task: asyncio.Task[None]) -> None:
    """A start that failed for good in the background ends the process, as in the foreground."""
    if not task.cancelled() and task.exception() is not None:
        log.critical("start failed", exc_info=task.exception())
        os.kill(os.getpid(), signal.SIGTERM)


def service_context(request: Request) -> Any:
    """The service context the lifespan wired (a dependency for routes)."""
    ctx = getattr(request.app.state, "ctx", None)
    if ctx is None:
        raise Problem(503, "Starting", "The service is still starting; try again shortly.")
    return ctx


DOCS_ASSETS = "/docs-assets"


def create_service_app(
    *,
    title: str,
    lifespan: Callable[[FastAPI], AsyncIterator[None]] | Lifespan,
    service: str = "bureau",
    version: str = "0.1.0",
    cors_origins: Sequence[str] = (),
) -> FastAPI:
    """A FastAPI app with the bureau's error handling, security headers, CORS for the
    district's browser frontends, and `/healthz`, `/readyz`, `/metrics`."""
    # /docs and /redoc with their scripts and styles served from here (the fastapi-offline
    # package ships them): the pages work without internet and under a strict network policy
    app = FastAPIOffline(
        title=title,
        version=version,
        lifespan=lifespan,
        static_url=DOCS_ASSETS,
        swagger_ui_parameters={"persistAuthorization": True},
    )
    install_problem_handlers(app)
    app.add_middleware(BodyLimit)  # type: ignore[arg-type]
    app.add_middleware(SecurityHeaders)  # type: ignore[arg-type]
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,  # type: ignore[arg-type]
            allow_origins=list(cors_origins),
            allow_credentials=False,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "If-Match",
                "X-Access-Token",
            ],
            expose_headers=["ETag", "Retry-After", "Idempotent-Replayed", "Location"],
            max_age=600,
        )
    app.add_middleware(HttpMetrics, service=service)  # type: ignore[arg-type]

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus metrics of this process."""
        body, content_type = await fresh_exposition()
        return Response(body, media_type=content_type)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz(request: Request) -> JSONResponse:
        """Store and broker are reachable."""
        runtime: Runtime | None = getattr(request.app.state, "runtime", None)
        if runtime is None:
            waits = dict(waiting_for)
            detail = (
                "The service is still starting"
                + (
                    ", waiting for " + ", ".join(f"{k} ({v})" for k, v in waits.items())
                    if waits
                    else ""
                )
                + "."
            )
            return problem_response(503, "Starting", detail, checks=waits)
        try:
            checks = await runtime.check_ready()
        except NotReady as exc:
            return problem_response(503, "Not ready", str(exc), checks=exc.problems)
        return JSONResponse({"status": "ready", "checks": checks})

    return app


async def current_principal(request: Request) -> Principal:
    """The caller, from its bearer token (a dependency); 401 when there is none or it fails."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(
            401,
            "Authentication required",
            "Send a bearer token.",
            headers={"WWW-Authenticate": 'Bearer realm="bureau"'},
        )
    verifier: TokenVerifier | None = getattr(request.app.state, "verifier", None)
    if verifier is None:
        raise Problem(503, "Starting", "The service is still starting; try again shortly.")
    try:
        return verifier.verify(token.strip())
    except AuthError:
        raise Problem(
            401,
            "Invalid token",
            "The bearer token is expired, forged or not meant for the bureau.",
            headers={"WWW-Authenticate": 'Bearer realm="bureau", error="invalid_token"'},
        ) from None


# The bearer scheme in the OpenAPI document: /docs then offers "Authorize", where a developer
# pastes a token (`bureau token ...`) that the page sends with each call to a staff route.
# current_principal reads and verifies the token itself.
BEARER_SCHEME = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="JWT",
    description="a token of the district's identity provider; in development `bureau token "
    "--sub ID --role ROLE`",
)
BearerToken = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER_SCHEME)]


class Authorize:
    """A dependency admitting callers whose roles hold `permission` (403 for the others);
    answers their `Access`, which routes use to check the concern's school or team."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission  # read by the role-matrix test

    async def __call__(self, request: Request, _documented: BearerToken = None) -> Access:
        principal = await current_principal(request)
        granted = access(principal, self.permission)
        if granted is None:
            raise Problem(
                403,
                "Forbidden",
                "Your role does not allow this.",
                permission=self.permission.value,
                required_roles=roles_for(self.permission),
            )
        return granted


_AUTHORIZE: dict[Permission, Authorize] = {}


def authorize(permission: Permission) -> Authorize:
    """The dependency for one permission (one instance each, so FastAPI solves it once)."""
    return _AUTHORIZE.setdefault(permission, Authorize(permission))


def out_of_scope(what: str = "concern") -> Problem:
    """A 403 for a caller whose role allows the action but not on this resource."""
    return Problem(403, "Outside your scope", f"This {what} is not within your schools or teams.")


# --- optimistic concurrency over HTTP: a record's version as its ETag, If-Match on changes ---

NEVER_MATCHES = -1  # a malformed If-Match: refused as stale, never applied to whatever is current


def etag(version: int) -> str:
    return f'"{version}"'


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def if_match(
    if_match: Annotated[
        str | None,
        Header(alias="If-Match", description="the ETag last read; a stale one is refused with 412"),
    ] = None,
) -> int | None:
    """The version the client last saw, or None to apply to whatever is current."""
    if if_match is None or if_match.strip() == "*":
        return None
    found = re.fullmatch(r'\s*(?:W/)?"(\d{1,12})"\s*', if_match)
    return int(found.group(1)) if found else NEVER_MATCHES


IfMatch = Annotated[int | None, Depends(if_match)]
