"""The concern as intake's decisions read it: a typed aggregate, mapped from the stored
document by the repository (`repository.case_of`). Handlers decide on it, never on the raw
document; views and API answers keep reading documents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.intake.lifecycle import CaseState
from shared.events import Priority


@dataclass(frozen=True, kw_only=True)
class Case(CaseState):
    """A stored concern: what the state machine needs (`CaseState`: id, status, when it was
    resolved or merged, its callbacks) and what the handlers deciding on it read besides.

    `version` is the one read: a change is written only while the concern is still at it."""

    version: int
    category: str
    school_id: str | None = None
    priority: Priority | None = None  # none until triage decided it
    merged_into: str | None = None
    # when it was last merged, kept after a reopen undid that merge
    last_merged_at: datetime | None = None

    @property
    def merged(self) -> bool:
        return self.merged_into is not None
