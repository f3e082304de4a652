"""Staff searches run as queries a store serves from an index: a scoped caller's reach (an
`$or`), a filter's parts (an `$and`), the "not overdue" and text alternatives and a page's
cursor become flat queries, each led by its most selective clause, whose answers together are
exactly the search's (checked against SecantusDB's own matcher), merged in the store's order."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from secantus.query import matches

from services.intake import queries
from services.intake.domain import Status
from services.intake.queries import ConcernFilter, SortOrder, branches, sort_documents

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
SCOPE = {
    "$or": [
        {"school_id": {"$in": ["lincoln-es"]}},
        {"team_id": {"$in": ["transport", "special-ed"]}},
        {"assignee_id": "staff-1"},
    ]
}


def concerns() -> list[dict[str, Any]]:
    """Every combination of what the searches below tell apart."""
    docs = []
    for n, (status, school, team, assignee, due, paused, words) in enumerate(
        itertools.product(
            [s.value for s in Status],
            ["lincoln-es", "adams-ms"],
            ["transport", "special-ed", "food", None],
            ["staff-1", "staff-2", None],
            [NOW - timedelta(hours=2), NOW + timedelta(hours=2), None],
            [True, False],
            ["the bus was late", "lunch was cold"],
        )
    ):
        docs.append(
            {
                "_id": f"c-{n:05d}",
                "tracking_number": f"CS-2026-{n:06d}",
                "status": status,
                "school_id": school,
                "team_id": team,
                "assignee_id": assignee,
                "resolution_due_at": due,
                "sla_paused": paused,
                "description": words,
                "submitted_at": NOW - timedelta(minutes=n % 7),
            }
        )
    return docs


DOCS = concerns()
SEARCHES = {
    "a team's work queue": ConcernFilter(
        statuses=(Status.RECEIVED, Status.ACKNOWLEDGED), team_id="transport"
    ),
    "overdue": ConcernFilter(overdue=True),
    "not overdue": ConcernFilter(overdue=False, school_id="adams-ms"),
    "words": ConcernFilter(text="bus", statuses=(Status.RECEIVED,)),
    "everything": ConcernFilter(),
}


def _matching(query: dict[str, Any]) -> set[str]:
    return {d["_id"] for d in DOCS if matches(d, query)}


@pytest.mark.parametrize("name", SEARCHES)
@pytest.mark.parametrize("scoped", [True, False])
def test_a_search_runs_as_flat_queries_that_together_match_exactly_what_it_matches(
    name: str, scoped: bool
) -> None:
    base = queries.to_query(SEARCHES[name], now=NOW)
    query = {"$and": [base, SCOPE]} if scoped and base else (SCOPE if scoped else base)
    cursor = queries.encode_cursor(SortOrder.DUE, {"_id": "c-00100", "resolution_due_at": NOW})
    for searched in (query, queries.page_query(query, SortOrder.DUE, cursor)):
        parts = branches(searched)
        assert all(not key.startswith("$") for part in parts for key in part), parts
        assert set().union(*(_matching(p) for p in parts)) == _matching(searched)


def test_an_open_status_leads_a_scoped_work_queue() -> None:
    base = queries.to_query(SEARCHES["a team's work queue"], now=NOW)
    parts = branches({"$and": [base, SCOPE]})
    assert len(parts) == 3
    assert {next(iter(part)) for part in parts} == {"status"}


def test_a_search_without_a_flat_form_is_left_as_it_is() -> None:
    query = {"$nor": [{"status": "closed"}]}
    assert branches(query) == [query]


def test_merged_answers_come_in_the_stores_order_missing_values_first() -> None:
    docs = [
        {"_id": "b", "resolution_due_at": NOW},
        {"_id": "a", "resolution_due_at": NOW},
        {"_id": "c", "resolution_due_at": None},
        {"_id": "d", "resolution_due_at": NOW - timedelta(hours=1)},
    ]
    ascending = sort_documents(docs, queries.sort_spec(SortOrder.DUE))
    assert [d["_id"] for d in ascending] == ["c", "d", "a", "b"]
    descending = sort_documents(docs, queries.sort_spec(SortOrder.DUE_DESC))
    assert [d["_id"] for d in descending] == ["b", "a", "d", "c"]
