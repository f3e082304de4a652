"""Who in a team takes a concern: out-of-office cover, least-loaded or round-robin. Pure.

The choice here is made on a snapshot of loads; the repository makes it safe across replicas
by incrementing the chosen member's load only if it is still the load the choice was made on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Strategy(StrEnum):
    LEAST_LOADED = "least_loaded"
    ROUND_ROBIN = "round_robin"


@dataclass(frozen=True)
class Seat:
    """Someone who can take a team's concern: a member, or the backup covering for one."""

    assignee_id: str
    covering_for: str | None = None


@dataclass(frozen=True)
class Absence:
    """A member marked away: who takes their new concerns, and until when (None: until
    marked back)."""

    backup_id: str | None
    until: datetime | None = None

    def on(self, now: datetime) -> bool:
        """Whether the member is still away at `now` (back once `until` has passed)."""
        return self.until is None or now < self.until


def away_at(absences: Mapping[str, Absence], now: datetime) -> dict[str, str | None]:
    """The members away at `now`, each with their backup: an absence whose date has passed
    counts no more, so assignment no longer skips them."""
    return {member: a.backup_id for member, a in absences.items() if a.on(now)}


def cover(member_id: str, away: Mapping[str, str | None]) -> Seat | None:
    """Who takes a member's new concerns: the member, or the first present backup in the chain.

    `away` maps each away member to their backup (None: no backup). None when nobody covers.
    """
    seen = {member_id}
    current = member_id
    while current in away:
        backup = away[current]
        if backup is None or backup in seen:
            return None
        seen.add(backup)
        current = backup
    return Seat(current, None if current == member_id else member_id)


def seats(members: Sequence[str], away: Mapping[str, str | None]) -> list[Seat]:
    """The team's seats in member order: present members, and backups of away ones (once)."""
    found: list[Seat] = []
    taken: set[str] = set()
    for member in members:
        seat = cover(member, away)
        if seat is not None and seat.assignee_id not in taken:
            taken.add(seat.assignee_id)
            found.append(seat)
    return found


def least_loaded(candidates: Sequence[Seat], loads: Mapping[str, int]) -> Seat:
    """The seat whose assignee has the fewest open concerns; ties go to the earlier seat."""
    if not candidates:
        raise ValueError("no candidates")
    return min(candidates, key=lambda s: loads.get(s.assignee_id, 0))


def round_robin(candidates: Sequence[Seat], ticket: int) -> Seat:
    """The seat whose turn the ticket (a team counter) names."""
    if not candidates:
        raise ValueError("no candidates")
    return candidates[ticket % len(candidates)]
