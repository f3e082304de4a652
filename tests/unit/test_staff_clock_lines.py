"""The Ombudsperson reads a clock's history in plain words: which target, how much of it was
used, who it went to; never a staff id."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from frontends.web.staff.views import clock_line
from services.escalation.api import _history
from services.escalation.domain import Entry
from shared.events import SlaTarget

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 25, 18, 13, tzinfo=UTC)


def lines(*entries: Entry) -> list[str]:
    return [clock_line(h) for h in _history(entries)]


def test_each_line_says_which_target_and_how_much_of_it() -> None:
    assert lines(
        Entry(AT, "started", 1, detail="standard"),
        Entry(AT, "warning", 1, target=SlaTarget.FIRST_RESPONSE, percent=75),
        Entry(AT, "breached", 1, target=SlaTarget.FIRST_RESPONSE),
        Entry(AT, "warning", 1, target=SlaTarget.RESOLUTION, percent=50),
        Entry(AT, "breached", 1, target=SlaTarget.RESOLUTION),
        Entry(AT, "met", 1, target=SlaTarget.CALLBACK),
    ) == [
        "clock started (standard policy)",
        "warning: 75% of the first response time used",
        "first response target missed",
        "warning: 50% of the resolution time used",
        "resolution target missed",
        "callback target met",
    ]


def test_escalations_name_the_rung_not_the_person() -> None:
    got = lines(
        Entry(AT, "escalated", 1, level=1, detail="principal-lincoln"),
        Entry(AT, "escalated", 1, level=3, detail="ombuds"),
        Entry(AT, "reminded", 1, level=2, reminder=2, detail="asst-supt-east"),
    )
    assert got == [
        "escalated to the principal (level 1)",
        "escalated to the Ombudsperson (level 3)",
        "reminder 2 to the assistant superintendent (level 2)",
    ]
    assert not any("ombuds)" in line or "principal-lincoln" in line for line in got)


def test_other_lines_in_words() -> None:
    assert lines(
        Entry(AT, "paused", 1),
        Entry(AT, "resumed", 1),
        Entry(AT, "policy", 1, detail="critical"),
        Entry(AT, "surveyed", 1, detail="4"),
        Entry(AT, "callback_missed", 1, target=SlaTarget.CALLBACK, detail="cb-1"),
    ) == [
        "clock paused",
        "clock resumed",
        "policy changed to critical",
        "survey answered: 4 of 5",
        "callback missed",
    ]
