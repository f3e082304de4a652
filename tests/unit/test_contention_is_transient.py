"""Overload slows, it does not park (issue 14): when an event handler's version-checked change
keeps losing to other writers (`load_decide_save` gives up after its attempts), the error it
raises is transient, like a timeout: the consumer retries the event for as long as the
contention lasts (shared/messaging/consumer.py `_retry_or_park`) instead of spending the retry
budget and parking it in `<service>.dlq`, where a concern would stay untriaged, unclocked or
unmerged until an operator replays it. A route answers the same error as a 409 (try again)."""

from __future__ import annotations

import pytest

from services.escalation.handlers import ConcurrentChange as ClockChangedMeanwhile
from services.intake.handlers import ConcurrentChange as CaseChangedMeanwhile
from services.triage.handlers import AssignmentContention
from services.triage.repository import ConcurrentChange as DecisionChangedMeanwhile
from shared.aggregates import RETRY, load_decide_save
from shared.errors import DomainError
from shared.messaging.transient import is_transient

pytestmark = pytest.mark.unit

CONTENTIONS = {
    "escalation-clock": lambda: ClockChangedMeanwhile("c-1"),
    "intake-case": lambda: CaseChangedMeanwhile("c-1"),
    "triage-decision": lambda: DecisionChangedMeanwhile("c-1"),
    "triage-assignment": lambda: AssignmentContention("c-1"),
}


@pytest.mark.parametrize("name", list(CONTENTIONS))
async def test_a_change_that_kept_losing_to_other_writers_is_retried_not_parked(
    name: str,
) -> None:
    async def load() -> int:
        return 0

    async def attempt(_: int) -> object:
        return RETRY  # another writer got there first, every time

    with pytest.raises(Exception) as raised:
        await load_decide_save(load, attempt, conflict=CONTENTIONS[name])

    assert is_transient(raised.value)
    # answered by a route as "changed meanwhile, try again", never as a 500
    assert isinstance(raised.value, DomainError) and raised.value.status == 409


def test_a_refusal_is_not_transient() -> None:
    assert not is_transient(DomainError("Refused"))
