"""Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2): 311 apps file and follow
concerns. JSON or XML by the `.json` / `.xml` suffix; errors in the spec's own format, also
for paths the bureau does not have.

Every field of the spec's responses is present. Public views carry no personal data: the
`description` is always empty (a parent's words may name a student), no contact, canned
status notes instead of staff text, and no request of the unlisted categories: filing one
answers a `token` (the spec's answer when no public id is given) instead of an id that
would then be a 404.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from services.intake import handlers
from services.intake.domain import Location, NewConcern, Requester, Status
from services.intake.schemas import PHONE_PATTERN
from services.intake.views import public_team_name
from services.intake.web import Ctx
from shared.clock import as_utc
from shared.events import Channel
from shared.store import Document

log = logging.getLogger(__name__)

router = APIRouter(prefix="/open311/v2", tags=["open311"])

FORMATS = ("json", "xml")
FORM_TYPE = "application/x-www-form-urlencoded"
DEFAULT_WINDOW = timedelta(days=90)
MAX_REQUESTS = 1000
MAX_FORM_FIELDS = 40
_CLOSED = (Status.RESOLVED.value, Status.CLOSED.value)
_STATUS_NOTES = {
    Status.RECEIVED: "Received; being routed to the team that owns it.",
    Status.ACKNOWLEDGED: "The responsible team is working on it.",
    Status.AWAITING_REQUESTER: "Waiting for more information from the requester.",
    Status.RESOLVED: "Resolved.",
    Status.REOPENED: "Reopened; the responsible team is working on it again.",
    Status.CLOSED: "Closed.",
}
_ROUTED_NOTE = "Routed to the responsible team; work on it starts soon."
_PRIVATE_NOTICE = (
    "Received. Requests of this kind are handled privately and never listed "
    "publicly: the bureau contacts the requester directly."
)
# The GeoReport v2 field list, in the spec's order: every answer carries every field.
SERVICE_FIELDS = (
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
)
REQUEST_FIELDS = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
)
_FORM_FIELDS = (
    "jurisdiction_id",
    "service_code",
    "description",
    "address_id",
    "address_string",
    "lat",
    "long",
    "email",
    "phone",
    "first_name",
    "last_name",
    "device_id",
    "account_id",
    "media_url",
)
_FORM_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            FORM_TYPE: {
                "schema": {
                    "type": "object",
                    "required": ["service_code", "description"],
                    "properties": {
                        **{name: {"type": "string"} for name in _FORM_FIELDS},
                        "api_key": {"type": "string", "description": "here or in the query string"},
                    },
                    "additionalProperties": {
                        "type": "string",
                        "description": "attribute[CODE]: a service attribute",
                    },
                }
            }
        },
    }
}


class Open311Error(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def to_xml(root: str, item: str, rows: list[dict[str, Any]]) -> bytes:
    """The spec's XML: a root element holding one element per row, one child per field."""
    top = ElementTree.Element(root)
    for row in rows:
        element = ElementTree.SubElement(top, item)
        for name, value in row.items():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                holder = ElementTree.SubElement(element, name)
                for nested in value:
                    child = ElementTree.SubElement(holder, name.rstrip("s"))
                    for key, val in nested.items():
                        ElementTree.SubElement(child, key).text = _text(val)
            else:
                ElementTree.SubElement(element, name).text = _text(value)
    body: bytes = ElementTree.tostring(top, encoding="utf-8", xml_declaration=True)
    return body


def _jsonable(rows: Any) -> Any:
    if isinstance(rows, list):
        return [_jsonable(r) for r in rows]
    if isinstance(rows, dict):
        return {k: _jsonable(v) for k, v in rows.items()}
    return as_utc(rows).isoformat() if isinstance(rows, datetime) else rows


def _answer(
    fmt: str, root: str, item: str, rows: list[dict[str, Any]], status: int = 200
) -> Response:
    if fmt == "xml":
        return Response(
            to_xml(root, item, rows), status_code=status, media_type="text/xml; charset=utf-8"
        )
    return JSONResponse(_jsonable(rows), status_code=status)


def _error(fmt: str, error: Open311Error) -> Response:
    rows = [{"code": error.code, "description": error.description}]
    return _answer(fmt if fmt in FORMATS else "json", "errors", "error", rows, error.code)


def _check(fmt: str, ctx: Ctx, jurisdiction_id: str | None) -> None:
    if fmt not in FORMATS:
        raise Open311Error(404, "format must be json or xml")
    configured = ctx.config.open311.jurisdiction_id
    if jurisdiction_id and configured and jurisdiction_id != configured:
        raise Open311Error(404, f"unknown jurisdiction_id {jurisdiction_id!r}")


def _keywords(*words: str) -> str:
    """The spec's keywords: one comma-separated string."""
    return ",".join(dict.fromkeys(w.strip().lower() for w in words if w.strip()))


def _services(ctx: Ctx) -> list[dict[str, Any]]:
    return [
        {
            "service_code": c.id,
            "service_name": c.name.en,
            "description": f"{c.name.en} / {c.name.es}",
            "metadata": False,
            "type": "realtime",
            "keywords": _keywords(c.id, c.name.en, c.name.es),
            "group": "school district",
        }
        for c in ctx.district.categories
    ]


@router.get("/services.{fmt}")
async def services(fmt: str, ctx: Ctx, jurisdiction_id: str | None = None) -> Response:
    """The service list: one service per concern category."""
    try:
        _check(fmt, ctx, jurisdiction_id)
    except Open311Error as exc:
        return _error(fmt, exc)
    return _answer(fmt, "services", "service", _services(ctx))


@router.get("/services/{service_code}.{fmt}")
# `service/` is where Code for America's `open311` client asks for a definition
@router.get("/service/{service_code}.{fmt}", include_in_schema=False)
async def service_definition(
    service_code: str, fmt: str, ctx: Ctx, jurisdiction_id: str | None = None
) -> Response:
    """A service definition; the bureau's services need no extra attributes."""
    try:
        _check(fmt, ctx, jurisdiction_id)
        if ctx.district.category(service_code) is None:
            raise Open311Error(404, f"unknown service_code {service_code!r}")
    except Open311Error as exc:
        return _error(fmt, exc)
    definition = {"service_code": service_code, "attributes": []}
    if fmt == "xml":
        top = ElementTree.Element("service_definition")
        ElementTree.SubElement(top, "service_code").text = service_code
        ElementTree.SubElement(top, "attributes")
        return Response(
            ElementTree.tostring(top, encoding="utf-8", xml_declaration=True),
            media_type="text/xml; charset=utf-8",
        )
    return JSONResponse(definition)


def _form(raw: bytes, content_type: str) -> list[tuple[str, str]]:
    media_type = content_type.partition(";")[0].strip().lower()
    if raw and media_type not in ("", FORM_TYPE):
        raise Open311Error(
            400,
            f"the body must be a form ({FORM_TYPE}) as GeoReport v2 defines it, not {media_type}",
        )
    try:
        pairs = parse_qsl(
            raw.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise Open311Error(
            400, f"the body must be a form ({FORM_TYPE}) of at most {MAX_FORM_FIELDS} UTF-8 fields"
        ) from None
    return [(k, v.strip()) for k, v in pairs]


def _coordinate(form: dict[str, str], name: str, limit: float) -> float | None:
    raw = form.get(name) or None
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise Open311Error(400, f"{name} must be a WGS84 decimal degree") from None
    if not -limit <= value <= limit:
        raise Open311Error(400, f"{name} must be between -{limit:g} and {limit:g}")
    return value


def _location(form: dict[str, str]) -> Location | None:
    lat, long = _coordinate(form, "lat", 90), _coordinate(form, "long", 180)
    if (lat is None) != (long is None):
        raise Open311Error(400, "lat and long go together: send both or neither")
    address = form.get("address_string") or None
    if address is not None and len(address) > 500:
        raise Open311Error(400, "address_string is limited to 500 characters")
    if address is None and lat is None:
        return None
    return Location(address=address, lat=lat, long=long)


def _media_url(form: dict[str, str]) -> str | None:
    url = form.get("media_url") or None
    if url is not None and (len(url) > 2000 or not re.fullmatch(r"https?://\S+", url)):
        raise Open311Error(400, "media_url must be an http(s) URL of at most 2000 characters")
    return url


def _client_reference(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """account_id, device_id and attribute[CODE] (a list attribute's values comma-joined)."""
    kept: dict[str, list[str]] = {}
    for name, value in pairs:
        key = name.removesuffix("[]")
        if key in ("account_id", "device_id") or re.fullmatch(r"attribute\[[\w.-]{1,64}\]", key):
            if len(value) > 200:
                raise Open311Error(400, f"{key} is limited to 200 characters")
            kept.setdefault(key, []).append(value)
    return {key: ",".join(values) for key, values in kept.items()}


def _new_concern(pairs: list[tuple[str, str]], ctx: Ctx, client: str) -> NewConcern:
    form = dict(pairs)
    code = form.get("service_code", "")
    if ctx.district.category(code) is None:
        raise Open311Error(400, "service_code is required and must be one of GET services")
    description = form.get("description", "")
    if not 10 <= len(description) <= 4000:
        raise Open311Error(400, "description is required: 10 to 4000 characters")
    school_id = form.get("address_id") or None
    if school_id is not None and ctx.district.school(school_id) is None:
        raise Open311Error(400, "address_id must be a school id of the district")
    email = form.get("email") or None
    if email is not None and (
        len(email) > 254 or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email)
    ):
        raise Open311Error(400, "email is not a valid address")
    phone = form.get("phone") or None
    if phone is not None and not re.fullmatch(PHONE_PATTERN, phone):
        raise Open311Error(400, "phone must be in E.164 form, e.g. +15551234567")
    name = " ".join(p for p in (form.get("first_name"), form.get("last_name")) if p)[:200]
    return NewConcern(
        channel=Channel.WEB,
        category=code,
        school_id=school_id,
        description=description,
        requester=Requester(name=name or None, email=email, phone=phone),
        student=None,
        taken_by=f"open311:{client}",
        via=f"open311:{client}",
        location=_location(form),
        media_url=_media_url(form),
        client_reference=_client_reference(pairs),
    )


@router.post("/requests.{fmt}", openapi_extra=_FORM_DOC)
async def create_request(
    fmt: str,
    request: Request,
    ctx: Ctx,
    api_key: str | None = None,
    jurisdiction_id: str | None = None,
) -> Response:
    """File a service request: a form, with the `api_key` in the query string (as the spec's
    clients send it) or in the form. Answers its tracking number, or a `token` for a
    category handled privately."""
    try:
        pairs = _form(await request.body(), request.headers.get("content-type", ""))
        form = dict(pairs)
        _check(fmt, ctx, form.get("jurisdiction_id") or jurisdiction_id)
        client = ctx.config.open311.client_for(form.get("api_key") or api_key or "")
        if client is None:
            raise Open311Error(403, "api_key is missing or not valid")
        new = _new_concern(pairs, ctx, client)
        submission = await handlers.submit_concern(new, ctx=ctx)
    except Open311Error as exc:
        return _error(fmt, exc)
    except handlers.InvalidReference as exc:
        return _error(fmt, Open311Error(400, str(exc)))
    doc = submission.document
    account_id = new.client_reference.get("account_id")
    if doc["category"] in ctx.config.open311.unlisted_categories:
        rows = [{"token": doc["_id"], "service_notice": _PRIVATE_NOTICE, "account_id": account_id}]
    else:
        due = as_utc(doc["resolution_due_at"]).isoformat()
        rows = [
            {
                "service_request_id": doc["tracking_number"],
                "service_notice": f"Resolution expected by {due}.",
                "account_id": account_id,
            }
        ]
    return _answer(fmt, "service_requests", "request", rows, status=201)


@router.get("/tokens/{token}.{fmt}")
async def request_id_from_token(
    token: str, fmt: str, ctx: Ctx, jurisdiction_id: str | None = None
) -> Response:
    """The request id a POST's token stands for; none for a request handled privately."""
    try:
        _check(fmt, ctx, jurisdiction_id)
        doc = await ctx.repo.get_document(token[:64])
        if doc is None or not str(doc.get("via") or "").startswith("open311:"):
            raise Open311Error(404, f"no token {token[:64]!r}")
    except Open311Error as exc:
        return _error(fmt, exc)
    listed = doc["category"] not in ctx.config.open311.unlisted_categories
    rows = [{"service_request_id": doc["tracking_number"] if listed else None, "token": token}]
    return _answer(fmt, "service_requests", "request", rows)


def _status_notes(doc: Document, status: Status) -> str:
    if doc.get("merged_into"):
        return "Merged into another request."
    if status is Status.RECEIVED and doc.get("team_name"):
        return _ROUTED_NOTE
    return _STATUS_NOTES[status]


def _agency(doc: Document, ctx: Ctx) -> str:
    """The owning team, unless its routing tells something about the student (Security #2):
    then, as before routing, the district."""
    return public_team_name(doc, ctx.district) or ctx.district.district.name


def _request_row(doc: Document, ctx: Ctx) -> dict[str, Any]:
    status = Status(doc["status"])
    category = ctx.district.category(doc["category"])
    school = ctx.district.school(doc.get("school_id"))
    location = doc.get("location") or {}
    return {
        "service_request_id": doc["tracking_number"],
        "status": "closed" if status.value in _CLOSED else "open",
        "status_notes": _status_notes(doc, status),
        "service_name": category.name.en if category else doc["category"],
        "service_code": doc["category"],
        "description": None,  # a parent's words may name a student: never public
        "agency_responsible": _agency(doc, ctx),
        "service_notice": None,
        "requested_datetime": doc["submitted_at"],
        "updated_datetime": doc.get("updated_at") or doc["submitted_at"],
        "expected_datetime": doc["resolution_due_at"],
        "address": location.get("address") or (school.name.en if school else None),
        "address_id": doc.get("school_id"),
        "zipcode": None,
        "lat": location.get("lat"),
        "long": location.get("long"),
        "media_url": doc.get("media_url"),
    }


def _listed(ctx: Ctx) -> Document:
    unlisted = ctx.config.open311.unlisted_categories
    return {"category": {"$nin": list(unlisted)}} if unlisted else {}


MIN_YEAR, MAX_YEAR = 1970, 9000


def _date(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(
            400, f"{name} must be a W3C date-time, e.g. 2026-03-01T00:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise Open311Error(400, f"{name} needs a time zone")
    try:  # the window around it must stay representable (a year-1 date gave a 500)
        utc = parsed.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise Open311Error(400, f"{name} must fall between the years {MIN_YEAR} and {MAX_YEAR}")
    return utc


@router.get("/requests.{fmt}")
async def list_requests(
    fmt: str,
    ctx: Ctx,
    jurisdiction_id: str | None = None,
    service_request_id: str | None = None,
    service_code: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    status: str | None = None,
) -> Response:
    """Requests by ids, or by service, dates (90 days by default) and open/closed status."""
    try:
        _check(fmt, ctx, jurisdiction_id)
        query: Document = _listed(ctx)
        if service_request_id:
            ids = [i.strip().upper() for i in service_request_id.split(",") if i.strip()][
                :MAX_REQUESTS
            ]
            query = (
                {"$and": [query, {"tracking_number": {"$in": ids}}]}
                if query
                else {"tracking_number": {"$in": ids}}
            )
        else:
            end = _date(end_date, "end_date") or ctx.clock.now()
            start = _date(start_date, "start_date") or end - DEFAULT_WINDOW
            parts: list[Document] = [query] if query else []
            parts.append({"submitted_at": {"$gte": start, "$lte": end}})
            if service_code:
                parts.append({"category": {"$in": service_code.split(",")}})
            if status:
                wanted = set(status.split(","))
                if not wanted <= {"open", "closed"}:
                    raise Open311Error(400, "status must be open, closed or open,closed")
                if wanted == {"open"}:
                    parts.append({"status": {"$nin": list(_CLOSED)}})
                elif wanted == {"closed"}:
                    parts.append({"status": {"$in": list(_CLOSED)}})
            query = {"$and": parts}
    except Open311Error as exc:
        return _error(fmt, exc)
    docs = await ctx.repo.find(query, sort=[("submitted_at", -1), ("_id", -1)], limit=MAX_REQUESTS)
    return _answer(fmt, "service_requests", "request", [_request_row(d, ctx) for d in docs])


@router.get("/requests/{service_request_id}.{fmt}")
async def read_request(
    service_request_id: str, fmt: str, ctx: Ctx, jurisdiction_id: str | None = None
) -> Response:
    """One request by its id (the tracking number, in any case)."""
    try:
        _check(fmt, ctx, jurisdiction_id)
        doc = await ctx.repo.by_tracking_number(service_request_id[:32])
        unlisted = ctx.config.open311.unlisted_categories
        if doc is None or doc["category"] in unlisted:
            raise Open311Error(404, f"no service request {service_request_id[:32]!r}")
    except Open311Error as exc:
        return _error(fmt, exc)
    return _answer(fmt, "service_requests", "request", [_request_row(doc, ctx)])


def _asked_format(request: Request) -> str:
    """The format a request for an unknown path asked for: its suffix, else its Accept."""
    if request.url.path.lower().endswith(".xml"):
        return "xml"
    if request.url.path.lower().endswith(".json"):
        return "json"
    accept = request.headers.get("accept", "")
    return "xml" if "xml" in accept and "json" not in accept else "json"


@router.api_route(
    "/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
)
async def unknown(path: str, request: Request) -> Response:
    """Anything else under Open311: a 404 in the format asked for."""
    return _error(
        _asked_format(request), Open311Error(404, "no such Open311 resource; see GET services.json")
    )
