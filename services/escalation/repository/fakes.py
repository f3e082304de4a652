"""In-memory stand-ins for escalation's repositories, with their interface: handler and
scheduler tests run in milliseconds without a store. They keep the rules a caller relies on
(a write checks the version it read, an applied event applies once, a lease is held by one
claimant, the events of a write land in the outbox); the integration tier tests the real
repositories against a store."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from services.escalation.domain import ClockStatus, SlaClock, ombudsperson_reason
from services.escalation.policies import Policy
from services.escalation.repository.clocks import (
    BoardCounting,
    Candidate,
    Claimed,
    ClockRepository,
    Due,
)
from services.escalation.repository.documents import (
    VERSION,
    Stored,
    as_written,
    to_document,
)
from shared.events import CloudEvent
from shared.store import Document


class FakeClockRepository:
    """`ClockRepository` in memory. `outbox` holds every event written, in order;
    `before_write`, when set, runs before each guarded write (a test's competing writer)."""

    def __init__(self) -> None:
        self.clocks: dict[str, Stored] = {}
        self.leases: dict[str, tuple[str, datetime]] = {}  # concern -> (token, until)
        self.outbox: list[CloudEvent] = []
        self.before_write: Callable[[str], Awaitable[None]] | None = None
        self.board: BoardCounting | None = None
        # concern -> (assignee, or None once unassigned; since)
        self.assignees: dict[str, tuple[str | None, datetime]] = {}

    async def ensure_indexes(self) -> None:
        return None

    async def remember_assignee(
        self, concern_id: str, assignee_id: str | None, at: datetime
    ) -> None:
        known = self.assignees.get(concern_id)
        if known is None or known[1] < at or (assignee_id is None and known[1] == at):
            self.assignees[concern_id] = (assignee_id, at)

    async def assignee(self, concern_id: str) -> str | None:
        known = self.assignees.get(concern_id)
        return known[0] if known else None

    async def start(
        self,
        clock: SlaClock,
        events: list[CloudEvent] | None = None,
        *,
        event_id: str | None = None,
    ) -> bool:
        if clock.concern_id in self.clocks:
            return False
        applied = frozenset([event_id] if event_id is not None else [])
        await self._written(None, Stored(as_written(clock), 1, applied), events or [])
        return True

    async def get_document(self, concern_id: str) -> Document | None:
        stored = self.clocks.get(concern_id)
        return {**to_document(stored.clock), VERSION: stored.version} if stored else None

    async def get(self, concern_id: str) -> Stored | None:
        return self.clocks.get(concern_id)

    async def current(self, concern_id: str) -> Stored | None:
        return self.clocks.get(concern_id)

    async def save(
        self,
        before: Stored,
        after: SlaClock,
        events: Sequence[CloudEvent] = (),
        *,
        event_id: str | None = None,
    ) -> bool:
        concern_id = after.concern_id
        if self.before_write is not None:
            await self.before_write(concern_id)
        now = self.clocks.get(concern_id)
        if now is None or now.version != before.version:
            return False
        applied = before.applied
        if event_id is not None:
            if event_id in now.applied:
                return False
            applied = applied | {event_id}
        await self._written(
            before.clock, Stored(as_written(after), now.version + 1, applied), events
        )
        return True

    async def due(self, now: datetime, horizon: timedelta = timedelta(0)) -> Due:
        waiting = sorted(
            (s for s in self.clocks.values() if s.clock.next_due_at is not None),
            key=lambda s: (s.clock.next_due_at, s.clock.concern_id),
        )
        due = Due()
        for stored in waiting:
            due_at = stored.clock.next_due_at
            if due_at is None or due_at > now + horizon:
                break
            if due_at > now:
                return Due(free=due.free, later=due_at)
            if not self._held(stored.clock.concern_id, now):
                doc = {**to_document(stored.clock), VERSION: stored.version}
                due.free.append(Candidate(doc))
        return due

    async def claim(self, candidate: Candidate, now: datetime, lease: timedelta) -> Claimed | None:
        stored = self.clocks.get(candidate.concern_id)
        due_at = stored.clock.next_due_at if stored else None
        if (
            stored is None
            or stored.version != candidate.document[VERSION]
            or due_at is None
            or due_at > now
            or self._held(candidate.concern_id, now)
        ):
            return None
        token = uuid.uuid4().hex
        self.leases[candidate.concern_id] = (token, now + lease)
        return Claimed(stored.clock, stored.version, token, stored.applied)

    # the real repository's: the first due clock it can claim, over the fake's `due`/`claim`
    claim_due = ClockRepository.claim_due

    async def next_due_between(self, start: datetime, end: datetime) -> datetime | None:
        times = [
            s.clock.next_due_at
            for s in self.clocks.values()
            if s.clock.next_due_at is not None and start < s.clock.next_due_at <= end
        ]
        return min(times, default=None)

    async def save_step(
        self, claimed: Claimed, after: SlaClock, events: Sequence[CloudEvent]
    ) -> bool:
        concern_id = after.concern_id
        if self.before_write is not None:
            await self.before_write(concern_id)
        now = self.clocks.get(concern_id)
        lease = self.leases.get(concern_id)
        if now is None or now.version != claimed.version or not lease or lease[0] != claimed.token:
            return False
        del self.leases[concern_id]
        stored = Stored(as_written(after), claimed.version + 1, claimed.applied)
        await self._written(claimed.clock, stored, events)
        return True

    async def release(self, claimed: Claimed) -> None:
        lease = self.leases.get(claimed.clock.concern_id)
        if lease is not None and lease[0] == claimed.token:
            del self.leases[claimed.clock.concern_id]

    async def for_ombudsperson(
        self, *, overdue_before: datetime, limit: int, merged_since: datetime | None = None
    ) -> list[SlaClock]:
        listed = [
            s.clock
            for s in self.clocks.values()
            if ombudsperson_reason(
                s.clock, overdue_before=overdue_before, merged_since=merged_since
            )
        ]
        return sorted(listed, key=lambda c: (c.submitted_at, c.concern_id))[:limit]

    async def count_open(self) -> int:
        return sum(s.clock.status is not ClockStatus.STOPPED for s in self.clocks.values())

    def _held(self, concern_id: str, now: datetime) -> bool:
        lease = self.leases.get(concern_id)
        return lease is not None and lease[1] > now

    async def _written(
        self, before: SlaClock | None, stored: Stored, events: Sequence[CloudEvent]
    ) -> None:
        self.clocks[stored.clock.concern_id] = stored
        self.outbox.extend(events)
        if self.board is not None:
            await self.board.changed(stored.clock.concern_id, before, stored.clock)


class FakePolicyRepository:
    """`PolicyRepository` in memory."""

    def __init__(self, policies: Sequence[Policy] = ()) -> None:
        self.policies: dict[str, Policy] = {p.id: p for p in policies}

    async def seed(self, policies: Sequence[Policy]) -> int:
        new = [p for p in policies if p.id not in self.policies]
        self.policies.update((p.id, p) for p in new)
        return len(new)

    async def all(self) -> list[Policy]:
        return sorted(self.policies.values(), key=lambda p: (p.rank, p.id))

    async def get(self, policy_id: str) -> Policy | None:
        return self.policies.get(policy_id)

    async def create(self, policy: Policy) -> bool:
        if policy.id in self.policies:
            return False
        self.policies[policy.id] = policy
        return True

    async def replace(self, policy: Policy) -> bool:
        if policy.id not in self.policies:
            return False
        self.policies[policy.id] = policy
        return True

    async def delete(self, policy_id: str) -> bool:
        return self.policies.pop(policy_id, None) is not None

    @asynccontextmanager
    async def changing(self) -> AsyncIterator[list[Policy]]:
        yield await self.all()
