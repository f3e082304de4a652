"""The queries a concern's hot path runs have shapes a store serves from a declared index,
whatever its planner: no top-level `$or` (SecantusDB then scans the whole collection even
beside an `_id`), the first clause on `_id` or on the leading field of an index the
repository declares (SecantusDB serves the first clause it can from an index), and a date
range bounded below (a null, as a stopped clock holds, sorts before every date)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.escalation.repository import ClockRepository
from services.intake.repository import ConcernRepository as IntakeConcerns
from services.notify.repository import ConcernRepository as NotifyConcerns
from services.notify.repository import DeliveryRepository, SurveyRepository
from services.triage.repository import DecisionRepository, MemberRepository

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


class _Result:
    matched_count = modified_count = 1
    upserted_id = None


class _Collection:
    """Records each filter it is given and the indexes declared on it; finds nothing."""

    def __init__(self) -> None:
        self.filters: list[dict[str, Any]] = []
        self.leading: set[str] = {"_id"}
        self.found: list[dict[str, Any]] = []

    async def create_index(self, keys: Any, **_: Any) -> str:
        first = keys if isinstance(keys, str) else keys[0][0]
        self.leading.add(first)
        return first

    def find(self, query: dict[str, Any], *_: Any, **__: Any) -> _Collection:
        self.filters.append(query)
        return self

    def sort(self, *_: Any, **__: Any) -> _Collection:
        return self

    def limit(self, *_: Any) -> _Collection:
        return self

    async def to_list(self, *_: Any) -> list[Any]:
        return self.found

    async def find_one(self, query: dict[str, Any], *_: Any, **__: Any) -> None:
        self.filters.append(query)

    async def update_one(self, query: dict[str, Any], *_: Any, **__: Any) -> _Result:
        self.filters.append(query)
        return _Result()

    async def bulk_write(self, *_: Any, **__: Any) -> None:
        return None

    async def index_information(self) -> dict[str, Any]:
        return {"_id_": {}}


class _Database(dict[str, _Collection]):
    def __missing__(self, name: str) -> _Collection:
        self[name] = _Collection()
        return self[name]


def assert_served_by_an_index(db: _Database, *, bounded_below: bool = True) -> None:
    for name, collection in db.items():
        for query in collection.filters:
            assert query, f"{name}: an empty filter reads the whole collection"
            assert not any(key.startswith("$") for key in query), f"{name}: {query}"
            first, condition = next(iter(query.items()))
            assert first in collection.leading, f"{name}: no index leads with {first}"
            if bounded_below and isinstance(condition, dict) and {"$lt", "$lte"} & set(condition):
                assert {"$gt", "$gte"} & set(condition), f"{name}: open below: {query}"


async def test_the_sla_sweep_reads_only_clocks_that_fall_due() -> None:
    db = _Database()
    clocks = ClockRepository(db)  # type: ignore[arg-type]
    await clocks.ensure_indexes()
    await clocks.due(NOW, timedelta(minutes=5))
    await clocks.next_due_between(NOW, NOW + timedelta(hours=1))
    assert_served_by_an_index(db)


async def test_intake_keeps_reported_due_times_with_a_lookup_by_id() -> None:
    db = _Database()
    concerns = IntakeConcerns(db, vault=None)  # type: ignore[arg-type]
    await concerns.ensure_indexes()
    await concerns.record_due(
        "c-1", sequence=3, resolution_due_at=NOW, first_response_due_at=NOW, paused=False
    )
    assert_served_by_an_index(db)


async def test_notify_records_an_assignment_with_a_lookup_by_id() -> None:
    db = _Database()
    facts = NotifyConcerns(db)  # type: ignore[arg-type]
    await facts.remember_assignment("c-1", "tr-1", NOW)
    assert_served_by_an_index(db)


async def test_duplicate_detection_reads_the_window_not_the_history() -> None:
    db = _Database()
    decisions = DecisionRepository(db)  # type: ignore[arg-type]
    await decisions.ensure_indexes()
    await decisions.earlier(["k1", "k2"], NOW - timedelta(days=14), NOW, 20)
    assert_served_by_an_index(db)
    assert next(iter(db["decisions"].filters[0])) == "submitted_at"


async def test_a_familys_next_concern_number_is_read_by_its_key() -> None:
    db = _Database()
    decisions = DecisionRepository(db)  # type: ignore[arg-type]
    await decisions.ensure_indexes()
    await decisions.next_requester_seq("r:family")
    assert_served_by_an_index(db)
    assert next(iter(db["decisions"].filters[0])) == "match_keys"


async def test_notify_takes_a_due_delivery_by_its_id() -> None:
    db = _Database()
    deliveries = DeliveryRepository(db)  # type: ignore[arg-type]
    await deliveries.ensure_indexes()
    db["deliveries"].found = [{"_id": "c-1:acknowledgement:email"}]
    await deliveries.claim_due(now=NOW, lease_until=NOW + timedelta(minutes=1))
    assert_served_by_an_index(db, bounded_below=False)  # the status pins the range's start
    assert [next(iter(q)) for q in db["deliveries"].filters[1:]] == ["_id", "_id"]


async def test_a_survey_answer_finds_its_survey_by_the_token_index_then_writes_by_id() -> None:
    class _Surveys(_Collection):
        async def find_one(self, query: dict[str, Any], *_: Any, **__: Any) -> dict[str, Any]:
            self.filters.append(query)
            return {
                "_id": "c-1",
                "token_hash": "h",
                "created_at": NOW,
                "expires_at": NOW + timedelta(days=30),
                "answered_at": None,
            }

    db = _Database(surveys=_Surveys())
    surveys = SurveyRepository(db)  # type: ignore[arg-type]
    await surveys.ensure_indexes()
    answered = await surveys.answer(token_hash="h", score=4, comment=None, now=NOW, events=[])
    assert answered is not None and answered.score == 4 and answered.answered_at == NOW
    assert_served_by_an_index(db)
    assert [next(iter(q)) for q in db["surveys"].filters] == ["token_hash", "_id"]


async def test_the_ombudsperson_view_reads_two_index_ranges_not_an_or() -> None:
    db = _Database()
    clocks = ClockRepository(db)  # type: ignore[arg-type]
    await clocks.ensure_indexes()
    db["clocks"].filters.clear()  # what startup read once (the backfill) is not the view
    await clocks.for_ombudsperson(
        overdue_before=NOW - timedelta(days=7), limit=200, merged_since=NOW - timedelta(days=30)
    )
    assert_served_by_an_index(db)
    assert [next(iter(q)) for q in db["clocks"].filters] == ["ombudsperson_from", "stopped_at"]


async def test_the_open_clocks_gauge_counts_through_an_index() -> None:
    class _Clocks(_Collection):
        async def count_documents(self, query: dict[str, Any]) -> int:
            self.filters.append(query)
            return 0

    db = _Database(clocks=_Clocks())
    clocks = ClockRepository(db)  # type: ignore[arg-type]
    await clocks.ensure_indexes()
    db["clocks"].filters.clear()
    await clocks.count_open()
    assert_served_by_an_index(db)


async def test_assignment_counts_a_concern_by_id_without_an_index_over_open_lists() -> None:
    class _Members(_Collection):
        def create_index(self, *_: Any, **__: Any) -> Any:
            raise AssertionError("an index over members' open lists costs every assignment")

    db = _Database(members=_Members())
    members = MemberRepository(db)  # type: ignore[arg-type]
    await members.ensure_indexes()
    await members.claim("sd-1", "c-1", 0)
    await members.add("sd-2", "c-2")
    await members.release("sd-2", "c-2")
    await members.holder("c-1")
    assert_served_by_an_index(db)
    assert {next(iter(q)) for c in db.values() for q in c.filters} == {"_id"}
