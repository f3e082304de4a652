"""The load-decide-save loop: a change lands on the first write that finds the version it
read, is tried again on a fresh read when another writer got there first, and gives up with
the caller's conflict error when it never lands."""

from __future__ import annotations

import pytest

from shared.aggregates import RETRY, Retry, load_decide_save

pytestmark = pytest.mark.unit


class Store:
    """One versioned value; `writes_between` other writers change it before each of ours."""

    def __init__(self, writes_between: int = 0) -> None:
        self.value, self.version, self.reads = 0, 0, 0
        self.writes_between = writes_between

    async def load(self) -> tuple[int, int]:
        self.reads += 1
        return self.value, self.version

    async def add_one(self, loaded: tuple[int, int]) -> int | Retry:
        value, version = loaded
        if self.writes_between:  # another writer gets there first
            self.writes_between -= 1
            self.value, self.version = self.value + 10, self.version + 1
        if version != self.version:
            return RETRY
        self.value, self.version = value + 1, version + 1
        return self.value


class Conflict(Exception):
    pass


async def test_a_change_nobody_races_lands_on_the_first_read() -> None:
    store = Store()
    assert await load_decide_save(store.load, store.add_one, conflict=Conflict) == 1
    assert store.reads == 1


async def test_a_change_raced_by_another_writer_is_decided_again_on_what_it_wrote() -> None:
    store = Store(writes_between=2)
    assert await load_decide_save(store.load, store.add_one, conflict=Conflict) == 21
    assert (store.reads, store.version) == (3, 3)


async def test_a_change_that_never_lands_raises_the_callers_conflict() -> None:
    store = Store(writes_between=99)
    with pytest.raises(Conflict):
        await load_decide_save(store.load, store.add_one, conflict=Conflict, attempts=3)
    assert store.reads == 3


async def test_the_first_attempt_may_start_from_a_remembered_copy() -> None:
    store = Store()
    store.value, store.version = 5, 4
    remembered = (4, 3)  # stale: another writer changed it since

    async def first() -> tuple[int, int]:
        return remembered

    assert await load_decide_save(store.load, store.add_one, conflict=Conflict, first=first) == 6
    assert store.reads == 1


async def test_an_attempt_that_raises_stops_at_once() -> None:
    async def load() -> int:
        return 0

    async def refuse(_: int) -> int | Retry:
        raise LookupError("gone")

    with pytest.raises(LookupError):
        await load_decide_save(load, refuse, conflict=Conflict)
