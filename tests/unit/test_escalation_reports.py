"""Board report figures against a fixture computed by hand (the working is in the comments)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from services.escalation import domain, reports
from services.escalation.reports import ConcernFacts, CycleFacts, Figures, GroupBy
from shared.events import Priority
from tests.unit.test_escalation_domain import RULES

pytestmark = pytest.mark.unit

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 4, 1, tzinfo=UTC)
GUARANTEE = timedelta(hours=72)


def at(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def concern(
    cid: str,
    category: str,
    school: str | None,
    team: str,
    channel: str,
    priority: str,
    submitted: datetime,
    cycles: list[tuple[datetime, datetime | None, bool]],
    breaches: tuple[tuple[datetime, str], ...] = (),
    escalations: tuple[tuple[datetime, int], ...] = (),
    survey: tuple[int, datetime] | None = None,
) -> ConcernFacts:
    return ConcernFacts(
        concern_id=cid,
        category=category,
        school_id=school,
        team_id=team,
        channel=channel,
        priority=priority,
        submitted_at=submitted,
        cycles=tuple(CycleFacts(s, r, met) for s, r, met in cycles),
        breaches=breaches,
        escalations=escalations,
        satisfaction=survey[0] if survey else None,
        surveyed_at=survey[1] if survey else None,
    )


FACTS = [
    # A: resolved in 24 h, first response in time, satisfied (5).
    concern(
        "A",
        "transportation",
        "lincoln-es",
        "transportation",
        "web",
        "normal",
        at(3, 2, 9),
        [(at(3, 2, 9), at(3, 3, 9), True)],
        survey=(5, at(3, 4)),
    ),
    # B: 96 h, missed both targets, level 1, unhappy (2).
    concern(
        "B",
        "transportation",
        None,
        "transportation",
        "phone",
        "high",
        at(3, 5),
        [(at(3, 5), at(3, 9), False)],
        breaches=((at(3, 5, 1), "first_response"), (at(3, 8), "resolution")),
        escalations=((at(3, 8), 1),),
        survey=(2, at(3, 10)),
    ),
    # C: 12 h, then reopened and resolved in 120 h after reaching the Ombudsperson.
    concern(
        "C",
        "safety",
        "lincoln-es",
        "school-lincoln-es",
        "web",
        "critical",
        at(3, 10, 12),
        [(at(3, 10, 12), at(3, 11), True), (at(3, 20), at(3, 25), False)],
        breaches=((at(3, 21), "resolution"),),
        escalations=((at(3, 21), 1), (at(3, 22), 2), (at(3, 23), 3)),
    ),
    # D: submitted in February, resolved 1 March 12:00 (228 h); only its level 3 and its
    # survey fall in March.
    concern(
        "D",
        "transportation",
        "lincoln-es",
        "transportation",
        "email",
        "normal",
        at(2, 20),
        [(at(2, 20), at(3, 1, 12), True)],
        breaches=((at(2, 23), "resolution"),),
        escalations=((at(2, 23), 1), (at(2, 24), 2), (at(3, 1, 6), 3)),
        survey=(4, at(3, 2)),
    ),
    # E, F, I: open at the end of March, 96 h, 12 h and 60 h old; G open since February.
    concern(
        "E", "other", None, "service-desk", "web", "low", at(3, 28), [(at(3, 28), None, False)]
    ),
    concern(
        "F",
        "transportation",
        "lincoln-es",
        "transportation",
        "web",
        "normal",
        at(3, 31, 12),
        [(at(3, 31, 12), None, False)],
    ),
    concern(
        "G",
        "other",
        None,
        "service-desk",
        "sms",
        "low",
        at(2, 1),
        [(at(2, 1), None, False)],
        breaches=((at(2, 4), "resolution"),),
    ),
    concern(
        "I",
        "enrollment",
        None,
        "enrollment",
        "walk_in",
        "normal",
        at(3, 29, 12),
        [(at(3, 29, 12), None, False)],
    ),
    # H: after the period: counts nowhere.
    concern(
        "H",
        "transportation",
        "lincoln-es",
        "transportation",
        "web",
        "normal",
        at(4, 2),
        [(at(4, 2), at(4, 3), True)],
        breaches=((at(4, 2, 5), "first_response"),),
    ),
]


def report(group_by: GroupBy) -> tuple[dict[str, Figures], Figures]:
    groups, total = reports.board_report(
        FACTS, start=START, end=END, as_of=END, guarantee=GUARANTEE, group_by=group_by
    )
    return {g.key: g.figures for g in groups}, total


def test_district_total_matches_the_hand_computed_figures() -> None:
    _, total = report(GroupBy.CATEGORY)
    assert total == Figures(
        received=6,  # A B C E F I
        resolved=5,  # A 24 h, B 96 h, C 12 h and 120 h, D 228 h
        resolved_within_guarantee=0.4,  # A, C's first cycle
        first_response_within_target=0.6,  # A, C1, D
        median_hours_to_resolve=96.0,  # 12 24 [96] 120 228
        p90_hours_to_resolve=228.0,  # nearest rank ceil(0.9 * 5) = 5th
        breaches={"first_response": 1, "resolution": 2, "callback": 0},  # B, B and C
        escalations={"1": 2, "2": 1, "3": 2},  # B1 C1 / C2 / C3 D3
        satisfaction_responses=3,
        satisfaction_mean=3.67,  # (5 + 2 + 4) / 3
        backlog={"under_24h": 1, "24h_to_72h": 1, "72h_to_7d": 1, "over_7d": 1},  # F I E G
    )


def test_figures_by_category_match_the_hand_computed_figures() -> None:
    groups, _ = report(GroupBy.CATEGORY)
    assert sorted(groups) == ["enrollment", "other", "safety", "transportation"]
    assert groups["transportation"] == Figures(
        received=3,
        resolved=3,
        resolved_within_guarantee=0.3333,
        first_response_within_target=0.6667,
        median_hours_to_resolve=96.0,
        p90_hours_to_resolve=228.0,
        breaches={"first_response": 1, "resolution": 1, "callback": 0},
        escalations={"1": 1, "2": 0, "3": 1},
        satisfaction_responses=3,
        satisfaction_mean=3.67,
        backlog={"under_24h": 1, "24h_to_72h": 0, "72h_to_7d": 0, "over_7d": 0},
    )
    assert groups["safety"] == Figures(
        received=1,
        resolved=2,
        resolved_within_guarantee=0.5,
        first_response_within_target=0.5,
        median_hours_to_resolve=66.0,
        p90_hours_to_resolve=120.0,
        breaches={"first_response": 0, "resolution": 1, "callback": 0},
        escalations={"1": 1, "2": 1, "3": 1},
        satisfaction_responses=0,
        satisfaction_mean=None,
        backlog={"under_24h": 0, "24h_to_72h": 0, "72h_to_7d": 0, "over_7d": 0},
    )
    assert groups["other"] == Figures(
        received=1,
        resolved=0,
        resolved_within_guarantee=None,
        first_response_within_target=None,
        median_hours_to_resolve=None,
        p90_hours_to_resolve=None,
        breaches={"first_response": 0, "resolution": 0, "callback": 0},
        escalations={"1": 0, "2": 0, "3": 0},
        satisfaction_responses=0,
        satisfaction_mean=None,
        backlog={"under_24h": 0, "24h_to_72h": 0, "72h_to_7d": 1, "over_7d": 1},
    )
    assert (groups["enrollment"].received, groups["enrollment"].backlog["24h_to_72h"]) == (1, 1)


@pytest.mark.parametrize(
    ("group_by", "received"),
    [
        (GroupBy.SCHOOL, {"lincoln-es": 3, "none": 3}),
        (
            GroupBy.TEAM,
            {"transportation": 3, "school-lincoln-es": 1, "service-desk": 1, "enrollment": 1},
        ),
        (GroupBy.CHANNEL, {"web": 4, "phone": 1, "walk_in": 1, "email": 0, "sms": 0}),
        (GroupBy.PRIORITY, {"normal": 3, "high": 1, "critical": 1, "low": 1}),
    ],
)
def test_every_grouping_splits_the_received_concerns(
    group_by: GroupBy, received: dict[str, int]
) -> None:
    groups, total = report(group_by)
    assert {k: g.received for k, g in groups.items()} == received
    assert sum(g.resolved for g in groups.values()) == total.resolved


def test_backlog_is_measured_at_the_end_of_the_period_not_today() -> None:
    _, total = reports.board_report(
        FACTS,
        start=START,
        end=at(3, 15),
        as_of=at(3, 15),
        guarantee=GUARANTEE,
        group_by=GroupBy.CATEGORY,
    )
    # On 15 March: G open 42 days; nothing else open (C's second cycle starts on the 20th).
    assert total.backlog == {"under_24h": 0, "24h_to_72h": 0, "72h_to_7d": 0, "over_7d": 1}


def test_csv_has_a_row_per_group_and_a_total() -> None:
    groups, total = report(GroupBy.CATEGORY)
    rows = [reports.flat(k, f) for k, f in sorted(groups.items())]
    rows.append(reports.flat("total", total))
    parsed = list(csv.DictReader(io.StringIO(reports.to_csv(rows))))
    assert [r["group"] for r in parsed] == [
        "enrollment",
        "other",
        "safety",
        "transportation",
        "total",
    ]
    last = parsed[-1]
    assert (
        last["received"],
        last["resolved_within_guarantee"],
        last["p90_hours_to_resolve"],
        last["escalations_level_3"],
        last["backlog_over_7d"],
    ) == ("6", "0.4", "228.0", "2", "1")
    assert parsed[1]["median_hours_to_resolve"] == ""  # no resolution: an empty cell


def test_months_span_the_year_boundary() -> None:
    assert [
        m.isoformat() for m in reports.months(at(11, 15).date(), datetime(2027, 2, 1).date())
    ] == ["2026-11-01", "2026-12-01", "2027-01-01", "2027-02-01"]


def test_clock_history_becomes_report_facts_with_every_cycle() -> None:
    t0 = at(3, 2, 9)
    clock = domain.start(
        "c-1",
        category="other",
        school_id="lincoln-es",
        priority=Priority.LOW,
        channel="web",
        started_at=t0,
        rules=RULES,
    )
    clock, _ = domain.status_changed(
        clock, to_status="acknowledged", at=t0 + timedelta(hours=1), rules=RULES
    )
    clock, _ = domain.advance(clock, now=t0 + timedelta(days=4), rules=RULES)
    clock, _ = domain.stop(clock, at=t0 + timedelta(days=5), rules=RULES)
    clock = domain.reopen(clock, at=t0 + timedelta(days=6), rules=RULES)
    clock, _ = domain.stop(clock, at=t0 + timedelta(days=7), rules=RULES)
    clock = domain.surveyed(clock, score=3, at=t0 + timedelta(days=8))
    facts = reports.facts_of(clock)
    assert facts.cycles == (
        CycleFacts(t0, t0 + timedelta(days=5), True, counted=timedelta(days=5)),
        CycleFacts(t0 + timedelta(days=6), t0 + timedelta(days=7), True, counted=timedelta(days=1)),
    )
    assert facts.breaches == ((t0 + timedelta(days=4), "resolution"),)
    assert facts.escalations == ((t0 + timedelta(days=4), 1), (t0 + timedelta(days=4), 2))
    assert (facts.satisfaction, facts.channel, facts.priority) == (3, "web", "low")


def test_resolved_within_the_guarantee_leaves_paused_time_out() -> None:
    # 90 wall hours, 30 of them waiting for the parent: 60 counted hours, within 72.
    t0 = at(3, 2, 9)
    clock = domain.start(
        "c-1",
        category="other",
        school_id="lincoln-es",
        priority=Priority.LOW,
        channel="web",
        started_at=t0,
        rules=RULES,
    )
    for hours, status in ((1, "acknowledged"), (10, "awaiting_requester"), (40, "acknowledged")):
        clock, _ = domain.status_changed(
            clock, to_status=status, at=t0 + timedelta(hours=hours), rules=RULES
        )
    clock, _ = domain.stop(clock, at=t0 + timedelta(hours=90), rules=RULES)
    fig = reports.figures(
        [reports.facts_of(clock)], start=START, end=END, as_of=END, guarantee=GUARANTEE
    )
    assert (fig.resolved_within_guarantee, fig.median_hours_to_resolve) == (1.0, 60.0)


def test_merged_concern_is_neither_resolved_nor_in_the_backlog() -> None:
    merged = concern(
        "M", "other", None, "service-desk", "web", "low", at(3, 2), [(at(3, 2), None, False)]
    )
    merged = ConcernFacts(
        **{**merged.__dict__, "cycles": (CycleFacts(at(3, 2), None, False, closed_at=at(3, 3)),)}
    )
    fig = reports.figures([merged], start=START, end=END, as_of=END, guarantee=GUARANTEE)
    assert (fig.received, fig.resolved, sum(fig.backlog.values())) == (1, 0, 0)
