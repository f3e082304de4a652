"""Audit of issue 14 ("overload slows, it does not park"): when an event handler's
version-checked change keeps losing to other writers (`load_decide_save` gives up after its
attempts), the handler raises its service's contention error, which says "the consumer
retries the event". Contention passes by itself, like a timeout; but the consumer
(shared/messaging/consumer.py `_retry_or_park`) asks `is_transient`, which knows none of
these errors, so they spend the retry budget (`RETRY_DELAYS_MS`) and park the event in
`<service>.dlq`: under overload with replicas racing on one aggregate (a team's loads, a
clock the scheduler is also moving), a concern is left untriaged, unclocked or unmerged until
an operator replays it."""

from __future__ import annotations

import pytest

from services.escalation.handlers import ConcurrentChange as ClockChangedMeanwhile
from services.intake.handlers import ConcurrentChange as CaseChangedMeanwhile
from services.triage.handlers import AssignmentContention
from services.triage.repository import ConcurrentChange as DecisionChangedMeanwhile
from shared.messaging.transient import is_transient

pytestmark = pytest.mark.unit


@pytest.mark.xfail(
    strict=True,
    reason="audit gap: shared/messaging/transient.py is_transient does not know the services' "
    "contention errors; they park after the retry budget",
)
@pytest.mark.parametrize(
    "contention",
    [
        ClockChangedMeanwhile("c-1"),
        CaseChangedMeanwhile("c-1"),
        DecisionChangedMeanwhile("c-1"),
        AssignmentContention("could not assign c-1 in team transportation"),
    ],
    ids=["escalation-clock", "intake-case", "triage-decision", "triage-assignment"],
)
def test_a_change_that_kept_losing_to_other_writers_is_retried_as_transient(
    contention: Exception,
) -> None:
    assert is_transient(contention)
