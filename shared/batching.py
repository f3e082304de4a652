"""Group commit: concurrent calls served by one store round trip.

A caller hands in one item and awaits its own result. The first call starts a flush at the next
turn of the event loop; calls made while a flush is in flight wait for the next one, which
takes them all. Alone, a call costs one round trip and no added wait; under load, one round
trip serves many calls, so the store's work per call falls as the load rises.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """Batches calls into `flush(items) -> results` (one result per item, in order)."""

    def __init__(
        self, flush: Callable[[list[Item]], Awaitable[Sequence[Result]]], *, max_batch: int = 256
    ) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self.flushes = 0

    async def __call__(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            live = [(item, future) for item, future in batch if not future.done()]
            if not live:
                continue
            self.flushes += 1
            try:
                results = await self._flush([item for item, _ in live])
            except asyncio.CancelledError:
                for _, future in live:
                    future.cancel()
                raise
            except Exception as exc:  # each caller sees the failure of its own call
                for _, future in live:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(live, results, strict=True):
                if not future.done():
                    future.set_result(result)
