"""Which failures pass by themselves (retry for as long as they last) and which do not.

A transient failure says nothing about the message: the store or the broker is away or slow,
an I/O or the handler timed out, a peer answered 503. Handling the same message later
succeeds, so the consumer retries it with capped backoff however long that takes, and never
parks it. Anything else (a bad payload, a handler bug) fails again the same way: it has a
retry budget, then goes to the dead-letter queue.
"""

from __future__ import annotations

import asyncio

import aiormq.exceptions
import httpx
from pymongo.errors import (
    ConnectionFailure,
    ExecutionTimeout,
    PyMongoError,
    WaitQueueTimeoutError,
    WriteConcernError,
    WTimeoutError,
)

from shared.errors import TransientError

__all__ = ["TransientError", "is_transient"]

PEER_UNAVAILABLE = frozenset({429, 502, 503, 504})
DETERMINISTIC_REFUSALS = (
    aiormq.exceptions.ChannelNotFoundEntity,
    aiormq.exceptions.ChannelPreconditionFailed,
    aiormq.exceptions.ChannelAccessRefused,
)


def is_transient(exc: BaseException) -> bool:
    """True for a failure that says nothing about the message: retry it, never park it."""
    if isinstance(exc, TransientError | TimeoutError | asyncio.TimeoutError | ConnectionError):
        return True
    if isinstance(
        exc,
        ConnectionFailure
        | ExecutionTimeout
        | WaitQueueTimeoutError
        | WTimeoutError
        | WriteConcernError,
    ):  # AutoReconnect, NetworkTimeout, server selection, a write not confirmed durable, ...
        return True
    if isinstance(exc, PyMongoError) and (
        exc.timeout
        or exc.has_error_label("RetryableWriteError")
        or exc.has_error_label("TransientTransactionError")
    ):
        return True
    if isinstance(exc, aiormq.exceptions.ChannelClosed):  # a refusal says something
        return not isinstance(exc, DETERMINISTIC_REFUSALS)
    if isinstance(
        exc, aiormq.exceptions.AMQPConnectionError | aiormq.exceptions.ChannelInvalidStateError
    ):
        return True
    if isinstance(exc, httpx.TransportError):
        return True
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in PEER_UNAVAILABLE
    return exc.__cause__ is not None and is_transient(exc.__cause__)  # `raise ... from` one
