"""Escalation's store, one module per job: the clock's stored form (`documents`), this
replica's memory of the clocks it wrote (`recent`), the clocks' versioned changes and due
leases (`clocks`), what oversight reads of them (`views`: the Ombudsperson's list), and the
SLA policies (`policies`); `fakes.py` holds in-memory repositories with the same interface,
for handler tests."""

from services.escalation.repository.clocks import (
    CANDIDATES,
    Candidate,
    Claimed,
    ClockRepository,
    Due,
)
from services.escalation.repository.documents import (
    APPLIED,
    BOARD_COUNTED,
    CLOCKS,
    FREE,
    LEASE_TOKEN,
    LEASE_UNTIL,
    NOT_READ,
    OMBUDSPERSON_FROM,
    REPORT_CYCLES,
    VERSION,
    Stored,
    from_document,
    readable,
    to_document,
)
from services.escalation.repository.policies import (
    POLICIES,
    PolicyChangeBusy,
    PolicyRepository,
)
from services.escalation.repository.recent import RecentClocks

_readable = readable  # the name services/escalation/board_store.py imports

__all__ = [
    "APPLIED",
    "BOARD_COUNTED",
    "CANDIDATES",
    "CLOCKS",
    "FREE",
    "LEASE_TOKEN",
    "LEASE_UNTIL",
    "NOT_READ",
    "OMBUDSPERSON_FROM",
    "POLICIES",
    "REPORT_CYCLES",
    "VERSION",
    "Candidate",
    "Claimed",
    "ClockRepository",
    "Due",
    "PolicyChangeBusy",
    "PolicyRepository",
    "RecentClocks",
    "Stored",
    "from_document",
    "readable",
    "to_document",
]
