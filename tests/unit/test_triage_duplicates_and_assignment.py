"""Duplicate detection (same requester, similar text) and the choice of assignee. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.triage.assignment import (
    Absence,
    Seat,
    away_at,
    cover,
    least_loaded,
    round_robin,
    seats,
)
from services.triage.duplicates import (
    DuplicateReason,
    Earlier,
    find_duplicates,
    fingerprint,
    jaccard,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WINDOW = timedelta(days=14)
BUS = "The school bus skipped our stop on Maple Street three mornings this week."


def earlier(
    concern_id: str = "old",
    *,
    text: str = "Lunch menu question for the cafeteria.",
    key: str | None = "k1",
    category: str = "transportation",
    school_id: str | None = "lincoln-es",
    age: timedelta = timedelta(days=3),
) -> Earlier:
    return Earlier(
        concern_id=concern_id,
        category=category,
        school_id=school_id,
        contact_key=key,
        fingerprint=fingerprint(text),
        submitted_at=T0 - age,
    )


def duplicates_of(previous: list[Earlier], **overrides: Any) -> list[Any]:
    args: dict[str, Any] = {
        "concern_id": "new",
        "category": "transportation",
        "school_id": "lincoln-es",
        "contact_key": "k1",
        "text_fingerprint": fingerprint(BUS),
        "submitted_at": T0,
        "earlier": previous,
        "window": WINDOW,
        "threshold": 0.6,
    }
    args.update(overrides)
    return find_duplicates(**args)


def test_jaccard_of_token_sets() -> None:
    a, b = frozenset({"x", "y", "z"}), frozenset({"y", "z", "w"})
    assert jaccard(a, b) == 0.5
    assert jaccard(a, a) == 1.0
    assert jaccard(frozenset(), frozenset()) == 0.0


def test_fingerprint_ignores_case_accents_punctuation_and_stopwords() -> None:
    assert fingerprint("The BUS is late!") == fingerprint("bus late")
    assert fingerprint("Inscripción") == fingerprint("inscripcion")
    assert "bus" not in " ".join(fingerprint("bus"))  # words are kept hashed


def test_same_requester_category_and_school_within_14_days_is_flagged() -> None:
    found = duplicates_of([earlier(age=timedelta(days=13))])
    assert [(c.concern_id, c.reason) for c in found] == [("old", DuplicateReason.SAME_REQUESTER)]


@pytest.mark.parametrize(
    "change",
    [
        {"age": timedelta(days=15)},
        {"key": "k2"},
        {"key": None},
        {"category": "enrollment"},
        {"school_id": "jefferson-hs"},
    ],
)
def test_same_requester_is_not_flagged_when_anything_else_differs(change: dict[str, Any]) -> None:
    assert duplicates_of([earlier(**change)]) == []


def test_anonymous_requesters_are_never_matched_on_contact() -> None:
    assert duplicates_of([earlier(key=None)], contact_key=None) == []


def test_very_similar_text_from_anyone_is_flagged() -> None:
    similar = earlier(
        "other",
        key="k9",
        category="safety",
        text="School bus skipped our stop on Maple Street three mornings!",
    )
    found = duplicates_of([similar], contact_key="k2")
    assert [(c.concern_id, c.reason) for c in found] == [("other", DuplicateReason.SIMILAR_TEXT)]
    assert found[0].similarity >= 0.6


def test_different_text_is_not_flagged() -> None:
    other = earlier(
        "other", key="k9", text="The bus driver was rude to the kids on Maple Street this week."
    )
    assert duplicates_of([other], contact_key="k2") == []


def test_short_texts_are_not_compared() -> None:
    assert (
        duplicates_of(
            [earlier(key="k9", text="bus late")],
            contact_key="k2",
            text_fingerprint=fingerprint("bus late"),
        )
        == []
    )


def test_same_requester_candidates_come_before_similar_text() -> None:
    found = duplicates_of([earlier("text", key="k9", text=BUS), earlier("same")])
    assert [c.concern_id for c in found] == ["same", "text"]


# --- assignment ----------------------------------------------------------------------------


def test_least_loaded_member_gets_the_concern_ties_to_the_first() -> None:
    team = [Seat("a"), Seat("b"), Seat("c")]
    assert least_loaded(team, {"a": 2, "b": 1, "c": 1}) == Seat("b")
    assert least_loaded(team, {}) == Seat("a")


def test_round_robin_takes_turns() -> None:
    team = [Seat("a"), Seat("b"), Seat("c")]
    assert [round_robin(team, t).assignee_id for t in range(5)] == ["a", "b", "c", "a", "b"]


def test_away_member_is_covered_by_their_backup() -> None:
    assert cover("a", {"a": "z"}) == Seat("z", covering_for="a")
    assert cover("a", {}) == Seat("a")
    assert seats(["a", "b"], {"a": "z"}) == [Seat("z", "a"), Seat("b")]


def test_backup_chain_is_followed_and_a_loop_or_missing_backup_means_nobody() -> None:
    assert cover("a", {"a": "b", "b": "c"}) == Seat("c", covering_for="a")
    assert cover("a", {"a": "b", "b": "a"}) is None
    assert cover("a", {"a": None}) is None


def test_backup_inside_the_team_holds_one_seat() -> None:
    assert seats(["a", "b"], {"a": "b"}) == [Seat("b", "a")]
    assert seats(["a"], {"a": None}) == []


def test_an_absence_ends_at_its_date_and_without_a_date_lasts_until_marked_back() -> None:
    absences = {"a": Absence("b", until=T0 + timedelta(days=1)), "c": Absence(None)}
    assert away_at(absences, T0) == {"a": "b", "c": None}
    assert away_at(absences, T0 + timedelta(days=1)) == {"c": None}


def test_a_concern_of_the_family_stored_first_though_submitted_later_is_flagged() -> None:
    # two consumers triaging at once store in either order: the second stored names the first
    stored_first = earlier("c-2", age=-timedelta(minutes=1))
    assert [c.concern_id for c in duplicates_of([stored_first])] == ["c-2"]
    assert duplicates_of([earlier("c-3", age=-timedelta(days=15))]) == []
