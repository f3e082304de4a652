"""In-memory stand-ins for intake's repositories, with their interface: handler tests run in
milliseconds without a store. They keep the rules a caller relies on (a change is written
only at the version it read and bumps it; a fact another service reports is applied once
per event; the later report of an SLA clock wins; a PIN locks after its wrong tries; each
write's events land in `outbox`) and store what the real one stores (the same `to_document`
and the same update of an outcome, applied to a dict; times kept to the millisecond, as the
store keeps them); the integration tier tests the real repositories against a store.

Left out: the staff lists and counts (`find`, `count`, `count_by_status`), the Board's
callbacks on time and the raw `collection`, which speak the store's query language."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import datetime
from typing import Any

from services.intake.aggregate import Case, Disclosable, Disclosure
from services.intake.domain import Concern, Status
from services.intake.idempotency import Claim
from services.intake.lifecycle import Outcome
from services.intake.repository import (
    ASSIGNEE_AT,
    PHONE_ANSWERS,
    PHONE_ANSWERS_THEN_DONE,
    AssigneeGuard,
    ConcernRepository,
    _outcome_update,
    case_of,
    disclosable_of,
    disclosure_document,
    requester_access_of,
    to_document,
)
from services.intake.students import StudentVault
from shared.clock import as_utc
from shared.events import CloudEvent
from shared.store import Document


def stored(value: Any) -> Any:
    """A deep copy of `value` as the store gives it back: times to the millisecond."""
    if isinstance(value, datetime):
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    if isinstance(value, dict):
        return {k: stored(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [stored(v) for v in value]
    return copy.deepcopy(value)


def apply_update(doc: Document, update: Document) -> None:
    """Apply a store update of top-level `$set`, `$push` (one value or `$each`), `$inc` and
    `$max`."""
    for name, value in update.get("$set", {}).items():
        doc[name] = stored(value)
    for name, value in update.get("$push", {}).items():
        pushed = value["$each"] if isinstance(value, dict) and "$each" in value else [value]
        doc.setdefault(name, []).extend(stored(list(pushed)))
    for name, by in update.get("$inc", {}).items():
        doc[name] = doc.get(name, 0) + by
    for name, value in update.get("$max", {}).items():
        if doc.get(name) is None or as_utc(doc[name]) < as_utc(value):
            doc[name] = stored(value)


class FakeConcernRepository(ConcernRepository):
    """`ConcernRepository` in memory. `documents` are the stored concerns (without their
    outbox); `outbox` holds every event written, in order. What a due-time report and another
    service's facts change is the real repository's own methods over `_keep_due` and
    `_apply_facts`."""

    def __init__(self, vault: StudentVault) -> None:  # no store: what reaches one is overridden
        self.vault = vault
        self.documents: dict[str, Document] = {}
        self.outbox: list[CloudEvent] = []
        self.counters: dict[int, int] = {}

    async def ensure_indexes(self) -> None:
        return None

    async def reseal_students(self) -> int:
        return 0  # every fake concern is sealed by the current key when added

    async def next_tracking_sequence(self, year: int) -> int:
        self.counters[year] = self.counters.get(year, 0) + 1
        return self.counters[year]

    async def add(self, concern: Concern, events: list[CloudEvent]) -> bool:
        if concern.id in self.documents:
            return False
        self.documents[concern.id] = stored(to_document(concern, self.vault))
        self.outbox.extend(events)
        return True

    async def get_document(self, concern_id: str) -> Document | None:
        doc = self.documents.get(concern_id)
        return copy.deepcopy(doc) if doc else None

    async def open_concern_of_phone(self, phone: str, *, done: bool = False) -> Document | None:
        for statuses in PHONE_ANSWERS_THEN_DONE if done else PHONE_ANSWERS:
            found = [
                d
                for d in self.documents.values()
                if (d.get("requester") or {}).get("phone") == phone and d["status"] in statuses
            ]
            if found:
                return copy.deepcopy(max(found, key=lambda d: as_utc(d["submitted_at"])))
        return None

    async def submitted_at(self, concern_id: str) -> datetime | None:
        doc = self.documents.get(concern_id)
        return as_utc(doc["submitted_at"]) if doc else None

    async def load(self, concern_id: str) -> Case | None:
        doc = self.documents.get(concern_id)
        return case_of(doc) if doc else None

    async def disclosable(self, concern_id: str) -> Disclosable | None:
        doc = self.documents.get(concern_id)
        return disclosable_of(doc) if doc else None

    async def by_tracking_number(self, tracking: str) -> Document | None:
        wanted = tracking.strip().upper()
        found = next((d for d in self.documents.values() if d["tracking_number"] == wanted), None)
        return copy.deepcopy(found) if found else None

    async def claim_pin_try(
        self, concern_id: str, *, now: datetime, attempts: int, lockout_s: float
    ) -> bool:
        doc = self.documents.get(concern_id)
        if doc is None:
            return False
        if requester_access_of(doc).pin_try_counts(now, attempts=attempts, lockout_s=lockout_s):
            apply_update(doc, {"$inc": {"pin_failures": 1}, "$set": {"pin_failed_at": now}})
            return True
        return False

    async def _keep_due(self, concern_id: str, sequence: int, fields: Document) -> bool:
        doc = self.documents.get(concern_id)
        if doc is None:
            return False
        if doc.get("due_sequence") is None or doc["due_sequence"] < sequence:
            apply_update(doc, {"$set": fields})
        return True

    async def pin_succeeded(self, concern_id: str) -> None:
        if concern_id in self.documents:
            self.documents[concern_id]["pin_failures"] = 0

    async def merged_from(self, concern_id: str) -> list[str]:
        merged = [d for d in self.documents.values() if d.get("merged_into") == concern_id]
        return [d["_id"] for d in sorted(merged, key=lambda d: d["submitted_at"])]

    async def exists(self, concern_id: str) -> bool:
        return concern_id in self.documents

    async def apply(
        self, concern_id: str, version: int, outcome: Outcome, events: list[CloudEvent]
    ) -> bool:
        doc = self.documents.get(concern_id)
        if doc is None or doc["version"] != version:
            return False
        apply_update(doc, {**_outcome_update(outcome), "$inc": {"version": 1}})
        self.outbox.extend(events)
        return True

    async def _apply_facts(
        self, concern_id: str, event_id: str, update: Document, guard: AssigneeGuard | None = None
    ) -> bool:
        doc = self.documents.get(concern_id)
        if doc is None:
            return False
        applied = any(e.get("event_id") == event_id for e in doc.get("timeline") or ())
        if guard is not None:  # compared as the store compares: to the millisecond
            guard = replace(guard, decided_at=stored(guard.decided_at))
        known = doc.get(ASSIGNEE_AT)
        if not applied and (guard is None or guard.allows(as_utc(known) if known else None)):
            apply_update(doc, update)
        return True

    async def awaiting_since_before(self, moment: datetime, limit: int) -> list[Case]:
        waiting = [
            d
            for d in self.documents.values()
            if d["status"] == Status.AWAITING_REQUESTER.value
            and d.get("awaiting_since") is not None
            and as_utc(d["awaiting_since"]) <= moment
        ]
        waiting.sort(key=lambda d: as_utc(d["awaiting_since"]))
        return [case_of(d) for d in waiting[:limit]]

    async def with_student(self, student_key: str) -> list[Document]:
        named = [d for d in self.documents.values() if d.get("student_key") == student_key]
        return [copy.deepcopy(d) for d in sorted(named, key=lambda d: d["submitted_at"])]


class FakeDisclosureRepository:
    """`DisclosureRepository` in memory: `entries` in the order recorded."""

    def __init__(self) -> None:
        self.entries: list[Document] = []

    async def ensure_indexes(self) -> None:
        return None

    async def record(self, disclosure: Disclosure) -> None:
        self.entries.append(stored(disclosure_document(disclosure)))

    async def for_concern(self, concern_id: str, *, kind: str) -> list[Document]:
        found = [e for e in self.entries if e["concern_id"] == concern_id and e["kind"] == kind]
        return copy.deepcopy(sorted(found, key=lambda e: e["at"]))

    async def for_student(self, student_key: str) -> list[Document]:
        found = [e for e in self.entries if e.get("student_key") == student_key]
        return copy.deepcopy(sorted(found, key=lambda e: e["at"]))


class FakeIdempotencyKeys:
    """`IdempotencyKeys` in memory: the first claim of a key holds it (keys never expire)."""

    def __init__(self) -> None:
        self.claims: dict[str, Claim] = {}

    async def ensure_indexes(self) -> None:
        return None

    async def claim(self, candidate: Claim, *, now: datetime) -> Claim:
        return self.claims.setdefault(candidate.key, candidate)
