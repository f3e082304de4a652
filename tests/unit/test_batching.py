"""Group commit: concurrent calls share a flush; each caller gets its own result or error."""

from __future__ import annotations

import asyncio

import pytest

from shared.batching import GroupCommit

pytestmark = pytest.mark.unit


class Store:
    """Doubles each item; fails a flush that holds a negative item; records the batches."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def flush(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        await asyncio.sleep(0.01)  # a round trip
        if any(i < 0 for i in items):
            raise ValueError("refused")
        return [2 * i for i in items]


async def test_a_lone_call_is_flushed_at_once_by_itself() -> None:
    store = Store()
    commit = GroupCommit(store.flush)
    assert await commit(4) == 8
    assert store.batches == [[4]]


async def test_calls_made_during_a_flush_share_the_next_one_and_keep_their_order() -> None:
    store = Store()
    commit = GroupCommit(store.flush)
    first = asyncio.create_task(commit(1))
    await asyncio.sleep(0.002)  # the first flush is in flight
    rest = [asyncio.create_task(commit(i)) for i in range(2, 12)]
    assert await asyncio.gather(first, *rest) == [2 * i for i in range(1, 12)]
    assert store.batches == [[1], list(range(2, 12))]


async def test_batches_are_capped() -> None:
    store = Store()
    commit = GroupCommit(store.flush, max_batch=4)
    assert await asyncio.gather(*(commit(i) for i in range(10))) == [2 * i for i in range(10)]
    assert [len(b) for b in store.batches] == [4, 4, 2]


async def test_a_failed_flush_fails_its_own_callers_only() -> None:
    store = Store()
    commit = GroupCommit(store.flush, max_batch=2)
    results = await asyncio.gather(commit(1), commit(-1), commit(3), return_exceptions=True)
    assert isinstance(results[0], ValueError) and isinstance(results[1], ValueError)
    assert results[2] == 6
    assert await commit(5) == 10  # and the next call flushes again


@pytest.mark.parametrize("n", [1, 50])
async def test_every_caller_is_answered(n: int) -> None:
    commit = GroupCommit(Store().flush, max_batch=7)
    assert sorted(await asyncio.gather(*(commit(i) for i in range(n)))) == [2 * i for i in range(n)]
