"""The keys duplicate detection looks earlier concerns up by never miss a duplicate. Pure."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from services.triage.duplicates import (
    MIN_TOKENS,
    Earlier,
    find_duplicates,
    fingerprint,
    match_keys,
    probe_keys,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WINDOW = timedelta(days=14)
VOCABULARY = [f"word{i}" for i in range(40)]


def text(rng: random.Random) -> str:
    return " ".join(rng.sample(VOCABULARY, rng.randint(1, 14)))


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.6, 0.75, 1.0])
def test_every_concern_that_would_be_flagged_holds_one_of_the_probe_keys(threshold: float) -> None:
    rng = random.Random(threshold)
    for _ in range(400):
        new_text, old_text = text(rng), text(rng)
        if rng.random() < 0.3:  # near copies, so that many pairs are duplicates
            old_text = " ".join([*new_text.split()[:-1], rng.choice(VOCABULARY)])
        new_key, old_key = rng.choice(["k1", "k2", None]), rng.choice(["k1", "k2", None])
        new_fp, old_fp = fingerprint(new_text), fingerprint(old_text)
        earlier = Earlier(
            concern_id="old",
            category="transportation",
            school_id="lincoln-es",
            contact_key=old_key,
            fingerprint=old_fp,
            submitted_at=T0 - timedelta(days=1),
        )
        flagged = find_duplicates(
            concern_id="new",
            category="transportation",
            school_id="lincoln-es",
            contact_key=new_key,
            text_fingerprint=new_fp,
            submitted_at=T0,
            earlier=[earlier],
            window=WINDOW,
            threshold=threshold,
        )
        probe = probe_keys(
            contact_key=new_key,
            category="transportation",
            school_id="lincoln-es",
            text_fingerprint=new_fp,
            threshold=threshold,
        )
        stored = match_keys(
            contact_key=old_key,
            category="transportation",
            school_id="lincoln-es",
            text_fingerprint=old_fp,
        )
        if flagged:
            assert set(probe) & set(stored), (new_text, old_text, new_key, old_key)


def test_probe_asks_for_only_a_prefix_of_the_words() -> None:
    words = fingerprint(" ".join(VOCABULARY[:10]))
    probe = probe_keys(
        contact_key=None, category="other", school_id=None, text_fingerprint=words, threshold=0.6
    )
    assert len(probe) == 5  # a 60 % similar text shares at least 6 of the 10 words


def test_anonymous_short_text_looks_nothing_up() -> None:
    short = fingerprint("bus late")
    assert len(short) < MIN_TOKENS
    assert (
        probe_keys(
            contact_key=None,
            category="other",
            school_id=None,
            text_fingerprint=short,
            threshold=0.6,
        )
        == []
    )


def test_requester_key_names_requester_category_and_school_together() -> None:
    def key(contact: str | None, category: str, school: str | None) -> list[str]:
        return match_keys(
            contact_key=contact, category=category, school_id=school, text_fingerprint=frozenset()
        )

    assert key("k1", "transportation", "lincoln-es") == key("k1", "transportation", "lincoln-es")
    assert key("k1", "transportation", "lincoln-es") != key("k1", "enrollment", "lincoln-es")
    assert key("k1", "transportation", "lincoln-es") != key("k1", "transportation", None)
    assert key(None, "transportation", "lincoln-es") == []
