"""The clocks this replica wrote last: where the next change of a clock starts from."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from services.escalation.repository.documents import Stored

# The clocks this replica wrote last are kept this long: the next event of a new concern
# (its triage follows its submission within seconds) then changes it without a read.
RECENT_S = 30.0
RECENT_MAX = 4_096


class RecentClocks:
    """The clocks this replica wrote last, for a few seconds: where the next change of a
    clock starts from without reading it. Only a hint: every write checks the version, so a
    copy that another replica (or the scheduler) made stale costs a failed write and a read,
    never a lost change."""

    def __init__(
        self,
        *,
        ttl_s: float = RECENT_S,
        max_clocks: int = RECENT_MAX,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        self._max = max_clocks
        self._now = now
        self._clocks: OrderedDict[str, tuple[float, Stored]] = OrderedDict()

    def get(self, concern_id: str) -> Stored | None:
        kept = self._clocks.get(concern_id)
        if kept is None:
            return None
        if self._now() - kept[0] > self._ttl_s:
            del self._clocks[concern_id]
            return None
        return kept[1]

    def put(self, stored: Stored) -> None:
        """Remember a clock as written; an older version never replaces a newer one."""
        concern_id = stored.clock.concern_id
        kept = self._clocks.get(concern_id)
        if kept is not None and kept[1].version > stored.version:
            return
        self._clocks[concern_id] = (self._now(), stored)
        self._clocks.move_to_end(concern_id)
        while len(self._clocks) > self._max:
            self._clocks.popitem(last=False)

    def forget(self, concern_id: str) -> None:
        self._clocks.pop(concern_id, None)
