"""SMS length and quiet hours: pure rules, tested with fixed datetimes.

A segment holds 160 GSM-7 characters, or 70 UCS-2 code units once any character falls outside
GSM-7 (Spanish `á`, `í`, `ó`, `ú` do). A message of several segments loses room to the
concatenation header: 153 GSM-7 characters or 67 UCS-2 units per segment.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

# 3GPP TS 23.038 basic character set, and the extension table (each costs two septets).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
ELLIPSIS = "..."


def is_gsm7(text: str) -> bool:
    """True when every character has a GSM-7 encoding."""
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def _units(text: str, gsm: bool) -> int:
    if gsm:
        return sum(2 if c in GSM7_EXTENSION else 1 for c in text)
    return len(text.encode("utf-16-le")) // 2


def segments(text: str) -> int:
    """How many SMS segments `text` takes (0 for an empty text)."""
    gsm = is_gsm7(text)
    units = _units(text, gsm)
    single, multi = (160, 153) if gsm else (70, 67)
    if units <= single:
        return 1 if units else 0
    return math.ceil(units / multi)


def fit(text: str, max_segments: int) -> str:
    """`text` whitespace-collapsed, cut at a word with `...` when it needs more segments."""
    if max_segments < 1:
        raise ValueError("max_segments starts at 1")
    text = " ".join(text.split())
    if segments(text) <= max_segments:
        return text
    gsm = is_gsm7(text)
    budget = max_segments * (153 if gsm else 67) if max_segments > 1 else (160 if gsm else 70)
    budget -= len(ELLIPSIS)
    cut, used = 0, 0
    for i, c in enumerate(text):
        used += _units(c, gsm)
        if used > budget:
            break
        cut = i + 1
    head = text[:cut]
    if cut < len(text) and " " in head:
        head = head[: head.rindex(" ")]
    return head.rstrip(" ,;:.") + ELLIPSIS


def in_quiet_hours(local: time, *, start: time, end: time) -> bool:
    """Whether a local wall-clock time falls in quiet hours (which may span midnight)."""
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def release_time(moment: datetime, *, timezone: str, start: time, end: time) -> datetime:
    """When a non-urgent SMS due at `moment` may go: at once, or at the end of quiet hours.

    Quiet hours are wall-clock times in the district's zone, so the morning release follows
    daylight saving time (08:00 is 14:00 UTC in a Chicago winter and 13:00 in summer).
    """
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no place in the bureau")
    zone = ZoneInfo(timezone)
    local = moment.astimezone(zone)
    wall = local.time().replace(tzinfo=None)
    if not in_quiet_hours(wall, start=start, end=end):
        return moment
    day = local.date() if wall < end else local.date() + timedelta(days=1)
    # Wall clock through the zone: a morning in a DST gap lands just after the gap.
    morning = datetime.combine(day, end, tzinfo=zone)
    return morning.astimezone(UTC)
