"""Possible duplicates: the same requester about the same thing, or very similar text. Pure.

Triage keeps no description: only a set of hashed word tokens (a fingerprint) per concern, which
is enough to compare texts and reveals no words to someone reading triage's store casually.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.triage.rules import normalise

# Words that say nothing about what a concern is about (English and Spanish).
STOPWORDS = frozenset(
    """
a an and are as at be been but by can could did do does for from had has have he her his i
if in into is it its me my no not of on or our she so that the their them there they this
to was we were what when which who will with would you your us am
el la los las un una unos unas y o de del al en es son que por para con sin mi mis su sus
se lo le les nos yo tu ella ellos ha han muy mas pero como esta este estos estas eso
""".split()
)
MIN_TOKENS = 4
MAX_COMPARED = 200
"""At most this many earlier concerns (the most recent) are compared with a new one."""
_REQUESTER = "r:"
_WORD = re.compile(r"\w+")


class DuplicateReason(StrEnum):
    SAME_REQUESTER = "same_requester"
    SIMILAR_TEXT = "similar_text"


@dataclass(frozen=True)
class Earlier:
    """What triage keeps of an earlier concern to compare a new one with."""

    concern_id: str
    category: str
    school_id: str | None
    contact_key: str | None
    fingerprint: frozenset[str]
    submitted_at: datetime


@dataclass(frozen=True)
class Candidate:
    concern_id: str
    reason: DuplicateReason
    similarity: float


def fingerprint(text: str) -> frozenset[str]:
    """The distinct meaningful words of a text, each hashed (short, unkeyed)."""
    words = {w for w in _WORD.findall(normalise(text)) if len(w) > 1 and w not in STOPWORDS}
    return frozenset(hashlib.blake2b(w.encode(), digest_size=6).hexdigest() for w in words)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Token-set Jaccard similarity: shared tokens over all tokens (0 when both are empty)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def find_duplicates(
    *,
    concern_id: str,
    category: str,
    school_id: str | None,
    contact_key: str | None,
    text_fingerprint: frozenset[str],
    submitted_at: datetime,
    earlier: Iterable[Earlier],
    window: timedelta,
    threshold: float,
    limit: int = 5,
) -> list[Candidate]:
    """Concerns triaged before this one that it may duplicate, most similar first.

    Same requester (contact key) with the same category and school submitted within the
    window of this one, or a text at least `threshold` similar (short texts are never
    compared: too little to go on). One submitted a moment later counts too: two concerns
    triaged at once by two consumers may be stored in either order, and the one stored second
    names the first (services/triage/handlers.py).
    """
    found: list[Candidate] = []
    for e in earlier:
        if e.concern_id == concern_id or abs(e.submitted_at - submitted_at) > window:
            continue
        similarity = jaccard(text_fingerprint, e.fingerprint)
        if (
            contact_key is not None
            and e.contact_key == contact_key
            and e.category == category
            and e.school_id == school_id
        ):
            found.append(
                Candidate(e.concern_id, DuplicateReason.SAME_REQUESTER, round(similarity, 3))
            )
        elif (
            min(len(text_fingerprint), len(e.fingerprint)) >= MIN_TOKENS and similarity >= threshold
        ):
            found.append(
                Candidate(e.concern_id, DuplicateReason.SIMILAR_TEXT, round(similarity, 3))
            )
    found.sort(key=lambda c: (c.reason is not DuplicateReason.SAME_REQUESTER, -c.similarity))
    return found[:limit]


def requester_key(contact_key: str | None, category: str, school_id: str | None) -> str | None:
    """One key for "this requester, about this category, at this school" (None: anonymous)."""
    if contact_key is None:
        return None
    raw = json.dumps([contact_key, category, school_id]).encode()
    return _REQUESTER + hashlib.blake2b(raw, digest_size=8).hexdigest()


def match_keys(
    *,
    contact_key: str | None,
    category: str,
    school_id: str | None,
    text_fingerprint: frozenset[str],
) -> list[str]:
    """What a concern is found by when later ones look for duplicates: its requester key, and
    its words when it has enough of them to be compared at all."""
    key = requester_key(contact_key, category, school_id)
    words = sorted(text_fingerprint) if len(text_fingerprint) >= MIN_TOKENS else []
    return ([key] if key else []) + words


def probe_keys(
    *,
    contact_key: str | None,
    category: str,
    school_id: str | None,
    text_fingerprint: frozenset[str],
    threshold: float,
) -> list[str]:
    """Keys such that every earlier concern `find_duplicates` could flag holds one of them in
    its `match_keys`; empty when none could be flagged.

    A text at least `threshold` similar shares at least `threshold * n` of this text's n words
    (Jaccard is at most shared / n), so it holds at least one of any n - that + 1 of them.
    """
    key = requester_key(contact_key, category, school_id)
    keys = [key] if key else []
    n = len(text_fingerprint)
    if n >= MIN_TOKENS:
        shared = max(1, math.ceil(threshold * n - 1e-9))  # the tolerance only widens the probe
        keys += sorted(text_fingerprint)[: n - shared + 1]
    return keys


def ids(candidates: Sequence[Candidate]) -> list[str]:
    return [c.concern_id for c in candidates]
