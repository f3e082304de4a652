"""Small-cell suppression of group figures read by the Board (FERPA de-identification
practice): a count under the district's threshold (`board.suppress_below`) is not shown, nor a
share or mean computed from fewer cases, so that a figure cannot point at one family or
student. Zero is shown (it points at nobody); 0 as the threshold turns suppression off. Pure:
no I/O, no framework.

A suppressed figure becomes None and its name is listed in the row's `suppressed` (nested
counts as `backlog.under_24h`); pages read it as "fewer than N", CSV as an empty cell with the
names in a `suppressed` column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.auth import Principal, Role

SUPPRESSED = "suppressed"
NOTE = (
    "Counts from 1 to {last} are not shown (null, named in `suppressed`), nor shares or means "
    "computed from fewer than {below} cases, so that no figure points at one family or student."
)


def hidden(count: object, below: int) -> bool:
    """Whether a count is too small to show: from 1 to `below` - 1 (never with `below` 0)."""
    return isinstance(count, int) and below > 0 and 0 < count < below


def note(below: int) -> str:
    """The plain-words note a suppressed report carries."""
    return NOTE.format(last=below - 1, below=below)


def fewer_than(below: int) -> str:
    """How a page reads a suppressed count."""
    return f"fewer than {below}"


def suppress_row(
    row: Mapping[str, Any],
    below: int,
    *,
    counts: Sequence[str],
    shares: Mapping[str, str],
    nested: Sequence[str] = (),
) -> dict[str, Any]:
    """One group's figures with its small counts (`counts`, and each value of the `nested`
    dicts) and the shares computed from a small count (`shares`: share -> its count) set to
    None and named in `suppressed`. A row already suppressed keeps its earlier names."""
    out = dict(row)
    flagged: list[str] = list(row.get(SUPPRESSED, ()))
    for name in counts:
        if hidden(row.get(name), below):
            out[name] = None
            flagged.append(name)
    for name in nested:
        values = row.get(name)
        if isinstance(values, Mapping):
            out[name] = {k: (None if hidden(v, below) else v) for k, v in values.items()}
            flagged += [f"{name}.{k}" for k, v in values.items() if hidden(v, below)]
    for name, whole in shares.items():
        if name in row and row[name] is not None and hidden(row.get(whole), below):
            out[name] = None
            flagged.append(name)
    out[SUPPRESSED] = flagged
    return out


def suppress_table(
    rows: Sequence[Mapping[str, Any]],
    below: int,
    *,
    counts: Sequence[str],
    shares: Mapping[str, str],
    nested: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """A table of groups suppressed row by row; where exactly one group's count of a column
    is suppressed (so the total would give it back), the next-smallest non-zero count of that
    column is suppressed too (complementary suppression)."""
    out = [suppress_row(r, below, counts=counts, shares=shares, nested=nested) for r in rows]
    if below <= 0:
        return out
    for name in counts:
        if sum(1 for r in out if name in r[SUPPRESSED]) != 1:
            continue
        others = [r for r in out if isinstance(r.get(name), int) and r[name] > 0]
        if others:
            smallest = min(others, key=lambda r: r[name])
            smallest[name] = None
            smallest[SUPPRESSED] = [*smallest[SUPPRESSED], name]
    return out


def suppress_coverage(coverage: Mapping[str, Any], below: int) -> dict[str, Any]:
    """Training and pledge coverage (triage's `/v1/training/coverage`) with the staff counts
    of a small school or department suppressed, as the Board's other tables (the district's
    total stays as it is: the whole staff is never a small count)."""
    if below <= 0:
        return dict(coverage)
    return {
        **coverage,
        **{
            kind: suppress_table(
                coverage[kind],
                below,
                counts=("staff", "trained", "pledged"),
                shares={"trained_share": "staff", "pledged_share": "staff"},
            )
            for kind in ("school", "department")
            if kind in coverage
        },
    }


def sees_exact(principal: Principal, readers: Mapping[Role, object]) -> bool:
    """Whether a caller reads exact group figures: it holds the reading permission (whose
    roles are `readers`) through a staff role, not only as a Board member, whose figures go
    to public meetings and are suppressed."""
    return any(role in readers and role != Role.BOARD for role in principal.roles)
