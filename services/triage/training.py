"""Customer-service training and the Customer Service Pledge, per staff member of the
directory triage owns: the courses each completed (course, date) and the pledge each signed
(date, version of its text). Entered one by one (staff console) or imported from the CSV a
district's HR exports. The Board reads coverage by school and department (aggregates, no
names); staff who manage members read who still needs training.

The course list, the required course and the current pledge version are the `standards:`
section of the district file (services/escalation/standards.py defines it).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.triage.context import TriageContext
from shared import disclosure
from shared.authz import TABLE, Access, Permission
from shared.board import BoardConfig
from shared.district import DistrictConfig
from shared.http import Problem, authorize, service_context
from shared.standards import StandardsConfig, share
from shared.store import Document

TRAINING = "training"
IMPORT_MAX_BYTES = 1_000_000
IMPORT_COLUMNS = ("staff_id", "course", "completed_on", "pledge_version", "pledge_signed_on")

router = APIRouter(prefix="/v1/training", tags=["training"])
Ctx = Annotated[TriageContext, Depends(service_context)]
Directory = Annotated[Access, Depends(authorize(Permission.DIRECTORY_READ))]
Manager = Annotated[Access, Depends(authorize(Permission.MEMBERS_MANAGE))]
Admin = Annotated[Access, Depends(authorize(Permission.CONFIG_WRITE))]
ReportReader = Annotated[Access, Depends(authorize(Permission.REPORTS_READ))]


# --- pure: the directory's groups and coverage -----------------------------------------------


@dataclass(frozen=True)
class Record:
    """What is known of one staff member's training."""

    courses: Mapping[str, date]
    pledge_version: str | None = None
    pledge_signed_on: date | None = None


def groups_of(district: DistrictConfig) -> dict[str, dict[str, set[str]]]:
    """Staff by school (its principal and its front-office team) and by department (team)."""
    by_team = {t.id: {t.lead, *t.members} for t in district.teams}
    schools = {s.id: {s.principal, *by_team.get(s.team, set())} for s in district.schools}
    school_teams = {s.team for s in district.schools}
    departments = {t: people for t, people in by_team.items() if t not in school_teams}
    return {"school": schools, "department": departments}


def trained(record: Record | None, config: StandardsConfig) -> bool:
    return (
        record is not None
        and config.required_course is not None
        and config.required_course in record.courses
    )


def pledged(record: Record | None, config: StandardsConfig) -> bool:
    return record is not None and record.pledge_version == config.pledge_version


def coverage(
    district: DistrictConfig, records: Mapping[str, Record], config: StandardsConfig
) -> dict[str, Any]:
    """Shares of staff trained (the required course) and pledged (the current version),
    district-wide and by school and department: counts only, never a name."""

    def measure(people: Iterable[str]) -> dict[str, Any]:
        people = set(people)
        done = sum(trained(records.get(p), config) for p in people)
        signed = sum(pledged(records.get(p), config) for p in people)
        return {
            "staff": len(people),
            "trained": done,
            "pledged": signed,
            "trained_share": share(done, len(people)),
            "pledged_share": share(signed, len(people)),
        }

    everyone = [s.id for s in district.staff]
    return {
        "required_course": config.required_course,
        "pledge_version": config.pledge_version,
        "total": measure(everyone),
        **{
            kind: [{"key": key, **measure(people)} for key, people in sorted(found.items())]
            for kind, found in groups_of(district).items()
        },
    }


@dataclass(frozen=True)
class ImportLine:
    staff_id: str
    course: str | None
    completed_on: date | None
    pledge_version: str | None
    pledge_signed_on: date | None


def read_import(
    text: str, district: DistrictConfig, config: StandardsConfig
) -> tuple[list[ImportLine], list[dict[str, Any]]]:
    """HR's CSV (a header with `staff_id`, `course`, `completed_on`, `pledge_version`,
    `pledge_signed_on`; either pair may be empty) read into lines, and the problems of the
    lines refused (line number and why). Nothing of a refused line is kept."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in ("staff_id",) if c not in (reader.fieldnames or [])]
    if missing or not set(reader.fieldnames or []) & {"course", "pledge_version"}:
        return [], [
            {"line": 1, "message": "the header needs staff_id and course or pledge_version columns"}
        ]
    courses = {c.id for c in config.courses}
    lines, problems = [], []
    for number, row in enumerate(reader, start=2):

        def cell(name: str, row: dict[str, str | None] = row) -> str:
            return (row.get(name) or "").strip()

        staff_id, course = cell("staff_id"), cell("course") or None
        version = cell("pledge_version") or None
        try:
            completed = date.fromisoformat(cell("completed_on")) if course else None
            signed = date.fromisoformat(cell("pledge_signed_on")) if version else None
        except ValueError:
            problems.append({"line": number, "message": "dates are YYYY-MM-DD"})
            continue
        if district.staff_member(staff_id) is None:
            problems.append({"line": number, "message": f"unknown staff member {staff_id!r}"})
        elif course is not None and course not in courses:
            problems.append({"line": number, "message": f"unknown course {course!r}"})
        elif course is None and version is None:
            problems.append({"line": number, "message": "neither a course nor a pledge"})
        else:
            lines.append(ImportLine(staff_id, course, completed, version, signed))
    return lines, problems


# --- store -----------------------------------------------------------------------------------


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    await db[TRAINING].create_index([("pledge.version", ASCENDING)], name="pledge_version")


def _collection(request: Request) -> AsyncCollection[Document]:
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is None:
        raise Problem(503, "Starting", "The service is still starting; try again shortly.")
    collection: AsyncCollection[Document] = runtime.db[TRAINING]
    return collection


Store = Annotated[AsyncCollection[Document], Depends(_collection)]


def _record(doc: Document) -> Record:
    pledge = doc.get("pledge") or {}
    return Record(
        courses={c: date.fromisoformat(d) for c, d in (doc.get("courses") or {}).items()},
        pledge_version=pledge.get("version"),
        pledge_signed_on=date.fromisoformat(pledge["signed_on"])
        if pledge.get("signed_on")
        else None,
    )


async def _records(store: AsyncCollection[Document]) -> dict[str, Record]:
    return {str(d["_id"]): _record(d) async for d in store.find({})}


async def _recorded(
    store: AsyncCollection[Document], staff_id: str, fields: Document, by: str, now: datetime
) -> None:
    """Set `fields` on a staff member's record (made on first use), with who and when."""
    await store.update_one(
        {"_id": staff_id},
        {"$set": {**fields, "updated_by": by, "updated_at": now}},
        upsert=True,
    )


async def _add_course(
    store: AsyncCollection[Document],
    staff_id: str,
    course: str,
    completed_on: date,
    by: str,
    now: datetime,
) -> None:
    await _recorded(store, staff_id, {f"courses.{course}": completed_on.isoformat()}, by, now)


async def _sign(
    store: AsyncCollection[Document],
    staff_id: str,
    version: str,
    signed_on: date,
    by: str,
    now: datetime,
) -> None:
    pledge = {"version": version, "signed_on": signed_on.isoformat()}
    await _recorded(store, staff_id, {"pledge": pledge}, by, now)


# --- routes ----------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CourseCompleted(_Strict):
    completed_on: date


class PledgeSigned(_Strict):
    version: str = Field(min_length=1, max_length=40)
    signed_on: date


class TrainingRead(BaseModel):
    staff_id: str
    name: str
    courses: dict[str, date]
    pledge_version: str | None
    pledge_signed_on: date | None
    trained: bool
    pledged: bool


def _config(ctx: TriageContext) -> StandardsConfig:
    return ctx.district.section("standards", StandardsConfig)


def _staff(ctx: TriageContext, staff_id: str) -> str:
    person = ctx.district.staff_member(staff_id)
    if person is None:
        raise Problem(404, "No such staff member", f"No staff member {staff_id!r}.")
    return person.name


def _read(ctx: TriageContext, staff_id: str, record: Record | None) -> TrainingRead:
    config = _config(ctx)
    record = record or Record(courses={})
    return TrainingRead(
        staff_id=staff_id,
        name=_staff(ctx, staff_id),
        courses=dict(record.courses),
        pledge_version=record.pledge_version,
        pledge_signed_on=record.pledge_signed_on,
        trained=trained(record, config),
        pledged=pledged(record, config),
    )


@router.get("/coverage")
async def read_coverage(ctx: Ctx, store: Store, who: ReportReader) -> dict[str, Any]:
    """Shares of staff trained and pledged, district-wide, by school and by department:
    counts only. A Board member (whose figures go to public meetings) reads no count of a
    small school or department (`board.suppress_below`, as the Board's other figures)."""
    found = coverage(ctx.district, await _records(store), _config(ctx))
    if disclosure.sees_exact(who.principal, TABLE[Permission.REPORTS_READ]):
        return found
    below = ctx.district.section("board", BoardConfig).suppress_below
    return disclosure.suppress_coverage(found, below)


@router.get("/needed", response_model=list[TrainingRead])
async def still_needed(ctx: Ctx, store: Store, who: Directory) -> list[TrainingRead]:
    """Staff who still need the required course or the current pledge."""
    records = await _records(store)
    config = _config(ctx)
    return [
        _read(ctx, s.id, records.get(s.id))
        for s in ctx.district.staff
        if not (trained(records.get(s.id), config) and pledged(records.get(s.id), config))
    ]


@router.get("/{staff_id}", response_model=TrainingRead)
async def read_training(staff_id: str, ctx: Ctx, store: Store, who: Directory) -> TrainingRead:
    """One staff member's courses and pledge."""
    _staff(ctx, staff_id)
    doc = await store.find_one({"_id": staff_id})
    return _read(ctx, staff_id, _record(doc) if doc else None)


@router.put("/{staff_id}/courses/{course_id}", response_model=TrainingRead)
async def record_course(
    staff_id: str, course_id: str, body: CourseCompleted, ctx: Ctx, store: Store, who: Manager
) -> TrainingRead:
    """Record a completed course (a manager for anyone; a team member for themselves)."""
    _staff(ctx, staff_id)
    if not who.covers_member(staff_id):
        raise Problem(403, "Outside your scope", "You may record only your own training.")
    if course_id not in {c.id for c in _config(ctx).courses}:
        raise Problem(
            422,
            "Invalid request",
            "Check these fields: course_id.",
            errors=[{"field": "course_id", "message": "not a course of the district"}],
        )
    await _add_course(store, staff_id, course_id, body.completed_on, who.actor, ctx.clock.now())
    return await read_training(staff_id, ctx, store, who)


@router.put("/{staff_id}/pledge", response_model=TrainingRead)
async def record_pledge(
    staff_id: str, body: PledgeSigned, ctx: Ctx, store: Store, who: Manager
) -> TrainingRead:
    """Record the pledge signed (its date and the version of its text)."""
    _staff(ctx, staff_id)
    if not who.covers_member(staff_id):
        raise Problem(403, "Outside your scope", "You may record only your own pledge.")
    await _sign(store, staff_id, body.version, body.signed_on, who.actor, ctx.clock.now())
    return await read_training(staff_id, ctx, store, who)


@router.post("/import")
async def import_csv(request: Request, ctx: Ctx, store: Store, who: Admin) -> dict[str, Any]:
    """Import HR's CSV (text/csv): each valid line recorded, each refused line named."""
    body = await request.body()
    if len(body) > IMPORT_MAX_BYTES:
        raise Problem(413, "Too large", f"An import is at most {IMPORT_MAX_BYTES} bytes.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Problem(422, "Invalid request", "The CSV must be UTF-8 text.") from None
    lines, problems = read_import(text, ctx.district, _config(ctx))
    now = ctx.clock.now()
    for line in lines:
        if line.course is not None and line.completed_on is not None:
            await _add_course(store, line.staff_id, line.course, line.completed_on, who.actor, now)
        if line.pledge_version is not None and line.pledge_signed_on is not None:
            await _sign(
                store, line.staff_id, line.pledge_version, line.pledge_signed_on, who.actor, now
            )
    return {"imported": len(lines), "refused": problems}
