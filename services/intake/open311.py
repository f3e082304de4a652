"""Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2): 311 apps file and follow
concerns. JSON or XML by the `.json` / `.xml` suffix; errors in the spec's own format.

Public views carry no personal data: no description (it may name a student), no contact,
canned status notes instead of staff text, and nothing of the unlisted categories.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from services.intake import handlers
from services.intake.domain import NewConcern, Requester, Status
from services.intake.schemas import PHONE_PATTERN
from services.intake.web import Ctx
from shared.clock import as_utc
from shared.events import Channel
from shared.store import Document

log = logging.getLogger(__name__)

router = APIRouter(prefix="/open311/v2", tags=["open311"])

FORMATS = ("json", "xml")
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
_FORM_DOC = {"requestBody": {"required": True, "content": {
    "application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["api_key", "service_code", "description"],
        "properties": {name: {"type": "string"} for name in (
            "api_key", "jurisdiction_id", "service_code", "description", "address_id",
            "address_string", "lat", "long", "email", "phone", "first_name", "last_name",
            "device_id", "account_id", "media_url")}}}}}}


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


def _answer(fmt: str, root: str, item: str, rows: list[dict[str, Any]],
            status: int = 200) -> Response:
    if fmt == "xml":
        return Response(to_xml(root, item, rows), status_code=status,
                        media_type="text/xml; charset=utf-8")
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


def _services(ctx: Ctx) -> list[dict[str, Any]]:
    return [{"service_code": c.id, "service_name": c.name.en,
             "description": f"{c.name.en} / {c.name.es}", "metadata": False,
             "type": "realtime", "keywords": [c.id], "group": "school district"}
            for c in ctx.district.categories]


@router.get("/services.{fmt}")
async def services(fmt: str, ctx: Ctx, jurisdiction_id: str | None = None) -> Response:
    """The service list: one service per concern category."""
    try:
        _check(fmt, ctx, jurisdiction_id)
    except Open311Error as exc:
        return _error(fmt, exc)
    return _answer(fmt, "services", "service", _services(ctx))


@router.get("/services/{service_code}.{fmt}")
async def service_definition(service_code: str, fmt: str, ctx: Ctx,
                             jurisdiction_id: str | None = None) -> Response:
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
        return Response(ElementTree.tostring(top, encoding="utf-8", xml_declaration=True),
                        media_type="text/xml; charset=utf-8")
    return JSONResponse(definition)


def _form(raw: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                          max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise Open311Error(400, "the body must be a form (application/x-www-form-urlencoded) "
                           f"of at most {MAX_FORM_FIELDS} UTF-8 fields") from None
    return {k: v.strip() for k, v in pairs}


def _new_concern(form: dict[str, str], ctx: Ctx, client: str) -> NewConcern:
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
    if email is not None and (len(email) > 254 or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+",
                                                                    email)):
        raise Open311Error(400, "email is not a valid address")
    phone = form.get("phone") or None
    if phone is not None and not re.fullmatch(PHONE_PATTERN, phone):
        raise Open311Error(400, "phone must be in E.164 form, e.g. +15551234567")
    name = " ".join(p for p in (form.get("first_name"), form.get("last_name")) if p)[:200]
    return NewConcern(channel=Channel.WEB, category=code, school_id=school_id,
                      description=description,
                      requester=Requester(name=name or None, email=email, phone=phone),
                      student=None, taken_by=f"open311:{client}", via=f"open311:{client}")


@router.post("/requests.{fmt}", openapi_extra=_FORM_DOC)
async def create_request(fmt: str, request: Request, ctx: Ctx) -> Response:
    """File a service request (form-encoded, with an `api_key`); answers its tracking number."""
    try:
        form = _form(await request.body())
        _check(fmt, ctx, form.get("jurisdiction_id"))
        client = ctx.config.open311.client_for(form.get("api_key", ""))
        if client is None:
            raise Open311Error(403, "api_key is missing or not valid")
        new = _new_concern(form, ctx, client)
        submission = await handlers.submit_concern(new, ctx=ctx)
    except Open311Error as exc:
        return _error(fmt, exc)
    except handlers.InvalidReference as exc:
        return _error(fmt, Open311Error(400, str(exc)))
    doc = submission.document
    due = as_utc(doc["resolution_due_at"]).isoformat()
    rows = [{"service_request_id": doc["tracking_number"],
             "service_notice": f"Resolution expected by {due}.", "account_id": None}]
    return _answer(fmt, "service_requests", "request", rows, status=201)


def _request_row(doc: Document, ctx: Ctx) -> dict[str, Any]:
    status = Status(doc["status"])
    category = ctx.district.category(doc["category"])
    school = ctx.district.school(doc.get("school_id"))
    notes = ("Merged into another request." if doc.get("merged_into")
             else _STATUS_NOTES[status])
    return {
        "service_request_id": doc["tracking_number"],
        "status": "closed" if status.value in _CLOSED else "open",
        "status_notes": notes,
        "service_name": category.name.en if category else doc["category"],
        "service_code": doc["category"],
        "agency_responsible": doc.get("team_name") or ctx.district.district.name,
        "service_notice": None,
        "requested_datetime": doc["submitted_at"],
        "updated_datetime": doc.get("updated_at") or doc["submitted_at"],
        "expected_datetime": doc["resolution_due_at"],
        "address": school.name.en if school else None,
        "address_id": doc.get("school_id"),
    }


def _listed(ctx: Ctx) -> Document:
    unlisted = ctx.config.open311.unlisted_categories
    return {"category": {"$nin": list(unlisted)}} if unlisted else {}


def _date(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} must be a W3C date-time, e.g. "
                           "2026-03-01T00:00:00Z") from None
    if parsed.tzinfo is None:
        raise Open311Error(400, f"{name} needs a time zone")
    return parsed


@router.get("/requests.{fmt}")
async def list_requests(fmt: str, ctx: Ctx, jurisdiction_id: str | None = None,
                        service_request_id: str | None = None, service_code: str | None = None,
                        start_date: str | None = None, end_date: str | None = None,
                        status: str | None = None) -> Response:
    """Requests by ids, or by service, dates (90 days by default) and open/closed status."""
    try:
        _check(fmt, ctx, jurisdiction_id)
        query: Document = _listed(ctx)
        if service_request_id:
            ids = [i.strip() for i in service_request_id.split(",") if i.strip()][:MAX_REQUESTS]
            query = {"$and": [query, {"tracking_number": {"$in": ids}}]} if query else \
                {"tracking_number": {"$in": ids}}
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
    docs = await ctx.repo.find(query, sort=[("submitted_at", -1), ("_id", -1)],
                               limit=MAX_REQUESTS)
    return _answer(fmt, "service_requests", "request", [_request_row(d, ctx) for d in docs])


@router.get("/requests/{service_request_id}.{fmt}")
async def read_request(service_request_id: str, fmt: str, ctx: Ctx,
                       jurisdiction_id: str | None = None) -> Response:
    """One request by its id (the tracking number)."""
    try:
        _check(fmt, ctx, jurisdiction_id)
        doc = await ctx.repo.by_tracking_number(service_request_id[:32])
        unlisted = ctx.config.open311.unlisted_categories
        if doc is None or doc["category"] in unlisted:
            raise Open311Error(404, f"no service request {service_request_id[:32]!r}")
    except Open311Error as exc:
        return _error(fmt, exc)
    return _answer(fmt, "service_requests", "request", [_request_row(doc, ctx)])
