"""In-memory stand-ins for triage's repositories, with their interface: handler tests run in
milliseconds without a store. They keep the rules a caller relies on (a decision is stored
once per concern, a change checks the version it read, a member's load counts each concern
once and a claim only lands on the load it was chosen on, each write's events land in
`outbox`); the integration tier tests the real repositories against a store.

`where` filters (a caller's reach, services/triage/api.py) are matched for the shapes they
take: plain equality, `$in`, `$nin`, `$and` and `$or`."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from datetime import datetime

from services.triage.assignment import Absence, away_at
from services.triage.domain import Decision, FirstDecision, RequesterSlotTaken
from services.triage.repository import (
    COMPARED_FIELDS,
    SafetyWords,
    decision_of,
    first_document,
)
from services.triage.rules import Rule
from shared.events import CloudEvent
from shared.store import Document


def matches(doc: Document, where: Document | None) -> bool:
    """Whether `doc` matches a filter of plain fields, `$in`, `$nin`, `$and` and `$or`."""
    for name, condition in (where or {}).items():
        if name == "$and":
            if not all(matches(doc, part) for part in condition):
                return False
        elif name == "$or":
            if not any(matches(doc, part) for part in condition):
                return False
        elif isinstance(condition, dict) and "$in" in condition:
            if doc.get(name) not in condition["$in"]:
                return False
        elif isinstance(condition, dict) and "$nin" in condition:
            if doc.get(name) in condition["$nin"]:
                return False
        elif doc.get(name) != condition:
            return False
    return True


class FakeDecisionRepository:
    """`DecisionRepository` in memory; `outbox` holds every event written, in order."""

    def __init__(self) -> None:
        self.documents: dict[str, Document] = {}
        self.outbox: list[CloudEvent] = []

    async def ensure_indexes(self) -> None:
        return None

    async def add_first(self, decision: FirstDecision, events: Sequence[CloudEvent]) -> bool:
        if decision.concern_id in self.documents:
            return False
        doc = first_document(decision)
        slot = doc.get("requester_slot")
        if slot is not None and any(
            d.get("requester_slot") == slot for d in self.documents.values()
        ):
            raise RequesterSlotTaken(decision.concern_id)
        self.documents[decision.concern_id] = copy.deepcopy(doc)
        self.outbox.extend(events)
        return True

    async def next_requester_seq(self, requester_key: str) -> int:
        seqs = [
            d["requester_seq"]
            for d in self.documents.values()
            if "requester_seq" in d and requester_key in d.get("match_keys", [])
        ]
        return max(seqs, default=0) + 1

    async def get(self, concern_id: str) -> Document | None:
        doc = self.documents.get(concern_id)
        return copy.deepcopy(doc) if doc else None

    async def load(self, concern_id: str) -> Decision | None:
        doc = self.documents.get(concern_id)
        return decision_of(doc) if doc else None

    async def change(
        self,
        concern_id: str,
        *,
        version: int,
        set_: Document,
        history: Sequence[Document],
        events: Sequence[CloudEvent],
        where: Document | None = None,
    ) -> bool:
        doc = self.documents.get(concern_id)
        if doc is None or doc["version"] != version or not matches(doc, where):
            return False
        doc.update(copy.deepcopy(set_), version=version + 1)
        doc.setdefault("history", []).extend(copy.deepcopy(list(history)))
        self.outbox.extend(events)
        return True

    async def earlier(
        self, keys: Sequence[str], since: datetime, until: datetime, limit: int
    ) -> list[Document]:
        found = [
            {k: v for k, v in d.items() if k in COMPARED_FIELDS or k == "_id"}
            for d in self.documents.values()
            if since <= d["submitted_at"] <= until and set(keys) & set(d.get("match_keys", []))
        ]
        return sorted(found, key=lambda d: d["submitted_at"], reverse=True)[:limit]

    async def add_match_keys(self, since: datetime) -> int:
        return 0  # every fake decision is stored with its keys

    async def set_status(
        self, concern_id: str, status: str, *, unmerge: bool = False
    ) -> Decision | None:
        set_: Document = {"status": status} | ({"merged_into": None} if unmerge else {})
        return await self._change_unless(
            concern_id, [status] if unmerge else ["merged", status], set_
        )

    async def mark_merged(
        self, concern_id: str, *, into: str, at: datetime, by: str
    ) -> Decision | None:
        entry = {"at": at, "by": by, "action": "merged", "into": into}
        return await self._change_unless(
            concern_id, ["merged"], {"status": "merged", "merged_into": into}, entry
        )

    async def within(self, ids: Sequence[str], where: Document) -> set[str]:
        return {i for i in ids if i in self.documents and matches(self.documents[i], where)}

    async def queue(
        self, team_id: str, limit: int, where: Document | None = None
    ) -> list[Document]:
        open_ = [
            copy.deepcopy(d)
            for d in self.documents.values()
            if d["team_id"] == team_id and d["status"] == "open" and matches(d, where)
        ]
        return sorted(open_, key=lambda d: (d["priority_rank"], d["submitted_at"]))[:limit]

    async def _change_unless(
        self, concern_id: str, statuses: list[str], set_: Document, entry: Document | None = None
    ) -> Decision | None:
        before = await self.load(concern_id)
        if before is None or before.status in statuses:
            return None
        history = [entry] if entry else []
        await self.change(concern_id, version=before.version, set_=set_, history=history, events=[])
        return before


class FakeMemberRepository:
    """`MemberRepository` in memory."""

    def __init__(self) -> None:
        self.members: dict[str, Document] = {}
        self.turns: dict[str, int] = {}
        self.holders: dict[str, str] = {}  # concern -> the member it was last noted on
        self._assigning: dict[str, asyncio.Lock] = {}

    async def ensure_indexes(self) -> None:
        return None

    async def ensure(self, member_ids: Sequence[str]) -> None:
        for member_id in member_ids:
            self.members.setdefault(
                member_id,
                {"_id": member_id, "load": 0, "open": [], "away": False, "backup_id": None},
            )

    def assigning(self, team_id: str) -> asyncio.Lock:
        return self._assigning.setdefault(team_id, asyncio.Lock())

    async def get(self, member_id: str) -> Document | None:
        doc = self.members.get(member_id)
        return copy.deepcopy(doc) if doc else None

    async def all(self) -> list[Document]:
        return [copy.deepcopy(self.members[m]) for m in sorted(self.members)]

    async def away(self, now: datetime) -> dict[str, str | None]:
        absent = {
            m["_id"]: Absence(m.get("backup_id"), m.get("away_until"))
            for m in self.members.values()
            if m.get("away")
        }
        return away_at(absent, now)

    async def loads(self, member_ids: Sequence[str]) -> dict[str, int]:
        return {m: self.members[m]["load"] for m in member_ids if m in self.members}

    async def claim(self, member_id: str, concern_id: str, expected_load: int) -> bool:
        self.holders[concern_id] = member_id
        member = self.members.get(member_id)
        if member is None or member["load"] != expected_load or concern_id in member["open"]:
            return False
        member["load"] += 1
        member["open"].append(concern_id)
        return True

    async def add(self, member_id: str, concern_id: str) -> None:
        await self.ensure([member_id])
        self.holders[concern_id] = member_id
        member = self.members[member_id]
        if concern_id not in member["open"]:
            member["load"] += 1
            member["open"].append(concern_id)

    async def release(self, member_id: str, concern_id: str) -> None:
        member = self.members.get(member_id)
        if member is not None and concern_id in member["open"]:
            member["load"] -= 1
            member["open"].remove(concern_id)

    async def holder(self, concern_id: str) -> str | None:
        member_id = self.holders.get(concern_id)
        counted = member_id is not None and concern_id in self.members[member_id]["open"]
        return member_id if counted else None

    async def ticket(self, team_id: str) -> int:
        turn = self.turns.get(team_id, 0)
        self.turns[team_id] = turn + 1
        return turn

    async def set_away(
        self,
        member_id: str,
        *,
        away: bool,
        backup_id: str | None,
        until: datetime | None,
        by: str,
        at: datetime,
    ) -> Document:
        await self.ensure([member_id])
        self.members[member_id].update(
            away=away,
            backup_id=backup_id if away else None,
            away_until=until if away else None,
            away_set_by=by,
            away_set_at=at,
        )
        return copy.deepcopy(self.members[member_id])


class FakeRuleRepository:
    """`RuleRepository` in memory, in order."""

    def __init__(self, rules: Sequence[Rule] = ()) -> None:
        self.rules: list[Rule] = list(rules)
        self.stored_safety_words: SafetyWords | None = None

    async def current(self) -> list[Rule]:
        return list(self.rules)

    async def safety_words(self, configured: Sequence[str]) -> SafetyWords:
        return self.stored_safety_words or SafetyWords(words=tuple(configured))

    async def set_safety_words(
        self, words: Sequence[str], *, now: datetime, actor: str
    ) -> SafetyWords:
        self.stored_safety_words = SafetyWords(tuple(words), updated_at=now, updated_by=actor)
        return self.stored_safety_words

    async def seed(self, rules: Sequence[Rule]) -> bool:
        if self.rules:
            return False
        self.rules = list(rules)
        return True

    async def ordered(self) -> list[Rule]:
        return list(self.rules)

    async def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    async def create(self, rule: Rule, position: int | None) -> bool:
        if await self.get(rule.id) is not None:
            return False
        self.rules.insert(len(self.rules) if position is None else position, rule)
        return True

    async def replace(self, rule: Rule) -> bool:
        for n, existing in enumerate(self.rules):
            if existing.id == rule.id:
                self.rules[n] = rule
                return True
        return False

    async def delete(self, rule_id: str) -> bool:
        kept = [r for r in self.rules if r.id != rule_id]
        deleted, self.rules = len(kept) < len(self.rules), kept
        return deleted

    async def reorder(self, rule_ids: Sequence[str]) -> None:
        by_id = {r.id: r for r in self.rules}
        self.rules = [by_id[i] for i in rule_ids]
