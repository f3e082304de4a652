"""A typed async client of intake's HTTP API, as every frontend calls it.

- submission: `create_concern` with an `Idempotency-Key` (a retry answers the same receipt);
- the catalog a form is built from: `categories`, `schools` (kept for a minute);
- the requester's side with the secret they were given: the access token (`X-Access-Token`)
  or the 6-digit PIN (`X-Access-Pin`), whichever the family typed: `tracking`,
  `add_message`, `reopen`, `attach_as_requester`;
- files: `attachment_limits` (kept for a minute), `attach` to a concern by its id;
- a form's files before its concern exists, kept by intake under a key the frontend derives:
  `pend_file`, `pending_files`, `unpend_file`, `move_pending`, `send_pending`;
- the family's address, when given, travels in `FORWARDED_FOR_HEADER`: intake counts its
  per-address limits on it, and trusts it only from a caller with the `frontend` role.

Errors: problem details (RFC 9457) become an `IntakeError` (a subclass per status a frontend
handles differently); timeouts, refused connections and 5xx become `IntakeUnavailable`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from frontends.common.settings import FrontendSettings
from services.intake.access import PIN_PATTERN
from services.intake.attachment_schemas import (
    AttachmentLimits,
    AttachmentRead,
    PendingFileRead,
    PendingOutcome,
)
from services.intake.schemas import CategoryRead, ConcernReceipt, RequesterView, SchoolRead
from shared.ratelimit import FORWARDED_FOR_HEADER

__all__ = [
    "FORWARDED_FOR_HEADER",
    "CategoryRead",
    "ConcernReceipt",
    "FieldError",
    "IntakeClient",
    "IntakeConflict",
    "IntakeError",
    "IntakeInvalid",
    "IntakeNotFound",
    "IntakePinLocked",
    "IntakeRateLimited",
    "IntakeUnavailable",
    "PendingFileRead",
    "PendingOutcome",
    "RequesterView",
    "SchoolRead",
]

CATALOG_TTL_S = 60.0
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class FieldError:
    """One invalid field, as intake names it (`requester.email`, `description`, ...)."""

    field: str
    message: str


@dataclass
class IntakeError(Exception):
    """Intake refused the request; `title`/`detail` come from its problem details."""

    status: int
    title: str
    detail: str | None = None
    errors: list[FieldError] = field(default_factory=list)
    retry_after_s: int | None = None

    def __str__(self) -> str:
        return f"{self.status} {self.title}" + (f": {self.detail}" if self.detail else "")


class IntakeNotFound(IntakeError):
    """404: unknown tracking number, or a token that does not match (the same answer)."""


class IntakeConflict(IntakeError):
    """409: not possible in the concern's current status (e.g. reopen after the window)."""


class IntakeInvalid(IntakeError):
    """422 (or 400): a field intake refused; `errors` names them."""


class IntakeRateLimited(IntakeError):
    """429: too many requests from this family's address; `retry_after_s` says how long."""


class IntakePinLocked(IntakeRateLimited):
    """429: the concern's PIN is locked after too many wrong tries (the token still opens it)."""


# the problem type of intake's answer to a locked PIN (services/intake/handlers.py, `PinLocked`)
PIN_LOCKED_TYPE = "urn:bureau:problem:pin-locked"


def requester_secret(secret: str) -> dict[str, str]:
    """The header that carries what the family typed: a 6-digit PIN, else the access token."""
    if secret.isascii() and PIN_PATTERN.fullmatch(secret):
        return {"X-Access-Pin": secret}
    return {"X-Access-Token": secret}


class IntakeUnavailable(IntakeError):
    """Intake did not answer in time, refused the connection, or answered 5xx."""


_BY_STATUS: dict[int, type[IntakeError]] = {
    400: IntakeInvalid,
    404: IntakeNotFound,
    409: IntakeConflict,
    422: IntakeInvalid,
    429: IntakeRateLimited,
}


def error_from(response: httpx.Response) -> IntakeError:
    """The typed error of a refused request, from its problem details when it has them."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    errors = [
        FieldError(str(e.get("field", "")), str(e.get("message", "")))
        for e in body.get("errors", []) or []
        if isinstance(e, dict)
    ]
    retry = response.headers.get("Retry-After", "")
    kind = (
        IntakeUnavailable
        if response.status_code >= 500
        else _BY_STATUS.get(response.status_code, IntakeError)
    )
    if kind is IntakeRateLimited and body.get("type") == PIN_LOCKED_TYPE:
        kind = IntakePinLocked
    return kind(
        status=response.status_code,
        title=str(body.get("title") or response.reason_phrase or "Error"),
        detail=body.get("detail"),
        errors=errors,
        retry_after_s=int(retry) if retry.isdigit() else None,
    )


async def send(
    http: httpx.AsyncClient, method: str, path: str, *, service: str = "Intake", **sent: Any
) -> httpx.Response:
    """One request to a service: a timeout or a refused connection becomes
    `IntakeUnavailable`, an answer of 400 or more the typed error of its problem details."""
    try:
        response = await http.request(method, path, **sent)
    except httpx.TimeoutException:
        raise IntakeUnavailable(503, "Timeout", f"{service} did not answer in time.") from None
    except httpx.HTTPError as exc:
        raise IntakeUnavailable(503, "Unreachable", type(exc).__name__) from None
    if response.status_code >= 400:
        raise error_from(response)
    return response


def parse(
    model: type[M] | TypeAdapter[Any], response: httpx.Response, *, service: str = "Intake"
) -> Any:
    """A service's answer as `model`; an answer of another shape is `IntakeUnavailable` (502)."""
    try:
        if isinstance(model, TypeAdapter):
            return model.validate_json(response.content)
        return model.model_validate_json(response.content)
    except ValidationError:
        raise IntakeUnavailable(
            502, "Unexpected answer", f"{service} answered in an unexpected shape."
        ) from None


class ServiceClient:
    """One service's API, called with the frontend's own bearer token (`token` mints it);
    one instance per process (it pools connections)."""

    def __init__(
        self,
        base_url: str,
        token: Callable[[], str],
        *,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._token = token
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport
        )
        # answers kept for a while (the catalog of `IntakeClient._cached`), by key
        self._catalog: dict[str, tuple[float, Any]] = {}

    async def aclose(self) -> None:
        await self._http.aclose()


class IntakeClient(ServiceClient):
    """Intake's API for one frontend; one instance per process (it pools connections)."""

    @classmethod
    def from_settings(cls, settings: FrontendSettings) -> IntakeClient:
        return cls(settings.intake_url, settings.token_source(), timeout_s=settings.io_timeout_s)

    # --- plumbing -------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: Mapping[str, str | None] | None = None,
        authenticated: bool = True,
        **more: Any,
    ) -> httpx.Response:
        sent = {k: v for k, v in (headers or {}).items() if v is not None}
        if authenticated:
            sent["Authorization"] = f"Bearer {self._token()}"
        return await send(self._http, method, path, json=json, headers=sent, **more)

    _parse = staticmethod(parse)

    async def _cached(self, key: str, path: str, adapter: TypeAdapter[Any]) -> Any:
        hit = self._catalog.get(key)
        if hit is not None and time.monotonic() - hit[0] < CATALOG_TTL_S:
            return hit[1]
        value = self._parse(adapter, await self._call("GET", path))
        self._catalog[key] = (time.monotonic(), value)
        return value

    # --- the API --------------------------------------------------------------------------

    async def ready(self) -> bool:
        """Whether intake answers its `/readyz`."""
        try:
            response = await self._http.get("/readyz", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def categories(self) -> list[CategoryRead]:
        """The district's categories (kept for a minute)."""
        result: list[CategoryRead] = await self._cached(
            "categories", "/v1/categories", TypeAdapter(list[CategoryRead])
        )
        return result

    async def schools(self) -> list[SchoolRead]:
        """The district's schools (kept for a minute)."""
        result: list[SchoolRead] = await self._cached(
            "schools", "/v1/schools", TypeAdapter(list[SchoolRead])
        )
        return result

    async def create_concern(
        self, body: Mapping[str, Any], *, idempotency_key: str, client_address: str | None = None
    ) -> ConcernReceipt:
        """Submit a concern (`ConcernCreate` as JSON); the same key answers the same receipt."""
        response = await self._call(
            "POST",
            "/v1/concerns",
            json=dict(body),
            headers={"Idempotency-Key": idempotency_key, FORWARDED_FOR_HEADER: client_address},
        )
        receipt: ConcernReceipt = self._parse(ConcernReceipt, response)
        return receipt

    def _tracking_path(self, tracking_number: str, action: str = "") -> str:
        return f"/v1/tracking/{quote(tracking_number, safe='')}{action}"

    async def _as_requester(
        self,
        method: str,
        tracking_number: str,
        action: str,
        access_token: str,
        client_address: str | None,
        json: Any = None,
    ) -> RequesterView:
        """A call on the requester's side (`/v1/tracking/...` with their access token or PIN)."""
        response = await self._call(
            method,
            self._tracking_path(tracking_number, action),
            json=json,
            headers={**requester_secret(access_token), FORWARDED_FOR_HEADER: client_address},
        )
        view: RequesterView = self._parse(RequesterView, response)
        return view

    async def tracking(
        self, tracking_number: str, access_token: str, *, client_address: str | None = None
    ) -> RequesterView:
        """The requester's view of their concern (`access_token`: the token or the 6-digit PIN);
        `IntakeNotFound` for a wrong number, token or PIN, `IntakePinLocked` for a PIN locked
        after too many wrong tries."""
        return await self._as_requester("GET", tracking_number, "", access_token, client_address)

    async def add_message(
        self,
        tracking_number: str,
        access_token: str,
        message: str,
        *,
        client_address: str | None = None,
    ) -> RequesterView:
        """The requester writes to the bureau."""
        return await self._as_requester(
            "POST", tracking_number, "/messages", access_token, client_address, {"message": message}
        )

    async def reopen(
        self,
        tracking_number: str,
        access_token: str,
        reason: str | None = None,
        *,
        client_address: str | None = None,
    ) -> RequesterView:
        """Reopen a resolved concern within the window; `IntakeConflict` after it."""
        body = {"reason": reason} if reason else None
        return await self._as_requester(
            "POST", tracking_number, "/reopen", access_token, client_address, body
        )

    # --- files ----------------------------------------------------------------------------

    async def attachment_limits(self) -> AttachmentLimits:
        """The files a concern takes: types, size and count (kept for a minute)."""
        limits: AttachmentLimits = await self._cached(
            "attachment_limits", "/v1/attachments/limits", TypeAdapter(AttachmentLimits)
        )
        return limits

    async def attach(
        self, concern_id: str, filename: str, content_type: str, data: bytes
    ) -> AttachmentRead:
        """Store one file with a concern (the same file again is kept once); an `IntakeError`
        says why it was refused (415 type, 413 size, 409 too many)."""
        response = await self._call(
            "POST",
            f"/v1/concerns/{quote(concern_id, safe='')}/attachments",
            params={"filename": filename},
            content=data,
            headers={"Content-Type": content_type},
        )
        stored: AttachmentRead = self._parse(AttachmentRead, response)
        return stored

    async def attach_as_requester(
        self,
        tracking_number: str,
        access_token: str,
        filename: str,
        content_type: str,
        data: bytes,
        *,
        client_address: str | None = None,
    ) -> AttachmentRead:
        """The requester's file to their own concern, with their access token or PIN."""
        response = await self._call(
            "POST",
            self._tracking_path(tracking_number, "/attachments"),
            params={"filename": filename},
            content=data,
            headers={
                **requester_secret(access_token),
                "Content-Type": content_type,
                FORWARDED_FOR_HEADER: client_address,
            },
        )
        stored: AttachmentRead = self._parse(AttachmentRead, response)
        return stored

    # --- a form's files, kept by intake until the family sends the form --------------------

    def _form_path(self, form_key: str, action: str = "/attachments") -> str:
        return f"/v1/forms/{quote(form_key, safe='')}{action}"

    async def pend_file(
        self,
        form_key: str,
        filename: str,
        content_type: str,
        data: bytes,
        *,
        client_address: str | None = None,
    ) -> PendingFileRead:
        """Keep one file for the form until it is sent; an `IntakeError` says why not (415
        type, 413 size or the form's files together, 409 too many, 429 intake or the family's
        address holds enough)."""
        response = await self._call(
            "POST",
            self._form_path(form_key),
            params={"filename": filename},
            content=data,
            headers={"Content-Type": content_type, FORWARDED_FOR_HEADER: client_address},
        )
        kept: PendingFileRead = self._parse(PendingFileRead, response)
        return kept

    async def pending_files(self, form_key: str) -> list[PendingFileRead]:
        """The form's files waiting to be sent, in the order they were chosen."""
        response = await self._call("GET", self._form_path(form_key))
        files: list[PendingFileRead] = self._parse(TypeAdapter(list[PendingFileRead]), response)
        return files

    async def unpend_file(self, form_key: str, file_id: str) -> None:
        """Forget one file of the form (an unknown one changes nothing)."""
        await self._call("DELETE", self._form_path(form_key, f"/attachments/{quote(file_id)}"))

    async def move_pending(self, form_key: str, to: str) -> list[PendingFileRead]:
        """The form's files, now under the form key `to`."""
        response = await self._call("POST", self._form_path(form_key, "/move"), json={"to": to})
        files: list[PendingFileRead] = self._parse(TypeAdapter(list[PendingFileRead]), response)
        return files

    async def send_pending(self, form_key: str, concern_id: str) -> list[PendingOutcome]:
        """Attach the form's files to the concern it created (a retry attaches nothing twice):
        what became of each."""
        response = await self._call(
            "POST", self._form_path(form_key, "/send"), json={"concern_id": concern_id}
        )
        outcomes: list[PendingOutcome] = self._parse(TypeAdapter(list[PendingOutcome]), response)
        return outcomes
