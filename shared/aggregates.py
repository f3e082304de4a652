"""Load, decide, save: the change of one stored aggregate under optimistic concurrency.

Every service changes what it owns the same way: read the aggregate (with its version), decide
on it (a pure domain function), write the decision with a filter that still expects the
version read. When another writer got there first the write matches nothing; the change is
then tried again on a fresh read, a bounded number of times, and the caller's conflict error
is raised when it never lands (the consumer then retries the event later, an API answers 409
or 503). The loop lives here once; each caller says what loading, one attempt and a conflict
are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Final, Literal, TypeVar

ATTEMPTS = 5


class _Retry(Enum):
    RETRY = "retry"


# What an attempt answers when its write found the aggregate changed since it was read.
RETRY: Final = _Retry.RETRY
Retry = Literal[_Retry.RETRY]

Loaded = TypeVar("Loaded")
Result = TypeVar("Result")


async def load_decide_save(
    load: Callable[[], Awaitable[Loaded]],
    attempt: Callable[[Loaded], Awaitable[Result | Retry]],
    *,
    conflict: Callable[[], Exception],
    attempts: int = ATTEMPTS,
    first: Callable[[], Awaitable[Loaded]] | None = None,
) -> Result:
    """Run `attempt` on what `load` reads until it answers something else than `RETRY`, at
    most `attempts` times; then raise `conflict()`.

    `attempt` decides and writes with a version check; it may raise (not found, not allowed)
    to stop at once. `first`, when given, loads for the first attempt only (e.g. a copy this
    replica wrote moments ago, which the version check makes safe to start from)."""
    loaded = await (first or load)()
    for tried in range(1, attempts + 1):
        result = await attempt(loaded)
        if result is not RETRY:
            return result
        if tried < attempts:
            loaded = await load()
    raise conflict()
