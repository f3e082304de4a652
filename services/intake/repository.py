"""Intake's store: concerns (with their outbox) and the tracking-number counters.

Every change to a concern is one `update_one` guarded by the concern's `version`, which also
carries the events the change publishes (outbox) and bumps the version: the ETag of the case.
New concerns and the facts other services report arrive concurrently; each kind shares its
store round trips (group commit: one `insert_many`, one `bulk_write`).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.intake.aggregate import (
    Case,
    Disclosable,
    Disclosure,
    DisclosureKind,
    RequesterAccess,
)
from services.intake.domain import OPEN_STATUSES, Concern, ContactChannel, Requester, Status
from services.intake.lifecycle import Action, Callback, CallbackStatus, Outcome
from services.intake.queries import branches, sort_documents
from services.intake.students import StudentVault
from shared.batching import GroupCommit
from shared.clock import as_utc
from shared.events import CallbackOutcome, CloudEvent, Priority
from shared.outbox import outbox_push, with_outbox
from shared.store import Document, bulk_errors

CONCERNS = "concerns"

# What no list, search or public view ever reads.
PRIVATE_FIELDS = (
    "outbox",
    "student",
    "student_key",
    "requester.name",
    "requester.email",
    "requester.phone",
    "requester.reply_to_message_id",
    "access_token_hash",
    "pin_hash",
    "pin_failures",
    "pin_failed_at",
    "requester_keys",
)
DISCLOSURES = "disclosures"


def to_document(concern: Concern, vault: StudentVault) -> Document:
    """A new concern as stored: its first history entry and timeline entry included; the
    student sealed (never stored in clear)."""
    student = concern.student
    requester = asdict(concern.requester)
    requester["preferred_contact"] = (
        concern.requester.preferred_contact.value if concern.requester.preferred_contact else None
    )
    return {
        "_id": concern.id,
        "tracking_number": concern.tracking_number,
        "channel": concern.channel.value,
        "category": concern.category,
        "school_id": concern.school_id,
        "description": concern.description,
        "requester": requester,
        "student": vault.seal(student, concern.id) if student else None,
        "student_key": vault.lookup_key(student.student_id) if student else None,
        "school_contacted": concern.school_contacted,
        "taken_by": concern.taken_by,
        "via": concern.via,
        "location": asdict(concern.location) if concern.location else None,
        "media_url": concern.media_url,
        "client_reference": dict(concern.client_reference),
        "status": concern.status.value,
        "submitted_at": concern.submitted_at,
        "updated_at": concern.submitted_at,
        "resolution_due_at": concern.resolution_due_at,
        "access_token_hash": concern.access_token_hash,
        "pin_hash": concern.pin_hash,
        "requester_keys": list(concern.requester_keys),
        "version": 1,
        "history": [
            {
                "at": concern.submitted_at,
                "from": None,
                "to": Status.RECEIVED.value,
                "reason": None,
                "actor": concern.taken_by,
            }
        ],
        "timeline": [
            {
                "id": f"{concern.id}:submitted",
                "kind": "submitted",
                "at": concern.submitted_at,
                "actor": concern.taken_by,
                "channel": concern.channel.value,
                "via": concern.via,
            }
        ],
        "messages": [],
        "callbacks": [],
        "resolution": None,
        "merged_into": None,
    }


# What `case_of` reads of a stored concern (a decision loads only these).
CASE_FIELDS = {
    key: 1
    for key in (
        "status",
        "version",
        "category",
        "school_id",
        "team_id",
        "priority",
        "resolution",
        "merged_into",
        "merged_at",
        "callbacks",
        "awaiting_since",
        "requester_reminded_at",
        "routing_sensitive",
    )
}


# What a requester's text or call answers, in turn: a concern waiting on them, any open one.
PHONE_ANSWERS = (
    (Status.AWAITING_REQUESTER.value,),
    tuple(sorted(s.value for s in OPEN_STATUSES)),
)
# Then, for a front door asking whether a family's concern is done (its survey): the latest
# resolved or closed one.
PHONE_ANSWERS_THEN_DONE = (*PHONE_ANSWERS, (Status.CLOSED.value, Status.RESOLVED.value))


def case_of(doc: Document) -> Case:
    """The aggregate the handlers decide on, from a stored concern."""
    resolution = doc.get("resolution")
    merged = doc.get("merged_into") and doc.get("merged_at")

    def at(key: str) -> datetime | None:
        return as_utc(doc[key]) if doc.get(key) else None

    return Case(
        id=doc["_id"],
        status=Status(doc["status"]),
        resolved_at=as_utc(resolution["at"]) if resolution else None,
        merged_at=as_utc(doc["merged_at"]) if merged else None,
        callbacks=tuple(callback_of(c) for c in doc.get("callbacks") or ()),
        version=int(doc["version"]),
        category=doc["category"],
        school_id=doc.get("school_id"),
        team_id=doc.get("team_id"),
        priority=Priority(doc["priority"]) if doc.get("priority") else None,
        merged_into=doc.get("merged_into") or None,
        last_merged_at=at("merged_at"),
        awaiting_since=at("awaiting_since"),
        requester_reminded_at=at("requester_reminded_at"),
        routing_sensitive=bool(doc.get("routing_sensitive")),
    )


def requester_access_of(doc: Document) -> RequesterAccess:
    """What opens a stored concern to its requester (their token's and PIN's hashes, the
    wrong PINs in a row)."""
    failed_at = doc.get("pin_failed_at")
    return RequesterAccess(
        id=doc["_id"],
        access_token_hash=doc.get("access_token_hash") or "",
        pin_hash=doc.get("pin_hash") or "",
        pin_failures=int(doc.get("pin_failures") or 0),
        pin_failed_at=as_utc(failed_at) if failed_at else None,
    )


# What `disclosable_of` reads of a stored concern (a reveal loads only these).
DISCLOSABLE_FIELDS = {
    key: 1
    for key in (
        "tracking_number",
        "school_id",
        "team_id",
        "assignee_id",
        "requester",
        "student",
        "student_key",
        "requester_keys",
    )
}


def disclosable_of(doc: Document) -> Disclosable:
    """A stored concern as a reveal reads it (what a list leaves out is left empty)."""
    return Disclosable(
        id=doc["_id"],
        tracking_number=doc["tracking_number"],
        school_id=doc.get("school_id"),
        team_id=doc.get("team_id"),
        assignee_id=doc.get("assignee_id"),
        requester=requester_of(doc.get("requester") or {}),
        sealed_student=doc.get("student") or None,
        student_key=doc.get("student_key") or None,
        requester_keys=tuple(doc.get("requester_keys") or ()),
    )


def requester_of(stored: Document) -> Requester:
    """A stored requester (a preferred channel the bureau no longer offers is none)."""
    preferred = stored.get("preferred_contact")
    offered = {c.value for c in ContactChannel}
    return Requester(
        name=stored.get("name"),
        email=stored.get("email"),
        phone=stored.get("phone"),
        language=stored.get("language") or "en",
        relationship=stored.get("relationship"),
        preferred_contact=ContactChannel(preferred) if preferred in offered else None,
        reply_to_message_id=stored.get("reply_to_message_id"),
    )


def disclosure_document(disclosure: Disclosure) -> Document:
    """A record of access as stored (a student reveal's with the student's key)."""
    revealed = disclosure.kind is DisclosureKind.STUDENT_REVEALED
    student: Document = {"student_key": disclosure.student_key} if revealed else {}
    return {
        "_id": disclosure.id,
        "kind": disclosure.kind.value,
        "concern_id": disclosure.concern_id,
        "tracking_number": disclosure.tracking_number,
        **student,
        "actor": disclosure.actor,
        "roles": list(disclosure.roles),
        "reason": disclosure.reason,
        "at": disclosure.at,
    }


def callback_of(stored: Document) -> Callback:
    """A stored callback (those stored as notes before callbacks were tasks: scheduled)."""

    def at(key: str) -> datetime | None:
        return as_utc(stored[key]) if stored.get(key) else None

    due_at = as_utc(stored["due_at"])
    return Callback(
        id=stored["id"],
        due_at=due_at,
        scheduled_at=at("scheduled_at") or due_at,
        actor=stored.get("actor") or "",
        assignee_id=stored.get("assignee_id"),
        remind_at=at("remind_at"),
        note=stored.get("note"),
        status=CallbackStatus(stored.get("status") or CallbackStatus.SCHEDULED),
        outcome=CallbackOutcome(stored["outcome"]) if stored.get("outcome") else None,
        done_at=at("done_at"),
        done_by=stored.get("done_by"),
    )


def callback_document(callback: Callback) -> Document:
    stored = asdict(callback)
    stored["status"] = callback.status.value
    stored["outcome"] = callback.outcome.value if callback.outcome else None
    return stored


def _outcome_update(outcome: Outcome) -> Document:
    entry: Document = {
        "id": outcome.id,
        "kind": outcome.action.value,
        "at": outcome.at,
        "actor": outcome.actor,
    }
    if outcome.status_changed:
        entry |= {"from": outcome.from_status.value, "to": outcome.to_status.value}
    if outcome.text is not None:
        entry["text"] = outcome.text
    if outcome.message is not None:
        entry |= {"message_id": outcome.message.id, "visibility": outcome.message.visibility.value}
    sets: Document = {"status": outcome.to_status.value, "updated_at": outcome.at}
    pushes: Document = {"timeline": entry}
    if outcome.status_changed:
        pushes["history"] = {
            "at": outcome.at,
            "from": outcome.from_status.value,
            "to": outcome.to_status.value,
            "reason": outcome.text,
            "actor": outcome.actor,
        }
    if outcome.message is not None:
        message = asdict(outcome.message)
        message["author"] = outcome.message.author.value
        message["visibility"] = outcome.message.visibility.value
        pushes["messages"] = message
    if outcome.resolution_summary is not None:
        sets["resolution"] = {
            "summary": outcome.resolution_summary,
            "at": outcome.at,
            "actor": outcome.actor,
        }
    if outcome.callback_due_at is not None:
        entry["due_at"] = outcome.callback_due_at
    if outcome.callback is not None:
        entry |= {"callback_id": outcome.callback.id, "assignee_id": outcome.callback.assignee_id}
        if outcome.callback.outcome is not None:
            entry["outcome"] = outcome.callback.outcome.value
    if outcome.callbacks is not None:
        sets["callbacks"] = [callback_document(c) for c in outcome.callbacks]
        # the work queue's "callback due" (lists never read the callbacks themselves)
        sets["callback_due_at"] = min((c.due_at for c in outcome.callbacks if c.open), default=None)
    if outcome.merged_into is not None:
        entry["into"] = outcome.merged_into
        sets["merged_into"] = outcome.merged_into
        sets["merged_at"] = outcome.at
    if outcome.unmerged:
        sets["merged_into"] = None
    if outcome.resolution_due_at is not None:
        sets["resolution_due_at"] = outcome.resolution_due_at
    # how long the family has been silent (the reminder and the closing after a long wait)
    if outcome.to_status is Status.AWAITING_REQUESTER:
        if outcome.from_status is not Status.AWAITING_REQUESTER:
            sets |= {"awaiting_since": outcome.at, "requester_reminded_at": None}
        elif outcome.action is Action.REMIND_REQUESTER:
            sets["requester_reminded_at"] = outcome.at
    elif outcome.from_status is Status.AWAITING_REQUESTER:
        sets["awaiting_since"] = None
    return {"$set": sets, "$push": pushes}


def due_fields(
    *,
    sequence: int,
    resolution_due_at: datetime | None,
    first_response_due_at: datetime | None,
    paused: bool,
) -> Document:
    """What a concern keeps of an SLA clock's report of its due times (`record_due`)."""
    fields: Document = {
        "due_sequence": sequence,
        "sla_paused": paused,
        "first_response_due_at": first_response_due_at,
    }
    if resolution_due_at is not None:
        fields["resolution_due_at"] = resolution_due_at
    return fields


# When the concern's assignee was last decided (an assignment or an unassignment, triage's
# time): a decision older than it changes nothing.
ASSIGNEE_AT = "assignee_at"


def event_facts_update(
    event_id: str, *, facts: dict[str, Any], entry: Document, at: datetime
) -> Document:
    """The update that applies another service's facts and timeline entry: facts that change
    the case (a team, an assignee, an escalation) also move when it was last updated (what
    Open311's `updated_datetime` and the work queue show); a timeline line alone does not."""
    update: Document = {
        "$push": {"timeline": {**entry, "event_id": event_id, "at": at}},
        "$inc": {"version": 1},
    }
    if facts:
        update["$set"] = facts
        update["$max"] = {"updated_at": at}
    return update


@dataclass(frozen=True)
class AssigneeGuard:
    """Who works a concern changes only by a decision later than the one applied (or one of
    the same moment that leaves nobody: who may work the case errs on the side of nobody)."""

    decided_at: datetime
    unassigned: bool = False

    def allows(self, applied_at: datetime | None) -> bool:
        """Whether this decision changes a concern whose assignee was decided `applied_at`."""
        if applied_at is None:
            return True
        return applied_at < self.decided_at or (self.unassigned and applied_at == self.decided_at)


class ConcernRepository:
    def __init__(
        self, db: AsyncDatabase[Document], vault: StudentVault, *, tracking_block: int = 1
    ) -> None:
        self._concerns = db[CONCERNS]
        self._counters = db["counters"]
        self.vault = vault
        self._block = tracking_block
        self._reserved: dict[int, tuple[int, int]] = {}  # year -> (next, end) of this replica
        self._reserving = asyncio.Lock()
        self._inserts: GroupCommit[Document, BaseException | None] = GroupCommit(self._insert_many)
        self._facts: GroupCommit[tuple[str, str, Document, Document], bool] = GroupCommit(
            self._record_facts_many
        )

    @property
    def collection(self) -> Any:
        return self._concerns

    async def ensure_indexes(self) -> None:
        await self._concerns.create_index("tracking_number", unique=True)
        await self._concerns.create_index([("status", 1), ("resolution_due_at", 1)])
        # The work queues: a team's or an assignee's open concerns by due time.
        await self._concerns.create_index([("team_id", 1), ("resolution_due_at", 1)])
        await self._concerns.create_index([("assignee_id", 1), ("resolution_due_at", 1)])
        # a scoped caller's reach (`web.scope_query`), searched one part at a time
        await self._concerns.create_index([("school_id", 1), ("resolution_due_at", 1)])
        await self._concerns.create_index([("submitted_at", 1)])
        await self._concerns.create_index([("merged_into", 1)], sparse=True)
        await self._concerns.create_index([("student_key", 1)], sparse=True)
        await self._concerns.create_index([("requester_keys", 1)], sparse=True)
        # the Board's callbacks on time: callbacks by due time
        await self._concerns.create_index([("callbacks.due_at", 1)], sparse=True)
        # concerns waiting on the family, by how long (reminded, then closed after a while)
        await self._concerns.create_index([("status", 1), ("awaiting_since", 1)])

    async def reseal_students(self) -> int:
        """Seal students stored in clear (before encryption) or under a key that is no longer
        current; answers how many. Safe on every replica at once: each update is guarded by
        the form it replaces."""
        resealed = 0
        cursor = self._concerns.find(
            {"student": {"$type": "object"}, "student.kid": {"$ne": self.vault.current}},
            {"student": 1},
        )
        async for doc in cursor:
            stored = doc["student"]
            student = self.vault.open(stored, doc["_id"])
            guard = (
                {"student.kid": stored["kid"], "student.nonce": stored["nonce"]}
                if "kid" in stored
                else {"student.kid": {"$exists": False}}
            )
            result = await self._concerns.update_one(
                {"_id": doc["_id"], **guard},
                {
                    "$set": {
                        "student": self.vault.seal(student, doc["_id"]),
                        "student_key": self.vault.lookup_key(student.student_id),
                    }
                },
            )
            resealed += result.modified_count
        return resealed

    async def next_tracking_sequence(self, year: int) -> int:
        """The next number of the year, unique across intake replicas: each replica reserves
        a block of numbers with one atomic write and hands them out in order."""
        async with self._reserving:
            start, end = self._reserved.get(year, (1, 0))
            if start > end:  # the block is spent: `end` itself was still ours to hand out
                end = await self._reserve_block(year, self._block)
                start = end - self._block + 1
            self._reserved[year] = (start + 1, end)
            return start

    async def _reserve_block(self, year: int, size: int) -> int:
        """Reserve the next `size` numbers of the year; answers the last of them."""
        for _ in range(5):
            try:
                counter = await self._counters.find_one_and_update(
                    {"_id": f"tracking-{year}"},
                    {"$inc": {"seq": size}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                counter = None  # two first-of-the-year upserts raced; the loser retries
            if counter is not None:
                return int(counter["seq"])
        raise RuntimeError(f"could not allocate a tracking number for {year}")

    async def add(self, concern: Concern, events: list[CloudEvent]) -> bool:
        """Insert the concern with its pending events: one write. False if the id exists."""
        error = await self._inserts(with_outbox(to_document(concern, self.vault), events))
        if isinstance(error, DuplicateKeyError) and "tracking_number" not in str(error):
            return False
        if error is not None:
            raise error
        return True

    async def _insert_many(self, documents: list[Document]) -> list[BaseException | None]:
        """Insert concurrently submitted concerns at once; answers each one's own error."""
        try:
            await self._concerns.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            # a write concern the store could not confirm fails every concern not refused on
            # its own: a 503, and the family's retry (same Idempotency-Key) finds or makes it
            return list(bulk_errors(exc, len(documents)))
        return [None] * len(documents)

    async def get_document(self, concern_id: str) -> Document | None:
        return await self._concerns.find_one({"_id": concern_id}, {"outbox": 0})

    async def open_concern_of_phone(self, phone: str, *, done: bool = False) -> Document | None:
        """The open concern a text or call from this number most likely answers: the most
        recent one waiting on the requester (an information request is open), else the most
        recent open one; with `done`, else the most recent resolved or closed one. Read by
        requester.phone and submitted_at (the index is made with the call records)."""
        for statuses in PHONE_ANSWERS_THEN_DONE if done else PHONE_ANSWERS:
            found = await self._concerns.find_one(
                {"requester.phone": phone, "status": {"$in": list(statuses)}},
                {"outbox": 0},
                sort=[("submitted_at", -1)],
            )
            if found is not None:
                return found
        return None

    async def submitted_at(self, concern_id: str) -> datetime | None:
        """When the concern was submitted (its submission time alone, not the whole case)."""
        doc = await self._concerns.find_one({"_id": concern_id}, {"submitted_at": 1})
        return as_utc(doc["submitted_at"]) if doc else None

    async def load(self, concern_id: str) -> Case | None:
        """The concern as decisions read it (not its messages, timeline or outbox)."""
        doc = await self._concerns.find_one({"_id": concern_id}, CASE_FIELDS)
        return case_of(doc) if doc else None

    async def disclosable(self, concern_id: str) -> Disclosable | None:
        """The concern as a reveal reads it (not its case, messages or outbox)."""
        doc = await self._concerns.find_one({"_id": concern_id}, DISCLOSABLE_FIELDS)
        return disclosable_of(doc) if doc else None

    async def by_tracking_number(self, tracking: str) -> Document | None:
        """The concern with this tracking number, however the requester typed its case."""
        return await self._concerns.find_one(
            {"tracking_number": tracking.strip().upper()}, {"outbox": 0}
        )

    async def claim_pin_try(
        self, concern_id: str, *, now: datetime, attempts: int, lockout_s: float
    ) -> bool:
        """Count a PIN try as wrong until proven right, unless the PIN is locked (False):
        conditional writes, so tries in parallel cannot pass a lock together. Two of them
        (fewer wrong tries than allowed, else the lockout over), each beside the `_id`: an
        `$or` of the two SecantusDB runs as a scan of the whole collection."""
        count = {"$inc": {"pin_failures": 1}, "$set": {"pin_failed_at": now}}
        for open_ in (
            {"pin_failures": {"$not": {"$gte": attempts}}},  # absent, or fewer
            {"pin_failed_at": {"$lt": now - timedelta(seconds=lockout_s)}},
        ):
            changed = await self._concerns.update_one({"_id": concern_id, **open_}, count)
            if changed.matched_count:
                return True
        return False

    async def record_due(
        self,
        concern_id: str,
        *,
        sequence: int,
        resolution_due_at: datetime | None,
        first_response_due_at: datetime | None,
        paused: bool,
    ) -> bool:
        """Keep the due times the SLA clock reported, unless a later report is kept already;
        answers whether the concern exists."""
        fields = due_fields(
            sequence=sequence,
            resolution_due_at=resolution_due_at,
            first_response_due_at=first_response_due_at,
            paused=paused,
        )
        return await self._keep_due(concern_id, sequence, fields)

    async def _keep_due(self, concern_id: str, sequence: int, fields: Document) -> bool:
        """Write a due-time report's `fields` unless one of `sequence` or later is kept."""
        changed = await self._concerns.update_one(
            # absent or older; `$not` rather than an `$or`, which SecantusDB runs as a scan of
            # the whole collection even beside an `_id`
            {"_id": concern_id, "due_sequence": {"$not": {"$gte": sequence}}},
            {"$set": fields},
        )
        return bool(changed.matched_count) or await self.exists(concern_id)

    async def pin_succeeded(self, concern_id: str) -> None:
        """A right PIN starts the count of wrong ones again."""
        await self._concerns.update_one({"_id": concern_id}, {"$set": {"pin_failures": 0}})

    async def merged_from(self, concern_id: str) -> list[str]:
        """Ids of the concerns merged into this one (read, never stored twice)."""
        docs = (
            await self._concerns.find({"merged_into": concern_id}, {"_id": 1})
            .sort([("submitted_at", 1)])
            .to_list()
        )
        return [d["_id"] for d in docs]

    async def exists(self, concern_id: str) -> bool:
        return await self._concerns.count_documents({"_id": concern_id}, limit=1) == 1

    async def apply(
        self, concern_id: str, version: int, outcome: Outcome, events: list[CloudEvent]
    ) -> bool:
        """Store an accepted command if the concern is still at `version` (else False)."""
        update = _outcome_update(outcome)
        update["$push"].update(outbox_push(events))
        update["$inc"] = {"version": 1}
        result = await self._concerns.update_one({"_id": concern_id, "version": version}, update)
        return result.modified_count == 1

    async def record_event_facts(
        self,
        concern_id: str,
        event_id: str,
        *,
        facts: dict[str, Any],
        entry: Document,
        at: datetime,
    ) -> bool:
        """Apply facts another service decided (team, priority, escalation), once per event.

        Answers whether the concern exists; an already applied event changes nothing."""
        update = event_facts_update(event_id, facts=facts, entry=entry, at=at)
        return await self._apply_facts(concern_id, event_id, update)

    async def record_assignee(
        self,
        concern_id: str,
        event_id: str,
        *,
        facts: dict[str, Any],
        entry: Document,
        at: datetime,
        decided_at: datetime,
        unassigned: bool = False,
    ) -> bool:
        """Apply who works the concern (`facts`), or that nobody does (`unassigned`), once per
        event and only when no later decision about its assignee is applied: a late earlier
        assignment (or unassignment) changes nothing. An unassignment clears an assignment
        of the same moment (who may work the case errs on the side of nobody).

        Answers whether the concern exists."""
        update = event_facts_update(
            event_id, facts={**facts, ASSIGNEE_AT: decided_at}, entry=entry, at=at
        )
        guard = AssigneeGuard(decided_at, unassigned)
        return await self._apply_facts(concern_id, event_id, update, guard)

    async def _apply_facts(
        self, concern_id: str, event_id: str, update: Document, guard: AssigneeGuard | None = None
    ) -> bool:
        """Apply `update` once per event (and as `guard` allows); answers whether the concern
        exists."""
        condition: Document = {}
        if guard is not None:
            at = guard.decided_at
            newer = {"$gt": at} if guard.unassigned else {"$gte": at}
            # `$not` rather than an `$or` with a missing stamp: SecantusDB scans for an `$or`
            condition = {ASSIGNEE_AT: {"$not": newer}}
        return await self._facts((concern_id, event_id, update, condition))

    async def _record_facts_many(
        self, items: list[tuple[str, str, Document, Document]]
    ) -> list[bool]:
        """One `bulk_write` for concurrently handled events; each update names its event, so
        applying it again changes nothing (nor does one whose condition no longer holds)."""
        result = await self._concerns.bulk_write(
            [
                UpdateOne(
                    {"_id": concern_id, "timeline.event_id": {"$ne": event_id}, **condition},
                    update,
                )
                for concern_id, event_id, update, condition in items
            ],
            ordered=False,
        )
        if result.matched_count == len(items):
            return [True] * len(items)
        # some events were applied before, are older than what is applied, or name a concern
        # not stored (yet)
        ids = list({item[0] for item in items})
        found = {
            d["_id"] for d in await self._concerns.find({"_id": {"$in": ids}}, {"_id": 1}).to_list()
        }
        return [item[0] in found for item in items]

    async def find(
        self, query: Document, *, sort: list[tuple[str, int]], limit: int
    ) -> list[Document]:
        projection = {
            name: 0
            for name in (
                *PRIVATE_FIELDS,
                "timeline",
                "messages",
                "history",
                "description",
                "callbacks",
            )
        }
        parts = branches(query)
        answers = await asyncio.gather(
            *(self._concerns.find(p, projection).sort(sort).limit(limit).to_list() for p in parts)
        )
        if len(answers) == 1:
            return answers[0]
        # each part's first `limit` in order: the first `limit` of their union are among them
        found = {doc["_id"]: doc for answer in answers for doc in answer}
        return sort_documents(list(found.values()), sort)[:limit]

    async def callbacks_kept(
        self, start: datetime, end: datetime, *, now: datetime
    ) -> tuple[int, int]:
        """Of the callbacks due from `start` to `end`: how many were made or missed by `now`,
        and how many of those were made by their due time (cancelled ones do not count)."""
        due = on_time = 0
        async for doc in self._concerns.find(
            {"callbacks.due_at": {"$gte": start, "$lt": end}}, {"callbacks": 1}
        ):
            for stored in doc.get("callbacks") or ():
                callback = callback_of(stored)
                if (
                    not start <= callback.due_at < end
                    or callback.status is CallbackStatus.CANCELLED
                ):
                    continue
                if callback.status is CallbackStatus.DONE:
                    due += 1
                    on_time += 1 if callback.done_at and callback.done_at <= callback.due_at else 0
                elif callback.due_at <= now:  # missed, still to make
                    due += 1
        return due, on_time

    async def awaiting_since_before(self, moment: datetime, limit: int) -> list[Case]:
        """Concerns waiting on the requester since `moment` or earlier, longest first."""
        docs = (
            await self._concerns.find(
                {
                    "status": Status.AWAITING_REQUESTER.value,
                    "awaiting_since": {"$gte": datetime(1970, 1, 1, tzinfo=UTC), "$lte": moment},
                },
                CASE_FIELDS,
            )
            .sort([("awaiting_since", 1)])
            .limit(limit)
            .to_list()
        )
        return [case_of(doc) for doc in docs]

    async def count_by_status(self, query: Document) -> dict[str, int]:
        parts = branches(query)
        if len(parts) == 1:
            cursor = await self._concerns.aggregate(
                [{"$match": parts[0]}, {"$group": {"_id": "$status", "n": {"$sum": 1}}}]
            )
            return {row["_id"]: int(row["n"]) for row in await cursor.to_list()}
        counts: dict[str, int] = {}
        for status in (await self._matching(parts, {"status": 1})).values():
            counts[status] = counts.get(status, 0) + 1
        return counts

    async def count(self, query: Document) -> int:
        parts = branches(query)
        if len(parts) == 1:
            return await self._concerns.count_documents(parts[0])
        return len(await self._matching(parts, {"_id": 1}))

    async def _matching(self, parts: list[Document], projection: Document) -> dict[str, Any]:
        """Id -> status of the concerns any of the queries matches, each once."""
        found: dict[str, Any] = {}
        for part in parts:
            async for doc in self._concerns.find(part, projection):
                found[doc["_id"]] = doc.get("status")
        return found

    async def with_student(self, student_key: str) -> list[Document]:
        """The concerns that name one student (by the keyed hash of the id), oldest first."""
        return (
            await self._concerns.find(
                {"student_key": student_key},
                {
                    "_id": 1,
                    "tracking_number": 1,
                    "submitted_at": 1,
                    "taken_by": 1,
                    "channel": 1,
                    "school_id": 1,
                    "student.masked": 1,
                    "routing_sensitive": 1,
                    "team_name": 1,
                },
            )
            .sort([("submitted_at", 1)])
            .to_list()
        )


class DisclosureRepository:
    """The record of every reveal of student information (34 CFR 99.32): who, when, which
    concern, why. Written before the information is shown; never updated or deleted."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._disclosures = db[DISCLOSURES]

    async def ensure_indexes(self) -> None:
        await self._disclosures.create_index([("student_key", 1), ("at", 1)])
        await self._disclosures.create_index([("concern_id", 1), ("at", 1)])

    async def record(self, disclosure: Disclosure) -> None:
        await self._disclosures.insert_one(disclosure_document(disclosure))

    async def for_concern(self, concern_id: str, *, kind: str) -> list[Document]:
        """One concern's records of a kind, oldest first."""
        return (
            await self._disclosures.find({"concern_id": concern_id, "kind": kind})
            .sort([("at", 1)])
            .to_list()
        )

    async def for_student(self, student_key: str) -> list[Document]:
        return (
            await self._disclosures.find({"student_key": student_key}).sort([("at", 1)]).to_list()
        )
