"""Staff search: filters to a store query, sort orders, and opaque cursors. No I/O here."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from services.intake.domain import OPEN_STATUSES, Status
from shared.clock import as_utc

if TYPE_CHECKING:  # the alias only: a pure module loads no database driver
    from shared.store import Document


class SortOrder(StrEnum):
    DUE = "due"
    DUE_DESC = "-due"
    SUBMITTED = "submitted"
    SUBMITTED_DESC = "-submitted"
    UPDATED_DESC = "-updated"


_SORT_FIELD = {
    SortOrder.DUE: ("resolution_due_at", 1),
    SortOrder.DUE_DESC: ("resolution_due_at", -1),
    SortOrder.SUBMITTED: ("submitted_at", 1),
    SortOrder.SUBMITTED_DESC: ("submitted_at", -1),
    SortOrder.UPDATED_DESC: ("updated_at", -1),
}


class InvalidCursor(ValueError):
    """A cursor this API did not make, or made for another sort order."""


@dataclass(frozen=True)
class ConcernFilter:
    statuses: tuple[Status, ...] = ()
    category: str | None = None
    school_id: str | None = None
    team_id: str | None = None
    assignee_id: str | None = None
    priority: str | None = None
    channel: str | None = None
    overdue: bool | None = None
    submitted_from: datetime | None = None
    submitted_to: datetime | None = None
    due_from: datetime | None = None
    due_to: datetime | None = None
    text: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _range(low: datetime | None, high: datetime | None) -> Document | None:
    bounds: Document = {}
    if low is not None:
        bounds["$gte"] = low
    if high is not None:
        bounds["$lt"] = high
    return bounds or None


def to_query(f: ConcernFilter, *, now: datetime) -> Document:
    """The store query of a filter; `overdue` means open and past its resolution due time."""
    parts: list[Document] = []
    if f.statuses:
        parts.append({"status": {"$in": [s.value for s in f.statuses]}})
    for name, value in (
        ("category", f.category),
        ("school_id", f.school_id),
        ("team_id", f.team_id),
        ("assignee_id", f.assignee_id),
        ("priority", f.priority),
        ("channel", f.channel),
    ):
        if value is not None:
            parts.append({name: value})
    open_values = sorted(s.value for s in OPEN_STATUSES)
    # a clock waiting (on the requester) is not running out: not overdue while paused
    if f.overdue is True:
        parts.append(
            {
                "status": {"$in": open_values},
                "resolution_due_at": {"$lt": now},
                "sla_paused": {"$ne": True},
            }
        )
    elif f.overdue is False:
        parts.append(
            {
                "$or": [
                    {"status": {"$nin": open_values}},
                    {"resolution_due_at": {"$gte": now}},
                    {"sla_paused": True},
                ]
            }
        )
    if (submitted := _range(f.submitted_from, f.submitted_to)) is not None:
        parts.append({"submitted_at": submitted})
    if (due := _range(f.due_from, f.due_to)) is not None:
        parts.append({"resolution_due_at": due})
    if f.text:
        # A contains-search over what staff type from: the tracking number and the words.
        pattern = {"$regex": re.escape(f.text.strip()), "$options": "i"}
        parts.append({"$or": [{"tracking_number": pattern}, {"description": pattern}]})
    parts.extend({k: v} for k, v in f.extra.items())
    if not parts:
        return {}
    return parts[0] if len(parts) == 1 else {"$and": parts}


def sort_spec(order: SortOrder) -> list[tuple[str, int]]:
    """The store sort: the order's field, then the id so that pages never overlap."""
    name, direction = _SORT_FIELD[order]
    return [(name, direction), ("_id", direction)]


def encode_cursor(order: SortOrder, doc: Document) -> str:
    """An opaque cursor that resumes after `doc` in `order`."""
    name, _ = _SORT_FIELD[order]
    payload = [order.value, as_utc(doc[name]).isoformat(), doc["_id"]]
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def after_cursor(order: SortOrder, cursor: str) -> Document:
    """The query part that starts strictly after the cursor's position."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        made_for, value, last_id = json.loads(raw)
        position = datetime.fromisoformat(value)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidCursor("the cursor is not one this API returned") from exc
    if made_for != order.value or not isinstance(last_id, str) or position.tzinfo is None:
        raise InvalidCursor("the cursor was made for another sort order; start again without it")
    name, direction = _SORT_FIELD[order]
    beyond = "$gt" if direction == 1 else "$lt"
    return {"$or": [{name: {beyond: position}}, {name: position, "_id": {beyond: last_id}}]}


def page_query(base: Document, order: SortOrder, cursor: str | None) -> Document:
    """The filter query, limited to what comes after the cursor."""
    if cursor is None:
        return base
    after = after_cursor(order, cursor)
    return {"$and": [base, after]} if base else after


# --- shapes the store serves from an index ---------------------------------------------------

MAX_BRANCHES = 24  # a reach (3) x "not overdue" (3) x a cursor (2) fits
# SecantusDB serves a query from an index only without a top-level `$and` or `$or`, through the
# first clause (in the query's order) an index leads with; these lead, the most selective
# first. An open status bounds a list by the open concerns, however long the history.
_LEADING = ("_id", "tracking_number", "requester_keys", "student_key", "merged_into")
_AFTER_STATUS = ("assignee_id", "team_id", "school_id", "submitted_at")
_OPEN_VALUES = frozenset(s.value for s in OPEN_STATUSES)
_MERGEABLE = {"$in", "$nin", "$gt", "$gte", "$lt", "$lte"}
_SERVED = {"$eq", "$in", "$gt", "$gte", "$lt", "$lte"}


def _conjunctions(query: Document) -> list[list[tuple[str, Any]]] | None:
    """The query as alternatives, each a list of field conditions all of which must hold."""
    alternatives: list[list[tuple[str, Any]]] = [[]]
    for key, value in query.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                return None
            parts = [_conjunctions(q) for q in value]
            if any(p is None for p in parts):
                return None
            if key == "$and":
                for part in parts:
                    alternatives = [a + b for a in alternatives for b in part or ()]
            else:
                options = [b for part in parts for b in part or ()]
                alternatives = [a + b for a in alternatives for b in options]
        elif key.startswith("$"):
            return None
        else:
            alternatives = [[*a, (key, value)] for a in alternatives]
        if len(alternatives) > MAX_BRANCHES:
            return None
    return alternatives


def _operators(condition: Any) -> Document:
    if isinstance(condition, dict) and condition and all(k.startswith("$") for k in condition):
        return dict(condition)
    return {"$eq": condition}


def _both(a: Any, b: Any) -> Any:
    """One condition that holds where both do (on a field holding one value), or raises
    ValueError when they cannot be written as one."""
    if a == b:
        return a
    merged = _operators(a)
    for op, bound in _operators(b).items():
        if op not in merged:
            merged[op] = bound
        elif op not in _MERGEABLE:
            raise ValueError(op)
        elif op == "$in":
            merged[op] = [v for v in merged[op] if v in bound]
        elif op == "$nin":
            merged[op] = [*merged[op], *(v for v in bound if v not in merged[op])]
        else:
            tighter = max if op in ("$gt", "$gte") else min
            merged[op] = tighter(merged[op], bound)
    if "$eq" in merged and "$in" in merged:  # one value, or none
        if merged["$eq"] in merged["$in"]:
            del merged["$in"]
        else:
            merged["$in"] = []
    return merged.get("$eq") if list(merged) == ["$eq"] else merged


def _rank(field: str, condition: Any) -> int:
    if not _SERVED.issuperset(_operators(condition)):  # a pattern, a negation: rides no index
        return len(_LEADING) + 2 + len(_AFTER_STATUS)
    if field in _LEADING:
        return _LEADING.index(field)
    if field == "status":
        values = _operators(condition)
        listed = values.get("$in", [values.get("$eq")]) if len(values) == 1 else []
        if listed and _OPEN_VALUES.issuperset(listed):
            return len(_LEADING)
    if field in _AFTER_STATUS:
        return len(_LEADING) + 1 + _AFTER_STATUS.index(field)
    return len(_LEADING) + 1 + len(_AFTER_STATUS)


def branches(query: Document) -> list[Document]:
    """Queries without `$and` or `$or` (each with its most selective clause first) whose
    answers together are the query's; the query itself when it has no such form, or too many."""
    alternatives = _conjunctions(query)
    if alternatives is None:
        return [query]
    out: list[Document] = []
    for conditions in alternatives:
        flat: Document = {}
        try:
            for name, condition in conditions:
                flat[name] = _both(flat[name], condition) if name in flat else condition
        except ValueError:
            return [query]
        ordered = sorted(flat.items(), key=lambda item: _rank(*item))  # stable: else as given
        out.append(dict(ordered))
    return out


def sort_documents(docs: list[Document], sort: list[tuple[str, int]]) -> list[Document]:
    """Documents in the store's order for `sort` (a missing value or null first, ascending)."""
    ordered = list(docs)
    for name, direction in reversed(sort):
        ordered.sort(
            key=lambda d: (0, "") if d.get(name) is None else (1, d[name]),
            reverse=direction == -1,
        )
    return ordered
