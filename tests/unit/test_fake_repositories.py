"""The in-memory repositories the handler tests use have the interface of the real ones:
every public method, with the same parameters, so a handler cannot pass its unit tests on
a fake and call something else on the store."""

from __future__ import annotations

import inspect
import re
from datetime import UTC, datetime, timedelta

import pytest

from services.escalation.repository import ClockRepository, PolicyRepository
from services.escalation.repository.fakes import FakeClockRepository, FakePolicyRepository
from services.intake.fakes import (
    FakeConcernRepository,
    FakeDisclosureRepository,
    FakeIdempotencyKeys,
)
from services.intake.idempotency import IdempotencyKeys
from services.intake.repository import ConcernRepository, DisclosureRepository
from services.notify.domain import ChannelName, DeliveryStatus, Kind
from services.notify.repository import (
    DeliveryRepository,
    NewDelivery,
    SubscriptionRepository,
    SurveyRepository,
    TemplateRepository,
)
from services.notify.repository.fakes import (
    FakeDeliveryRepository,
    FakeSubscriptionRepository,
    FakeSurveyRepository,
    FakeTemplateRepository,
)
from services.triage.fakes import (
    FakeDecisionRepository,
    FakeMemberRepository,
    FakeRuleRepository,
)
from services.triage.repository import DecisionRepository, MemberRepository, RuleRepository
from shared.events import NotificationFailed, new_event

pytestmark = pytest.mark.unit

PAIRS: list[tuple[type, type, set[str]]] = [
    # (real, fake, what the fake leaves out: the Board's aggregations read the collection)
    (ClockRepository, FakeClockRepository, {"collection"}),
    (PolicyRepository, FakePolicyRepository, set()),
    (DeliveryRepository, FakeDeliveryRepository, set()),
    (TemplateRepository, FakeTemplateRepository, set()),
    (SubscriptionRepository, FakeSubscriptionRepository, set()),
    (SurveyRepository, FakeSurveyRepository, set()),
    (DecisionRepository, FakeDecisionRepository, set()),
    (MemberRepository, FakeMemberRepository, set()),
    (RuleRepository, FakeRuleRepository, set()),
    # the staff lists, counts and the Board's callbacks speak the store's query language
    (
        ConcernRepository,
        FakeConcernRepository,
        {"collection", "find", "count", "count_by_status", "callbacks_kept"},
    ),
    (DisclosureRepository, FakeDisclosureRepository, set()),
    (IdempotencyKeys, FakeIdempotencyKeys, set()),
    # notify's FakeConcernRepository is the real class over a dict: its rules are the real ones
]


def public(cls: type) -> dict[str, object]:
    return {
        name: member
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and (callable(member) or isinstance(member, property))
    }


def parameters(member: object) -> list[tuple[str, object, object]]:
    signature = inspect.signature(member)  # type: ignore[arg-type]
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


@pytest.mark.parametrize(
    ("real", "fake", "left_out"), PAIRS, ids=lambda p: getattr(p, "__name__", "")
)
def test_a_fake_repository_has_every_method_of_the_real_one(
    real: type, fake: type, left_out: set[str]
) -> None:
    real_methods, fake_methods = public(real), public(fake)
    assert set(real_methods) - left_out <= set(fake_methods)
    for name in set(real_methods) - left_out:
        if callable(real_methods[name]):
            assert parameters(fake_methods[name]) == parameters(real_methods[name]), name
            is_async = inspect.iscoroutinefunction(real_methods[name])
            assert inspect.iscoroutinefunction(fake_methods[name]) == is_async, name


SELF_ATTRIBUTE = re.compile(r"\bself\.(\w+)")
ASSIGNED = re.compile(r"\bself\.(\w+)\s*(?::[^=\n]+)?=")


def inherited_reach(real: type, fake: type, left_out: set[str]) -> dict[str, set[str]]:
    """For a fake that is its real repository over in-memory primitives: what the public
    methods it inherits unchanged (and what they call on `self`, followed) read on `self`
    that the fake has neither set nor defined (a store collection, a batching writer): a
    handler calling them would reach for a store."""
    own = set(ASSIGNED.findall(inspect.getsource(fake.__init__)))  # type: ignore[misc]

    def inherited(name: str) -> object | None:
        member = vars(real).get(name)
        if member is None or name in vars(fake) or name in left_out:
            return None
        function = member.fget if isinstance(member, property) else member
        return function if inspect.isfunction(function) else None

    missing: dict[str, set[str]] = {}
    todo = [n for n in vars(real) if not n.startswith("_") and inherited(n) is not None]
    seen = set(todo)
    while todo:
        name = todo.pop()
        used = set(SELF_ATTRIBUTE.findall(inspect.getsource(inherited(name))))  # type: ignore[arg-type]
        for attribute in used - seen:
            if inherited(attribute) is not None:
                seen.add(attribute)
                todo.append(attribute)
        lacking = {a for a in used if a not in own and not hasattr(fake, a)}
        if lacking:
            missing[name] = lacking
    return missing


@pytest.mark.parametrize(
    ("real", "fake", "left_out"),
    [pair for pair in PAIRS if issubclass(pair[1], pair[0])],
    ids=lambda p: getattr(p, "__name__", ""),
)
def test_a_fake_built_on_its_real_repository_inherits_nothing_that_reaches_the_store(
    real: type, fake: type, left_out: set[str]
) -> None:
    assert inherited_reach(real, fake, left_out) == {}


async def test_a_sent_delivery_bounces_once_keeping_what_the_mail_server_answered() -> None:
    """`mark_bounced` is the real repository's rule over the fake's `_bounce` primitive."""
    repo = FakeDeliveryRepository()
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    new = NewDelivery(
        id="d-1",
        concern_id="c-1",
        kind=Kind.ACKNOWLEDGEMENT,
        channel=ChannelName.EMAIL,
        address="ana@example.org",
        language="en",
        next_attempt_at=t0,
    )
    (recorded,) = await repo.record([new], now=t0, lease_until=t0 + timedelta(minutes=1))
    assert recorded.lease_token is not None
    assert not await repo.mark_bounced("d-1", now=t0, error="550", attempt=1, events=[])
    assert await repo.mark_sent(
        "d-1",
        token=recorded.lease_token,
        now=t0,
        answer="250 OK",
        reference=None,
        attempt=1,
        events=[],
    )
    later = t0 + timedelta(hours=1)
    failed = NotificationFailed(
        concern_id="c-1",
        delivery_id="d-1",
        kind="acknowledgement",
        channel="email",
        failed_at=later,
        error="550 no such user",
    )
    event = new_event(failed, source="/bureau/notify", subject="c-1", time=later)
    bounce = {"now": later, "error": "550 no such user", "attempt": 1, "events": [event]}
    assert await repo.mark_bounced("d-1", **bounce)  # type: ignore[arg-type]
    assert not await repo.mark_bounced("d-1", **bounce)  # type: ignore[arg-type]
    doc = await repo.get_document("d-1") or {}
    assert (doc["status"], doc["last_error"], doc["provider_answer"]) == (
        DeliveryStatus.FAILED.value,
        "550 no such user",
        "250 OK",
    )
    assert [h["answer"] for h in doc["history"]] == ["250 OK", "550 no such user"]
    assert repo.outbox == [event]
