"""A service's event handlers, keyed by event type: the one list of what it consumes.

Each service declares `HANDLERS` in `services/<name>/handlers.py`; its queue bindings
(`shared.messaging.topology.subscriptions`) and the handlers its consumer calls are both read
from that table, so an event name is written once.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.messaging.consumer import Handler, idempotent

EventHandler = Callable[..., Awaitable[None]]
"""`async def on_x(event, data, *, ctx)`: a handler before its context is bound."""


@dataclass(frozen=True)
class HandlerTable:
    """Event type -> handler. `idempotent`: every handler's writes are idempotent by nature
    (keyed by the event's facts, or conditional on its id), so the consumer skips its inbox."""

    handlers: Mapping[str, EventHandler]
    idempotent: bool = False

    @property
    def events(self) -> frozenset[str]:
        """The event types the service consumes (its queue's bindings)."""
        return frozenset(self.handlers)

    def bind(self, ctx: Any) -> dict[str, Handler]:
        """The consumer's handlers, each given the service's context."""
        bound: dict[str, Handler] = {}
        for name, handler in self.handlers.items():
            call: Handler = functools.partial(handler, ctx=ctx)
            bound[name] = idempotent(call) if self.idempotent else call
        return bound
