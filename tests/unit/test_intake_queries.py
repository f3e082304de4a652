"""Staff search without a store: filters, sort orders, cursors; and the requester token."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.intake import access, queries
from services.intake.domain import Status
from services.intake.idempotency import fingerprint
from services.intake.queries import ConcernFilter, InvalidCursor, SortOrder

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)


def test_empty_filter_matches_everything() -> None:
    assert queries.to_query(ConcernFilter(), now=NOW) == {}


def test_overdue_means_open_and_past_due() -> None:
    query = queries.to_query(ConcernFilter(overdue=True), now=NOW)
    assert query["resolution_due_at"] == {"$lt": NOW}
    assert "resolved" not in query["status"]["$in"] and "received" in query["status"]["$in"]


def test_filters_combine_with_and() -> None:
    query = queries.to_query(
        ConcernFilter(statuses=(Status.RECEIVED,), team_id="t", submitted_from=NOW), now=NOW
    )
    assert {"team_id": "t"} in query["$and"]
    assert {"submitted_at": {"$gte": NOW}} in query["$and"]


def test_free_text_is_escaped_so_it_cannot_inject_a_pattern() -> None:
    query = queries.to_query(ConcernFilter(text="bus (stop).*"), now=NOW)
    pattern = query["$or"][0]["tracking_number"]["$regex"]
    assert pattern == r"bus\ \(stop\)\.\*"


def test_cursor_resumes_after_the_last_item_in_its_order() -> None:
    doc = {"_id": "c9", "resolution_due_at": NOW}
    cursor = queries.encode_cursor(SortOrder.DUE, doc)
    after = queries.after_cursor(SortOrder.DUE, cursor)
    assert after == {
        "$or": [
            {"resolution_due_at": {"$gt": NOW}},
            {"resolution_due_at": NOW, "_id": {"$gt": "c9"}},
        ]
    }
    descending = queries.after_cursor(
        SortOrder.DUE_DESC, queries.encode_cursor(SortOrder.DUE_DESC, doc)
    )
    assert descending["$or"][0] == {"resolution_due_at": {"$lt": NOW}}


@pytest.mark.parametrize("cursor", ["", "not-base64!", "bm90IGpzb24", "WyJkdWUiXQ"])
def test_a_cursor_the_api_did_not_make_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        queries.after_cursor(SortOrder.DUE, cursor)


def test_a_cursor_for_another_order_is_refused() -> None:
    cursor = queries.encode_cursor(SortOrder.SUBMITTED, {"_id": "c", "submitted_at": NOW})
    with pytest.raises(InvalidCursor, match="another sort order"):
        queries.after_cursor(SortOrder.DUE, cursor)


def test_sort_breaks_ties_by_id_in_the_same_direction() -> None:
    assert queries.sort_spec(SortOrder.SUBMITTED_DESC) == [("submitted_at", -1), ("_id", -1)]


def test_access_token_is_derived_stable_and_only_its_hash_matches() -> None:
    token = access.access_token(b"key", "c1", "n1")
    assert token == access.access_token(b"key", "c1", "n1")
    assert token != access.access_token(b"key", "c1", "n2")
    assert token != access.access_token(b"other", "c1", "n1")
    stored = access.token_hash(token)
    assert token not in stored
    assert access.token_matches(token, stored)
    assert not access.token_matches(access.access_token(b"key", "c2", "n1"), stored)
    assert not access.token_matches("short", stored)


def test_body_fingerprint_ignores_key_order_but_not_values() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
