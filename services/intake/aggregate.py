"""The concern as intake's decisions read it: a typed aggregate, mapped from the stored
document by the repository (`repository.case_of`). Handlers decide on it, never on the raw
document; views and API answers keep reading documents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.intake.domain import Status
from services.intake.lifecycle import Action, CaseState
from shared.events import Priority


@dataclass(frozen=True, kw_only=True)
class Case(CaseState):
    """A stored concern: what the state machine needs (`CaseState`: id, status, when it was
    resolved or merged, its callbacks) and what the handlers deciding on it read besides.

    `version` is the one read: a change is written only while the concern is still at it."""

    version: int
    category: str
    school_id: str | None = None
    team_id: str | None = None  # none until triage decided it
    priority: Priority | None = None  # none until triage decided it
    merged_into: str | None = None
    # when it was last merged, kept after a reopen undid that merge
    last_merged_at: datetime | None = None
    # how long the family has been silent: since when, and whether they were asked again
    awaiting_since: datetime | None = None
    requester_reminded_at: datetime | None = None

    @property
    def merged(self) -> bool:
        return self.merged_into is not None

    def long_wait(self, *, remind_before: datetime, close_before: datetime) -> Action | None:
        """What the bureau does about a family silent since before `close_before` (close
        with notice) or `remind_before` (ask again, once); none for any other case."""
        if self.status is not Status.AWAITING_REQUESTER or self.awaiting_since is None:
            return None
        if self.awaiting_since <= close_before:
            return Action.CLOSE_UNANSWERED
        if self.awaiting_since <= remind_before and self.requester_reminded_at is None:
            return Action.REMIND_REQUESTER
        return None
